"""Text from anyone (a committed path, a model file's names, a commit subject) made safe
to print. Pure: no I/O, and cheap to import (hooks and the filter process use it)."""

from __future__ import annotations


def printable(text: str) -> str:
    """``text`` as one printable line: line breaks, escape sequences and other
    unprintable characters are shown escaped."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode() for c in text)


def is_utf8(text: str) -> bool:
    """Whether ``text`` is Unicode text: not bytes of another encoding, which reach Python
    (argv, file names) as lone surrogates that no UTF-8 file, JSON record or URL holds."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
