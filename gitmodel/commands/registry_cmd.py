"""Registry reads and declarations: ``register``, ``stages``, ``history``, ``resolve``."""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone

from gitmodel import git
from gitmodel.errors import UserError
from gitmodel.lineage.history import repo_path
from gitmodel.logs import records
from gitmodel.registry import declare, messages, serving, stages
from gitmodel.registry.requests import one_line
from gitmodel.registry.stage_events import describe, read_event
from gitmodel.specs import ModelSpec

SPOOL = 8 << 20  # bytes of history held in memory before it goes to a file


def register(name: str, paths: list[str], description: str, stage_names: list[str]) -> int:
    """Declare model NAME made of PATHs in the registry file, and stage that file."""
    repo = git.Repo.discover()
    declare.valid_name(name)
    messages.utf8(description, "the description")
    rel = [declare.valid_path(repo_path(repo, p)) for p in paths]
    for path in rel:
        if not (repo.top / path).exists() and not repo.ls_files([path]):
            raise UserError(f"{path} does not exist", hint="add the model files first")
    chosen = tuple(declare.valid_stage(s) for s in stage_names) or declare.DEFAULT_STAGES
    declare.add_model(repo, declare.Model(name, tuple(rel), description, chosen))
    repo.run(["add", "--", declare.REGISTRY_FILE])
    print(
        f"gitmodel: registered {name} ({', '.join(rel)}); stages {', '.join(chosen)}",
        file=sys.stderr,
    )
    print(f"hint: commit {declare.REGISTRY_FILE} to share it", file=sys.stderr)
    return 0


def show_stages(name: str | None, as_json: bool = False) -> int:
    """What every stage of every model (or of NAME) holds; reads one blob."""
    repo = git.Repo.discover()  # no store: keep fsspec and pygit2 out of this fast read
    state = stages.current_state(repo)
    models = stages.models(state)
    if name is not None:
        declare.valid_name(name)
        if name not in models and name not in declare.load(repo).models:
            raise UserError(f"no model named {name!r}", hint="see `git model stages`")
        models = {name: models.get(name, {})}
    table = {
        model: {stage: stages.held(state, model, stage) for stage in sorted(data.get("stages", {}))}
        for model, data in sorted(models.items())
    }
    if as_json:
        out = {
            m: {s: [a.to_json() for a in held] for s, held in st.items()} for m, st in table.items()
        }
        print(json.dumps({"models": out}, indent=2))
        return 0
    if not table:
        print("no stage assigned yet; see `git model promote`", file=sys.stderr)
    for model, held_by in table.items():
        print(model)
        if not held_by:
            print("  (no stage assigned)")
        for stage, held in held_by.items():
            commits = " ".join(a.commit[:10] for a in held)
            print(f"  {stage:<12} {describe(held):<20} {commits}")
    return 0


def history(name: str, stage: str | None, as_json: bool = False, limit: int | None = None) -> int:
    """Every event of NAME (on STAGE), newest first, as text or JSON, written whole once
    every event is read: a log found damaged part way writes nothing to stdout."""
    repo = git.Repo.discover()
    declare.valid_name(name)
    model = declare.load(repo).models.get(name) if repo.worktree is not None else None
    if stage is not None:
        declare.valid_stage(stage)
        if model is not None:
            model.check_stage(stage)
    entries = _limited(stages.events(repo, name, stage), limit)
    if as_json:
        count = _write_whole(_json_elements(event_json(e) for e in entries), "[", "\n]\n")
    else:
        count = _write_whole(event_line(e) + "\n" for e in entries)
    if count == 0 and model is None:
        if stage is not None and next(stages.events(repo, name), None) is not None:
            raise UserError(f"{name} is not declared here and has no event in {stage}",
                            hint=f"see its events: git model history {name}")  # fmt: skip
        raise UserError(
            f"no model named {name!r} and no event of it",
            hint="see `git model stages` for the models with events",
        )
    return 0


def _limited(entries: Iterator[records.Entry], limit: int | None) -> Iterator[records.Entry]:
    for count, entry in enumerate(entries):
        if limit is not None and count >= limit:
            return
        yield entry


def _write_whole(parts: Iterator[str], head: str = "", tail: str = "") -> int:
    """``head``, the parts and ``tail`` built in a spooled file (memory bounded by
    ``SPOOL``), then written whole: a log found damaged part way writes nothing to stdout,
    so a reader gets all of the history or none of it. How many parts there were."""
    with tempfile.SpooledTemporaryFile(SPOOL, mode="w+", encoding="utf-8") as spool:
        spool.write(head)
        count = 0
        for part in parts:
            spool.write(part)
            count += 1
        spool.write(tail)
        spool.seek(0)
        shutil.copyfileobj(spool, sys.stdout)
    return count


def _json_elements(items: Iterator[dict[str, object]]) -> Iterator[str]:
    """The elements of a JSON array, each on a line of its own, commas between them."""
    for count, item in enumerate(items):
        yield ("," if count else "") + "\n  " + json.dumps(item, sort_keys=True)


def _when(entry: records.Entry) -> datetime:
    return datetime.fromtimestamp(entry.time, timezone(timedelta(minutes=entry.offset)))


def event_json(entry: records.Entry) -> dict[str, object]:
    """The documented history JSON of one event: the record plus who, when and its commit
    (a message longer than a record may now keep, written before the limit or by hand,
    cut to that limit)."""
    message = entry.record.get("message")
    return {
        **entry.record,
        **({"message": messages.cut(message)} if isinstance(message, str) else {}),
        "event": entry.commit,
        "at": _when(entry).isoformat(),
        "by": {"name": entry.author_name, "email": entry.author_email},
    }


def event_line(entry: records.Entry) -> str:
    """One line of ``history``: every field from the log made one printable line; a
    malformed event is shown as unreadable, with why."""
    who = f"by {one_line(entry.author_name, 60)} <{one_line(entry.author_email, 80)}>"
    when = f"{_when(entry):%Y-%m-%d %H:%M:%S %z}"
    try:
        event = read_event(entry.record)
    except ValueError as exc:
        return f"{when}  unreadable event {entry.commit[:10]} ({one_line(str(exc))})  {who}"
    bypassed = "; ".join(one_line(b) for b in event.bypassed)
    forced = f" FORCED (bypassed: {bypassed})" if event.forced else ""
    why = f'  "{one_line(event.message)}"' if event.message else ""
    change = f"{describe(event.before)} -> {describe(event.after)}"
    withdrawn = _withdrawn(entry.record) if event.type == "rollback" else ""
    return f"{when}  {event.stage:<11} {event.type:<9} {change}  {who}{why}{forced}{withdrawn}"


def _withdrawn(record: dict[str, object]) -> str:
    """`` (canary withdrawn: request ID rejected by EMAIL)`` for a rollback made by a
    rejection, else ``""``."""
    rejecters, request = record.get("rejected_by"), record.get("request")
    if not isinstance(rejecters, list) or not rejecters:
        return ""
    by = ", ".join(one_line(str(e), 80) for e in rejecters)
    return f" (canary withdrawn: request {one_line(str(request), 40)} rejected by {by})"


def resolve(spec: ModelSpec, as_json: bool = False) -> int:
    """Print what NAME@STAGE serves: versions, weights, commits, files."""
    name, stage = spec.name, spec.what
    if stage is None:
        raise UserError(f"no stage in {str(spec)!r}", hint="write NAME@STAGE, e.g. clf@production")
    repo = git.Repo.discover()
    found = serving.resolve(repo, name, stage)
    if as_json:
        print(json.dumps(found.to_json(), indent=2))
        return 0
    for a in found.assignments:
        print(f"{name}@{stage}: v{a.version} {a.weight}% {a.commit}")
        for f in a.files:
            print(f"  {f.oid or '(git blob ' + f.blob + ')'} {f.size:>12} {f.path}")
    return 0
