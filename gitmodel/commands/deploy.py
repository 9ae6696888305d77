"""``git model deploy NAME@STAGE DIR [--from URL]`` and ``git model deploy --rollback DIR``."""

from __future__ import annotations

import re
import sys

from gitmodel.deploy import CHECK_TIMEOUT, DEFAULT_KEEP, Outcome, deploy, rollback
from gitmodel.deploy.layout import Folder
from gitmodel.errors import UserError
from gitmodel.specs import ModelSpec


def deploy_stage(spec: ModelSpec, directory: str, source: str | None = None,
                 keep: int = DEFAULT_KEEP, check: str | None = None,
                 model_url: str | None = None,
                 check_timeout: float = CHECK_TIMEOUT) -> int:  # fmt: skip
    """Deploy what stage NAME@STAGE serves into DIR, from this repository or ``source``
    (``check_timeout``: seconds the health check may take, 0 for no limit)."""
    from gitmodel.deploy import origin
    from gitmodel.registry.declare import valid_name, valid_stage

    if spec.what is None:
        raise UserError(f"{spec.name}: name the stage to deploy",
                        hint=f"git model deploy {spec.name}@production DIR")  # fmt: skip
    name = valid_name(spec.name)
    if re.fullmatch(r"v?[0-9]+", spec.what):
        raise UserError(f"deploy serves what a stage holds, and {spec} names a version",
                        hint=f"promote v{spec.what.lstrip('v')} to a stage and deploy that "
                        f"(git model deploy {name}@STAGE DIR), or write its files with "
                        f"git model checkout {spec} --to DIR")  # fmt: skip
    stage = valid_stage(spec.what)
    if source is not None:
        found = origin.from_url(source, name, stage, model_url)
    elif model_url is not None:
        raise UserError("--model-url goes with --from URL", hint="add --from URL")
    else:
        found = origin.from_repo(name, stage)
    outcome = deploy(Folder(directory), found, keep, check, check_timeout or None)
    _report(directory, outcome)
    return 0


def rollback_folder(directory: str) -> int:
    """Serve DIR's previous deployment again."""
    outcome = rollback(Folder(directory))
    _report(directory, outcome, "rolled back to")
    return 0


def _report(directory: str, outcome: Outcome, verb: str = "serving") -> None:
    from gitmodel.sizes import format_size

    d = outcome.deployment
    split = ", ".join(f"{name} {weight}%" for name, weight in d.split)
    what = f"{d.current}" + (f" (canary split: {split})" if split else "")
    if outcome.unchanged:
        print(f"gitmodel: {directory}: already serving {what}", file=sys.stderr)
        return
    print(f"gitmodel: {directory}: {verb} {what}", file=sys.stderr)
    for name in outcome.repaired:
        print(f"gitmodel: {name} had a file missing or changed by hand: built again",
              file=sys.stderr)  # fmt: skip
    if outcome.built:
        print(f"gitmodel: built {', '.join(outcome.built)}: {format_size(outcome.size)}, "
              f"{format_size(outcome.fetched)} fetched from the model remote",
              file=sys.stderr)  # fmt: skip
    if outcome.removed:
        print(f"gitmodel: removed old release(s) {', '.join(outcome.removed)}", file=sys.stderr)
