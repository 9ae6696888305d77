"""What a stage holds, as a serving system needs it: versions, weights, commits, files."""

from __future__ import annotations

from dataclasses import dataclass

from gitmodel import git
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
    length of the history.
    """
    declare.valid_name(name)
    declare.valid_stage(stage)
    held = stages.held(stages.current_state(repo), name, stage)
    if not held:
        raise UserError(
            f"{name} has no version in {stage}",
            hint=f"promote one: git model promote {name}@VERSION {stage}",
        )
    return Resolved(name, stage, tuple(held))
