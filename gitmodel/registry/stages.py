"""Stage assignments: immutable events on the record log ``refs/gitmodel/registry``,
the state they fold into, and its reads.

Each event is one commit (see :mod:`gitmodel.logs.records`) whose record is a stage event
(its format and values: :mod:`.stage_events`). Who and when are the commit's author and
date (signed when the user's Git signs). The materialized ``state.json``::

    {"records": N, "models": {NAME: {"stages": {STAGE: [ASSIGNMENT…]},
                                     "past": {STAGE: [[REF…], …]}}}}

``past`` is what each stage held before, newest last (the last 10), for ``rollback``.
Anyone who can push the log ref wrote both files, so every read checks their shapes: a
malformed state is a :class:`UserError` naming the log, a malformed event is skipped by the
reducer (it only counts) and shown as unreadable by ``history``.
``stages``/``resolve`` read one blob whatever the length of the log, and that blob stays
small for models of many shards: only current assignments list their files. Events do not
commute (order is the meaning): a promotion that raced another fails cleanly and is retried
by the user, locally and against a shared remote.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from gitmodel import git
from gitmodel.errors import UserError
from gitmodel.logs import records
from gitmodel.registry.declare import Model, is_valid_name, is_valid_stage
from gitmodel.registry.requests import one_line
from gitmodel.registry.stage_events import (
    Assignment,
    check_declared_paths,
    is_count,
    parse_assignments,
    read_event,
)
from gitmodel.registry.versions import Version, pick

Json = dict[str, Any]
PAST_LIMIT = 10


def reduce(state: Json, record: Json) -> Json:
    """Fold one event into the state (see the module docstring); other records and
    malformed events only count. A ValueError when the state is malformed where the
    event would change it."""
    count = state.get("records", 0)
    if not is_count(count):
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
    if not is_count(state.get("records", 0)):
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


def assignments(data: object) -> list[Assignment]:
    """Assignments from the log's state; a :class:`UserError` when the log holds garbage."""
    try:
        return parse_assignments(data)
    except ValueError as exc:
        raise UserError(f"the registry log {KIND.ref} holds a malformed assignment: "
                        f"{one_line(str(exc))}", hint=REPAIR_HINT) from exc  # fmt: skip


def held(state: Json, model: str, stage: str) -> list[Assignment]:
    """What ``stage`` of ``model`` holds in ``state``."""
    return assignments(_entry(state, model).get("stages", {}).get(stage))


def held_files(state: Json, model: Model, stage: str) -> list[Assignment]:
    """What ``stage`` of ``model`` holds, every file checked to lie under the model's
    declared paths (:func:`~gitmodel.registry.versions.check_files`).

    Use this, not :func:`held`, before reading or writing an assignment's files: the
    state comes from the log's tip, which anyone who can push the log ref wrote.
    """
    return check_declared_paths(model, stage, held(state, model.name, stage))


def past(state: Json, model: str, stage: str) -> list[Assignment]:
    """What ``stage`` held before its current assignment ([] when nothing is recorded),
    without files (see :meth:`Assignment.with_files`)."""
    stack = _entry(state, model).get("past", {}).get(stage, [])
    return assignments(stack[-1]) if stack else []


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


def events(repo: git.Repo, model: str, stage: str | None = None) -> Iterator[records.Entry]:
    """The events of ``model`` (on ``stage``), newest first, streaming.

    Commits named ``registry: TYPE MODEL STAGE`` (see :func:`summary`) of other models or
    stages are skipped without reading their record.
    """

    def wanted(commit: git.Commit) -> bool:
        words = commit.message.split()
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
