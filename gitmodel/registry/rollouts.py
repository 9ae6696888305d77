"""A canary under way under a change request, and its withdrawal when the request is
rejected.

A promotion with ``--weight`` that carried out an approved request starts a canary; raising
its share or completing its cut-over continues under that request
(:func:`~gitmodel.registry.approvals.rollout_request`). A rejection of the request stops
it: ``reject`` records the decision, so no further step is approved under the request,
and appends a ``rollback`` event that puts the stage's stable version back alone, citing
the request and who rejected it (``"request": ID, "rejected_by": [EMAIL]``), so that
``history``, ``audit`` and ``requests`` say why the stage changed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from gitmodel import git
from gitmodel.errors import UserError
from gitmodel.logs import records
from gitmodel.registry import approvals, requests, signing, stages
from gitmodel.registry.declare import Approvals, Model
from gitmodel.registry.stage_events import Assignment, event


@dataclass(frozen=True)
class Rollout:
    """A canary of a request's version, as the registry log's tip holds it."""

    model: Model
    stage: str
    tip: str | None  # the registry log's tip it was read at
    held: list[Assignment]  # the weighted pair, files checked
    canary: Assignment
    stable: Assignment  # the version the stage served before the canary

    def withdrawal(self, request: str, rejected_by: str, message: str) -> stages.Json:
        """The event that puts the stable version back at 100%."""
        after = [Assignment(self.stable.version, self.stable.commit, 100, self.stable.files)]
        return event("rollback", self.model.name, self.stage, self.held, after, message,
                     request=request, rejected_by=[rejected_by])  # fmt: skip


def under_way(repo: git.Repo, model: Model, request: requests.Record) -> Rollout | None:
    """The canary of ``request``'s version that the stage serves under ``request`` now
    (a weighted pair, brought in by a promotion that carried the request out); None
    when there is none (not promoted yet, cut over, or withdrawn)."""
    log = stages.log(repo)
    tip = log.tip()
    held = stages.held_files(log.state(tip), model, request.stage)
    canary = next((a for a in held if a.commit == request.commit), None)
    stable = next((a for a in held if a.commit != request.commit), None)
    if canary is None or stable is None or canary.weight == 100:
        return None
    if approvals.rollout_request(repo, model.name, request.stage, request.commit) != request.id:
        return None
    return Rollout(model, request.stage, tip, held, canary, stable)


def check_stopper(
    repo: git.Repo, rule: Approvals | None, me: str, requester: str, rollout: Rollout
) -> None:
    """Refuse ``me`` stopping ``rollout`` unless ``me`` requested it or approves changes
    of its stage (anyone, where the rule names no approvers). Where the rule wants signed
    records, the rejection and the withdrawal are checked as they are written."""
    if me == requester.lower() or rule is None:
        return
    allowed, where = signing.approvers(repo, rule)
    if allowed and me not in allowed:
        name, stage, canary = rollout.model.name, rollout.stage, rollout.canary
        raise UserError(
            f"{me} is neither an approver of {name} {stage} ({where}) nor the requester, so "
            f"cannot stop its canary (v{canary.version} at {canary.weight}%)",
            hint=f"ask someone listed in {where}; an emergency rollback is open to anyone: "
            f"git model rollback {name} {stage} -m WHY",
        )


def withdraw(
    repo: git.Repo, rollout: Rollout, request: str, by: str, message: str,
    check: Callable[[str], None] | None = None,
) -> tuple[stages.Json, records.Entry]:  # fmt: skip
    """Append the withdrawal of ``rollout`` (``check`` may refuse its log commit); a
    concurrent change of the log since the rollout was read fails it cleanly."""
    record = rollout.withdrawal(request, by, message)
    entry = stages.log(repo).append(record, expected_tip=rollout.tip or "",
                                    message=stages.summary(record), check=check)  # fmt: skip
    return record, entry
