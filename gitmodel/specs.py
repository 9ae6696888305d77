"""What users write to name a version: ``PATH[@REV]`` and ``NAME[@VERSION|@STAGE|@REV]``.

One parser for each, used by every command, so that ``git model inspect``, ``log``,
``show``, ``lineage``, ``annotate`` and ``--base``/``--data`` read the same text the same
way. Pure: no Git, no click; the only question asked of the outside world is whether a
path exists, and callers (tests) may answer it themselves.

``PATH[@REV]``
    The text names a path as written when that path exists in the worktree (relative to
    the current directory), so a file called ``model@v1.safetensors`` is that file.
    Otherwise the last ``@`` separates the path from the revision: ``model@v1.safetensors``
    with no such file is ``model`` at ``v1.safetensors``. Writing the revision always
    forces the split: ``model@v1.safetensors@HEAD`` is the file at ``HEAD``. An empty path
    (``@HEAD``) or an empty revision (``model.safetensors@``) is an error.

``NAME[@WHAT]``
    Registry model names cannot contain ``@``, so the first ``@`` ends the name; what
    follows is a version (``v3``), a stage (``production``) or a revision, and may itself
    contain ``@`` (``clf@HEAD@{1}``). Nothing before or after the ``@`` is an error.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass

from gitmodel.errors import UserError

PATH_HINT = "write PATH or PATH@REV, e.g. model.safetensors@HEAD~1"
MODEL_HINT = "write NAME, NAME@v3, NAME@STAGE or NAME@REV, e.g. clf@production"


@dataclass(frozen=True)
class PathSpec:
    """A file, as the worktree holds it (``rev`` None) or as revision ``rev`` holds it."""

    path: str
    rev: str | None = None

    def __str__(self) -> str:
        return self.path if self.rev is None else f"{self.path}@{self.rev}"


@dataclass(frozen=True)
class ModelSpec:
    """A registered model and which of its versions: ``what`` is a version (``v3``, ``3``),
    a stage, a revision, or None for the latest."""

    name: str
    what: str | None = None

    def __str__(self) -> str:
        return self.name if self.what is None else f"{self.name}@{self.what}"


def parse_path_spec(text: str, exists: Callable[[str], bool] = os.path.lexists) -> PathSpec:
    """``PATH[@REV]`` → :class:`PathSpec` by the rule in the module docstring.

    ``exists`` says whether a path exists (default: in the file system, relative to the
    current directory; a dangling symlink counts, as it does for Git).
    """
    if not text:
        raise UserError("empty PATH[@REV]", hint=PATH_HINT)
    if "@" not in text or exists(text):
        return PathSpec(text)
    path, _, rev = text.rpartition("@")
    if not path:
        raise UserError(f"no path before '@' in {_shown(text)}", hint=PATH_HINT)
    if not rev:
        raise UserError(f"no revision after '@' in {_shown(text)}", hint=PATH_HINT)
    return PathSpec(path, rev)


def parse_model_spec(text: str) -> ModelSpec:
    """``NAME[@WHAT]`` → :class:`ModelSpec`; the first ``@`` ends the name."""
    name, sep, what = text.partition("@")
    if not name:
        raise UserError(f"no model name in {_shown(text)}", hint=MODEL_HINT)
    if sep and not what:
        raise UserError(f"nothing after '@' in {_shown(text)}", hint=MODEL_HINT)
    return ModelSpec(name, what or None)


def _shown(text: str) -> str:
    return repr(text if len(text) <= 200 else text[:200] + "…")
