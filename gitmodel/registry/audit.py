"""The audit trail: every stage change with who requested it, who approved it, what was
bypassed, and whether each record is signed, judged against the current policy.

A change is a *problem* when the stage's policy (``"approvals"`` in the declaration
file) requires signing and the change's own log commit is not signed by its author's
key in the allowed-signers file (unsigned, badly signed, unknown key, or another
person's key); or when it is a promotion that was not forced and carries no request
whose approvals meet the policy now (none cited, a request for another change, one an
earlier promotion used, or approvals that do not count; a promotion of a version the
stage held before it, a canary's share raised or its cut-over done, continues the
request that brought the version in; a rejection that later withdrew that canary, made
after the change, does not undo the approval the change had: after, when the registry tip
its rejecter recorded is the change or newer, else when its author time is not earlier).
A rollback that withdrew a canary on a rejection (``"rejected_by"``) is a problem unless
the request it cites holds a rejection by each person it names (signed by them, where the
policy wants signed records). Forced promotions are flagged with what they bypassed; they are
recorded decisions, not problems, unless unsigned where signing is required. A commit
of the log whose state does not follow from its record and the state before it (a log
edited by hand: what ``stages`` shows is that state) is a problem whatever its model,
so an audit of any model shows it.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from gitmodel import git
from gitmodel.errors import GitModelError
from gitmodel.git import signatures
from gitmodel.git.signatures import BAD, UNKNOWN_KEY, UNSIGNED
from gitmodel.logs import records
from gitmodel.registry import approvals, declare, messages, requests, signing, stages
from gitmodel.registry.declare import Approvals, Model
from gitmodel.registry.stage_events import describe

Json = dict[str, Any]
SCHEMA = "gitmodel.audit/1"


@dataclass
class Change:
    """One stage change as the audit sees it."""

    entry: records.Entry
    signature: signatures.Signature
    signature_required: bool
    request: requests.Summary | None = None
    approval: approvals.Assessment | None = None
    problems: list[str] = field(default_factory=list)

    @property
    def record(self) -> Json:
        return self.entry.record

    @property
    def forced(self) -> bool:
        return bool(self.record.get("forced"))

    def to_json(self) -> Json:
        """The documented ``audit --json`` item."""
        record, entry = self.record, self.entry
        return {
            "event": entry.commit,
            "at": when(entry.time, entry.offset),
            "type": record.get("type"),
            "model": record.get("model"),
            "stage": record.get("stage"),
            "from": _label(record.get("from")),
            "to": _label(record.get("to")),
            "by": {"name": entry.author_name, "email": entry.author_email},
            "message": _message(record.get("message")),
            "forced": self.forced,
            "bypassed": record.get("bypassed", []),
            "signature": self.signature.to_json(),
            "signature_required": self.signature_required,
            "request": self._request_json(),
            "approvals": [_approval_json(a) for a in self.approval.approvals]
            if self.approval
            else [],
            "rejected_by": rejected_by(record),
            "problems": self.problems,
        }

    def _request_json(self) -> Json | None:
        if self.request is None:
            cited = self.record.get("request")
            return {"id": cited, "found": False} if isinstance(cited, str) else None
        req = self.request.request
        return {"id": req.record.id, "found": True, "message": req.record.message,
                "requested_by": {"name": req.name, "email": req.email},
                "at": when(req.time, req.offset), "record": req.commit}  # fmt: skip


def rejected_by(record: Json) -> list[str]:
    """Who rejected the request whose canary a rollback withdrew ([] for other changes)."""
    found = record.get("rejected_by")
    if record.get("type") != "rollback" or not isinstance(found, list):
        return []
    return [str(email) for email in found]


def _message(message: object) -> str:
    """A record's message, bounded (anyone's, and older records may hold longer ones
    than a record now keeps)."""
    return "" if message is None else messages.cut(str(message))


def _approval_json(found: approvals.Approval) -> Json:
    sig = found.signature.to_json() if found.signature else None
    return {"by": {"name": found.name, "email": found.email}, "record": found.commit,
            "signature": sig}  # fmt: skip


def when(time: int, offset: int) -> str:
    return datetime.fromtimestamp(time, timezone(timedelta(minutes=offset))).isoformat()


def _label(data: object) -> str:
    try:
        return describe(stages.assignments(data if isinstance(data, list) else []))
    except GitModelError:
        return "?"


def changes(repo: git.Repo, name: str | None = None, since: int | None = None) -> Iterator[Change]:
    """The stage changes (of model ``name``; from ``since``, in seconds since the epoch),
    newest first, each judged (see the module docstring)."""
    registry = declare.load(repo)
    log = list(requests.entries(repo))
    by_id = {s.request.record.id: s for s in requests.summaries(repo)}
    damaged = records.damaged(repo, stages.KIND)
    used = approvals.carried_out(repo, damaged)
    with ExitStack() as stack:
        checkers: dict[str | None, tuple[signatures.Verifier, signing.Signers | None]] = {}

        def checker(path: str | None) -> tuple[signatures.Verifier, signing.Signers | None]:
            if path not in checkers:
                rule = Approvals(signers_file=path) if path else None
                checkers[path] = stack.enter_context(signing.verifier(repo, rule))
            return checkers[path]

        withdrawn: dict[str, set[str]] = {}  # request → who rejected it, by later withdrawals
        walked: set[str] = set()  # the log's commits so far: this one and those newer
        for entry in stages.log(repo).records(unreadable=damaged):
            walked.add(entry.commit)
            record = entry.record
            if rejected_by(record) and isinstance(record.get("request"), str):
                withdrawn.setdefault(record["request"], set()).update(
                    e.lower() for e in rejected_by(record))  # fmt: skip
            if entry.commit not in damaged and (
                (name is not None and record.get("model") != name)
                or (since is not None and entry.time < since)
            ):
                continue
            model = registry.models.get(str(record.get("model")))
            rule = _rule(model, str(record.get("stage")))
            checking, found = checker(_signers_file(model, rule))
            change = Change(entry, checking.verify(entry.commit), bool(rule and rule.signers_file))
            if entry.commit in damaged:
                change.problems.append(f"the registry log was edited by hand here: "
                                       f"{damaged[entry.commit].what}")  # fmt: skip
            _judge_signature(change, rule)
            if rule is not None and record.get("type") == "promote":
                _judge_approvals(change, rule, log, by_id, used, (checking, found), withdrawn,
                                 walked)  # fmt: skip
            if rejected_by(record):
                _judge_withdrawal(change, rule, log, by_id, checking)
            yield change


def _rule(model: Model | None, stage: str) -> Approvals | None:
    rule = model.policy.get(stage) if model else None
    return rule.approvals if rule else None


def _signers_file(model: Model | None, rule: Approvals | None) -> str | None:
    """The allowed-signers file to judge a change of ``model`` by: its stage's, else any
    the model's policy names (so signatures get a status where none is required)."""
    if rule and rule.signers_file:
        return rule.signers_file
    files = [r.approvals.signers_file for r in (model.policy.values() if model else ())
             if r.approvals and r.approvals.signers_file]  # fmt: skip
    return files[0] if files else None


def _judge_signature(change: Change, rule: Approvals | None) -> None:
    if rule is None or rule.signers_file is None:
        return
    sig, email = change.signature, change.entry.author_email
    if sig.signed_by(email):
        return
    what = {
        UNSIGNED: "is not signed",
        BAD: "is badly signed (the signature does not match the record)",
        UNKNOWN_KEY: f"is signed by a key that is not in {rule.signers_file}",
    }.get(sig.status, f"is signed by {sig.signer}, not by its author {email}")
    stage = change.record.get("stage")
    change.problems.append(f"the change {what}, and the {stage} policy requires signed changes")


def _judge_approvals(
    change: Change,
    rule: Approvals,
    log: list[requests.Entry],
    by_id: dict[str, requests.Summary],
    used: dict[str, str],
    checker: tuple[signatures.Verifier, signing.Signers | None],
    withdrawn: dict[str, set[str]],
    walked: set[str],
) -> None:
    cited = change.record.get("request")
    change.request = by_id.get(cited) if isinstance(cited, str) else None
    if change.forced:
        return
    if change.request is None:
        change.problems.append("promoted without an approved change request"
                               + (f" (request {cited} is in no log)" if cited else ""))  # fmt: skip
        return
    req = change.request.request
    to = {a.get("commit") for a in change.record.get("to", []) if isinstance(a, dict)}
    if (req.record.model, req.record.stage) != (change.record.get("model"),
                                                change.record.get("stage")) or (
        req.record.commit not in to
    ):  # fmt: skip
        change.problems.append(f"request {req.record.id} asks for another change")
    held = {a.get("commit") for a in change.record.get("from", []) if isinstance(a, dict)}
    continued = req.record.commit in held  # a canary's share raised, or its cut-over done
    if not continued and used.get(req.record.id, change.entry.commit) != change.entry.commit:
        change.problems.append(
            f"request {req.record.id} was carried out already by {used[req.record.id][:10]}"
        )
    vetoed_later = withdrawn.get(req.record.id, set())  # the rejection that withdrew its
    # canary, made after this change, does not undo the approval it had

    def later(entry: requests.Entry) -> bool:
        if entry.record.type != "reject" or entry.email.lower() not in vetoed_later:
            return False
        if entry.record.registry_tip in walked:  # its rejecter had seen this change
            return True
        return entry.time >= change.entry.time  # older, unknown or concurrent: by the clock

    change.approval = approvals.judge(req, log, rule, *checker, overlooked=later)
    change.problems += [problem for problem, _ in change.approval.problems]


def _judge_withdrawal(
    change: Change,
    rule: Approvals | None,
    log: list[requests.Entry],
    by_id: dict[str, requests.Summary],
    checking: signatures.Verifier,
) -> None:
    """A canary withdrawn on a rejection: the request it cites, and a rejection of it by
    each person it names (signed by them, where the policy wants signed records)."""
    cited = change.record.get("request")
    change.request = by_id.get(cited) if isinstance(cited, str) else None
    if change.request is None:
        change.problems.append(f"the withdrawal cites request {cited}, which is in no log")
        return
    asked = change.request.request.record
    signed = rule is not None and rule.require_signed
    rejecters = {
        e.email.lower() for e in log if e.record.type == "reject"
        and e.record.change_json() == asked.change_json()
        and (not signed or checking.verify(e.commit).signed_by(e.email.lower()))
    }  # fmt: skip
    for email in rejected_by(change.record):
        if email.lower() not in rejecters:
            change.problems.append(f"the withdrawal says {email} rejected request {asked.id}, "
                                   "and no log holds such a rejection" + (" signed by them"
                                   if signed else ""))  # fmt: skip


def problems(found: list[Change]) -> int:
    return sum(1 for change in found if change.problems)


def summary_json(found: list[Change]) -> Json:
    return {"schema": SCHEMA, "changes": [c.to_json() for c in found],
            "summary": {"changes": len(found), "forced": sum(c.forced for c in found),
                        "problems": problems(found)}}  # fmt: skip
