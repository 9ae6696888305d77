"""What users write to name a version: ``PATH[@REV]`` and ``NAME[@VERSION|@STAGE|@REV]``.

One parser for each, used by every command, so that ``git model inspect``, ``log``,
``show``, ``lineage``, ``annotate`` and ``--base``/``--data`` read the same text the same
way. Pure: no Git, no file system, no click. The two questions the ``PATH[@REV]`` rule asks
of the outside world (does this path exist? does this revision name a commit?) are
answered by functions the caller passes in: the CLI asks the worktree and Git, tests
answer them themselves.

``PATH[@REV]``, in this order:

1. Text that exists as a path (relative to the current directory) is that path, so a
   file called ``model@v1.safetensors`` is that file, whatever follows its ``@``.
2. Else the text splits at the last ``@`` that is followed by a revision naming a
   commit: ``model@v1.safetensors`` is ``model`` at ``v1.safetensors`` when a tag or
   branch ``v1.safetensors`` exists. An ``@`` that starts ``@{`` never splits: it is
   Git's reflog syntax (ref names cannot contain ``@{``), so ``model.bin@HEAD@{1}``
   is ``model.bin`` at ``HEAD@{1}``, ``model.bin@main@{2.days.ago}`` is ``model.bin``
   at ``main@{2.days.ago}``, and ``model.bin@@{1}`` is ``model.bin`` at ``@{1}``.
3. Else the text is a path, even one that is not in the worktree: the commands that
   read history (``log``, ``show``…) look for ``model@v1.safetensors`` there.

So writing the revision always splits: ``model@v1.safetensors@HEAD`` is the file at
``HEAD``. Errors: empty text, a revision with nothing before its ``@`` (``@HEAD``), and
text that ends in ``@`` (``model.safetensors@``) and is no path in the worktree.

``NAME[@WHAT]``
    Registry model names cannot contain ``@``, so the first ``@`` ends the name; what
    follows is a version (``v3``), a stage (``production``) or a revision, and may itself
    contain ``@`` (``clf@HEAD@{1}``). Nothing before or after the ``@`` is an error.
"""

from __future__ import annotations

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


def parse_path_spec(
    text: str, *, exists: Callable[[str], bool], is_rev: Callable[[str], bool]
) -> PathSpec:
    """``PATH[@REV]`` → :class:`PathSpec` by the rule in the module docstring.

    ``exists(path)`` says whether a path exists (a dangling symlink counts, as it does
    for Git); ``is_rev(rev)`` whether a revision names a commit. Each is asked only
    when the answer matters: ``is_rev`` once per ``@``, from the last, until one says yes.
    """
    if not text:
        raise UserError("empty PATH[@REV]", hint=PATH_HINT)
    if "@" not in text or exists(text):
        return PathSpec(text)
    for at in _split_points(text):
        path, rev = text[:at], text[at + 1 :]
        if rev and is_rev(rev):
            if not path:
                raise UserError(f"no path before '@' in {_shown(text)}", hint=PATH_HINT)
            return PathSpec(path, rev)
    if text.endswith("@"):
        raise UserError(f"no revision after '@' in {_shown(text)}", hint=PATH_HINT)
    return PathSpec(text)


def unknown_rev_hint(spec: PathSpec) -> str | None:
    """For a path holding an ``@`` that was not found: the hint that what follows its
    last ``@`` names no commit (rule 3), for the user who meant ``PATH@REV``."""
    points = _split_points(spec.path) if spec.rev is None else []
    rev = spec.path[points[0] + 1 :] if points else ""
    if not rev:
        return None
    return f"{_shown(rev)} names no commit, so all of {_shown(spec.path)} was read as a path"


def _split_points(text: str) -> list[int]:
    """Where an ``@`` may split ``PATH@REV``, the last first: every ``@`` that does not
    start a reflog suffix ``@{…}``."""
    return [
        i for i in range(len(text) - 1, -1, -1) if text[i] == "@" and text[i + 1 : i + 2] != "{"
    ]


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
