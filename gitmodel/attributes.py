"""Lines of ``.gitattributes`` that route files through the model filter. Pure.

The filter process imports this module: it loads nothing (no ``dataclasses``).
"""

from __future__ import annotations

import os

MODEL_ATTRS = "filter=model diff=model merge=model -text"
_SPACE = "[[:space:]]"

# Files Git and gitmodel read from the worktree as text: never model files, whatever the
# attributes say (a pointer in their place breaks every clone). git-lfs refuses to track
# any committed ``.git*`` file for the same reason.
KEPT_AS_TEXT = frozenset(
    {".gitattributes", ".gitignore", ".gitmodules", ".gitmodel", ".gitmodel-registry.json",
     ".lfsconfig"}
)  # fmt: skip
PROBE = "gitmodel-probe-"  # the attributes of probe_file: PROBE + the pattern's index


def kept_as_text(path: str) -> bool:
    """Whether ``path`` (relative to the top, ``/``-separated) is one of
    :data:`KEPT_AS_TEXT`, at any depth."""
    return path[path.rfind("/") + 1 :] in KEPT_AS_TEXT


def escape_pattern(pattern: str) -> str:
    """Git attribute patterns end at whitespace; spell spaces as a class."""
    return pattern.replace(" ", _SPACE)


def unescape_pattern(pattern: str) -> str:
    return pattern.replace(_SPACE, " ")


class Rule:
    """A line naming the model filter (a plain class: see the module's note)."""

    __slots__ = ("pattern", "tracked")

    def __init__(self, pattern: str, tracked: bool) -> None:
        self.pattern = pattern  # as written in the file
        self.tracked = tracked  # filter=model (True) or an opt-out (-filter / other filter)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Rule):
            return NotImplemented
        return (self.pattern, self.tracked) == (other.pattern, other.tracked)

    def __hash__(self) -> int:
        return hash((self.pattern, self.tracked))

    def __repr__(self) -> str:
        return f"Rule({self.pattern!r}, {self.tracked!r})"


def model_rules(text: str) -> list[Rule]:
    """Patterns whose attributes mention the model filter, in file order."""
    rules = []
    for line in text.splitlines():
        fields = line.split()
        if not fields or fields[0].startswith("#"):
            continue
        attrs = fields[1:]
        if "filter=model" in attrs:
            rules.append(Rule(fields[0], True))
        elif any(a in ("-filter", "!filter") for a in attrs):
            rules.append(Rule(fields[0], False))
    return rules


def add_patterns(text: str, patterns: list[str]) -> tuple[str, list[str]]:
    """``text`` with a tracking line for each new pattern; returns the new text and the added."""
    present = {r.pattern for r in model_rules(text) if r.tracked}
    added = []
    lines = [] if not text else [text if text.endswith("\n") else text + "\n"]
    for pattern in patterns:
        escaped = escape_pattern(pattern)
        if escaped in present:
            continue
        present.add(escaped)
        added.append(pattern)
        lines.append(f"{escaped} {MODEL_ATTRS}\n")
    return "".join(lines), added


def remove_patterns(text: str, patterns: list[str]) -> tuple[str, list[str]]:
    """``text`` without the model-filter lines for ``patterns``; returns the removed."""
    wanted = {escape_pattern(p) for p in patterns}
    kept, removed = [], []
    for line in text.splitlines(keepends=True):
        fields = line.split()
        if fields and fields[0] in wanted and "filter=model" in fields[1:]:
            removed.append(unescape_pattern(fields[0]))
            continue
        kept.append(line)
    return "".join(kept), removed


_LFS_ATTRS = {"filter=lfs": "filter=model", "diff=lfs": "diff=model", "merge=lfs": "merge=model"}


def lfs_to_model(text: str) -> str:
    """``text`` with git-lfs's ``filter/diff/merge=lfs`` attributes naming the model filter."""
    lines = []
    for line in text.splitlines(keepends=True):
        fields = line.split()
        if fields and not fields[0].startswith("#") and any(f in _LFS_ATTRS for f in fields[1:]):
            ending = line[len(line.rstrip("\r\n")) :]
            line = " ".join([fields[0], *(_LFS_ATTRS.get(f, f) for f in fields[1:])]) + ending
        lines.append(line)
    return "".join(lines)


def probe_file(patterns: list[str], contents: bool = False) -> str:
    """An attributes file that sets ``PROBE<i>`` on each path ``patterns[i]`` matches, so
    that ``git check-attr`` tells which paths a pattern matches by Git's own rules, as a
    line of the top ``.gitattributes``. With ``contents``, a pattern also matches what is
    under a folder it matches, and a trailing ``/`` is dropped: a ``.gitignore`` pattern,
    as git-lfs reads ``--include`` and ``--exclude``."""
    lines = []
    for index, pattern in enumerate(patterns):
        name = f"{PROBE}{index}"
        if not contents:
            lines.append(f"{_literal(pattern)} {name}\n")
            continue
        base = pattern.removesuffix("/")
        under = f"{base}/**" if "/" in base else f"**/{base}/**"  # no slash: at any depth
        lines.append(f"{_literal(base)} {name}\n{_literal(under)} {name}\n")
    return "".join(lines)


def probe_names(count: int) -> list[str]:
    return [f"{PROBE}{index}" for index in range(count)]


def probe_matches(output: bytes, count: int) -> list[set[str]]:
    """The paths each probe pattern matched, from ``git check-attr -z`` output."""
    matched: list[set[str]] = [set() for _ in range(count)]
    fields = output.split(b"\0")
    for i in range(0, len(fields) - 2, 3):
        if fields[i + 2] == b"set":
            index = int(fields[i + 1].decode().removeprefix(PROBE))
            matched[index].add(os.fsdecode(fields[i]))
    return matched


def _literal(pattern: str) -> str:
    """``pattern`` as one field of an attributes line: whitespace as a class, and a first
    character Git would read as a comment, a negation or a quote escaped."""
    field = "".join(_SPACE if c.isspace() else c for c in pattern)
    return "\\" + field if field.startswith(("#", "!", '"')) else field
