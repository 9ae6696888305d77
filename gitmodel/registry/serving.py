"""What a stage holds, as a serving system needs it: versions, weights, commits, files."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from gitmodel import git, safepath
from gitmodel.errors import UserError
from gitmodel.pointer import Pointer
from gitmodel.registry import declare, stages
from gitmodel.registry.stage_events import Assignment

_SYMLINK = 0o120000
Tree = dict[str, tuple[str, Pointer | None]]  # a commit's blob and pointer at each path


@dataclass(frozen=True)
class Resolved:
    """The versions ``stage`` of ``model`` serves, with their traffic weights (sum 100)."""

    model: str
    stage: str
    assignments: tuple[Assignment, ...]

    def to_json(self) -> dict[str, object]:
        return {
            "model": self.model,
            "stage": self.stage,
            "versions": [a.to_json() for a in self.assignments],
        }

    @property
    def primary(self) -> Assignment:
        """The assignment with the most traffic (the first of equals)."""
        return max(self.assignments, key=lambda a: a.weight)


def resolve(repo: git.Repo, name: str, stage: str) -> Resolved:
    """What ``stage`` of model ``name`` holds now; a user error when it holds nothing.

    One ref read and one blob read (the registry log's ``state.json``), whatever the
    length of the history, plus the declaration file when there is a worktree. A
    serving system writes the files it is given, so every path is checked first: one
    Git would check out, and (where the model is declared) under its declared paths.
    """
    declare.valid_name(name)
    declare.valid_stage(stage)
    state = stages.current_state(repo)
    model = _declared(repo, name, state)
    if model is not None:
        model.check_stage(stage)
        held = stages.held_files(state, model, stage)
    else:
        held = stages.held(state, name, stage)
        _check_paths(name, stage, held)
    if not held:
        raise UserError(f"{name} has no version in {stage}",
                        hint=_fill_hint(name, stage, state, model))  # fmt: skip
    return Resolved(name, stage, tuple(held))


def _declared(repo: git.Repo, name: str, state: stages.Json) -> declare.Model | None:
    """The declaration of ``name`` in the worktree; None in a bare repository or when
    this checkout does not declare it but the registry log knows it. A user error when
    neither does (naming the declared models)."""
    registry = declare.load(repo) if repo.worktree is not None else None
    if registry is not None and name in registry.models:
        return registry.models[name]
    if name in stages.models(state):
        return None
    if registry is not None:
        registry.model(name)  # raises: no model named NAME (declared: …)
    known = ", ".join(sorted(stages.models(state))) or "none"
    raise UserError(f"no model named {name!r} in the registry log (models: {known})",
                    hint="check the name: NAME@STAGE")  # fmt: skip


def _fill_hint(name: str, stage: str, state: stages.Json, model: declare.Model | None) -> str:
    """How to fill ``stage``; for a model only the log knows (so its declared stages are
    unknown here), which of its stages hold a version."""
    holding = sorted(stages.models(state).get(name, {}).get("stages", {}))
    if model is None and holding:
        return f"stages of {name} that hold a version: {', '.join(holding)}"
    return f"promote one: git model promote {name}@VERSION {stage}"


def _check_paths(name: str, stage: str, held: list[Assignment]) -> None:
    for a in held:
        for f in a.files:
            if not safepath.is_valid(f.path):
                raise UserError(
                    f"{name} v{a.version} in {stage} (registry log) names {f.path[:200]!r}, "
                    "which is not a repository path; refusing to use it",
                    hint=f"the registry log was not written by gitmodel: see "
                    f"`git model history {name}`",
                )


def check_held(repo: git.Repo, name: str, stage: str, held: Iterable[Assignment]) -> None:
    """Refuse assignments whose files their commit does not hold as the registry log
    says (:func:`check_commit`), before anything is written from them: the log is
    anyone's writing who can push its ref. A commit this clone lacks is an error
    saying to fetch it."""
    held = list(held)
    known = git.headers(repo, [a.commit for a in held])
    for a in held:
        if known.get(a.commit, ("", 0))[0] != "commit":
            raise UserError(f"v{a.version} in {stage} is commit {a.commit[:12]}, which "
                            "this repository does not have",
                            hint="fetch it: `git fetch` (or deploy --from URL)")  # fmt: skip
        entries = repo.ls_tree(a.commit, [f.path for f in a.files])
        blobs = {e.path: e.oid for e in entries if e.mode != _SYMLINK}
        pointers = git.pointers_of(repo, blobs.values())
        tree = {p: (b, pointers.get(b)) for p, b in blobs.items()}
        check_commit(name, stage, a, tree, links(entries))


def links(entries: Iterable[git.FileEntry]) -> set[str]:
    """The paths among ``entries`` that are symbolic links."""
    return {e.path for e in entries if e.mode == _SYMLINK}


def check_commit(name: str, stage: str, held: Assignment, tree: Tree,
                 links: set[str]) -> None:  # fmt: skip
    """Refuse files the version's commit does not hold as the registry log says: the
    log names each file's Git blob and, for a model file, its pointer's oid and size;
    ``tree`` gives the commit's blob and pointer at each path of a regular file. Only
    regular files are deployed or checked out: a symlink (``links``) is refused."""
    paths = [f.path for f in held.files]
    if len(set(paths)) != len(paths):
        twice = next(path for path in paths if paths.count(path) > 1)
        raise UserError(f"v{held.version} in {stage} (registry log) names {twice[:200]!r} twice",
                        hint=f"the registry log was not written by gitmodel: "
                        f"`git model history {name}`")  # fmt: skip
    for f in held.files:
        if f.path in links:
            raise UserError(f"{f.path[:200]} is a symlink in v{held.version} ({held.commit[:12]}): "
                            "only regular files are deployed or checked out",
                            hint="commit the file it points to in its place, and promote "
                            "that version")  # fmt: skip
        blob, pointer = tree.get(f.path, ("", None))
        found = (pointer.oid, pointer.size) if pointer is not None else (None, None)
        if blob != f.blob or found != ((f.oid, f.size) if f.oid is not None else (None, None)):
            raise UserError(
                f"v{held.version} in {stage} (registry log) names {f.path[:200]!r} as blob "
                f"{f.blob[:12]}, which commit {held.commit[:12]} does not hold there",
                hint=f"the registry log was not written by gitmodel: `git model history {name}`",
            )
