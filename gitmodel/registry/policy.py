"""The promotion policy: which rules a version must meet to enter a stage.

Each failed rule is reported with what to do about it; ``promote --force -m WHY`` records
the failed rules with the reason instead of refusing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from gitmodel import git
from gitmodel.errors import ChecksumError, GitModelError, ObjectMissingError, PointerSizeError
from gitmodel.lineage import store as lineage_store
from gitmodel.pointer import Pointer
from gitmodel.registry import approvals as approval_rules
from gitmodel.registry.declare import Model, Rule, Threshold
from gitmodel.registry.stage_events import Assignment
from gitmodel.registry.versions import Version
from gitmodel.remote.config import remote_for
from gitmodel.store.local import LocalStore


@dataclass(frozen=True)
class Failure:
    """One rule the version does not meet."""

    rule: str  # e.g. "after staging", "accuracy >= 0.9", "on_remote", "verify"
    problem: str
    hint: str

    def __str__(self) -> str:
        return f"{self.rule}: {self.problem}"


@dataclass
class Verdict:
    """The policy's answer for one version and stage."""

    failures: list[Failure] = field(default_factory=list)
    approval: approval_rules.Assessment | None = None  # with an "approvals" rule
    skipped: list[str] = field(default_factory=list)  # rules a dry run does not check

    @property
    def request(self) -> str | None:
        """The change request whose approvals let the promotion through."""
        found = self.approval
        return found.request.record.id if found and found.ok and found.request else None


def check(
    repo: git.Repo,
    store: LocalStore,
    model: Model,
    stage: str,
    version: Version,
    held: dict[str, list[Assignment]],
) -> list[Failure]:
    """Every rule of ``stage`` that ``version`` fails ([] when it may be promoted).

    ``held`` maps each stage of the model to what it holds now.
    """
    return evaluate(repo, store, model, stage, version, held).failures


def evaluate(
    repo: git.Repo,
    store: LocalStore,
    model: Model,
    stage: str,
    version: Version,
    held: dict[str, list[Assignment]],
    dry_run: bool = False,
) -> Verdict:
    """:func:`check`, with the approvals found; a ``dry_run`` (``review``) skips
    re-hashing every file (``verify``), which reads the whole model."""
    rule = model.policy.get(stage, Rule())
    verdict = Verdict()
    failures = verdict.failures
    if rule.after is not None and not _holds(held.get(stage, []), version):
        failures += _after(model, rule.after, version, held.get(rule.after, []))
    if rule.metrics:
        failures += _metrics(repo, model, version, rule.metrics)
    if rule.on_remote:
        failures += _on_remote(repo, version)
    if rule.verify and dry_run:
        verdict.skipped.append("verify")
    elif rule.verify:
        failures += _verify(store, version)
    if rule.approvals is not None:
        verdict.approval = approval_rules.assess(repo, model, stage, version, rule.approvals)
        failures += [Failure(f"approvals ({rule.approvals.describe()})", problem, hint)
                     for problem, hint in verdict.approval.problems]  # fmt: skip
    return verdict


def _holds(held: list[Assignment], version: Version) -> bool:
    """Whether ``held`` names ``version``. A version the stage holds already (a canary
    whose share changes, or whose cut-over completes) entered it through ``after``:
    the stage before may have moved on to the next candidate since."""
    return any(a.commit == version.commit for a in held)


def _after(model: Model, after: str, version: Version, held: list[Assignment]) -> list[Failure]:
    if _holds(held, version):
        return []
    return [
        Failure(
            f"after {after}",
            f"{version.label} is not in {after}",
            f"promote it to {after} first: git model promote {model.name}@{version.label} {after}",
        )
    ]


def _metrics(
    repo: git.Repo, model: Model, version: Version, thresholds: tuple[Threshold, ...]
) -> list[Failure]:
    annotated = lineage_store.state(repo).get("metrics", {})
    merged: dict[str, Any] = {}
    for file in version.model_files:
        merged.update(annotated.get(file.oid or "", {}))
    where = f"{(version.model_files or version.files)[0].path}@{version.commit[:10]}"
    failures = []
    for threshold in thresholds:
        value = merged.get(threshold.metric)
        annotate = f"git model annotate {where} --metric {threshold.metric}=VALUE"
        if value is None:
            failures.append(
                Failure(
                    str(threshold),
                    f"{version.label} has no {threshold.metric} metric",
                    f"annotate it: {annotate}",
                )
            )
        elif isinstance(value, bool) or not isinstance(value, (int, float)):
            failures.append(
                Failure(
                    str(threshold),
                    f"{threshold.metric} is {value!r}, not a number",
                    f"annotate a number: {annotate}",
                )
            )
        elif not threshold.holds(float(value)):
            failures.append(
                Failure(
                    str(threshold),
                    f"{version.label} has {threshold.metric} = {value:g}",
                    "promote a version that meets it, or relax the policy",
                )
            )
    return failures


def _on_remote(repo: git.Repo, version: Version) -> list[Failure]:
    try:
        remote = remote_for(repo, repo.settings())
        from gitmodel.remote import layouts  # only promotions that ask load the remote code

        pointers = [Pointer(f.oid, f.size) for f in version.model_files if f.oid]
        present = layouts.present(remote.open(), pointers)
    except GitModelError as exc:
        return [
            Failure(
                "on_remote",
                f"cannot check the model remote: {exc}",
                exc.hint or "configure one: git model remote set URL",
            )
        ]
    missing = [f.path for f in version.model_files if f.oid not in present]
    if not missing:
        return []
    return [
        Failure(
            "on_remote",
            f"{len(missing)} file(s) of {version.label} are not on "
            f"{remote.display}: {', '.join(missing[:3])}",
            f"upload them: git model push {remote.name} {version.commit[:10]}",
        )
    ]


def _verify(store: LocalStore, version: Version) -> list[Failure]:
    failures = []
    for file in version.model_files:
        try:
            for _ in store.read(file.pointer, file.path):
                pass
        except ObjectMissingError:
            failures.append(
                Failure(
                    "verify",
                    f"{file.path} of {version.label} is not in the local store",
                    f"download it: git model fetch origin {version.commit[:10]}",
                )
            )
        except PointerSizeError as exc:  # the object is intact: the commit is wrong
            failures.append(
                Failure(
                    "verify",
                    f"{file.path} of {version.label}: its pointer says {exc.claimed} bytes, "
                    f"but object {exc.oid} has {exc.held} bytes",
                    "promote a version whose pointers are right (commit the file again)",
                )
            )
        except ChecksumError:
            failures.append(
                Failure(
                    "verify",
                    f"{file.path} of {version.label} is corrupt (moved to the store's bad/ folder)",
                    f"download it again: git model fetch origin {version.commit[:10]}",
                )
            )
    return failures
