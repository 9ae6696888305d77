"""``git model review NAME@VERSION [--against STAGE|vM]``: the impact report a reviewer
reads before approving a change (see :mod:`gitmodel.review`)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from gitmodel.errors import UserError
from gitmodel.reports import write_report
from gitmodel.review import build, page, render
from gitmodel.specs import ModelSpec
from gitmodel.workspace import open_repo


def review(
    spec: ModelSpec, against: str | None, stage: str | None, fmt: str = "text",
    html_file: str | None = None, check: bool = False,
) -> int:  # fmt: skip
    """Print the review of SPEC as text, JSON or Markdown (and maybe write the page);
    with ``check``, exit 1 when the policy's dry run fails."""
    repo, store = open_repo()
    found = build.build(repo, store, spec.name, spec.what, against, stage)
    if html_file is not None:
        write_report(Path(html_file), page.page(found))
        print(f"gitmodel: wrote {html_file}", file=sys.stderr)
    if fmt == "json":
        print(json.dumps(render.to_json(found), indent=2, sort_keys=True))
    elif fmt == "markdown":
        sys.stdout.write(render.markdown(found))
    else:
        print("\n".join(render.text_lines(found)))
    if check and found.verdict is None:
        raise UserError("--check needs a stage whose policy to dry-run",
                        hint="add --against STAGE or --stage STAGE")  # fmt: skip
    if check and found.verdict is not None and found.verdict.failures:
        print(f"gitmodel: the {found.stage} policy's dry run fails "
              f"({len(found.verdict.failures)} rule(s))", file=sys.stderr)  # fmt: skip
        return 1
    return 0
