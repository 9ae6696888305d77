"""What a stage holds, as a serving system needs it: versions, weights, commits, files."""

from __future__ import annotations

from dataclasses import dataclass

from gitmodel import git, safepath
from gitmodel.errors import UserError
from gitmodel.registry import declare, stages


@dataclass(frozen=True)
class Resolved:
    """The versions ``stage`` of ``model`` serves, with their traffic weights (sum 100)."""

    model: str
    stage: str
    assignments: tuple[stages.Assignment, ...]

    def to_json(self) -> dict[str, object]:
        return {
            "model": self.model,
            "stage": self.stage,
            "versions": [a.to_json() for a in self.assignments],
        }

    @property
    def primary(self) -> stages.Assignment:
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


def _check_paths(name: str, stage: str, held: list[stages.Assignment]) -> None:
    for a in held:
        for f in a.files:
            if not safepath.is_valid(f.path):
                raise UserError(
                    f"{name} v{a.version} in {stage} (registry log) names {f.path[:200]!r}, "
                    "which is not a repository path; refusing to use it",
                    hint=f"the registry log was not written by gitmodel: see "
                    f"`git model history {name}`",
                )
