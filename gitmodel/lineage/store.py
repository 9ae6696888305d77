"""The lineage log: provenance and annotation records on ``refs/gitmodel/lineage``.

Two record types (JSON objects; see README "Lineage storage" for the full schema):

``provenance``  what one commit's model/data versions were made from::

    {"type": "provenance", "commit": C, "tree": T, "message": "...", "by": "...", "at": "...",
     "outputs": [{"path": P, "oid": O, "size": N}],
     "inputs": [{"role": "base"|"data", "path": P, "oid": O, "size": N, "commit": C}],
     "params": {"k": "v"}}

``annotation``  facts added later about one version (metrics, notes)::

    {"type": "annotation", "oid": O, "path": P, "commit": C, "by": "...", "at": "...",
     "metrics": {"k": 0.91}, "note": "..."}

Versions are identified by their content oid (sha256), so a record stays true through a
rebase, a cherry-pick or a copy of the file. Records commute: annotations and provenance
from two clones can be replayed in any order (a metric set on both sides: the later replayed
wins). The materialized state (``state.json``) is::

    {"records": N,
     "produced": {OID: [provenance record without "outputs", plus "output": {...}]},
     "metrics": {OID: {"k": value}},          # annotations merged, later wins
     "annotations": {OID: [annotation record]}}
"""

from __future__ import annotations

from typing import Any

from gitmodel import git
from gitmodel.lineage.history import version_at
from gitmodel.logs import records

Json = dict[str, Any]


def reduce(state: Json, record: Json) -> Json:
    """Fold one lineage record into the state (see the module docstring)."""
    state["records"] = int(state.get("records", 0)) + 1
    if record.get("type") == "provenance":
        produced = state.setdefault("produced", {})
        for output in record.get("outputs", []):
            produced.setdefault(output["oid"], []).append({**_compact(record), "output": output})
    elif record.get("type") == "annotation":
        oid = record["oid"]
        state.setdefault("metrics", {}).setdefault(oid, {}).update(record.get("metrics", {}))
        state.setdefault("annotations", {}).setdefault(oid, []).append(record)
    return state


def _compact(record: Json) -> Json:
    return {key: value for key, value in record.items() if key != "outputs"}


KIND = records.LogKind("lineage", reduce=reduce, commutes=True)


def log(repo: git.Repo) -> records.Log:
    """The repository's lineage log."""
    return records.Log(repo, KIND)


def append(repo: git.Repo, record: Json, attempts: int = 3) -> records.Entry:
    """Append a lineage record; lineage records commute, so a lost race is simply retried."""
    for attempt in range(attempts):
        try:
            return log(repo).append(record)
        except records.ConflictError:
            if attempt + 1 == attempts:
                raise
    raise AssertionError("unreachable")


def state(repo: git.Repo) -> Json:
    """The lineage state: ``produced`` (oid → provenance records, each with
    its ``output`` entry for that oid instead of ``outputs``), ``metrics``
    (oid → merged metrics), ``annotations`` (oid → annotation records)."""
    return log(repo).state()


def metrics(repo: git.Repo, path: str, rev: str = "HEAD") -> dict[str, Any]:
    """The metrics annotated on the version of ``path`` (repository-relative) in ``rev``.

    For policy gates (e.g. the registry's): one ref read, one blob read, one pointer read.
    Keys are metric names; values are numbers where they parsed as numbers, else text.
    """
    version = version_at(repo, path, repo.rev_parse(rev), rev)
    return dict(state(repo).get("metrics", {}).get(version.oid, {}))
