"""Text from anyone (a committed path, a model file's names, a commit subject) made safe
to print. Pure: no I/O, and cheap to import (hooks and the filter process use it)."""

from __future__ import annotations


def printable(text: str) -> str:
    """``text`` as one printable line: line breaks, escape sequences and other
    unprintable characters are shown escaped."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode() for c in text)
