"""Sizes in bytes, read and printed in binary units as Git and git-lfs users expect.

``parse_size`` is the one parser for sizes a user writes (``--max-size``,
``model.directCheckoutThreshold``): strict, because a size that silently falls back to a
default is a setting the user believes in and that does nothing. Pure: no I/O.
"""

from __future__ import annotations

import re

from gitmodel.errors import UserError

MAX_SIZE = (1 << 63) - 1  # what a file offset (off_t) can hold
SIZE_HINT = "write e.g. 10485760, 500k, 64MiB or 2g (k, m, g, t: powers of 1024)"
_SIZE_RE = re.compile(r"([0-9]+)[ \t]*(?:([kmgt])(?:i?b)?|b)?", re.IGNORECASE | re.ASCII)
_UNITS = {None: 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}
_FORMAT_UNITS = ("KiB", "MiB", "GiB", "TiB")


def parse_size(text: str, key: str | None = None) -> int:
    """``10485760``, ``500k``, ``10m``, ``64MiB``, ``2 GiB`` → bytes (k, m, g, t are
    powers of 1024, in any case, optionally followed by ``b`` or ``ib``).

    Anything else, a negative or fractional number included, raises a
    :class:`UserError` that starts with ``key`` (the config key or option), when given.
    """
    prefix = f"{key}: " if key else ""
    shown = repr(text if len(text) <= 40 else text[:40] + "…")
    match = _SIZE_RE.fullmatch(text.strip())
    if match is None:
        raise UserError(f"{prefix}invalid size {shown}", hint=SIZE_HINT)
    digits, unit = match.group(1), match.group(2)
    size = int(digits) * _UNITS[unit and unit.lower()] if len(digits) <= 20 else MAX_SIZE + 1
    if size > MAX_SIZE:
        raise UserError(f"{prefix}invalid size {shown}: more than 2^63 - 1 bytes", hint=SIZE_HINT)
    return size


def format_size(size: int) -> str:
    """``512 B``, ``2.0 KiB``, ``1.5 GiB``: one decimal, units of 1024 up to TiB."""
    if size < 1024:
        return f"{size} B"
    value = size / 1024
    for unit in _FORMAT_UNITS[:-1]:
        if round(value, 1) < 1024:
            return f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} {_FORMAT_UNITS[-1]}"
