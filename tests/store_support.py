"""Objects put into a local store directly, for the tests of the store itself."""

from __future__ import annotations

from gitmodel.pointer import Pointer
from gitmodel.store.local import LocalStore


def put(store: LocalStore, data: bytes) -> Pointer:
    with store.writer() as writer:
        writer.write(data)
        return writer.commit()
