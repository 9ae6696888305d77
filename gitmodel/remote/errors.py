"""How a model remote fails: the remote as a whole, or one object on it."""

from __future__ import annotations

from gitmodel.errors import GitModelError

DAMAGED_HINT = (
    "the remote's copy cannot be used: on an object-storage remote, delete the object's "
    "manifest (manifests/<first 2 hex of its id>/<its id>) and the index of each pack it "
    "uses (index/<pack id>; a push would reuse the damaged chunks otherwise); then run "
    "`git model push REMOTE --all` in a clone that has the object (no push replaces an "
    "object the remote still lists)"
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
