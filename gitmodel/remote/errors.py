"""How a model remote fails: the remote as a whole, or one object on it."""

from __future__ import annotations

from gitmodel.errors import GitModelError

DAMAGED_HINT = (
    "the remote's copy cannot be used: in a clone that has the object, run "
    "`git model push REMOTE --all --repair` (it reads the remote's copies back and replaces "
    "the damaged ones)"
)
HOST_DAMAGED_HINT = (
    "the LFS host's copy cannot be used: ask its administrators to delete the object, "
    "then push it from a clone that has it (`git model push`)"
)
RANGES_HINT = "the storage ignores byte ranges (or the file changed): gitmodel needs them"


class RemoteError(GitModelError):
    """The remote store failed or holds something we cannot trust."""

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        if hint is not None:  # else the class's own hint (missing, damaged) stays
            self.hint = hint


class RemoteObjectMissing(RemoteError):
    """The remote store does not have the object: permanent, not worth a retry."""

    hint = (
        "push it from a clone that has it (`git model push`); "
        "`git model fsck --remote` lists what the remote lacks"
    )


class RemoteObjectDamaged(RemoteError):
    """The remote's copy of one object cannot be used (too long, a bad manifest, wrong
    bytes): permanent, and about that object only, not the whole remote."""

    hint = DAMAGED_HINT


class ShortRead(ConnectionError):
    """Fewer bytes arrived than the object has: a transport fault, worth a retry
    (a wrong byte is not: that is the remote's copy, and fails at once)."""
