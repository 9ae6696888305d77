"""Change requests: ``request``, ``approve``, ``reject`` and ``requests``.

A request asks for a version of a model to enter a stage; reviewers decide it; ``promote``
then finds the approvals the stage's policy asks for (:mod:`gitmodel.registry.approvals`).
Records live on ``refs/gitmodel/requests`` and travel with ``git push`` / ``git model
fetch`` like the registry's. Where the policy wants signed approvals, each record is
verified against the committed allowed-signers file before it is written, so a record
that would not count is refused here rather than discovered at promotion.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from datetime import datetime, timedelta, timezone

from gitmodel import git
from gitmodel.errors import UserError
from gitmodel.logs import records
from gitmodel.registry import approvals, declare, messages, requests, stages
from gitmodel.registry.versions import versions
from gitmodel.specs import ModelSpec

_DONE = {"approve": "approved", "reject": "rejected"}  # a decision, as the listing says it


def request(spec: ModelSpec, stage: str, message: str) -> int:
    """Ask for NAME@VERSION (or what NAME@STAGE serves) to enter STAGE; prints the id."""
    why = _message(message, "request")
    repo = git.Repo.discover()
    registry = declare.load(repo)
    model = registry.model(declare.valid_name(spec.name))
    model.check_stage(declare.valid_stage(stage))
    version = stages.pick_version(repo, versions(repo, registry, model), model, spec.what)
    used = approvals.carried_out(repo)
    for summary in requests.summaries(repo, used):
        rec = summary.request.record
        if (rec.model, rec.stage, rec.commit) == (model.name, stage, version.commit) and (
            summary.status in ("open", "approved")
        ):
            raise UserError(
                f"request {rec.id} already asks for {model.name}@v{version.number} in {stage}",
                hint=f"see it with `git model requests`; reviewers: git model approve {rec.id}",
            )
    record = requests.new_request(model.name, stage, version, why)
    rule = _rule(model, stage)
    requests.append(repo, record, _signed_check(repo, rule, "request"))
    print(record["id"])
    print(f"gitmodel: requested {model.name}@v{version.number} -> {stage} "
          f"(request {record['id']})", file=sys.stderr)  # fmt: skip
    if rule is None:
        print(f"note: the {stage} policy needs no approval; `git model promote` does not "
              "wait for this one", file=sys.stderr)  # fmt: skip
    print(f"hint: share it with `git model push` (or git push); reviewers run "
          f"git model review {model.name}@v{version.number} --against {stage}, then "
          f"git model approve {record['id']} -m WHY", file=sys.stderr)  # fmt: skip
    return 0


def decide(kind: str, request_id: str, message: str) -> int:
    """Approve or reject REQUEST (``kind``: ``approve`` or ``reject``)."""
    why = _message(message, kind)
    repo = git.Repo.discover()
    found = requests.find(repo, request_id)
    rec = found.record
    summary = next(s for s in requests.summaries(repo, approvals.carried_out(repo))
                   if s.request.record.id == rec.id)  # fmt: skip
    me = records.identity(repo)[1].lower()
    registry = declare.load(repo)
    model = registry.model(rec.model)
    rule = _rule(model, rec.stage)
    with approvals.verifier(repo, rule) as (checking, _):  # an approval that failed the
        signed = rule is not None and rule.require_signed  # policy's signing may be redone

        def counts(entry: requests.Entry) -> bool:
            return not signed or checking.verify(entry.commit).signed_by(me)

        _check_decision(kind, summary, me, counts)
    if kind == "approve":
        _check_still_version(repo, registry, model, rec)
    if kind == "approve" and rule is not None:
        _check_approver(repo, rule, me)
    requests.append(repo, requests.decision(kind, rec, why), _signed_check(repo, rule, kind))
    print(f"gitmodel: {_DONE[kind]} request {rec.id} ({rec.model}@v{rec.version} -> {rec.stage})",
          file=sys.stderr)  # fmt: skip
    print("hint: share it with `git model push` (or git push)", file=sys.stderr)
    return 0


def list_requests(as_json: bool = False) -> int:
    """Every request, newest first, with its decisions and status."""
    repo = git.Repo.discover()
    found = requests.summaries(repo, approvals.carried_out(repo))
    if as_json:
        print(json.dumps({"requests": [summary_json(s) for s in found]}, indent=2))
        return 0
    if not found:
        print("no change request yet; see `git model request`", file=sys.stderr)
    for summary in found:
        print("\n".join(summary_lines(summary)))
    return 0


def summary_json(summary: requests.Summary) -> dict[str, object]:
    """The documented ``requests --json`` item."""
    rec = summary.request.record
    return {
        **rec.change_json(),
        "message": rec.message,
        "status": summary.status,
        "requested_by": _who(summary.request),
        "at": _when(summary.request),
        "record": summary.request.commit,
        "decisions": [_decision_json(d) for d in summary.decisions],
        "promoted_by": summary.promoted_by,
    }


def _decision_json(entry: requests.Entry) -> dict[str, object]:
    return {"type": entry.record.type, "by": _who(entry), "at": _when(entry),
            "message": entry.record.message, "record": entry.commit}  # fmt: skip


def summary_lines(summary: requests.Summary) -> list[str]:
    rec, line = summary.request.record, requests.one_line
    lines = [
        f"{rec.id}  {summary.status:<9} {rec.model}@v{rec.version} -> {rec.stage}  "
        f"{_when(summary.request)[:16]}  by {line(summary.request.name, 60)} "
        f"<{line(summary.request.email, 80)}>: {line(rec.message)}"
    ]
    for d in summary.decisions:
        lines.append(f"    {_DONE[d.record.type]:<9} by {line(d.name, 60)} <{line(d.email, 80)}> "
                     f"{_when(d)[:16]}: {line(d.record.message)}")  # fmt: skip
    if summary.promoted_by:
        lines.append(f"    promoted  by registry event {summary.promoted_by[:10]}")
    return lines


def _check_decision(
    kind: str, summary: requests.Summary, me: str, counts: Callable[[requests.Entry], bool]
) -> None:
    rec = summary.request.record
    if summary.status == "promoted":
        raise UserError(f"request {rec.id} was carried out already",
                        hint="open a new request for a new change")  # fmt: skip
    if summary.status == "rejected":
        raise UserError(f"request {rec.id} was rejected", hint="open a new request")
    if kind != "approve":
        return
    if summary.request.email.lower() == me:
        raise UserError(
            f"you opened request {rec.id}; an approval must come from someone else",
            hint=f"ask a reviewer to run: git model approve {rec.id} -m WHY",
        )
    if any(d.email.lower() == me and d.record.type == "approve" and counts(d)
           for d in summary.decisions):  # fmt: skip
        raise UserError(f"you approved request {rec.id} already", hint="see `git model requests`")


def _check_still_version(
    repo: git.Repo, registry: declare.Registry, model: declare.Model, rec: requests.Record
) -> None:
    """An approval is of the commit the request names: refuse it when that version
    number now names another commit (the branch was rewritten since, or this clone's
    branch went another way), so that no one approves "v7" looking at a different v7."""
    try:
        found = versions(repo, registry, model)
    except UserError:  # this clone lacks the registry branch: nothing to compare with
        return
    if not 1 <= rec.version <= len(found) or found[rec.version - 1].commit == rec.commit:
        return  # the same version, or this clone has not got it yet
    now = found[rec.version - 1].commit
    raise UserError(
        f"request {rec.id} asks for {rec.model}@v{rec.version} at commit {rec.commit[:10]}, "
        f"but v{rec.version} is now commit {now[:10]} here",
        hint=f"if the branch was rewritten, reject it and open a new request "
        f"(git model request {rec.model}@v{rec.version} {rec.stage} -m WHY); "
        "else bring your branch up to date (git pull)",
    )


def _check_approver(repo: git.Repo, rule: declare.Approvals, me: str) -> None:
    allowed = frozenset(rule.emails)
    where = "the policy's approvals.from"
    if rule.signers_file is not None:
        allowed, where = (
            approvals.load_signers(repo, rule.signers_file).principals,
            rule.signers_file,
        )
    if allowed and me not in allowed:
        raise UserError(
            f"{me} is not an approver of this stage ({where}), so the approval would not count",
            hint=f"approve as someone listed in {where}, or have yourself added there",
        )


def _signed_check(
    repo: git.Repo, rule: declare.Approvals | None, what: str
) -> approvals.RecordCheck | None:
    """Where the policy wants signed records, the check that refuses one that is not
    signed by its author's listed key, before it is written."""
    if rule is None or rule.signers_file is None:
        return None
    if not records.signs_commits(repo):
        raise UserError(
            "this stage's policy counts only signed records, and your Git does not sign commits",
            hint="git config commit.gpgSign true (with gpg.format ssh and user.signingKey "
            f"set to your key listed in {rule.signers_file})",
        )
    return approvals.signed_by_author(repo, rule, what)


def _rule(model: declare.Model, stage: str) -> declare.Approvals | None:
    rule = model.policy.get(stage)
    return rule.approvals if rule else None


def _message(message: str, verb: str) -> str:
    return messages.checked(message, verb, required=True)


def _who(entry: requests.Entry) -> dict[str, str]:
    return {"name": entry.name, "email": entry.email}


def _when(entry: requests.Entry) -> str:
    return datetime.fromtimestamp(entry.time, timezone(timedelta(minutes=entry.offset))).isoformat()
