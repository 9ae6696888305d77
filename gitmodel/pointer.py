"""Git LFS pointer files, spec v1, byte for byte.

A pointer is exactly three lines in this order, each ending in ``\\n``::

    version https://git-lfs.github.com/spec/v1
    oid sha256:<64 lowercase hex>
    size <non-negative decimal integer>

Only this canonical form is a pointer. The reference implementation also accepts
CRLF line ends, blank lines, version aliases and ``ext-N-name`` extension keys;
those files are *content* here, so cleaning them stores their bytes rather than
passing through something we could not smudge. Pure: bytes in, values out.
"""

from __future__ import annotations

import re

from gitmodel.errors import PointerError

POINTER_VERSION = "https://git-lfs.github.com/spec/v1"
POINTER_MAX_SIZE = 1024  # a pointer file is always smaller than this
POINTER_PREFIX = b"version "
SIZE_MAX = 2**63 - 1  # sizes are int64 in the reference implementation

_OID_RE = re.compile(r"[0-9a-f]{64}")
_SIZE_RE = re.compile(r"0|[1-9][0-9]{0,18}")
_CANONICAL = re.compile(  # the whole grammar below in one match: smudge parses every file
    rb"version https://git-lfs\.github\.com/spec/v1\noid sha256:([0-9a-f]{64})\n"
    rb"size (0|[1-9][0-9]{0,18})\n"
)
_KEYS = ("version", "oid", "size")


def is_valid_oid(oid: str) -> bool:
    """True when ``oid`` is exactly 64 lowercase hex digits (safe to build a path from)."""
    return _OID_RE.fullmatch(oid) is not None


class Pointer:
    """The identity of a large file: sha256 of its bytes and its length.

    A plain class rather than a dataclass: the filter process imports this module at
    every start, and loading ``dataclasses`` costs more than the rest of it.
    """

    __slots__ = ("oid", "size")

    def __init__(self, oid: str, size: int) -> None:
        if not is_valid_oid(oid):
            raise PointerError("oid is not 64 lowercase hex digits")
        if not 0 <= size <= SIZE_MAX:
            raise PointerError("size is out of range")
        self.oid, self.size = oid, size

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Pointer):
            return NotImplemented
        return self.oid == other.oid and self.size == other.size

    def __hash__(self) -> int:
        return hash((self.oid, self.size))

    def __repr__(self) -> str:
        return f"Pointer(oid={self.oid!r}, size={self.size})"

    def encode(self) -> bytes:
        """The canonical pointer file text."""
        return (f"version {POINTER_VERSION}\noid sha256:{self.oid}\nsize {self.size}\n").encode(
            "ascii"
        )


def parse(data: bytes) -> Pointer:
    """Parse a canonical pointer, raising :class:`PointerError` with the reason."""
    match = _CANONICAL.fullmatch(data)
    if match is not None and int(match[2]) <= SIZE_MAX:
        return Pointer(match[1].decode("ascii"), int(match[2]))
    if len(data) >= POINTER_MAX_SIZE:
        raise PointerError(f"{len(data)} bytes is too long for a pointer")
    if not data.endswith(b"\n"):
        raise PointerError("a pointer ends with a newline")
    try:
        text = data.decode("ascii")
    except UnicodeDecodeError:
        raise PointerError("a pointer is ASCII text") from None
    lines = text[:-1].split("\n")
    if len(lines) != len(_KEYS):
        raise PointerError(f"a pointer has {len(_KEYS)} lines, not {len(lines)}")
    values = {}
    for expected, line in zip(_KEYS, lines, strict=True):
        key, sep, value = line.partition(" ")
        if key != expected or not sep:
            raise PointerError(f"expected key {expected!r}, found {key[:20]!r}")
        values[key] = value
    if values["version"] != POINTER_VERSION:
        raise PointerError("unknown pointer version")
    algo, colon, oid = values["oid"].partition(":")
    if algo != "sha256" or not colon or not is_valid_oid(oid):
        raise PointerError("oid must be sha256: and 64 lowercase hex digits")
    if _SIZE_RE.fullmatch(values["size"]) is None or int(values["size"]) > SIZE_MAX:
        raise PointerError("size must be a non-negative decimal integer")
    return Pointer(oid, int(values["size"]))


def try_parse(data: bytes) -> Pointer | None:
    """Parse ``data`` as a canonical pointer, or return None when it is content."""
    if len(data) >= POINTER_MAX_SIZE or not data.startswith(POINTER_PREFIX):
        return None
    try:
        return parse(data)
    except PointerError:
        return None


def looks_like_pointer(data: bytes) -> bool:
    """True for text that starts like a pointer (whether or not it is a valid one)."""
    return data.startswith(b"version https://git-lfs.github.com/spec/") or data.startswith(
        b"version https://hawser.github.com/spec/"
    )
