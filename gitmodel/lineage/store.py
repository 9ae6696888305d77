"""The lineage log: provenance and annotation records on ``refs/gitmodel/lineage``.

Two record types (JSON objects; see README "Lineage storage" for the full schema):

``provenance``  what one commit's model/data versions were made from::

    {"type": "provenance", "commit": C, "tree": T, "message": "...", "by": "...", "at": "...",
     "outputs": [{"path": P, "oid": O, "size": N}],
     "inputs": [{"role": "base"|"data", "path": P, "oid": O, "size": N, "commit": C}],
     # an input that is a folder: "files": its number of tracked files, "oid" the digest
     # of their listing, "size" their total (gitmodel.lineage.folders)
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

from collections.abc import Callable
from typing import Any

from gitmodel import git, safepath
from gitmodel.lineage.history import version_at
from gitmodel.logs import records
from gitmodel.pointer import is_valid_oid

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


def check_record(record: Json) -> None:
    """Raise ``ValueError`` unless a provenance or annotation record has the shape of the
    module docstring, which the readers rely on (other types are only counted)."""
    if record.get("type") == "provenance":
        _check_made(record)
        _check_list(record.get("outputs", []), "outputs", _check_version)
    elif record.get("type") == "annotation":
        _check_annotation(record)


def check_state(state: Json) -> None:
    """Raise ``ValueError`` unless the state has the shape of the module docstring."""
    if not isinstance(state.get("records", 0), int):
        raise ValueError("records is not a number")
    for oid, made in _check_map(state.get("produced", {}), "produced").items():
        _check_list(made, f"produced[{oid[:12]}]", _check_produced)
    for oid, found in _check_map(state.get("metrics", {}), "metrics").items():
        _check_metrics(found, f"metrics[{oid[:12]}]")
    for oid, notes in _check_map(state.get("annotations", {}), "annotations").items():
        _check_list(notes, f"annotations[{oid[:12]}]", _check_annotation)


def _check_map(value: object, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ValueError(f"{what} is not an object")
    return value


def _check_list(value: object, what: str, each: Callable[[Json], None]) -> None:
    if not isinstance(value, list):
        raise ValueError(f"{what} is not a list")
    for item in value:
        if not isinstance(item, dict):
            raise ValueError(f"an item of {what} is not an object")
        each(item)


def _check_version(item: Json) -> None:
    """A file version: ``oid``, ``path``, ``size``, ``commit``."""
    if not _is_oid(item.get("oid")):
        raise ValueError("a version has no valid oid")
    size = item.get("size")
    if not isinstance(item.get("path"), str) or not isinstance(item.get("commit"), str):
        raise ValueError("a version has no path or commit")
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        raise ValueError("a version has no valid size")


def _check_input(item: Json) -> None:
    _check_version(item)
    if not isinstance(item.get("role"), str):
        raise ValueError("an input has no role")
    if "files" in item:  # a folder: a path inside the repository, of at least one file
        files = item["files"]
        if not isinstance(files, int) or isinstance(files, bool) or files < 1:
            raise ValueError("a folder input has no valid number of files")
        if not safepath.is_valid(item["path"]):
            raise ValueError("a folder input's path is not one inside a repository")


def _check_made(record: Json) -> None:
    """What a provenance record and a ``produced`` entry share: inputs and params."""
    _check_list(record.get("inputs", []), "inputs", _check_input)
    params = _check_map(record.get("params", {}), "params")
    if any(isinstance(v, (dict, list)) for v in params.values()):
        raise ValueError("a param is not a single value")
    _check_text(record, ("commit", "tree", "message", "by", "at"))


def _check_produced(item: Json) -> None:
    _check_made(item)
    output = item.get("output")
    if not isinstance(output, dict):
        raise ValueError("a produced entry has no output")
    _check_version(output)


def _check_annotation(record: Json) -> None:
    if not _is_oid(record.get("oid")):
        raise ValueError("an annotation has no valid oid")
    _check_metrics(record.get("metrics", {}), "metrics")
    _check_text(record, ("path", "commit", "note", "by", "at"))


def _check_metrics(value: object, what: str) -> None:
    found = _check_map(value, what)
    if any(isinstance(v, (dict, list)) or v is None for v in found.values()):
        raise ValueError(f"a value of {what} is not a number or text")


def _is_oid(value: object) -> bool:
    return isinstance(value, str) and is_valid_oid(value)


def _check_text(record: Json, keys: tuple[str, ...]) -> None:
    for key in keys:
        if key in record and not isinstance(record[key], str):
            raise ValueError(f"{key} is not text")


KIND = records.LogKind("lineage", reduce=reduce, commutes=True, check_record=check_record,
                       check_state=check_state)  # fmt: skip


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
