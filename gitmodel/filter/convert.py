"""clean and smudge: the conversions shared by the one-shot filters and the process.

clean: file content in, pointer out (the bytes go to the local store).
smudge: pointer in, file content out (read from the store, verified).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator

from gitmodel.pointer import POINTER_MAX_SIZE, Pointer, try_parse
from gitmodel.store.local import LocalStore, ObjectWriter

TYPE_CHECKING = False  # typing's flag without loading typing: the filter process starts often
Chunk = bytes | bytearray | memoryview
MISSING_HINT = (
    "set the model remote (`git model remote set URL`) and run `git model pull`,"
    " or check out pointers only with GIT_MODEL_SKIP_SMUDGE=1"
)
# when no model remote is known at all: the usual reason in a fresh clone
NOT_SHARED_HINT = (
    "no model remote is known here: the store these objects were pushed to is probably"
    " set in its pusher's own git config only. Whoever set it can share it with every"
    " clone (`git model remote set --shared URL`, then commit and push .gitmodel); or set"
    " it here (`git model remote set URL`) and check the files out (or `git model pull`);"
    " or check out pointers only with GIT_MODEL_SKIP_SMUDGE=1"
)


def missing_hint(fetched: object) -> str:
    """The hint for an object still missing after ``fetched`` (a fetch's result: False
    when no model remote is known)."""
    return NOT_SHARED_HINT if fetched is False else MISSING_HINT


if TYPE_CHECKING:
    from typing import Protocol

    from gitmodel.store.buffers import BufferPool

    class CleanObserver(Protocol):
        """Sees the bytes ``clean`` stores (e.g. to digest tensors on the way through)."""

        def update(self, chunk: Chunk) -> None: ...

        def finish(self, pointer: Pointer) -> None: ...


def clean(
    store: LocalStore,
    chunks: Iterable[Chunk],
    observer: CleanObserver | None = None,
    pool: BufferPool | None = None,
    like: Callable[[int], int | None] | None = None,
) -> bytes:
    """Store the content and return its pointer.

    An empty file stays empty and a canonical pointer passes through unchanged,
    so cleaning is idempotent and LFS pointers are never wrapped twice. An
    ``observer`` is fed every chunk and told the pointer once the object is stored.
    Chunks in the buffer ``pool`` is filling may be kept instead of copied. ``like``,
    told the length of the first chunk once the content is surely not a pointer, may
    name an open file the content likely equals (the worktree file), for the store to
    copy ahead (:meth:`~gitmodel.store.local.ObjectWriter.expect`).
    """
    head = bytearray()
    writer = None

    def start(first: int) -> ObjectWriter:
        started = store.writer(pool)
        if like is not None and (fd := like(first)) is not None:
            started.expect(fd)
        return started

    try:
        for chunk in chunks:
            if observer is not None:
                observer.update(chunk)
            if writer is not None:
                writer.write(chunk)
                continue
            if not head and len(chunk) >= POINTER_MAX_SIZE:  # surely content: no copy
                writer = start(len(chunk))
                writer.write(chunk)
                continue
            head += chunk
            if len(head) >= POINTER_MAX_SIZE:
                writer = start(len(head))
                writer.write(head)
        if writer is None:
            if not head or try_parse(bytes(head)) is not None:
                return bytes(head)
            writer = store.writer(pool)
            writer.write(head)
        pointer = writer.commit()
        if observer is not None:
            observer.finish(pointer)
        return pointer.encode()
    except BaseException:
        if writer is not None:
            writer.abort()
        raise


def read_blob(
    chunks: Iterable[Chunk], limit: int = POINTER_MAX_SIZE
) -> tuple[bytes, Iterator[Chunk]]:
    """Read up to ``limit`` bytes of a blob to tell a pointer from content.

    Returns the bytes read and an iterator over the rest (empty for a pointer).
    """
    it = iter(chunks)
    head = bytearray()
    for chunk in it:
        head += chunk
        if len(head) >= limit:
            break
    return bytes(head), it


def smudge(
    store: LocalStore,
    chunks: Iterable[Chunk],
    write: Callable[[Chunk], None],
    path: str | None = None,
    skip: bool = False,
    fetch: Callable[[Pointer], bool] | None = None,
) -> Pointer | None:
    """Write the file content for a blob; returns its pointer, or None for content.

    Blobs that are not canonical pointers are written unchanged. With ``skip``
    the pointer itself is written. A missing object is looked up with ``fetch``
    (which returns True once it is in the store); if it is still missing,
    :class:`~gitmodel.errors.ObjectMissingError` is raised before anything is written.
    """
    head, rest = read_blob(chunks)
    pointer = try_parse(head)
    if pointer is None:
        write(head)
        for chunk in rest:
            write(chunk)
        return None
    if skip:
        write(head)
        return pointer
    fetched = fetch(pointer) if fetch is not None and not store.has(pointer.oid) else None
    for chunk in store.read(pointer, path, missing_hint(fetched)):
        write(chunk)
    return pointer
