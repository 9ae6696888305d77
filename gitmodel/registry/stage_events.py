"""Stage events as values: what a stage holds (:class:`Assignment`), the events of the
registry log that change it (:func:`read_event`, :func:`event`), and what a promotion
makes a stage hold (:func:`split`). Pure: records in, values out, no I/O; the log that
keeps them, its state and its reads are :mod:`.stages`.

Each event (one record of the log) is::

    {"type": "promote" | "rollback" | "unassign", "model": NAME, "stage": STAGE,
     "from": [REF…], "to": [ASSIGNMENT…],            # what the stage held before and after
     "message": "why", "forced": false, "bypassed": ["rule that failed", …],
     "undo": true,                                   # rollback to the previous assignment
     "request": ID, "approved_by": [EMAIL…],         # the change request it carried out
     "rejected_by": [EMAIL…]}                        # instead of approved_by: a rollback
                                                     # that withdrew the request's canary
    ASSIGNMENT = {"version": 3, "commit": C, "weight": 100,
                  "files": [{"path": P, "oid": SHA256, "size": N, "git_blob": B}]}
    # oid is null for a plain Git file of the model (e.g. a config): its content is blob B
    REF = {"version": 3, "commit": C, "weight": 100}  # an assignment without its files

A stage holds one assignment of weight 100, or a weighted pair (canary / blue-green)
summing to 100. Anyone who can push the log wrote its records, so reading one checks its
shape (a ValueError saying what is malformed).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, TypeGuard

from gitmodel.errors import UserError
from gitmodel.registry.declare import Model, is_valid_name, is_valid_stage
from gitmodel.registry.versions import File, Version, check_files
from gitmodel.text import is_utf8, printable

Json = dict[str, Any]
_OBJECT_ID = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")  # a Git object id, SHA-1 or SHA-256
EVENT_TYPES = ("promote", "rollback", "unassign")


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
    def from_json(cls, data: object) -> Assignment:
        """An assignment read from the log: a ValueError unless it is an object whose
        commit, numbers and files' ids are well-formed (their paths are checked where
        they are used: :func:`check_declared_paths`)."""
        if not isinstance(data, dict):
            raise ValueError("an assignment is not an object")
        commit, version, weight = data.get("commit"), data.get("version"), data.get("weight")
        if not isinstance(commit, str):
            raise ValueError("an assignment has no commit id")
        if not _OBJECT_ID.fullmatch(commit):
            raise ValueError(f"invalid commit id {commit[:80]!r}")
        if not is_count(version) or not is_count(weight) or not 1 <= weight <= 100:
            raise ValueError(f"the assignment of {commit[:10]} has no valid version and weight")
        files = data.get("files", [])
        if not isinstance(files, list):
            raise ValueError(f"the files of {commit[:10]} are not a list")
        return cls(version, commit, weight, tuple(File.from_json(f) for f in files))

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


def is_count(value: object) -> TypeGuard[int]:
    """Whether ``value`` is a whole number of at least 0 (a JSON ``true`` is not)."""
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def parse_assignments(data: object) -> list[Assignment]:
    """Assignments from their JSON (None: none); a ValueError saying what is malformed."""
    if data is None:
        return []
    if not isinstance(data, list):
        raise ValueError("assignments are not a list")
    return [Assignment.from_json(item) for item in data]


def describe(held: list[Assignment]) -> str:
    """``v7 90%, v8 10%``, ``v3`` or ``-``."""
    return ", ".join(a.label() for a in held) or "-"


def check_declared_paths(model: Model, stage: str, found: list[Assignment]) -> list[Assignment]:
    """``found``, what the log says ``stage`` of ``model`` holds, once every file is checked
    to lie under the model's declared paths (a user error naming the file otherwise):
    before anything reads, writes or copies an assignment's files."""
    hint = (
        f"the registry log was not written by gitmodel: see `git model history {model.name}`, "
        f"then `git model promote` another version to {stage} or `git model unassign`"
    )
    for a in found:
        check_files(model, f"v{a.version} in {stage} (registry log)", a.files, hint)
    return found


def split(model: Model, stage: str, current: list[Assignment], version: Version,
          weight: int | None) -> list[Assignment]:  # fmt: skip
    """The assignment of ``stage`` after promoting ``version`` with ``weight`` percent
    (None: all). A split keeps the version ``stage`` mostly holds (its main version, the
    first of equals), files and all: they come from the log's state, so they are checked
    by :func:`check_declared_paths` before they are copied into a new event. Giving the
    main version itself a weight is refused: it would hand the main share to the canary."""
    _recordable(model, version)
    if weight is None or weight == 100:
        return [Assignment.of(version)]
    main = max(current, key=lambda a: a.weight, default=None)
    if main is None:
        raise UserError(
            f"{stage} holds no version to split traffic with",
            hint=f"promote one without --weight first: "
            f"git model promote {model.name}@v{version.number} {stage}",
        )
    if main.commit == version.commit:
        raise UserError(
            f"v{main.version} is the main version of {model.name} {stage}; --weight gives "
            "the share of a new or canary version and keeps the main one",
            hint=_main_weight_hint(model.name, stage, current, main),
        )
    check_declared_paths(model, stage, [main])
    return [
        Assignment(main.version, main.commit, 100 - weight, main.files),
        Assignment.of(version, weight),
    ]


def _recordable(model: Model, version: Version) -> None:
    """Refuse a version a record cannot name: one with a file whose name is not UTF-8
    (an event is UTF-8 JSON, and Git paths are any bytes)."""
    for f in version.files:
        if not is_utf8(f.path):
            raise UserError(
                f"{model.name} {version.label} has a file whose name is not UTF-8 text: "
                f"{printable(f.path)[:200]}",
                hint="rename it in UTF-8 (git mv), commit, and promote that version",
            )


def _main_weight_hint(name: str, stage: str, current: list[Assignment], main: Assignment) -> str:
    canary = next((a for a in current if a is not main), None)
    if canary is None:
        return (f"to split its traffic, promote another version with a weight: "
                f"git model promote {name}@VERSION {stage} --weight N")  # fmt: skip
    return (
        f"to change the canary's share, promote it with the new weight: git model promote "
        f"{name}@v{canary.version} {stage} --weight N (or make it main: without --weight)"
    )


@dataclass(frozen=True)
class Event:
    """A stage event as read and checked from the log (see the module docstring)."""

    type: str
    model: str
    stage: str
    before: list[Assignment]
    after: list[Assignment]
    message: str
    forced: bool
    bypassed: tuple[str, ...]
    undo: bool


def read_event(record: Json) -> Event:
    """The event ``record`` holds; a ValueError saying what is malformed."""
    kind, model, stage = record.get("type"), record.get("model"), record.get("stage")
    if kind not in EVENT_TYPES:
        raise ValueError("not a stage event")
    if not is_valid_name(model) or not is_valid_stage(stage):
        raise ValueError("no valid model or stage")
    message = record.get("message", "")
    forced, bypassed = record.get("forced", False), record.get("bypassed", [])
    if not isinstance(message, str) or not isinstance(forced, bool):
        raise ValueError("no valid message or forced flag")
    if not isinstance(bypassed, list) or not all(isinstance(b, str) for b in bypassed):
        raise ValueError("bypassed is not a list of rules")
    before, after = parse_assignments(record.get("from")), parse_assignments(record.get("to"))
    return Event(kind, model, stage, before, after, message, forced, tuple(bypassed),
                 record.get("undo") is True)  # fmt: skip


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
    rejected_by: list[str] | None = None,
) -> Json:
    """A new event record (``request``: the approved change request it carries out, or,
    with ``rejected_by``, the request whose canary it withdraws)."""
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
        if rejected_by is not None:
            record["rejected_by"] = rejected_by
        else:
            record["approved_by"] = approved_by or []
    return record
