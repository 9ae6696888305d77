"""``git model audit [NAME]``: every stage change, who asked, who approved, who made it,
what was forced, and whether each record is signed; exit 1 when one breaks the policy."""

from __future__ import annotations

import json
import sys
from datetime import datetime, timezone
from pathlib import Path

from gitmodel import git
from gitmodel.errors import UserError
from gitmodel.registry import audit as trail
from gitmodel.registry import audit_report, declare, stages
from gitmodel.reports import write_report


def audit(name: str | None, since: str | None, fmt: str = "text",
          html_file: str | None = None) -> int:  # fmt: skip
    """Print the audit trail (newest first) as text, JSON or CSV, and maybe a page."""
    repo = git.Repo.discover()
    if name is not None:
        _check_model(repo, declare.valid_name(name))
    changes = list(trail.changes(repo, name, parse_since(since) if since else None))
    if html_file is not None:
        title = f"Audit of {name or 'every model'}" + (f" since {since}" if since else "")
        write_report(Path(html_file), audit_report.page(changes, title))
        print(f"gitmodel: wrote {html_file}", file=sys.stderr)
    if fmt == "json":
        print(json.dumps(trail.summary_json(changes), indent=2))
    elif fmt == "csv":
        audit_report.write_csv(changes, sys.stdout)
    else:
        for change in changes:
            print("\n".join(audit_report.text_lines(change)))
        if not changes:
            print("no stage change" + (f" of {name}" if name else "")
                  + (f" since {since}" if since else " yet"), file=sys.stderr)  # fmt: skip
    flagged = trail.problems(changes)
    if flagged:
        raise UserError(
            f"{flagged} stage change(s) break the policy",
            hint='see the problems of each change above (PROBLEM, or "problems" in --json)',
        )
    return 0


def _check_model(repo: git.Repo, name: str) -> None:
    """Refuse a model that is neither declared nor in the registry log (a typo)."""
    registry = declare.load(repo)
    if name not in registry.models and next(stages.events(repo, name), None) is None:
        known = ", ".join(sorted(registry.models)) or "none"
        raise UserError(f"no model named {name!r}: not declared (declared: {known}) "
                        "and no stage change of it in the registry log",
                        hint="see `git model stages` for the models with stages")  # fmt: skip


def parse_since(text: str) -> int:
    """``2026-01-31`` (midnight UTC) or an ISO 8601 time → seconds since the epoch."""
    try:
        when = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise UserError(
            f"--since {text[:40]!r} is not a date", hint="write 2026-01-31 or 2026-01-31T12:00:00Z"
        ) from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return int(when.timestamp())
