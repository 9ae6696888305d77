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
wins). The materialized state keeps, per output oid, the provenance records that produced
it, and per oid the merged metrics and the list of annotations.
"""

from __future__ import annotations

from typing import Any

from gitmodel import git, records

Json = dict[str, Any]


def reduce(state: Json, record: Json) -> Json:
    """Fold one lineage record into the state (see the module docstring)."""
    state["records"] = int(state.get("records", 0)) + 1
    if record.get("type") == "provenance":
        produced = state.setdefault("produced", {})
        for output in record.get("outputs", []):
            produced.setdefault(output["oid"], []).append(_compact(record))
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
