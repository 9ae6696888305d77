"""The long-running filter process (``filter.model.process``).

Protocol: Git's ``Documentation/gitattributes.txt``, "Long Running Filter
Process". stdout carries protocol bytes only; messages go to stderr.
"""

from __future__ import annotations

import itertools
import os
import sys
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

from gitmodel.attributes import kept_as_text
from gitmodel.errors import (
    GitModelError,
    ObjectMissingError,
    ProtocolError,
    UserError,
    os_error_hint,
)
from gitmodel.filter.convert import MISSING_HINT, Chunk, clean, missing_hint, read_blob
from gitmodel.filter.stream import CONTENT_BUFFER, SMALL_DATA, PktReader, PktWriter
from gitmodel.pointer import Pointer, try_parse
from gitmodel.store.local import CHUNK_SIZE, LocalStore
from gitmodel.trace import trace

TYPE_CHECKING = False  # typing's flag without loading typing: the filter process starts often
if TYPE_CHECKING:  # concurrent.futures is loaded by the first delayed fetch
    from concurrent.futures import Future, ThreadPoolExecutor
    from typing import BinaryIO

    from gitmodel.filter.convert import CleanObserver

    # Gives the observer (if any) that should see the bytes of a path being cleaned.
    Observe = Callable[[str], CleanObserver | None]

CAPABILITIES = ("clean", "smudge", "delay")
SPOOL_MEMORY = 8 << 20
CLEAN_PROGRESS_MIN = 32 << 20  # a file this large shows its progress into the store
COPY_AHEAD_MIN = 32 << 20  # a file this large is copied into the store from the file itself
SHARE_POINTER_MAX = 200  # longer answers are content (a pointer is ~130 bytes)
_NOTHING: Iterator[Chunk] = iter(())

Fetching = tuple[Pointer, "Future[bool] | None"]  # None: in the store already
# Fetches what the fetches of many objects need, and small ones in bulk, telling the
# callback of each object it stores as it does (``workspace.Fetcher.prepare``).
Prepare = Callable[[list[Pointer], Callable[[Pointer], None]], None]
# Given a checkout's commit and the path Git asked for first, the objects to fetch in bulk
# as that checkout begins, when it checks out the whole commit
# (``workspace.Fetcher.checkout_plan``); None when it does not.
Plan = Callable[[str, str], "list[Pointer] | None"]

# Decides whether a large file is written later, straight from the store
# (returns True after recording it), instead of through Git's smudge pipe.
Deferrer = Callable[[str, Pointer], bool]


class FilterProcess:
    """Serves clean and smudge requests until Git closes the pipe."""

    def __init__(
        self,
        store: LocalStore,
        reader: PktReader,
        writer: PktWriter,
        skip_smudge: bool = False,
        fetch: Callable[[Pointer], bool] | None = None,
        defer: Deferrer | None = None,
        jobs: int = 4,
        observe: Observe | None = None,
        prepare: Prepare | None = None,
        settle: Callable[[], None] | None = None,
        plan: Plan | None = None,
    ) -> None:
        self.store = store
        self.reader = reader
        self.writer = writer
        self.skip_smudge = skip_smudge
        self.fetch = fetch
        self.defer = defer
        self.jobs = jobs
        self.observe = observe
        self.prepare = prepare
        self.settle = settle  # called once no fetch is left (ends their progress line)
        self.plan = plan
        self._planned = False  # asked once, at the first object missing
        self.capabilities: set[str] = set()
        self._delayed: dict[str, Fetching] = {}
        self._queued: dict[str, Pointer] = {}  # delayed, not fetching yet (see _start_queued)
        self._bulk: _Prepared | None = None  # a prepare under way, beside Git's checkout
        self._executor: ThreadPoolExecutor | None = None
        self._share = True  # until a file system says it cannot share blocks

    def run(self) -> None:
        try:
            self._serve()
        finally:
            if self._bulk is not None:
                self._bulk.stopped = True
            if self._executor is not None:
                self._executor.shutdown(wait=True, cancel_futures=True)

    def _serve(self) -> None:
        self.handshake()
        while (request := self._read_request()) is not None:
            command = request.get("command")
            trace(f"{command} {request.get('pathname', '')}")
            if command == "clean":
                self._clean(request)
            elif command == "smudge":
                self._smudge(request)
            elif command == "list_available_blobs":
                self._list_available()
            else:
                raise ProtocolError(f"unknown filter command {command!r}")

    def handshake(self) -> None:
        welcome = self.reader.read_text_list()
        if welcome[:1] != ["git-filter-client"] or "version=2" not in welcome[1:]:
            raise ProtocolError("git did not offer filter protocol version 2")
        self.writer.write_text("git-filter-server", "version=2")
        offered = {line.removeprefix("capability=") for line in self.reader.read_text_list()}
        self.capabilities = offered.intersection(CAPABILITIES)
        self.writer.write_text(*(f"capability={c}" for c in CAPABILITIES if c in offered))

    def _read_request(self) -> dict[str, str] | None:
        lines = self.reader.read_request()
        if lines is None:
            return None
        request = {}
        for line in lines:
            key, sep, value = line.partition("=")
            if not sep:
                raise ProtocolError(f"malformed filter request line {line[:80]!r}")
            request[key] = value
        return request

    def _clean(self, request: dict[str, str]) -> None:
        path = request.get("pathname", "")
        if kept_as_text(path):  # .gitattributes and the like: never a pointer
            self._respond(_content(self.reader.read_content()))
            return
        opened: list[BinaryIO] = []

        def like(first: int) -> int | None:
            if first < CONTENT_BUFFER:  # all of it: Git's content comes in 1 MiB chunks
                return None
            source = _large_worktree_file(path)
            if source is None:
                return None
            opened.append(source)
            return source.fileno()

        try:
            observer = self.observe(path) if self.observe else None
            content = _watched(self.reader.read_content(), path)
            result = clean(self.store, content, observer, self.reader.buffers, like)
        except ProtocolError:
            raise
        except GitModelError as exc:
            _report(request, exc)
            self.writer.write_text("status=error")
            return
        finally:
            for source in opened:
                source.close()
        self._respond(result)
        if opened:
            return  # copied from the file itself: a reflink where the file system has them
        if self._share and len(result) < SHARE_POINTER_MAX and (pointer := try_parse(result)):
            self._share_blocks(path, pointer)

    def _share_blocks(self, path: str, pointer: Pointer) -> None:
        """On a file system with reflinks, let the object just stored share the worktree
        file's blocks (the kernel compares them first), so ``git add`` leaves one copy
        on disk; after the answer, so Git has this file's pointer meanwhile. Off for
        good at the first file system that cannot."""
        import os.path

        from gitmodel import safepath

        try:
            shared = self.store.share_blocks(pointer, safepath.Target(os.path.curdir, path))
        except (OSError, GitModelError) as exc:
            trace(f"share blocks of {path}: {exc}")
            return
        if shared is None:
            self._share = False
        trace(f"{path}: {'shares blocks with the store' if shared else 'not shared'}")

    def _smudge(self, request: dict[str, str]) -> None:
        path = request.get("pathname", "")
        delayed = self._delayed.pop(path, None)
        if delayed is not None:
            self.reader.drain_content()  # Git asks again with empty content
            head, rest = delayed[0].encode(), _NOTHING
            future = delayed[1]
            result = future.result if future is not None else _fetched_before
            if not self._finish_fetch(request, delayed[0], result):
                return
        else:
            head, rest = read_blob(self.reader.read_content())
        pointer = None if self.skip_smudge else try_parse(head)
        can_delay = self.fetch is not None and request.get("can-delay") == "1"
        if pointer is not None and not self._held(request, pointer, can_delay):
            if can_delay:
                self._queued[path] = pointer
                trace(f"delayed {path}: {pointer.oid}")
                self.writer.write_text("status=delayed")
                return
            fetch = self.fetch
            if not self._finish_fetch(request, pointer, lambda: fetch and fetch(pointer)):
                return
        if pointer is not None and self._deferred(request, pointer, head):
            return
        if pointer is not None and 0 < pointer.size <= SMALL_DATA:
            self._send_small(request, pointer)
            return
        # Git sends the whole blob before it reads a byte of the answer, so a blob
        # that is content rather than a pointer is spooled (to disk past 8 MiB).
        with _spool(head, rest, self.store.tmp_dir) as blob:
            try:  # opening the object checks it is there, and of the pointer's size
                content = blob if pointer is None else self.store.read(pointer, path, MISSING_HINT)
            except GitModelError as exc:
                _report(request, exc)
                self.writer.write_text("status=error")
                return
            self.writer.write_text("status=success", send=False)  # goes with the content
            try:
                for chunk in content:
                    self.writer.write_data(chunk)
            except GitModelError as exc:
                # content may be partly sent: end it, then withdraw it
                _report(request, exc)
                self.writer.write_flush()
                self.writer.write_text("status=error")
                return
        self.writer.write_flush()
        self.writer.write_flush()
        self.writer.flush()

    def _held(self, request: dict[str, str], pointer: Pointer, can_delay: bool) -> bool:
        """Whether ``pointer``'s object is stored, or is once the bulk fetch of a checkout
        of a whole commit has stored it: that fetch starts at the first missing object,
        and each answer waits for its own object. Git then asks for each file once, its
        answer ready or soon ready, instead of once to be told to wait and again once it
        may have it; what the bulk fetch leaves out is delayed or fetched as usual."""
        bulk = self._bulk
        if bulk is not None and pointer.oid in bulk.wanted:
            return self._landed(bulk, pointer.oid)  # not stored when planned: no lookup
        # a missing object that may wait is delayed without re-reading the pack indexes
        # (once per path of a clone): the fetches of the delayed paths look again
        if self.store.has(pointer.oid, recheck_packs=not can_delay):
            return True
        if self._planned:
            return False
        self._planned = True
        treeish = request.get("treeish")
        if not treeish or self.plan is None or self.prepare is None or bulk is not None:
            return False
        planned = self.plan(treeish, request.get("pathname", ""))
        if not planned:
            return False
        self._bulk = bulk = _Prepared(planned, {}, self.prepare, self._pool())
        return pointer.oid in bulk.wanted and self._landed(bulk, pointer.oid)

    def _landed(self, bulk: _Prepared, oid: str) -> bool:
        """Wait until ``bulk`` has stored ``oid`` (True) or has ended without it."""
        while oid in bulk.wanted and self._bulk is bulk:
            self._take_stored(block=True)
        return oid not in bulk.wanted

    def _deferred(self, request: dict[str, str], pointer: Pointer, head: bytes) -> bool:
        """Whether the smudge is answered here: with the pointer (``head``), when the
        deferrer takes the file for the post-checkout hook, or with an error, when the
        object we hold is not of the pointer's size or the deferrer fails (a bad setting:
        Git reports the path and stops, instead of losing the process)."""
        if self.defer is None:
            return False
        if not self._size_matches(request, pointer):
            return True
        try:
            if not self.defer(request.get("pathname", ""), pointer):
                return False
        except GitModelError as exc:
            _report(request, exc)
            self.writer.write_text("status=error")
            return True
        self._respond(head)
        return True

    def _send_small(self, request: dict[str, str], pointer: Pointer) -> None:
        """Answer with a small object read straight into the answer's packets."""
        self.writer.write_text("status=success", send=False)
        slots = self.writer.reserve_data(pointer.size)
        try:
            self.store.read_into(pointer, slots, request.get("pathname"), MISSING_HINT)
        except GitModelError as exc:
            _report(request, exc)
            self.writer.write_flush()  # the packets go, then are withdrawn
            self.writer.write_text("status=error")
            return
        self.writer.write_flush()
        self.writer.write_flush()
        self.writer.flush()

    def _size_matches(self, request: dict[str, str], pointer: Pointer) -> bool:
        """Whether the object we hold has the pointer's size; answers Git itself if not
        (a file written later, by the hook, could no longer fail in Git's eyes)."""
        try:
            self.store.check_size(pointer, request.get("pathname"))
        except GitModelError as exc:
            _report(request, exc)
            self.writer.write_text("status=error")
            return False
        return True

    def _finish_fetch(
        self, request: dict[str, str], pointer: Pointer, result: Callable[[], object]
    ) -> bool:
        """Wait for (or run) the fetch of a missing object; answers Git itself on failure."""
        error: GitModelError | None = None
        try:
            fetched = result()
        except GitModelError as exc:
            error = exc
        except OSError as exc:  # a full disk, a store we may not write: the user's to fix
            error = UserError(f"fetching: {exc}", hint=os_error_hint(exc))
        else:
            if not self.store.has(pointer.oid):
                path = request.get("pathname", "")
                error = ObjectMissingError(pointer.oid, path, missing_hint(fetched))
        finally:
            self._settle()  # the progress line ends before any error is reported
        if error is not None:
            _report(request, error)
            self.writer.write_text("status=error")
            return False
        return True

    def _settle(self) -> None:
        if (not self._delayed and not self._queued and self._bulk is None
                and self.settle is not None):  # fmt: skip
            self.settle()

    def _list_available(self) -> None:
        """Paths whose delayed fetch has finished; blocks until one has, empty when none left."""
        self._start_queued()
        if self._bulk is not None:
            self._take_stored(block=False)
        while not (ready := [path for path, (_, f) in self._delayed.items()
                             if f is None or f.done()]):  # fmt: skip
            if self._bulk is not None:
                self._take_stored(block=True)
                continue
            pending = [future for _, future in self._delayed.values() if future is not None]
            if not pending:
                break
            from concurrent.futures import FIRST_COMPLETED, wait

            wait(pending, return_when=FIRST_COMPLETED)
        self.writer.write_lines(f"pathname={path}" for path in ready)
        self.writer.write_text("status=success")

    def _start_queued(self) -> None:
        """Start the fetches of the delayed paths. Git asks for every path of a checkout
        before it first asks which are ready, so by then all are known: ``prepare`` sees
        them at once (one batch request per 100 objects on an LFS host, the small
        objects of a chunked remote fetched in bulk), in a thread of its own, and each
        object it stores is offered to Git as it lands, so that Git writes files while
        the rest are fetched. What ``prepare`` stored needs no fetch of its own: a thread
        and a future each cost more than a small file."""
        if not self._queued or self._bulk is not None:
            return  # more queued while a prepare runs wait for it to end
        queued, self._queued = self._queued, {}
        if self.prepare is None:
            self._fetch_each(queued.items())
        else:
            self._bulk = _Prepared(list(queued.values()), queued, self.prepare, self._pool())

    def _take_stored(self, block: bool) -> None:
        """Move the paths whose objects the prepare has stored since last asked (waiting
        for one first if ``block``) to the delayed paths ready for Git. Once it has ended,
        the paths still waiting are fetched one by one (or were stored by another
        process), and an error it did not expect is raised here."""
        from queue import Empty

        bulk = self._bulk
        assert bulk is not None
        ended = False
        try:
            oid = bulk.stored.get(block)
            while True:
                if oid is None:
                    ended = True
                    break
                bulk.wanted.discard(oid)
                for path, pointer in bulk.waiting.pop(oid, ()):
                    self._delayed[path] = (pointer, None)
                oid = bulk.stored.get_nowait()
        except Empty:
            pass
        if ended:
            self._bulk = None
            bulk.future.result()
            self._fetch_each(item for items in bulk.waiting.values() for item in items)
            self._start_queued()

    def _fetch_each(self, queued: Iterable[tuple[str, Pointer]]) -> None:
        assert self.fetch is not None
        for path, pointer in queued:
            if self.store.has(pointer.oid, recheck_packs=False):
                self._delayed[path] = (pointer, None)
            else:
                self._delayed[path] = (pointer, self._pool().submit(self.fetch, pointer))

    def _pool(self) -> ThreadPoolExecutor:
        if self._executor is None:
            from concurrent.futures import ThreadPoolExecutor

            self._executor = ThreadPoolExecutor(max_workers=self.jobs)
        return self._executor

    def _respond(self, content: bytes) -> None:
        self.writer.write_text("status=success")
        if content:
            self.writer.write_data(content)
        self.writer.write_flush()
        self.writer.write_flush()
        self.writer.flush()


class _Stopped(Exception):
    """Raised in a prepare's thread once the filter process is ending: Git is gone."""


class _Prepared:
    """A ``prepare`` running in a thread beside Git's checkout: the oids it was given and
    has not been seen to store, the delayed paths that wait on it, by oid, and a queue of
    the oids it has stored (None once it has ended)."""

    def __init__(self, pointers: list[Pointer], delayed: dict[str, Pointer], prepare: Prepare,
                 pool: ThreadPoolExecutor) -> None:  # fmt: skip
        from queue import SimpleQueue

        self.wanted = {pointer.oid for pointer in pointers}
        self.waiting: dict[str, list[tuple[str, Pointer]]] = {}
        for path, pointer in delayed.items():
            self.waiting.setdefault(pointer.oid, []).append((path, pointer))
        self.stored: SimpleQueue[str | None] = SimpleQueue()
        self.stopped = False
        self.future = pool.submit(prepare, pointers, self._on_stored)
        self.future.add_done_callback(lambda _: self.stored.put(None))

    def _on_stored(self, pointer: Pointer) -> None:
        if self.stopped:
            raise _Stopped
        self.stored.put(pointer.oid)


def _content(chunks: Iterator[Chunk]) -> bytes:
    """All of a request's content (its chunks share one buffer: each is copied)."""
    data = bytearray()
    for chunk in chunks:
        data += chunk
    return bytes(data)


def _fetched_before() -> bool:
    """The fetch result of an object ``prepare`` stored (see :meth:`_start_queued`)."""
    return True


@contextmanager
def _spool(head: bytes, rest: Iterator[Chunk], tmp_dir: Path) -> Iterator[Iterator[Chunk]]:
    first = next(rest, None)
    if first is None:
        yield iter([head])
        return
    import tempfile  # rare: a blob that is content, not a pointer

    tmp_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.SpooledTemporaryFile(max_size=SPOOL_MEMORY, dir=str(tmp_dir)) as spool:
        spool.write(head)
        spool.write(first)
        for chunk in rest:
            spool.write(chunk)
        spool.seek(0)
        yield iter(lambda: spool.read(CHUNK_SIZE), b"")


def _large_worktree_file(path: str) -> BinaryIO | None:
    """The worktree file at ``path`` (Git runs its filter at the worktree's top), opened
    without following a symlink, when it is large enough to be worth copying ahead
    (:data:`COPY_AHEAD_MIN`); else None. What Git sends is still what is stored: the
    store only compares it with the copy (see ``ObjectWriter.expect``), so content
    that is not this file's (``git hash-object --path``, a merge's) costs a copy and
    is stored as it comes."""
    import os.path

    from gitmodel import safepath

    try:
        source = safepath.open_file(safepath.Target(os.path.curdir, path))
    except (OSError, GitModelError):
        return None
    if source is not None and os.fstat(source.fileno()).st_size < COPY_AHEAD_MIN:
        source.close()
        return None
    return source


def _watched(chunks: Iterator[Chunk], path: str) -> Iterator[Chunk]:
    """``chunks``, with a progress line while a large file (``CLEAN_PROGRESS_MIN`` or
    more, as the worktree file's size says) goes into the store. A small file costs
    nothing more: it has arrived before the question is asked."""
    first = next(chunks, None)
    if first is None:
        return
    yield first
    second = next(chunks, None)
    if second is None:
        return
    try:
        size = os.stat(path).st_size  # Git runs its filter at the worktree's top
    except OSError:
        size = 0
    if size < CLEAN_PROGRESS_MIN:
        yield second
        yield from chunks
        return
    from gitmodel.progress import Progress

    progress = Progress(f"Adding {path}", size=size)
    progress.add(len(first))
    try:
        for chunk in itertools.chain((second,), chunks):
            yield chunk
            progress.add(len(chunk))
    finally:
        progress.finish()


def _report(request: dict[str, str], exc: GitModelError) -> None:
    from gitmodel.urls import scrub  # not at start-up: only a failed request needs it

    path = request.get("pathname", "?")
    print(f"gitmodel: {request.get('command')} {path}: {scrub(str(exc))}", file=sys.stderr)
    if exc.hint:
        print(f"hint: {scrub(exc.hint)}", file=sys.stderr)
