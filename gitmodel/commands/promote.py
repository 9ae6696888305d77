"""Stage changes: ``promote``, ``rollback`` and ``unassign``.

Each reads the registry log's tip and state, decides, and appends one event with a
compare-and-swap on that tip: a concurrent change in between makes it fail with
"run the command again", never overwrite. ``promote`` asks the policy (approvals
included), then the ``pre-promote`` hook; every change runs ``post-promote`` once
recorded (:mod:`gitmodel.registry.hooks`).
"""

from __future__ import annotations

import sys

from gitmodel import git
from gitmodel.errors import UserError
from gitmodel.logs import records
from gitmodel.registry import declare, hooks, messages, policy, signing, stages
from gitmodel.registry.stage_events import Assignment, describe, event, split
from gitmodel.registry.versions import Version, pick, versions
from gitmodel.specs import ModelSpec
from gitmodel.store.local import LocalStore
from gitmodel.workspace import open_repo


def promote(
    spec: ModelSpec, stage: str, message: str = "", weight: int | None = None, force: bool = False
) -> int:
    """Assign NAME[@VERSION|@STAGE|@REV] (default: the latest) to STAGE, after the policy
    agrees."""
    message = messages.checked(message, "promote")
    if force and not message:
        raise UserError("--force needs a reason", hint='add -m "why the policy is bypassed"')
    if weight is not None and not 1 <= weight <= 100:
        raise UserError(f"weight {weight} is not a percentage", hint="use 1..99 for a split")
    repo, store = open_repo()
    model, version = _model_version(repo, spec)
    model.check_stage(stage)
    log = stages.log(repo)
    tip = log.tip()
    state = log.state(tip)
    current = stages.held(state, model.name, stage)
    after = split(model, stage, current, version, weight)  # checks what it copies
    if after == current:
        return _unchanged(stage, current)
    _check_signing(repo, model, stage)
    record = _event(repo, store, model, stage, version, state, (current, after), message, force)
    by = records.identity(repo)
    _pre_promote(repo, record, by, f"v{version.number} for {model.name} {stage}", force)
    entry = log.append(record, expected_tip=tip or "", message=stages.summary(record),
                       check=_signed_check(repo, model, stage))  # fmt: skip
    _done(model.name, stage, current, after)
    _after_change(repo, model, record, by, entry.commit)
    return 0


def _event(
    repo: git.Repo, store: LocalStore, model: declare.Model, stage: str, version: Version,
    state: stages.Json, change: tuple[list[Assignment], list[Assignment]],
    message: str, force: bool,
) -> stages.Json:  # fmt: skip
    """The promote event, once the policy agrees (or is bypassed)."""
    bypassed, verdict = _gate(repo, store, model, stage, version, state, force)
    found = verdict.approval
    approved_by = [a.email for a in found.approvals] if found and verdict.request else None
    return event("promote", model.name, stage, *change, message, bypassed,
                 request=verdict.request, approved_by=approved_by)  # fmt: skip


def _pre_promote(
    repo: git.Repo, record: stages.Json, by: tuple[str, str], what: str, force: bool
) -> None:
    """Run the pre-promote hook: its failure refuses, or is recorded as bypassed."""
    ended = hooks.run(repo, hooks.PRE_PROMOTE, hooks.event_json(record, by))
    if ended is None or not ended.failed:
        return
    if not force:
        path = repo.hooks_dir / hooks.PRE_PROMOTE
        see = f"see its messages above, or {path}"
        if ended.timed_out:
            see = f"fix {path}, or give it longer: git config {hooks.TIMEOUT_KEY} SECONDS"
        raise UserError(f"the pre-promote hook refused {what} ({ended})",
                        hint=f"{see} (or bypass it with --force -m WHY, recorded)")  # fmt: skip
    record["forced"] = True
    record["bypassed"] = [*record["bypassed"], f"pre-promote hook: {ended}"]


def _signers_file(model: declare.Model, stage: str) -> str | None:
    """The allowed-signers file when changes of ``stage`` must be signed."""
    rule = model.policy.get(stage)
    return rule.approvals.signers_file if rule and rule.approvals else None


def _check_signing(repo: git.Repo, model: declare.Model, stage: str) -> None:
    """A stage whose approvals must be signed is changed only by signed events, so
    that ``audit`` can prove who changed it."""
    signers = _signers_file(model, stage)
    if signers is not None and not records.signs_commits(repo):
        raise UserError(
            f"changes to {model.name} {stage} must be signed, and your Git does not sign commits",
            hint="git config commit.gpgSign true (with gpg.format ssh and user.signingKey "
            f"set to a key listed in {signers})",
        )


def _signed_check(repo: git.Repo, model: declare.Model, stage: str) -> signing.RecordCheck | None:
    """Where changes of ``stage`` must be signed, the check that refuses a promotion whose
    log commit is not signed by its author's listed key (the audit would flag it), before
    the log moves."""
    rule = model.policy.get(stage)
    if rule is None or rule.approvals is None or _signers_file(model, stage) is None:
        return None
    return signing.signed_by_author(repo, rule.approvals, "promotion")


def _after_change(
    repo: git.Repo, model: declare.Model, record: stages.Json, by: tuple[str, str], commit: str
) -> None:
    """Run the post-promote hook; its failure is reported, and the change stands. An
    unsigned rollback of a stage that must be signed is let through (it is the
    emergency exit) and said to be so."""
    if _signers_file(model, record["stage"]) and not records.signs_commits(repo):
        print(f"gitmodel: warning: this change of {model.name} {record['stage']} is not "
              "signed; `git model audit` will report it", file=sys.stderr)  # fmt: skip
    ended = hooks.run(repo, hooks.POST_PROMOTE, hooks.event_json(record, by, commit))
    if ended is not None and ended.failed:
        print(f"gitmodel: warning: the post-promote hook failed ({ended}); the "
              f"{record['type']} of {record['model']} {record['stage']} is recorded and "
              "stands", file=sys.stderr)  # fmt: skip


def _unchanged(stage: str, current: list[Assignment]) -> int:
    """Asking for what is already so succeeds (a retried pipeline step is not an error)."""
    print(f"gitmodel: {stage} already holds {describe(current)}; nothing to do",
          file=sys.stderr)  # fmt: skip
    return 0


def _model_version(repo: git.Repo, spec: ModelSpec) -> tuple[declare.Model, Version]:
    registry = declare.load(repo)
    model = registry.model(declare.valid_name(spec.name))
    return model, stages.pick_version(repo, versions(repo, registry, model), model, spec.what)


def _gate(
    repo: git.Repo,
    store: LocalStore,
    model: declare.Model,
    stage: str,
    version: Version,
    state: stages.Json,
    force: bool,
) -> tuple[list[str] | None, policy.Verdict]:
    """None when no rule failed; the failed rules when forced; else a refusal."""
    held = {s: stages.held(state, model.name, s) for s in model.stages}
    verdict = policy.evaluate(repo, store, model, stage, version, held)
    failures = verdict.failures
    if not failures:
        return ([] if force else None), verdict
    if force:
        return [str(f) for f in failures], verdict
    raise UserError(
        f"policy refused v{version.number} for {model.name} {stage}: "
        + "; ".join(str(f) for f in failures),
        hint=f"{failures[0].hint} (or bypass with --force -m WHY, recorded)",
    )


def rollback(name: str, stage: str, to: str | None = None, message: str = "") -> int:
    """Put back what STAGE held before (or version TO, one it held before), recording why."""
    message = messages.checked(message, "rollback")
    repo, _ = open_repo()
    registry = declare.load(repo)
    model = registry.model(declare.valid_name(name))
    model.check_stage(stage)
    log = stages.log(repo)
    tip = log.tip()
    state = log.state(tip)
    current = stages.held(state, name, stage)
    found = versions(repo, registry, model)
    if to is not None:
        version = _held_before(repo, model, stage, pick(repo, found, model, to))
        after = [Assignment.of(version)]
    else:
        after = _with_files(stages.past(state, name, stage), found)
        if not after:
            raise _nothing_before(repo, name, stage, current)
    if after == current:
        return _unchanged(stage, current)
    record = event("rollback", name, stage, current, after, message, undo=to is None)
    entry = log.append(record, expected_tip=tip or "", message=stages.summary(record))
    _done(name, stage, current, after)
    _after_change(repo, model, record, records.identity(repo), entry.commit)
    return 0


def _held_before(repo: git.Repo, model: declare.Model, stage: str, version: Version) -> Version:
    """``version``, when ``stage`` held it before: a rollback skips the policy, so it only
    puts back what the stage once held (what passed the policy, or was forced, recorded)."""
    if version.commit not in stages.stage_past(repo, model.name, stage).commits:
        raise UserError(
            f"{stage} of {model.name} never held v{version.number}; rollback --to only puts "
            "back a version the stage held before",
            hint=f"assign a new version with git model promote {model.name}@v{version.number} "
            f"{stage} (where the policy applies); see `git model history {model.name} "
            f"--stage {stage}`",
        )
    return version


def _nothing_before(repo: git.Repo, name: str, stage: str, current: list[Assignment]) -> UserError:
    """Why ``rollback`` has nothing to put back: the state kept only the last
    :data:`~gitmodel.registry.stages.PAST_LIMIT` assignments, or there was none."""
    see = f"see `git model history {name} --stage {stage}`"
    if stages.stage_past(repo, name, stage).depth:
        return UserError(
            f"{stage} of {name} held older assignments than rollback keeps (the last "
            f"{stages.PAST_LIMIT})",
            hint=f"name one it held: git model rollback {name} {stage} --to VERSION; {see}",
        )
    if current:
        return UserError(
            f"{stage} of {name} held nothing before {describe(current)}",
            hint=f"empty it with git model unassign {name} {stage}, or assign another "
            f"version with git model promote {name}@VERSION {stage}",
        )
    return UserError(f"{stage} of {name} has never held a version",
                     hint=f"promote one: git model promote {name}@VERSION {stage}")  # fmt: skip


def _with_files(refs: list[Assignment], found: list[Version]) -> list[Assignment]:
    """``refs`` (assignments recorded without files) with the files of their versions."""
    by_commit = {v.commit: v for v in found}
    missing = [ref for ref in refs if ref.commit not in by_commit]
    if missing:
        raise UserError(
            f"v{missing[0].version} ({missing[0].commit[:10]}) is no longer on the registry branch",
            hint="roll back to a version it still has: --to VERSION",
        )
    return [ref.with_files(by_commit[ref.commit].files) for ref in refs]


def unassign(name: str, stage: str, message: str = "") -> int:
    """Empty STAGE of NAME (rollback can put its version back)."""
    message = messages.checked(message, "unassign")
    repo, _ = open_repo()
    model = declare.load(repo).model(declare.valid_name(name))
    model.check_stage(stage)
    log = stages.log(repo)
    tip = log.tip()
    current = stages.held(log.state(tip), name, stage)
    if not current:
        raise UserError(f"{stage} of {name} holds nothing", hint="see `git model stages`")
    record = event("unassign", name, stage, current, [], message)
    entry = log.append(record, expected_tip=tip or "", message=stages.summary(record))
    _done(name, stage, current, [])
    _after_change(repo, model, record, records.identity(repo), entry.commit)
    return 0


def _done(name: str, stage: str, before: list[Assignment], after: list[Assignment]) -> None:
    print(f"{name} {stage}: {describe(before)} -> {describe(after)}", file=sys.stderr)
