"""Provenance and annotation records: what a commit's versions were made from, facts added later.

Provenance of a commit C (``git model commit`` / ``git model record``):

- outputs: the model files ``--output`` names, else every model file C added or changed
  (against its first parent), except those named as inputs;
- inputs: ``--base PATH[@REV]`` and ``--data PATH[@REV]``; without ``@REV`` an input is the
  version in C, or, when that path is itself an output of C (a fine-tune of the file in
  place), the version in C's first parent. PATH may be a folder: its tracked files are one
  input (:mod:`gitmodel.lineage.folders`). An input taken from C when C is what the
  worktree holds must match the worktree (no untracked files, no changes left out);
- params: ``--param k=v``; code: C's commit and tree ids.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from gitmodel import git
from gitmodel.errors import UserError
from gitmodel.lineage import folders, store
from gitmodel.lineage.history import FileVersion, repo_path
from gitmodel.logs import records
from gitmodel.scan import pointer_files
from gitmodel.specs import PathSpec, unknown_rev_hint

Json = dict[str, Any]
ROLES = ("base", "data")


@dataclass(frozen=True)
class Plan:
    """What ``git model commit`` was asked to record."""

    bases: list[PathSpec] = field(default_factory=list)
    data: list[PathSpec] = field(default_factory=list)
    outputs: list[str] = field(default_factory=list)
    params: dict[str, str] = field(default_factory=dict)


def parse_pairs(pairs: Iterable[str], what: str) -> dict[str, str]:
    """``k=v`` strings → dict; a user error names the bad one."""
    parsed = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise UserError(f"bad {what} {pair!r}: expected KEY=VALUE", hint=f"e.g. --{what} k=v")
        parsed[key.strip()] = value
    return parsed


def metric_value(text: str) -> int | float | str:
    """A metric as a number when it reads as one (``0.91``, ``12``), else the text."""
    try:
        return int(text)
    except ValueError:
        pass
    try:
        value = float(text)
    except ValueError:
        return text
    return value if value == value and value not in (float("inf"), float("-inf")) else text


def model_files(repo: git.Repo, rev: str | None) -> dict[str, FileVersion]:
    """Model files of commit ``rev`` (None: the index) by path."""
    entries = repo.ls_tree(rev) if rev else repo.ls_files()
    commit = rev or ""
    return {
        f.path: FileVersion(f.path, f.pointer.oid, f.pointer.size, commit)
        for f in pointer_files(repo, entries)
    }


@dataclass(frozen=True)
class Sides:
    """The model files of the commit being recorded (``commit``, "" for the index about to
    be committed) and of its first parent; ``worktree``: what the worktree must match for
    an input taken from ``commit`` ("staged", "committed"; None: no check, an older commit)."""

    current: dict[str, FileVersion]
    parent: dict[str, FileVersion]
    commit: str = ""
    worktree: str | None = None


def resolve_plan(
    repo: git.Repo, plan: Plan, sides: Sides
) -> tuple[list[FileVersion], list[tuple[str, FileVersion]]]:
    """The file versions ``plan`` names: its outputs and (role, input) pairs, for a commit
    with these model files."""
    current, parent = sides.current, sides.parent
    no_rev = {repo_path(repo, s.path): role for role, specs in (("data", plan.data),
              ("base", plan.bases)) for s in specs if s.rev is None}  # fmt: skip
    if plan.outputs:
        outputs = [_lookup(current, repo_path(repo, p), "this commit") for p in plan.outputs]
    else:  # changed files, except inputs taken from this commit (a fine-tuned base is both)
        changed = [v for p, v in current.items() if not _same(parent.get(p), v)]
        outputs = [v for v in changed if _role_of(no_rev, v.path) == "base"]
    if not outputs:
        raise UserError(
            "no model file changed, so there is nothing to record provenance for",
            hint="stage the new model version first, or name it with --output PATH",
        )
    out_paths = {v.path for v in outputs}
    inputs = [
        (role, _input(repo, spec, sides, out_paths))
        for role, specs in (("base", plan.bases), ("data", plan.data))
        for spec in specs
    ]
    made = {v.oid for v in outputs}
    for _, version in inputs:
        if version.oid in made:
            raise UserError(
                f"{version.path} {version.oid[:10]} is both an input and an output",
                hint="name the input's earlier version, e.g. PATH@HEAD~1",
            )
    return outputs, inputs


def pin_revisions(repo: git.Repo, plan: Plan) -> Plan:
    """``plan`` with each ``PATH@REV`` input's REV replaced by its commit id."""

    def pin(spec: PathSpec) -> PathSpec:
        return spec if spec.rev is None else PathSpec(spec.path, repo.rev_parse(spec.rev))

    return Plan([pin(s) for s in plan.bases], [pin(s) for s in plan.data], plan.outputs,
                plan.params)  # fmt: skip


def _role_of(no_rev: dict[str, str], path: str) -> str:
    """The role of the input named without ``@REV`` that holds ``path`` (the file, or a
    folder above it); "base" when none does."""
    while path not in no_rev and "/" in path:
        path = path.rsplit("/", 1)[0]
    return no_rev.get(path, "base")


def _same(old: FileVersion | None, new: FileVersion) -> bool:
    return old is not None and (old.oid, old.size) == (new.oid, new.size)


def _lookup(
    files: dict[str, FileVersion], path: str, where: str, hint: str | None = None
) -> FileVersion:
    if path not in files and any(p.startswith(f"{path}/") for p in files):
        raise UserError(f"{path} is a folder in {where}, not a model file",
                        hint=f"name one of its model files: `git model ls-files -- {path}` "
                        "lists them")  # fmt: skip
    if path not in files:
        raise UserError(
            f"{path} is not a model file in {where}", hint=hint or "see `git model ls-files`"
        )
    return files[path]


def _input(repo: git.Repo, spec: PathSpec, sides: Sides, out_paths: set[str]) -> FileVersion:
    path = repo_path(repo, spec.path)
    folders.check_inside(repo, path)
    if spec.rev is not None:
        return folders.version_or_folder(repo, path, repo.rev_parse(spec.rev), spec.rev)
    hint = unknown_rev_hint(spec)
    if path in out_paths:
        return _lookup(sides.parent, path, "the parent commit", hint)
    if sides.worktree is not None:
        folders.check_worktree(repo, path, staged_ok=sides.worktree == "staged")
    folder = None if path in sides.current else folders.folder_version(repo, path, sides.commit)
    if folder is None:
        return _lookup(sides.current, path, "this commit", hint)
    inside = sorted(p for p in out_paths if p.startswith(f"{path}/"))
    if inside:
        raise UserError(f"{path} holds {inside[0]}, an output of this commit",
                        hint="name the folder's earlier version, e.g. PATH@HEAD~1")  # fmt: skip
    return folder


def provenance_record(
    repo: git.Repo, commit: str, plan: Plan, outputs: list[FileVersion],
    inputs: list[tuple[str, FileVersion]],
) -> Json:  # fmt: skip
    """The provenance record of ``commit`` (schema in :mod:`gitmodel.lineage.store`)."""
    info = git.read_commit(repo, commit)
    return {
        "type": "provenance",
        "commit": commit,
        "tree": str(info.tree_id),
        "message": info.message.strip().splitlines()[0] if info.message.strip() else "",
        "outputs": [_node(v, commit) for v in outputs],
        "inputs": [
            {"role": role, **_node(v, v.commit or commit), **_files(v)} for role, v in inputs
        ],
        "params": plan.params,
        **_stamp(repo),
    }


def record(repo: git.Repo, rev: str, plan: Plan) -> Json:
    """Record the provenance of commit ``rev``; the record appended."""
    commit = repo.rev_parse(rev)
    parents = git.read_commit(repo, commit).parent_ids
    current = model_files(repo, commit)
    parent = model_files(repo, str(parents[0])) if parents else {}
    parent = {p: FileVersion(v.path, v.oid, v.size, str(parents[0])) for p, v in parent.items()}
    live = repo.worktree is not None and repo.commit_of("HEAD") == commit
    sides = Sides(current, parent, commit, "committed" if live else None)
    outputs, inputs = resolve_plan(repo, plan, sides)
    rec = provenance_record(repo, commit, plan, outputs, inputs)
    store.append(repo, rec)
    return rec


def annotation_record(
    repo: git.Repo, version: FileVersion, metrics: dict[str, Any], note: str
) -> Json:
    """An annotation of one version: metrics (numbers where they parse) and a note."""
    rec: Json = {"type": "annotation", "oid": version.oid, "path": version.path,
                 "size": version.size, "commit": version.commit,
                 "metrics": metrics, **_stamp(repo)}  # fmt: skip
    if note:
        rec["note"] = note
    return rec


def _node(version: FileVersion, commit: str) -> Json:
    return {"path": version.path, "oid": version.oid, "size": version.size, "commit": commit}


def _files(version: FileVersion) -> Json:
    return {} if version.files is None else {"files": version.files}


def _stamp(repo: git.Repo) -> Json:
    name, email = records.identity(repo)
    now = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
    return {"by": f"{name} <{email}>", "at": now.isoformat().replace("+00:00", "Z")}
