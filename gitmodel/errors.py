"""The errors gitmodel raises; the CLI maps them to messages and exit codes."""

from __future__ import annotations

import errno

DISK_FULL = frozenset({errno.ENOSPC, errno.EDQUOT})  # an OSError the user fixes, not a bug
NOT_WRITABLE = frozenset({errno.EACCES, errno.EPERM, errno.EROFS})  # the same


def is_disk_full(exc: BaseException) -> bool:
    return isinstance(exc, OSError) and exc.errno in DISK_FULL


def is_not_writable(exc: BaseException) -> bool:
    return isinstance(exc, OSError) and exc.errno in NOT_WRITABLE


def os_error_hint(exc: BaseException) -> str | None:
    """What to do about an OSError that is the user's to fix (a full disk, a place they
    may not write); None for any other."""
    if is_disk_full(exc):
        return ("free some space here (`git model prune` deletes local objects the remote "
                "has) and run the command again")  # fmt: skip
    if is_not_writable(exc):
        return "check that you may read and write there: its owner and mode, or a read-only mount"
    return None


class GitModelError(Exception):
    """Base class: an expected failure with a one-line message."""

    hint: str | None = None


class UserError(GitModelError):
    """A mistake the user can fix; ``hint`` says how."""

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.hint = hint


class PointerError(GitModelError):
    """Bytes that are not a canonical pointer file."""


class ProtocolError(GitModelError):
    """Git sent something the filter protocol does not allow."""


class ChecksumError(GitModelError):
    """Bytes that do not hash to the oid they were stored or fetched under."""

    def __init__(self, what: str, expected: str, actual: str, hint: str | None = None) -> None:
        super().__init__(f"{what}: expected sha256 {expected}, got {actual}")
        self.expected = expected
        self.actual = actual
        self.hint = hint


class ObjectMissingError(GitModelError):
    """An object that is not in the local store."""

    def __init__(self, oid: str, path: str | None = None, hint: str | None = None) -> None:
        where = f" for {path}" if path else ""
        super().__init__(f"object {oid} is not in the local store{where}")
        self.oid = oid
        self.path = path
        self.hint = hint


class PointerSizeError(UserError):
    """A pointer whose size is not that of the object its oid names, which we hold intact
    (its bytes hash to that oid): the pointer is wrong, never the object, which is kept."""

    def __init__(self, oid: str, claimed: int, held: int, path: str | None = None) -> None:
        where = f"the pointer for {path}" if path else "a pointer"
        super().__init__(
            f"{where} names object {oid} with {claimed} bytes, but that object has {held} bytes",
            hint="the pointer was committed with a wrong size (the object is left as it is): "
            "committing the file from its content gives the right pointer",
        )
        self.oid, self.claimed, self.held, self.path = oid, claimed, held, path
