"""What two versions of a model were made from, compared: base models and data sets
(which differ, and by how much), training parameters, and the code around them.

Read from the lineage state (provenance keyed by each model file's oid), so nothing
here reads a model file, nor a data file over 64 KiB. How much a data set changed is its
size change and, when both versions are here, the share of the new version's bytes that
are new (content-defined chunks the old one lacks: the chunk lists a push keeps of large
files, small files cut again).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from gitmodel import git, safepath
from gitmodel.pointer import is_valid_oid
from gitmodel.registry.declare import Model
from gitmodel.registry.versions import Version
from gitmodel.store.chunking import ChunkLists
from gitmodel.store.local import LocalStore

Json = dict[str, Any]
CODE_FILES_SHOWN = 20


@dataclass(frozen=True)
class InputChange:
    """One base model or data set input, on either side."""

    role: str  # "base" or "data"
    path: str
    old: Json | None  # {"oid", "size"} of the input the baseline was made from
    new: Json | None
    new_bytes: float | None = None  # share of the new version's bytes the old lacks

    @property
    def status(self) -> str:
        if self.old is None:
            return "added"
        if self.new is None:
            return "removed"
        return "unchanged" if self.old["oid"] == self.new["oid"] else "changed"

    def to_json(self) -> Json:
        old_size = self.old["size"] if self.old else 0
        new_size = self.new["size"] if self.new else 0
        return {"role": self.role, "path": self.path, "status": self.status,
                "old": self.old, "new": self.new, "size_delta": new_size - old_size,
                "new_bytes": self.new_bytes}  # fmt: skip


@dataclass
class LineageChange:
    inputs: list[InputChange] = field(default_factory=list)
    params: list[tuple[str, str | None, str | None]] = field(default_factory=list)
    code: tuple[str | None, str] = (None, "")  # the baseline's and candidate's commits
    code_files: list[str] = field(default_factory=list)  # changed outside the model
    code_files_total: int = 0
    recorded: tuple[bool, bool] = (False, False)  # whether each side has provenance

    def to_json(self) -> Json:
        return {
            "inputs": [i.to_json() for i in self.inputs],
            "params": [{"name": k, "old": a, "new": b} for k, a, b in self.params],
            "code": {"old": self.code[0], "new": self.code[1],
                     "files_changed": self.code_files_total, "files": self.code_files},
            "provenance": {"old": self.recorded[0], "new": self.recorded[1]},
        }  # fmt: skip


def compare(
    repo: git.Repo, store: LocalStore, state: Json, model: Model,
    old: Version | None, new: Version,
) -> LineageChange:  # fmt: skip
    """How the lineage of ``new`` differs from that of ``old``."""
    old_made, new_made = _made_from(state, old), _made_from(state, new)
    change = LineageChange(recorded=(bool(old_made[0]), bool(new_made[0])))
    keys = sorted(set(old_made[1]) | set(new_made[1]))
    for role, path in keys:
        before, after = old_made[1].get((role, path)), new_made[1].get((role, path))
        share = _new_bytes(store, before, after) if before and after else None
        change.inputs.append(InputChange(role, path, before, after, share))
    old_params, new_params = old_made[2], new_made[2]
    change.params = [(k, old_params.get(k), new_params.get(k))
                     for k in sorted(set(old_params) | set(new_params))
                     if old_params.get(k) != new_params.get(k)]  # fmt: skip
    change.code = (old.commit if old else None, new.commit)
    if old is not None and old.commit != new.commit:
        inputs = [i.path for i in change.inputs if safepath.is_valid(i.path)]
        files = _code_files(repo, [*model.paths, *inputs], old.commit, new.commit)
        change.code_files, change.code_files_total = files[:CODE_FILES_SHOWN], len(files)
    return change


def _made_from(
    state: Json, version: Version | None
) -> tuple[list[Json], dict[tuple[str, str], Json], dict[str, str]]:
    """The provenance records of a version's model files, their inputs by (role, path)
    and their parameters (merged)."""
    if version is None:
        return [], {}, {}
    produced = state.get("produced", {})
    found = [r for f in version.model_files for r in produced.get(f.oid or "", [])
             if isinstance(r, dict)]  # fmt: skip
    inputs: dict[tuple[str, str], Json] = {}
    params: dict[str, str] = {}
    for record in found:
        for item in record.get("inputs", []):
            if isinstance(item, dict) and is_valid_oid(str(item.get("oid"))):
                inputs[(str(item.get("role")), str(item.get("path")))] = {
                    "oid": item["oid"], "size": _size(item.get("size"))}  # fmt: skip
        if isinstance(record.get("params"), dict):
            params.update({str(k): str(v) for k, v in record["params"].items()})
    return found, inputs, params


def _size(value: object) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _new_bytes(store: LocalStore, old: Json, new: Json) -> float | None:
    """The share of ``new``'s bytes in chunks ``old`` lacks, from the local chunk lists
    or small objects cut again (None when either is not here)."""
    if old["oid"] == new["oid"]:
        return 0.0
    chunks = ChunkLists(store.root)
    before, after = chunks.of(store, old["oid"]), chunks.of(store, new["oid"])
    if before is None or after is None:
        return None
    known = {chunk for chunk, _ in before}
    total = sum(length for _, length in after)
    fresh = sum(length for chunk, length in after if chunk not in known)
    return fresh / total if total else 0.0


def _code_files(repo: git.Repo, skip: list[str], old: str, new: str) -> list[str]:
    """Paths that changed between two commits, but for the model's own files and the
    inputs the lineage lists (``skip``: each a path Git would check out)."""
    excluded = [f":(exclude,literal){path}" for path in skip]
    entries = git.diff_raw([old, new], [":/", *excluded], repo.top)
    return sorted(e.path for e in entries)
