"""Stage assignments: immutable events on the record log ``refs/gitmodel/registry``.

Each event (one commit, see :mod:`gitmodel.logs.records`) is::

    {"type": "promote" | "rollback" | "unassign", "model": NAME, "stage": STAGE,
     "from": [REF…], "to": [ASSIGNMENT…],            # what the stage held before and after
     "message": "why", "forced": false, "bypassed": ["rule that failed", …],
     "undo": true,                                   # rollback to the previous assignment
     "request": ID, "approved_by": [EMAIL…]}         # the change request it carried out
    ASSIGNMENT = {"version": 3, "commit": C, "weight": 100,
                  "files": [{"path": P, "oid": SHA256, "size": N, "git_blob": B}]}
    # oid is null for a plain Git file of the model (e.g. a config): its content is blob B
    REF = {"version": 3, "commit": C, "weight": 100}  # an assignment without its files

Who and when are the commit's author and date (signed when the user's Git signs). A stage
holds one assignment of weight 100, or a weighted pair (canary / blue-green) summing to 100.
The materialized ``state.json``::

    {"records": N, "models": {NAME: {"stages": {STAGE: [ASSIGNMENT…]},
                                     "past": {STAGE: [[REF…], …]}}}}

``past`` is what each stage held before, newest last (the last 10), for ``rollback``.
``stages``/``resolve`` read one blob whatever the length of the log, and that blob stays
small for models of many shards: only current assignments list their files. Events do not commute
(order is the meaning): a promotion that raced another fails cleanly and is retried by the
user, locally and against a shared remote.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from gitmodel import git
from gitmodel.errors import UserError
from gitmodel.logs import records
from gitmodel.registry.declare import Model
from gitmodel.registry.versions import File, Version, check_files

Json = dict[str, Any]
PAST_LIMIT = 10
_OBJECT_ID = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")  # a Git object id, SHA-1 or SHA-256
EVENT_TYPES = ("promote", "rollback", "unassign")


def reduce(state: Json, record: Json) -> Json:
    """Fold one event into the state (see the module docstring)."""
    state["records"] = int(state.get("records", 0)) + 1
    if record.get("type") not in EVENT_TYPES:
        return state
    model = state.setdefault("models", {}).setdefault(record["model"], {})
    stage = record["stage"]
    stack = model.setdefault("past", {}).setdefault(stage, [])
    if record.get("undo"):
        if stack:
            stack.pop()
    elif record.get("from"):
        stack.append(record["from"])
        del stack[:-PAST_LIMIT]
    if not stack:
        del model["past"][stage]
    held = model.setdefault("stages", {})
    if record.get("to"):
        held[stage] = record["to"]
    else:
        held.pop(stage, None)
    return state


KIND = records.LogKind("registry", reduce=reduce, commutes=False)


def log(repo: git.Repo) -> records.Log:
    """The repository's registry log."""
    return records.Log(repo, KIND)


def current_state(repo: git.Repo) -> Json:
    """The state at the log's tip, read with one ``git cat-file`` (fast start-up)."""
    return records.read_state(repo, KIND)


@dataclass(frozen=True)
class Assignment:
    """One version a stage holds, with its share of traffic."""

    version: int
    commit: str
    weight: int
    files: tuple[File, ...]

    @classmethod
    def of(cls, version: Version, weight: int = 100) -> Assignment:
        return cls(version.number, version.commit, weight, version.files)

    @classmethod
    def from_json(cls, data: Json) -> Assignment:
        """An assignment read from the log: a ValueError unless its commit and its files'
        ids are well-formed (their paths are checked where they are used: :func:`held_files`)."""
        commit = data["commit"]
        if not isinstance(commit, str) or not _OBJECT_ID.fullmatch(commit):
            raise ValueError(f"invalid commit id {str(commit)[:80]!r}")
        files = tuple(File.from_json(f) for f in data.get("files", ()))
        return cls(int(data["version"]), commit, int(data["weight"]), files)

    def to_json(self, files: bool = True) -> Json:
        """The assignment's JSON; a REF (no ``files``) when ``files`` is False."""
        ref: Json = {"version": self.version, "commit": self.commit, "weight": self.weight}
        if files:
            ref["files"] = [f.to_json() for f in self.files]
        return ref

    def with_files(self, files: tuple[File, ...]) -> Assignment:
        return Assignment(self.version, self.commit, self.weight, files)

    def label(self) -> str:
        return f"v{self.version}" + ("" if self.weight == 100 else f" {self.weight}%")


def assignments(data: list[Json] | None) -> list[Assignment]:
    """Assignments from their JSON; a :class:`UserError` when the log holds garbage."""
    try:
        return [Assignment.from_json(item) for item in data or []]
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise UserError(
            f"the registry log holds a malformed assignment ({exc!r})",
            hint=f"it was not written by gitmodel: see `git log -p {KIND.ref}`",
        ) from exc


def describe(held: list[Assignment]) -> str:
    """``v7 90%, v8 10%``, ``v3`` or ``-``."""
    return ", ".join(a.label() for a in held) or "-"


def held(state: Json, model: str, stage: str) -> list[Assignment]:
    """What ``stage`` of ``model`` holds in ``state``."""
    return assignments(state.get("models", {}).get(model, {}).get("stages", {}).get(stage))


def held_files(state: Json, model: Model, stage: str) -> list[Assignment]:
    """What ``stage`` of ``model`` holds, every file checked to lie under the model's
    declared paths (:func:`~gitmodel.registry.versions.check_files`).

    Use this, not :func:`held`, before reading or writing an assignment's files: the
    state comes from the log's tip, which anyone who can push the log ref wrote.
    """
    return _checked(model, stage, held(state, model.name, stage))


def _checked(model: Model, stage: str, found: list[Assignment]) -> list[Assignment]:
    hint = (
        f"the registry log was not written by gitmodel: see `git model history {model.name}`, "
        f"then `git model promote` another version to {stage} or `git model unassign`"
    )
    for a in found:
        check_files(model, f"v{a.version} in {stage} (registry log)", a.files, hint)
    return found


def past(state: Json, model: str, stage: str) -> list[Assignment]:
    """What ``stage`` held before its current assignment ([] when nothing is recorded),
    without files (see :meth:`Assignment.with_files`)."""
    stack = state.get("models", {}).get(model, {}).get("past", {}).get(stage, [])
    return assignments(stack[-1]) if stack else []


def split(model: Model, stage: str, current: list[Assignment], version: Version,
          weight: int | None) -> list[Assignment]:  # fmt: skip
    """The assignment of ``stage`` after promoting ``version`` with ``weight`` percent
    (None: all). A split keeps the version ``stage`` mostly holds, files and all: they
    come from the log's state, so they are checked as :func:`held_files` checks them
    before they are copied into a new event."""
    if weight is None or weight == 100:
        return [Assignment.of(version)]
    others = [a for a in current if a.commit != version.commit]
    primary = max(others, key=lambda a: a.weight, default=None)
    if primary is None:
        return []
    _checked(model, stage, [primary])
    return [
        Assignment(primary.version, primary.commit, 100 - weight, primary.files),
        Assignment.of(version, weight),
    ]


def event(
    kind: str,
    model: str,
    stage: str,
    before: list[Assignment],
    after: list[Assignment],
    message: str = "",
    bypassed: list[str] | None = None,
    undo: bool = False,
    request: str | None = None,
    approved_by: list[str] | None = None,
) -> Json:
    """A new event record (``request``: the approved change request it carries out)."""
    record: Json = {
        "type": kind,
        "model": model,
        "stage": stage,
        "from": [a.to_json(files=False) for a in before],
        "to": [a.to_json() for a in after],
        "message": message,
        "forced": bypassed is not None,
        "bypassed": bypassed or [],
    }
    if undo:
        record["undo"] = True
    if request is not None:
        record["request"] = request
        record["approved_by"] = approved_by or []
    return record


def events(repo: git.Repo, model: str, stage: str | None = None) -> Iterator[records.Entry]:
    """The events of ``model`` (on ``stage``), newest first, streaming.

    Commits named ``registry: TYPE MODEL STAGE`` (see :func:`summary`) of other models or
    stages are skipped without reading their record.
    """

    def wanted(message: str) -> bool:
        words = message.split()
        if len(words) != 4 or words[0] != f"{KIND.name}:":
            return True
        return words[2] == model and stage in (None, words[3])

    for entry in log(repo).records(wanted=wanted):
        record = entry.record
        if record.get("model") == model and (stage is None or record.get("stage") == stage):
            yield entry


def summary(record: Json) -> str:
    """The log commit's summary for an event: ``TYPE MODEL STAGE``."""
    return f"{record['type']} {record['model']} {record['stage']}"
