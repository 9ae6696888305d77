"""Whether a change has the approvals a stage's policy asks for (``"approvals"`` in
``.gitmodel-registry.json``, :class:`~gitmodel.registry.declare.Approvals`).

A promotion of version V to stage S needs a change request for exactly V and S
(:mod:`.requests`) that no earlier promotion used (except the one that brought V into S,
while S still holds it: raising a canary's share or completing its cut-over continues
that promotion's request), no rejection, and at least ``count``
approvals that each count: by someone other than the requester, among the approvers the
policy names, and, with ``require_signed``, in a commit that ``git verify-commit`` finds
signed by the approver's own key in the allowed-signers file committed on the registry
branch (the principal must be the email the commit records; :mod:`.signing`). With
``require_signed`` the request's own commit must be signed by its requester too, so a
request cannot claim to come from someone else to make its requester's approval count. A
rejection stops a rollout under way: nothing more is approved under the request, and
``reject`` withdraws its canary (:mod:`.rollouts`).
"""

from __future__ import annotations

from collections.abc import Callable, Container
from dataclasses import dataclass, field

from gitmodel import git
from gitmodel.errors import GitModelError
from gitmodel.git import signatures
from gitmodel.registry import requests, stages
from gitmodel.registry.declare import Approvals, Model
from gitmodel.registry.signing import Signers, describe, verifier
from gitmodel.registry.versions import Version

Problem = tuple[str, str]  # (what is wrong, what to do)


@dataclass(frozen=True)
class Approval:
    """One decision that counts toward the policy."""

    email: str
    name: str
    commit: str  # the decision's log commit
    signature: signatures.Signature | None  # checked when the policy requires signing


@dataclass
class Assessment:
    """A request judged against a policy: the approvals that count, and what is missing."""

    request: requests.Entry | None
    approvals: list[Approval] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    needed: int = 1

    @property
    def ok(self) -> bool:
        return self.request is not None and not self.problems


def carried_out(repo: git.Repo, unreadable: Container[str] = ()) -> dict[str, str]:
    """Every request a promotion carried out → the first promotion that cited it
    (``unreadable``: log commits known damaged, skipped)."""
    used: dict[str, str] = {}
    for entry in stages.log(repo).records(unreadable=unreadable):  # newest first: oldest kept
        request = entry.record.get("request")
        if entry.record.get("type") == "promote" and isinstance(request, str):
            used[request] = entry.commit
    return used


def used_requests(repo: git.Repo, model: str, stage: str) -> set[str]:
    """The requests that promotions of ``model`` to ``stage`` already used."""
    return {
        str(e.record["request"])
        for e in stages.events(repo, model, stage)
        if e.record.get("type") == "promote" and isinstance(e.record.get("request"), str)
    }


def assess(
    repo: git.Repo, model: Model, stage: str, version: Version, rule: Approvals
) -> Assessment:
    """The request that lets ``version`` of ``model`` enter ``stage``, or why none does."""
    log = list(requests.entries(repo))
    rollout = _rollout(repo, log, model, stage, version, rule)
    if rollout is not None and rollout.ok:
        return rollout
    used = used_requests(repo, model.name, stage)
    wanted = [e for e in log if e.record.type == "request" and e.record.model == model.name
              and e.record.stage == stage and e.record.commit == version.commit
              and e.record.id not in used]  # fmt: skip
    if not wanted and rollout is not None:
        return rollout  # why the rollout under way cannot go on (a rejection, say)
    if not wanted:
        how = f"git model request {model.name}@{version.label} {stage} -m WHY"
        return Assessment(None, problems=[_rejected(log, used, model.name, stage, version) or (
            f"no open change request asks for {version.label} in {stage}",
            f"open one and have it approved: {how} (`git model fetch` brings requests "
            "opened in other clones)",
        )], needed=rule.count)  # fmt: skip
    try:
        with verifier(repo, rule) as (checking, found):
            judged = [judge(r, log, rule, checking, found) for r in wanted]
    except GitModelError as exc:
        return Assessment(None, problems=[(str(exc), exc.hint or "")], needed=rule.count)
    return next((a for a in judged if a.ok), max(judged, key=lambda a: len(a.approvals)))


def _rejected(
    log: list[requests.Entry], used: set[str], model: str, stage: str, version: Version
) -> Problem | None:
    """Why a canary whose request was rejected (and withdrawn) goes no further: the
    newest rejection of a used request for exactly this change, if any."""
    change = (model, stage, version.commit)
    for entry in log:  # newest first
        rec = entry.record
        if rec.type == "reject" and rec.id in used and (rec.model, rec.stage, rec.commit) == change:
            why = requests.one_line(rec.message, 120)
            return (
                f"request {rec.id} for {version.label} in {stage} was rejected by "
                f"{entry.email.lower()}: {why}",
                f"address it, then open a new request: git model request {model}@"
                f"{version.label} {stage} -m WHY",
            )
    return None


def _rollout(
    repo: git.Repo, log: list[requests.Entry], model: Model, stage: str, version: Version,
    rule: Approvals,
) -> Assessment | None:  # fmt: skip
    """The request of the rollout of ``version`` under way in ``stage``, judged; None when
    there is none (see :func:`rollout_request`)."""
    rid = rollout_request(repo, model.name, stage, version.commit)
    request = next((e for e in log if rid is not None and e.record.type == "request"
                    and e.record.id == rid), None)  # fmt: skip
    if request is None:
        return None
    asked = (request.record.model, request.record.stage, request.record.commit)
    if asked != (model.name, stage, version.commit):
        return None
    try:
        with verifier(repo, rule) as (checking, found):
            return judge(request, log, rule, checking, found)
    except GitModelError as exc:
        return Assessment(None, problems=[(str(exc), exc.hint or "")], needed=rule.count)


def rollout_request(repo: git.Repo, model: str, stage: str, commit: str) -> str | None:
    """The request the promotion that brought ``commit`` into ``stage`` of ``model``
    carried out, when the stage has held it ever since (as one side of a weighted pair);
    None when it does not hold it, or it came in without one (forced, or a rollback)."""
    for entry in stages.events(repo, model, stage):  # newest first
        record = entry.record
        if commit not in _commits(record.get("to")):
            return None
        if commit not in _commits(record.get("from")):
            request = record.get("request")
            return request if record.get("type") == "promote" and isinstance(request, str) else None
    return None


def _commits(refs: object) -> set[object]:
    """The commits a record's ``from`` or ``to`` names (nothing, when malformed)."""
    return (
        {a.get("commit") for a in refs if isinstance(a, dict)} if isinstance(refs, list) else set()
    )


def judge(
    request: requests.Entry,
    log: list[requests.Entry],
    rule: Approvals,
    checking: signatures.Verifier,
    found: Signers | None,
    overlooked: Callable[[requests.Entry], bool] | None = None,
) -> Assessment:
    """``request`` against ``rule``, given every record of the log (but the decisions
    ``overlooked`` picks: the audit's, made after the change it judges)."""
    result = Assessment(request, needed=rule.count)
    rid, requester = request.record.id, request.email.lower()
    if rule.require_signed and not checking.verify(request.commit).signed_by(requester):
        sig = checking.verify(request.commit)
        result.problems.append((
            f"request {rid} is not signed by its requester {requester} ({describe(sig, found)})",
            "open a new request with signing on (git config commit.gpgSign true)",
        ))  # fmt: skip
        return result
    decisions = [e for e in reversed(log) if e.record.type != "request"
                 and e.record.change_json() == request.record.change_json()
                 and not (overlooked and overlooked(e))]  # fmt: skip
    counted: dict[str, Approval] = {}
    notes: list[Problem] = []
    rejected: list[Problem] = []
    for entry in decisions:
        email = entry.email.lower()
        signature = checking.verify(entry.commit) if rule.require_signed else None
        if signature is not None and not signature.signed_by(email):
            if entry.record.type == "approve":  # an unverified rejection is no veto either
                notes.append(_unsigned(entry, email, signature, found))
        elif entry.record.type == "reject":
            why = requests.one_line(entry.record.message, 120)
            rejected.append((
                f"request {rid} was rejected by {email}: {why}",
                "address it, then open a new request (git model request …)",
            ))  # fmt: skip
        elif (problem := _not_counted(email, requester, rule, found)) is not None:
            notes.append(problem)
        else:
            counted.setdefault(email, Approval(email, entry.name, entry.commit, signature))
    result.approvals = list(counted.values())
    if rejected:
        result.problems = rejected
    elif len(counted) < rule.count:
        result.problems = [*notes, (
            f"request {rid} has {len(counted)} of the {rule.count} approval(s) it needs",
            f"ask a reviewer: git model approve {rid} -m WHY (`git model fetch` brings "
            "approvals made in other clones)",
        )]  # fmt: skip
    return result


def _not_counted(email: str, requester: str, rule: Approvals, found: Signers | None
                 ) -> Problem | None:  # fmt: skip
    if email == requester:
        return (
            f"{email} approved their own request, which does not count",
            "an approval must come from someone other than the requester",
        )
    allowed = found.principals if found is not None else frozenset(rule.emails)
    if allowed and email not in allowed:
        where = found.path if found is not None else "the policy's approvals.from"
        return (f"{email} is not an approver ({where})", f"ask someone listed in {where}")
    return None


def _unsigned(
    entry: requests.Entry, email: str, signature: signatures.Signature, found: Signers | None
) -> Problem:
    where = f"{found.rev}:{found.path}" if found else "the allowed-signers file"
    return (
        f"the approval by {email} ({entry.commit[:10]}) is {describe(signature, found)}",
        f"approve again with commit signing on and a key listed for {email} in {where}",
    )
