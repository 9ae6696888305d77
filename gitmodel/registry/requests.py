"""Change requests and their decisions: records on the log ``refs/gitmodel/requests``.

Someone asks for a version of a model to enter a stage; reviewers approve or reject it;
``promote`` checks the approvals the stage's policy asks for (:mod:`.approvals`). Records
(one commit each, see :mod:`gitmodel.logs.records`; who and when are the commit's author
and date, signed when the user's Git signs)::

    {"type": "request", "id": ID, "model": NAME, "stage": STAGE, "version": 3,
     "commit": C, "message": "why", "registry_tip": R | null}
    {"type": "approve" | "reject", "id": ID, "model": NAME, "stage": STAGE,
     "version": 3, "commit": C, "message": "why", "registry_tip": R | null}

``ID`` is 12 random hex digits, so requests opened in two clones never collide.
``registry_tip`` is the commit at the registry log's tip as the writer's clone held it
when the record was written (null: it had no registry log yet), so that what became of a
request is judged by what its requester had seen (:mod:`.outcomes`), and a rejection the
audit finds after a promotion its rejecter had seen (:mod:`.audit`); a record written
before it existed, or whose value is not a commit id, is judged by author times. A decision
repeats what it decides on (model, stage, version, commit), so a signed approval says in
its own signed tree exactly which change it approves. Records commute (a decision comes
after its request in every log that holds both), so logs written in two clones merge by
replay, like the lineage log. The materialized ``state.json``::

    {"records": N, "requests": {ID: {"model", "stage", "version", "commit",
                                     "status": "open" | "approved" | "rejected",
                                     "approvals": N, "rejections": N}}}

The state is for listing only; every check reads the records themselves (and their
commits' signatures), validated here, since anyone who can push the log ref wrote them.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from gitmodel import git
from gitmodel.errors import UserError
from gitmodel.logs import records
from gitmodel.registry.declare import valid_name, valid_stage
from gitmodel.registry.messages import MESSAGE_LIMIT
from gitmodel.registry.versions import Version

Json = dict[str, Any]
DECISIONS = ("approve", "reject")
_ID = re.compile(r"[0-9a-f]{12}")
_ID_PREFIX = re.compile(r"[0-9a-f]{4,12}")
_COMMIT = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")
_FIELDS = ("id", "model", "stage", "version", "commit")


def reduce(state: Json, record: Json) -> Json:
    """Fold one record into the state (see the module docstring); malformed records
    only count."""
    state["records"] = int(state.get("records", 0)) + 1
    parsed = parse(record)
    if parsed is None:
        return state
    found = state.get("requests")
    if not isinstance(found, dict):  # a state written by someone else: start over
        found = state["requests"] = {}
    if parsed.type == "request":
        found.setdefault(parsed.id, {**parsed.change_json(), "status": "open",
                                     "approvals": 0, "rejections": 0})  # fmt: skip
        return state
    entry = found.get(parsed.id)
    if not isinstance(entry, dict) or any(
        entry.get(k) != v for k, v in parsed.change_json().items()
    ):
        return state
    if parsed.type == "approve":
        entry["approvals"] = _count(entry, "approvals") + 1
        entry["status"] = "rejected" if _count(entry, "rejections") else "approved"
    else:
        entry["rejections"] = _count(entry, "rejections") + 1
        entry["status"] = "rejected"
    return state


def _count(entry: Json, key: str) -> int:
    value = entry.get(key, 0)
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


KIND = records.LogKind("requests", reduce=reduce, commutes=True)


@dataclass(frozen=True)
class Record:
    """A request or a decision, as checked from the log."""

    type: str  # "request", "approve" or "reject"
    id: str
    model: str
    stage: str
    version: int
    commit: str
    message: str
    # the registry log's tip its writer had seen ("": none); None when the record does
    # not say (an older one) or says something that is not a commit id
    registry_tip: str | None = None

    def change_json(self) -> Json:
        return {"id": self.id, "model": self.model, "stage": self.stage,
                "version": self.version, "commit": self.commit}  # fmt: skip

    def to_json(self) -> Json:
        found = {"type": self.type, **self.change_json(), "message": self.message}
        if self.registry_tip is not None:
            found["registry_tip"] = self.registry_tip or None
        return found


@dataclass(frozen=True)
class Entry:
    """A record and the log commit that holds it (its author is who wrote it)."""

    record: Record
    commit: str
    name: str
    email: str
    time: int
    offset: int


def parse(record: Json) -> Record | None:
    """The record, when every field is well-formed; else None."""
    try:
        kind, rid, model, stage = (record[k] for k in ("type", "id", "model", "stage"))
        version, commit, message = record["version"], record["commit"], record["message"]
        ok = (
            kind in ("request", *DECISIONS)
            and isinstance(rid, str) and _ID.fullmatch(rid) is not None
            and isinstance(version, int) and not isinstance(version, bool) and version >= 0
            and isinstance(commit, str) and _COMMIT.fullmatch(commit) is not None
            and isinstance(message, str) and len(message) <= MESSAGE_LIMIT
        )  # fmt: skip
        if not ok:
            return None
        valid_name(model)
        valid_stage(stage)
    except (KeyError, TypeError, UserError):
        return None
    return Record(kind, rid, model, stage, version, commit, message, _registry_tip(record))


def _registry_tip(record: Json) -> str | None:
    """A record's ``registry_tip``: the commit id, ``""`` for null (no registry log then);
    None when it is absent or anything else (the record is then judged by author times)."""
    if "registry_tip" not in record:
        return None
    value = record["registry_tip"]
    if value is None:
        return ""
    return value if isinstance(value, str) and _COMMIT.fullmatch(value) else None


def log(repo: git.Repo) -> records.Log:
    return records.Log(repo, KIND)


def entries(repo: git.Repo) -> Iterator[Entry]:
    """Every well-formed record, newest first (malformed ones are skipped)."""
    for entry in log(repo).records():
        parsed = parse(entry.record)
        if parsed is not None:
            yield Entry(parsed, entry.commit, entry.author_name, entry.author_email,
                        entry.time, entry.offset)  # fmt: skip


def new_request(model: str, stage: str, version: Version, message: str,
                registry_tip: str | None) -> Json:  # fmt: skip
    """A new request; ``registry_tip``: the registry log's tip here (None: no log yet)."""
    return Record("request", secrets.token_hex(6), model, stage, version.number,
                  version.commit, message, registry_tip or "").to_json()  # fmt: skip


def decision(kind: str, request: Record, message: str, registry_tip: str | None) -> Json:
    """A decision on ``request``; ``registry_tip``: the registry log's tip here (None: no
    log yet)."""
    return Record(kind, request.id, request.model, request.stage, request.version,
                  request.commit, message, registry_tip or "").to_json()  # fmt: skip


def valid_id(text: str) -> str:
    """A request id as written (a unique prefix of at least 4 hex digits)."""
    if _ID_PREFIX.fullmatch(text):
        return text
    if re.fullmatch(r"[0-9a-f]{1,3}", text):
        problem = "is shorter than 4 digits; give at least 4 of its 12"
    elif re.fullmatch(r"[0-9a-f]+", text):
        problem = "is longer than the 12 digits of a request id"
    else:
        problem = "is not lowercase hex digits"
    raise UserError(
        f"invalid request id {text[:40]!r}: it {problem}",
        hint="request ids are 12 hex digits, e.g. 3f9a2c1d0b7e; see `git model requests`",
    )


def find(repo: git.Repo, text: str) -> Entry:
    """The request whose id is ``text`` or starts with it."""
    prefix = valid_id(text)
    found = {e.record.id: e for e in entries(repo) if e.record.type == "request"
             and e.record.id.startswith(prefix)}  # fmt: skip
    if len(found) > 1:
        raise UserError(f"request id {prefix} is ambiguous", hint="give more of its digits")
    if not found:
        raise UserError(
            f"no request {prefix}",
            hint="see `git model requests`; run `git model fetch` to get others' requests",
        )
    return next(iter(found.values()))


def append(
    repo: git.Repo, record: Json, check: Callable[[str], None] | None = None, attempts: int = 3
) -> str:
    """Append ``record``; its log commit. ``check``, given the new commit before the
    ref moves, may refuse it (nothing is then written). Records commute, so a lost
    race is retried."""
    for attempt in range(attempts):
        parent = records.Log(repo, KIND).tip()
        commit = records.write_commit(repo, KIND, record, parent, summary(record))
        if check is not None:
            check(commit)
        try:
            records.update_ref(repo, KIND.ref, commit, parent, KIND.name)
            return commit
        except records.ConflictError:
            if attempt + 1 == attempts:
                raise
    raise AssertionError("unreachable")


def summary(record: Json) -> str:
    """The log commit's summary: ``TYPE ID MODEL STAGE``."""
    return f"{record['type']} {record['id']} {record['model']} {record['stage']}"


def state(repo: git.Repo) -> Json:
    """The state at the log's tip, one blob read."""
    return records.read_state(repo, KIND)


@dataclass(frozen=True)
class Outcome:
    """A registry event that gave a request's stage another version since it was opened."""

    event: str  # the event's log commit
    version: int  # the version the stage then mostly served


@dataclass
class Summary:
    """A request with its decisions, oldest first, and where it stands (what became of
    it in the registry is filled in by :mod:`.outcomes`)."""

    request: Entry
    decisions: list[Entry]
    promoted_by: str | None = None  # the registry event that carried it out
    superseded_by: Outcome | None = None  # the event that gave the stage a newer version
    withdrawn_by: str | None = None  # the event that withdrew its canary, on a rejection

    @property
    def status(self) -> str:
        """``rejected`` (a rejection; a canary withdrawn on one), ``promoted`` (carried
        out), ``superseded`` (its stage was given a newer version first), ``approved`` (at
        least one approval) or ``open``."""
        kinds = {d.record.type for d in self.decisions}
        if self.withdrawn_by:
            return "rejected"
        if self.promoted_by:
            return "promoted"
        if "reject" in kinds:
            return "rejected"
        if self.superseded_by:
            return "superseded"
        return "approved" if "approve" in kinds else "open"

    @property
    def open(self) -> bool:
        """Whether a reviewer may still decide it."""
        return self.status in ("open", "approved")


def summaries(repo: git.Repo) -> list[Summary]:
    """Every request with its decisions, newest first (what became of each in the
    registry is not read: see :func:`gitmodel.registry.outcomes.summaries`)."""
    found: dict[str, Summary] = {}
    for entry in reversed(list(entries(repo))):
        rid = entry.record.id
        if entry.record.type == "request":
            found.setdefault(rid, Summary(entry, []))
        elif rid in found and entry.record.change_json() == found[rid].request.record.change_json():
            found[rid].decisions.append(entry)
    return list(reversed(found.values()))


def one_line(text: str, limit: int = 200) -> str:
    """``text`` (from a record: anyone's) as one printable line, cut at ``limit``."""
    text = "".join(ch if ch.isprintable() else " " for ch in text)
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
