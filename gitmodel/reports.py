"""Writing a report (an HTML page) the user named on the command line."""

from __future__ import annotations

from pathlib import Path

from gitmodel.errors import UserError
from gitmodel.store.local import write_atomically


def write_report(target: Path, text: str) -> None:
    """Write ``target`` whole or not at all (a temporary file renamed into place)."""
    if target.is_dir():
        raise UserError(f"{target} is a directory", hint="name a file, e.g. report.html")
    try:
        write_atomically(target, [text.encode()])
    except OSError as exc:
        raise UserError(f"cannot write {target}: {exc.strerror}", hint="check the path") from exc
