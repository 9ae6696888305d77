"""Stage assignments: immutable events on the record log ``refs/gitmodel/registry``.

Each event (one commit, see :mod:`gitmodel.logs.records`) is::

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

Who and when are the commit's author and date (signed when the user's Git signs). A stage
holds one assignment of weight 100, or a weighted pair (canary / blue-green) summing to 100.
The materialized ``state.json``::

    {"records": N, "models": {NAME: {"stages": {STAGE: [ASSIGNMENT…]},
                                     "past": {STAGE: [[REF…], …]}}}}

``past`` is what each stage held before, newest last (the last 10), for ``rollback``.
Anyone who can push the log ref wrote both files, so every read checks their shapes: a
malformed state is a :class:`UserError` naming the log, a malformed event is skipped by the
reducer (it only counts) and shown as unreadable by ``history``.
``stages``/``resolve`` read one blob whatever the length of the log, and that blob stays
small for models of many shards: only current assignments list their files. Events do not commute
(order is the meaning): a promotion that raced another fails cleanly and is retried by the
user, locally and against a shared remote.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, TypeGuard

from gitmodel import git
from gitmodel.errors import UserError
from gitmodel.logs import records
from gitmodel.registry.declare import Model, is_valid_name, is_valid_stage
from gitmodel.registry.requests import one_line
from gitmodel.registry.versions import File, Version, check_files, pick
from gitmodel.text import is_utf8, printable

Json = dict[str, Any]
PAST_LIMIT = 10
_OBJECT_ID = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")  # a Git object id, SHA-1 or SHA-256
EVENT_TYPES = ("promote", "rollback", "unassign")


def reduce(state: Json, record: Json) -> Json:
    """Fold one event into the state (see the module docstring); other records and
    malformed events only count. A ValueError when the state is malformed where the
    event would change it."""
    count = state.get("records", 0)
    if not _number(count):
        raise ValueError('"records" is not a number')
    state["records"] = count + 1
    try:
        event = read_event(record)
    except ValueError:
        return state
    state.setdefault("models", {})
    model = _models(state).setdefault(event.model, {})
    _check_entry(event.model, model)
    stack = model.setdefault("past", {}).setdefault(event.stage, [])
    if event.undo:
        if stack:
            stack.pop()
    elif event.before:
        stack.append(record["from"])
        del stack[:-PAST_LIMIT]
    if not stack:
        del model["past"][event.stage]
    held = model.setdefault("stages", {})
    if event.after:
        held[event.stage] = record["to"]
    else:
        held.pop(event.stage, None)
    return state


def check_state(state: Json) -> None:
    """Raise ``ValueError`` (with the reason) unless ``state`` has the shape of the module
    docstring, its assignments included; every read of the log's state asks it (see
    :class:`~gitmodel.logs.records.LogKind`), since anyone who can push the log wrote it."""
    if not _number(state.get("records", 0)):
        raise ValueError('"records" is not a number')
    for name, data in _models(state).items():
        entry = _check_entry(name, data)
        for stage, held in entry.get("stages", {}).items():
            _parse_at(f"{stage} of {name}", held)
        for stage, stack in entry.get("past", {}).items():
            for refs in stack:
                _parse_at(f"the past of {stage} of {name}", refs)


def _models(state: Json) -> dict[str, Any]:
    found = state.get("models", {})
    if not isinstance(found, dict):
        raise ValueError('"models" is not an object')
    return found


def _check_entry(name: str, data: object) -> Json:
    """The state's entry of model ``name``, when it is shaped
    ``{"stages": {STAGE: [...]}, "past": {STAGE: [[...]…]}}`` (its assignments unread)."""
    if not is_valid_name(name):
        raise ValueError(f"{one_line(name, 80)!r} is not a model name")
    if not isinstance(data, dict):
        raise ValueError(f"the entry of {name} is not an object")
    for key in ("stages", "past"):
        by_stage = data.get(key, {})
        if not isinstance(by_stage, dict) or not all(
            is_valid_stage(stage) and isinstance(value, list) for stage, value in by_stage.items()
        ):
            raise ValueError(f'"{key}" of {name} is not an object of stages and lists')
    if not all(isinstance(refs, list) for stack in data.get("past", {}).values() for refs in stack):
        raise ValueError(f'"past" of {name} is not an object of lists of lists')
    return data


def _parse_at(where: str, data: object) -> list[Assignment]:
    try:
        return parse_assignments(data)
    except ValueError as exc:
        raise ValueError(f"{where} holds a malformed assignment: {exc}") from exc


def check_subject(message: str, record: Json) -> None:
    """Raise ``ValueError`` when the log commit's message names a stage event (``registry:
    TYPE MODEL STAGE``, see :func:`summary`) other than ``record``: :func:`events` skips
    records by it unread, so ``history`` would leave the event out."""
    words = message.split()
    named = [str(record.get(key)) for key in ("type", "model", "stage")]
    if len(words) == 4 and words[0] == f"{KIND.name}:" and words[1:] != named:
        raise ValueError("its commit message names another event than its record")


KIND = records.LogKind("registry", reduce=reduce, commutes=False, check_state=check_state,
                       check_subject=check_subject)  # fmt: skip


def log(repo: git.Repo) -> records.Log:
    """The repository's registry log."""
    return records.Log(repo, KIND)


def current_state(repo: git.Repo) -> Json:
    """The state at the log's tip, read with one ``git cat-file`` (fast start-up) and
    checked (:func:`check_state`)."""
    return records.read_state(repo, KIND)


def pick_version(repo: git.Repo, found: list[Version], model: Model, what: str | None) -> Version:
    """The version ``what`` names: a stage of ``model`` names the version it mostly serves
    (its larger weight), as ``checkout`` and ``review`` read ``NAME@STAGE``; anything else
    is read by :func:`~gitmodel.registry.versions.pick`."""
    if what is None or what not in model.stages:
        return pick(repo, found, model, what)
    held = held_files(current_state(repo), model, what)
    if not held:
        raise UserError(
            f"{model.name} has no version in {what}",
            hint=f"promote one: git model promote {model.name}@VERSION {what}",
        )
    main = max(held, key=lambda a: a.weight)
    for version in found:
        if version.commit == main.commit:
            return version
    raise UserError(
        f"{what} of {model.name} serves v{main.version} ({main.commit[:10]}), a commit this "
        "clone's registry branch does not hold",
        hint="bring the branch up to date (git pull), then run the command again",
    )


def models(state: Json) -> dict[str, Json]:
    """The state's models by name, each entry's shape checked (its assignments are
    checked where they are read: :func:`held`); a :class:`UserError` naming the log
    otherwise."""
    try:
        found = _models(state)
        for name, data in found.items():
            _check_entry(name, data)
    except ValueError as exc:
        raise _bad_state(str(exc)) from exc
    return found


def _entry(state: Json, name: str) -> Json:
    """The state's entry of model ``name`` ({} when it has none), its shape checked."""
    try:
        found = _models(state)
        return _check_entry(name, found[name]) if name in found else {}
    except ValueError as exc:
        raise _bad_state(str(exc)) from exc


def _bad_state(what: str) -> UserError:
    return UserError(f"the registry log {KIND.ref} holds a malformed state: {what}",
                     hint=REPAIR_HINT)  # fmt: skip


REPAIR_HINT = (
    f"it was not written by gitmodel: find the last good commit with `git log {KIND.ref}`, "
    f"then put the log back there: git update-ref {KIND.ref} COMMIT"
)


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
        they are used: :func:`held_files`)."""
        if not isinstance(data, dict):
            raise ValueError("an assignment is not an object")
        commit, version, weight = data.get("commit"), data.get("version"), data.get("weight")
        if not isinstance(commit, str):
            raise ValueError("an assignment has no commit id")
        if not _OBJECT_ID.fullmatch(commit):
            raise ValueError(f"invalid commit id {commit[:80]!r}")
        if not _number(version) or not _number(weight) or not 1 <= weight <= 100:
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


def _number(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def parse_assignments(data: object) -> list[Assignment]:
    """Assignments from their JSON (None: none); a ValueError saying what is malformed."""
    if data is None:
        return []
    if not isinstance(data, list):
        raise ValueError("assignments are not a list")
    return [Assignment.from_json(item) for item in data]


def assignments(data: object) -> list[Assignment]:
    """Assignments from the log's state; a :class:`UserError` when the log holds garbage."""
    try:
        return parse_assignments(data)
    except ValueError as exc:
        raise UserError(f"the registry log {KIND.ref} holds a malformed assignment: "
                        f"{one_line(str(exc))}", hint=REPAIR_HINT) from exc  # fmt: skip


def describe(held: list[Assignment]) -> str:
    """``v7 90%, v8 10%``, ``v3`` or ``-``."""
    return ", ".join(a.label() for a in held) or "-"


def held(state: Json, model: str, stage: str) -> list[Assignment]:
    """What ``stage`` of ``model`` holds in ``state``."""
    return assignments(_entry(state, model).get("stages", {}).get(stage))


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
    stack = _entry(state, model).get("past", {}).get(stage, [])
    return assignments(stack[-1]) if stack else []


def split(model: Model, stage: str, current: list[Assignment], version: Version,
          weight: int | None) -> list[Assignment]:  # fmt: skip
    """The assignment of ``stage`` after promoting ``version`` with ``weight`` percent
    (None: all). A split keeps the version ``stage`` mostly holds (its main version, the
    first of equals), files and all: they come from the log's state, so they are checked
    as :func:`held_files` checks them before they are copied into a new event. Giving the
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
    _checked(model, stage, [main])
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


@dataclass(frozen=True)
class StagePast:
    """What a stage of a model held over the whole log (not only the state's last
    :data:`PAST_LIMIT` assignments)."""

    commits: frozenset[str]  # every version it held, as a commit
    depth: int  # how many earlier assignments a rollback could walk back through


def stage_past(repo: git.Repo, model: str, stage: str) -> StagePast:
    """What ``stage`` of ``model`` held, from its events (malformed ones skipped); reads
    the stage's whole history, so only for ``rollback``."""
    found = []
    for entry in events(repo, model, stage):
        try:
            found.append(read_event(entry.record))
        except ValueError:
            continue
    commits: set[str] = set()
    depth = 0
    for event in reversed(found):  # oldest first, as the reducer folds them
        commits.update(a.commit for a in event.before + event.after)
        if event.undo:
            depth = max(depth - 1, 0)
        elif event.before:
            depth += 1
    return StagePast(frozenset(commits), depth)


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
