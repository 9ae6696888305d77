"""Change requests: ``request``, ``approve``, ``reject`` and ``requests``.

A request asks for a version of a model to enter a stage; reviewers decide it; ``promote``
then finds the approvals the stage's policy asks for (:mod:`gitmodel.registry.approvals`).
Records live on ``refs/gitmodel/requests`` and travel with ``git push`` / ``git model
fetch`` like the registry's; a request records the registry log's tip here, so what
becomes of it is judged by what its requester had seen. Where the policy wants signed
approvals, each record is verified against the committed allowed-signers file before it
is written, so a record that would not count is refused here rather than discovered at
promotion.
"""

from __future__ import annotations

import json
import sys
from datetime import datetime, timedelta, timezone

from gitmodel import git
from gitmodel.errors import UserError
from gitmodel.logs import records
from gitmodel.registry import (
    declare,
    hooks,
    messages,
    outcomes,
    requests,
    rollouts,
    signing,
    stages,
)
from gitmodel.registry.stage_events import describe
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
    for summary in outcomes.summaries(repo):
        rec = summary.request.record
        if (rec.model, rec.stage, rec.commit) == (model.name, stage, version.commit) and (
            summary.open
        ):
            raise UserError(
                f"request {rec.id} already asks for {model.name}@v{version.number} in {stage}",
                hint=f"see it with `git model requests`; reviewers: git model approve {rec.id}",
            )
    record = requests.new_request(model.name, stage, version, why, stages.log(repo).tip())
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
    """Approve or reject REQUEST (``kind``: ``approve`` or ``reject``); a rejection of a
    request whose canary is under way also withdraws that canary."""
    why = _message(message, kind)
    repo = git.Repo.discover()
    rec = requests.find(repo, request_id).record
    summary = next(s for s in outcomes.summaries(repo) if s.request.record.id == rec.id)
    me = records.identity(repo)[1].lower()
    registry = declare.load(repo)
    model = registry.model(rec.model)
    rule = _rule(model, rec.stage)
    rollout = rollouts.under_way(repo, model, rec) if kind == "reject" else None
    if rollout is not None:
        return _stop(repo, rule, summary, rollout, me, why)
    _check_decision(kind, summary, me, _made(repo, rule, summary, me, kind))
    if kind == "approve":
        _check_still_version(repo, registry, model, rec)
    if kind == "approve" and rule is not None:
        _check_approver(repo, rule, me)
    _record(repo, rule, kind, rec, why)
    print("hint: share it with `git model push` (or git push)", file=sys.stderr)
    return 0


def _record(repo: git.Repo, rule: declare.Approvals | None, kind: str, rec: requests.Record,
            why: str) -> None:  # fmt: skip
    record = requests.decision(kind, rec, why, stages.log(repo).tip())
    requests.append(repo, record, _signed_check(repo, rule, kind))
    print(f"gitmodel: {_DONE[kind]} request {rec.id} ({rec.model}@v{rec.version} -> {rec.stage})",
          file=sys.stderr)  # fmt: skip


def _made(
    repo: git.Repo, rule: declare.Approvals | None, summary: requests.Summary, me: str, kind: str
) -> bool:
    """Whether ``me`` made a ``kind`` decision on ``summary`` that counts: signed by my own
    key where the policy wants signed records (one that failed that may be redone)."""
    mine = [d for d in summary.decisions if d.email.lower() == me and d.record.type == kind]
    if not mine or rule is None or not rule.require_signed:
        return bool(mine)
    with signing.verifier(repo, rule) as (checking, _):
        return any(checking.verify(d.commit).signed_by(me) for d in mine)


def _stop(
    repo: git.Repo, rule: declare.Approvals | None, summary: requests.Summary,
    rollout: rollouts.Rollout, me: str, why: str,
) -> int:  # fmt: skip
    """Reject a request whose canary is under way, and withdraw the canary: the rejection
    first (so nothing more is approved under it), unless mine is recorded already (a
    withdrawal that did not land: rejecting again finishes it)."""
    rec = summary.request.record
    rollouts.check_stopper(repo, rule, me, summary.request.email, rollout)
    check = _signed_check(repo, rule, "withdrawal")
    if not _made(repo, rule, summary, me, "reject"):
        _record(repo, rule, "reject", rec, why)
    record, entry = rollouts.withdraw(repo, rollout, rec.id, me, why, check)
    print(f"{rec.model} {rec.stage}: {describe(rollout.held)} -> "
          f"{describe([rollout.stable.with_files(())])} (canary of request {rec.id} "
          "withdrawn)", file=sys.stderr)  # fmt: skip
    ended = hooks.run(repo, hooks.POST_PROMOTE,
                      hooks.event_json(record, records.identity(repo), entry.commit))  # fmt: skip
    if ended is not None and ended.failed:
        print(f"gitmodel: warning: the post-promote hook failed ({ended}); the "
              f"withdrawal of the canary of {rec.model} {rec.stage} is recorded and stands",
              file=sys.stderr)  # fmt: skip
    print("hint: share it with `git model push` (or git push)", file=sys.stderr)
    return 0


def list_requests(as_json: bool = False) -> int:
    """Every request, newest first, with its decisions and status."""
    repo = git.Repo.discover()
    found = outcomes.summaries(repo)
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
        "superseded_by": _outcome_json(summary.superseded_by),
        "withdrawn_by": summary.withdrawn_by,
    }


def _outcome_json(found: requests.Outcome | None) -> dict[str, object] | None:
    return {"event": found.event, "version": found.version} if found else None


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
    if summary.superseded_by:
        lines.append(f"    superseded by v{summary.superseded_by.version} in {rec.stage}, "
                     f"registry event {summary.superseded_by.event[:10]}")  # fmt: skip
    if summary.withdrawn_by:
        lines.append(f"    withdrawn (its canary) by registry event {summary.withdrawn_by[:10]}")
    return lines


def _check_decision(kind: str, summary: requests.Summary, me: str, made: bool) -> None:
    """Refuse a decision on a request that is no longer open, a self-approval, and a
    second approval (``made``: mine counts already)."""
    rec = summary.request.record
    if not summary.open:
        raise _closed(summary)
    if kind != "approve":
        return
    if summary.request.email.lower() == me:
        raise UserError(
            f"you opened request {rec.id}; an approval must come from someone else",
            hint=f"ask a reviewer to run: git model approve {rec.id} -m WHY",
        )
    if made:
        raise UserError(f"you approved request {rec.id} already", hint="see `git model requests`")


def _closed(summary: requests.Summary) -> UserError:
    """Why ``summary`` can no longer be decided, and what to do instead."""
    rec = summary.request.record
    again = f"git model request {rec.model}@v{rec.version} {rec.stage} -m WHY"
    if summary.status == "rejected":
        return UserError(f"request {rec.id} was rejected", hint=f"open a new request: {again}")
    if summary.superseded_by is not None and summary.status == "superseded":
        newer = summary.superseded_by
        return UserError(
            f"request {rec.id} is superseded: {rec.stage} of {rec.model} was given "
            f"v{newer.version} (registry event {newer.event[:10]}) after it was opened",
            hint=f"nothing to review; if v{rec.version} should still enter {rec.stage}, "
            f"open a new request: {again}",
        )
    event = summary.promoted_by or ""
    return UserError(
        f"request {rec.id} was carried out already (registry event {event[:10]})",
        hint=f"see `git model history {rec.model} --stage {rec.stage}`; roll a change back with "
        f"git model rollback {rec.model} {rec.stage} -m WHY, or open a new request for a "
        "new change",
    )


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
    allowed, where = signing.approvers(repo, rule)
    if allowed and me not in allowed:
        raise UserError(
            f"{me} is not an approver of this stage ({where}), so the approval would not count",
            hint=f"approve as someone listed in {where}, or have yourself added there",
        )


def _signed_check(
    repo: git.Repo, rule: declare.Approvals | None, what: str
) -> signing.RecordCheck | None:
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
    return signing.signed_by_author(repo, rule, what)


def _rule(model: declare.Model, stage: str) -> declare.Approvals | None:
    rule = model.policy.get(stage)
    return rule.approvals if rule else None


def _message(message: str, verb: str) -> str:
    return messages.checked(message, verb, required=True)


def _who(entry: requests.Entry) -> dict[str, str]:
    return {"name": entry.name, "email": entry.email}


def _when(entry: requests.Entry) -> str:
    return datetime.fromtimestamp(entry.time, timezone(timedelta(minutes=entry.offset))).isoformat()
