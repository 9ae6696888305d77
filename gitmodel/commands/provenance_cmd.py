"""``git model commit`` and ``git model record``: declare what a commit's versions came from."""

from __future__ import annotations

import sys

from gitmodel import git
from gitmodel.errors import GitModelError, UserError
from gitmodel.lineage import provenance
from gitmodel.lineage.history import FileVersion
from gitmodel.lineage.provenance import Json, Plan
from gitmodel.specs import PathSpec
from gitmodel.workspace import open_repo


def plan(
    bases: list[PathSpec], data: list[PathSpec], outputs: list[str], params: list[str]
) -> Plan:
    return Plan(bases, data, outputs, provenance.parse_pairs(params, "param"))


def commit(messages: list[str], plan: Plan) -> int:
    """``git commit -m …`` the staged changes, then record their provenance."""
    repo, _ = open_repo()
    if not messages:
        raise UserError("a commit message is required", hint="pass -m MESSAGE")
    plan = provenance.pin_revisions(repo, plan)  # "@HEAD" means the HEAD before this commit
    head = repo.rev_parse("HEAD") if repo.has_commits() else None
    parent = provenance.model_files(repo, head) if head else {}
    parent = {p: FileVersion(v.path, v.oid, v.size, head or "") for p, v in parent.items()}
    sides = provenance.Sides(provenance.model_files(repo, None), parent, "", "staged")
    provenance.resolve_plan(repo, plan, sides)  # check first
    code = git.call(["commit", *(arg for m in messages for arg in ("-m", m))], cwd=repo.cwd)
    if code != 0:
        return code
    try:
        rec = provenance.record(repo, "HEAD", plan)
    except GitModelError as exc:
        raise UserError(
            f"committed, but the provenance was not recorded: {exc}",
            hint="record it with `git model record HEAD` and the same --base/--data/--param",
        ) from exc
    _report(rec)
    return 0


def record(rev: str, plan: Plan) -> int:
    """Record the provenance of an existing commit."""
    repo, _ = open_repo()
    _report(provenance.record(repo, rev, plan))
    return 0


def _report(rec: Json) -> None:
    outputs = ", ".join(f"{o['path']} {o['oid'][:10]}" for o in rec["outputs"])
    inputs = ", ".join(f"{i['role']} {i['path']}{'/' if 'files' in i else ''} {i['oid'][:10]}"
                       for i in rec["inputs"])  # fmt: skip
    print(f"gitmodel: provenance of {outputs}: {inputs or 'no inputs'}", file=sys.stderr)
