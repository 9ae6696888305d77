"""Lines of ``.gitattributes`` that route files through the model filter. Pure."""

from __future__ import annotations

from dataclasses import dataclass

MODEL_ATTRS = "filter=model diff=model merge=model -text"
_SPACE = "[[:space:]]"


def escape_pattern(pattern: str) -> str:
    """Git attribute patterns end at whitespace; spell spaces as a class."""
    return pattern.replace(" ", _SPACE)


def unescape_pattern(pattern: str) -> str:
    return pattern.replace(_SPACE, " ")


@dataclass(frozen=True)
class Rule:
    pattern: str  # as written in the file
    tracked: bool  # filter=model (True) or an explicit opt-out (-filter / other filter)


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
