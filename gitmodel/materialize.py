"""Direct checkout: large files written straight from the store, not through Git.

On smudge Git buffers the filter's whole output in memory and then writes the
file itself: a 2 GiB checkout costs 2 GiB of RAM and two extra copies. So when
Git runs a command that ends with the post-checkout hook (checkout, switch,
clone) and our hook is installed, the filter process answers a large smudge
with the pointer itself and records the path. The hook then copies each object
into place with ``copy_file_range`` (verified, atomic rename) and updates the
cached stat data in the index, so Git sees a clean worktree without reading the
files back. Every step fails safe: a file left as its pointer is still clean to
Git (cleaning a pointer returns it unchanged), and a file whose index entry is
not updated is merely re-hashed by the next ``git status``.
"""

from __future__ import annotations

import contextlib
import os
import stat
import time
from collections.abc import Iterator
from pathlib import Path

from gitmodel import git, safepath
from gitmodel.errors import GitModelError, UserError, os_error_hint
from gitmodel.pointer import Pointer
from gitmodel.sizes import parse_size
from gitmodel.store.local import LocalStore
from gitmodel.trace import trace

TYPE_CHECKING = False  # typing's flag without loading typing: the filter process starts often
if TYPE_CHECKING:  # the index parser is loaded by the hook, not by every filter start
    from gitmodel.git import index_file
    from gitmodel.progress import ByteCount, Progress

HOOK_COMMANDS = frozenset({"checkout", "switch", "clone"})
HOOK_MARKER = "gitmodel hook"
DEFAULT_THRESHOLD = 128 << 20  # below this the hook's start-up costs more than the pipe
THRESHOLD_KEY = "model.directCheckoutThreshold"
PENDING_FILE = "model-checkout-pending"
_GIT_OPTIONS_WITH_VALUE = frozenset(
    {"-c", "-C", "--git-dir", "--work-tree", "--namespace", "--config-env"}
)


def git_subcommand(argv: list[str]) -> str | None:
    """The subcommand of a ``git`` command line, skipping Git's global options."""
    if not argv or os.path.basename(argv[0]) not in ("git", "git.exe"):
        return None
    args = iter(argv[1:])
    for arg in args:
        if arg in _GIT_OPTIONS_WITH_VALUE:
            next(args, None)
        elif not arg.startswith("-"):
            return arg
    return None


def parent_git_subcommand() -> str | None:
    """The subcommand of the Git process that started us, read from /proc; None for
    interactive forms (``checkout -p``) whose worktree updates skip the hook."""
    argv = parent_git_argv()
    if argv is None or "-p" in argv or "--patch" in argv:
        return None
    return git_subcommand(argv)


def parent_git_argv(max_depth: int = 6) -> list[str] | None:
    """The arguments of the Git process that started us, read from /proc (None where
    there is none). Walks up past wrappers that fork (pyenv shims, shells) to the
    nearest ``git``."""
    pid = os.getppid()
    for _ in range(max_depth):
        try:
            raw = Path(f"/proc/{pid}/cmdline").read_bytes()
            stat_line = Path(f"/proc/{pid}/stat").read_bytes()
        except OSError:
            return None
        argv = [os.fsdecode(a) for a in raw.split(b"\0") if a]
        if argv and os.path.basename(argv[0]) in ("git", "git.exe"):
            return argv
        pid = int(stat_line.rsplit(b")", 1)[1].split()[1])  # field 4: ppid
        if pid <= 1:
            return None
    return None


def checks_out_paths(argv: list[str]) -> bool:
    """Whether a Git command line checks out some paths of a commit, not all of it:
    ``git restore``, ``git checkout REV -- PATHS``. Paths named without ``--`` are not
    told from a branch here."""
    command = git_subcommand(argv)
    if command == "restore":
        return True
    if command != "checkout":
        return False
    rest = argv[argv.index(command) + 1 :]
    if any(arg.startswith("--pathspec-from-file") for arg in rest):
        return True
    return "--" in rest and rest.index("--") < len(rest) - 1


class Pending:
    """A path the filter answered with its pointer, to be written by the hook."""

    __slots__ = ("path", "pointer")

    def __init__(self, path: str, pointer: Pointer) -> None:
        self.path, self.pointer = path, pointer


class Deferrer:
    """The filter process's side: decides and records deferred smudges."""

    def __init__(self, pending_file: Path, threshold: int) -> None:
        self.pending_file = pending_file
        self.threshold = threshold

    def __call__(self, path: str, pointer: Pointer) -> bool:
        if pointer.size < self.threshold:
            return False
        record = f"{pointer.oid} {pointer.size} ".encode() + os.fsencode(path) + b"\0"
        with open(self.pending_file, "ab") as f:
            f.write(record)
        return True


def make_deferrer(repo: git.Repo, settings: dict[str, str]) -> Deferrer | None:
    """A deferrer when this Git command will run our post-checkout hook, else None.

    ``model.directCheckoutThreshold`` is read only then, where it takes effect, and a
    value that is not a size is a :class:`~gitmodel.errors.UserError` naming the key:
    falling back to the default would leave the user's setting silently unused.
    """
    if repo.worktree is None:
        return None
    if settings.get("core.splitindex", "").lower() in ("true", "yes", "on", "1") or any(
        repo.common_dir.glob("sharedindex.*")
    ):
        trace("direct checkout off: split index")
        return None
    command = parent_git_subcommand()
    if command not in HOOK_COMMANDS:
        trace(f"direct checkout off: parent git command is {command!r}")
        return None
    hook = repo.hooks_dir / "post-checkout"
    try:
        if HOOK_MARKER not in hook.read_text(errors="replace"):
            raise OSError
    except OSError:
        trace(f"direct checkout off: {hook} is not ours")
        return None
    threshold = direct_checkout_threshold(settings)
    if threshold <= 0:
        trace(f"direct checkout off: {THRESHOLD_KEY} is 0")
        return None
    from gitmodel.store import onecopy

    onecopy.mode_of(settings)  # a bad value fails the checkout here, not in the hook
    trace(f"direct checkout on for files of {threshold} bytes or more")
    return Deferrer(repo.git_dir / PENDING_FILE, threshold)


def direct_checkout_threshold(settings: dict[str, str]) -> int:
    """``model.directCheckoutThreshold`` in bytes (0: off), by default 128 MiB."""
    value = settings.get(THRESHOLD_KEY.lower())
    return DEFAULT_THRESHOLD if value is None else parse_size(value, key=THRESHOLD_KEY)


def take_pending(repo: git.Repo) -> list[Pending]:
    """The recorded deferred smudges, removing the record."""
    pending_file = repo.git_dir / PENDING_FILE
    claimed = pending_file.with_name(f"{PENDING_FILE}.{os.getpid()}")
    try:
        os.replace(pending_file, claimed)
    except FileNotFoundError:
        return []
    try:
        return list(_parse_pending(claimed.read_bytes()))
    finally:
        claimed.unlink(missing_ok=True)


def _parse_pending(data: bytes) -> Iterator[Pending]:
    for record in data.split(b"\0"):
        oid, _, rest = record.partition(b" ")
        size, _, path = rest.partition(b" ")
        try:
            pointer = Pointer(oid.decode(), int(size))
        except (ValueError, GitModelError):
            continue  # a torn or foreign record: that file stays a pointer
        yield Pending(os.fsdecode(path), pointer)


def materialize(
    repo: git.Repo, store: LocalStore, pending: list[Pending], quiet: bool = False
) -> int:
    """Write each pending file from the store; returns how many were written.

    A file is replaced only while we hold the index lock and can record its new
    stat data: Git takes a size change for a content change without looking, so
    a replaced file the index does not describe would show as modified, so an index
    that cannot be locked or read is an error, every file left as its pointer. A
    progress line counts the files and bytes written (unless ``quiet``).
    """
    if not pending:
        return 0
    from gitmodel.progress import Progress

    progress = Progress("Checking out model files", len(pending),
                        sum(item.pointer.size for item in pending), quiet=quiet)  # fmt: skip
    try:
        return _materialize_all(repo, store, pending, progress)
    finally:
        progress.finish()


def _materialize_all(
    repo: git.Repo, store: LocalStore, pending: list[Pending], progress: Progress
) -> int:
    from gitmodel.git import index_file

    index_path = repo.index_path
    # Files must be older than the index, or Git treats them as "racily clean" and
    # re-reads them: their mtime goes back to before the current second.
    stamp = (time.time_ns() // 1_000_000_000 - 1) * 1_000_000_000
    placer = Placer(repo, store, stamp)
    with git.IndexLock(index_path) as lock:
        if not lock.held:
            held = f"the index is locked ({lock.lock_path} exists)"
            reason = f"cannot lock the index ({lock.error})" if lock.error else held
            raise _left(repo, pending, reason, lock.error)
        hash_size = repo.hash_size
        try:
            index = index_path.read_bytes()
            entries = index_file.parse_entries(index, hash_size)
        except (OSError, GitModelError) as exc:
            raise _left(repo, pending, f"cannot update the index ({exc})", exc) from exc
        written: list[tuple[safepath.Target, index_file.Entry]] = []
        failure: GitModelError | None = None
        with safepath.listing_once():
            for item in pending:
                entry = entries.get(os.fsencode(item.path))
                try:
                    target = safepath.Target(repo.top, item.path)
                    if _materialize_one(placer, item.pointer, target, entry, hash_size,
                                        progress.add):  # fmt: skip
                        assert entry is not None
                        written.append((target, entry))
                    progress.object_done()
                except GitModelError as exc:
                    failure = failure or exc
        if written:
            _record_stats(index, lock, hash_size, written, stamp)
    if failure is not None:
        raise failure
    return len(written)


def _left(repo: git.Repo, pending: list[Pending], reason: str, exc: Exception | None) -> UserError:
    """The error for ``pending`` files left as their pointers, none of them written."""
    fix = os_error_hint(exc) if exc is not None else None
    if exc is None:  # another git process holds the lock, or a killed one left it
        from gitmodel.workspace import left_lock_hint

        fix = left_lock_hint(repo)
    return UserError(f"{reason}; {len(pending)} model file(s) left as pointers",
                     hint=fix or "`git model pull` writes them")  # fmt: skip


class Placer:
    """Puts an object's bytes at a worktree path as ``model.worktreeCopy`` says (see
    :mod:`gitmodel.store.onecopy`): a reflink, the store's own file lent, or a copy."""

    def __init__(self, repo: git.Repo, store: LocalStore, mtime_ns: int) -> None:
        from gitmodel.store import onecopy

        settings = repo.settings()
        self.mode = onecopy.mode_of(settings)
        self.store, self.mtime_ns = store, mtime_ns
        self.held: frozenset[str] = frozenset()
        held_dir = store.root / onecopy.HELD_DIR  # none yet: no remote to ask about (~30 ms)
        if self.mode == "auto" and held_dir.is_dir():  # lend what the model remote holds
            from gitmodel.remote.config import remote_for

            # no model remote (or a broken setting, said elsewhere): nothing is lent
            with contextlib.suppress(GitModelError):
                self.held = onecopy.held(store.root, remote_for(repo, settings).url)

    def place(self, pointer: Pointer, target: safepath.Target, mode: int,
              on_bytes: ByteCount | None) -> None:  # fmt: skip
        if self.mode != "copy":
            if self.store.clone_to(pointer, target, mode):
                if on_bytes is not None:
                    on_bytes(pointer.size)
                return
            if self.mode == "reflink" and self.store.has_loose(pointer.oid):
                raise UserError(
                    f"cannot reflink {target.rel}: its file system makes no reflinks",
                    hint="git config model.worktreeCopy auto (reflinks where possible)",
                )
        if pointer.oid in self.held and self.store.lend_to(pointer, target, mode, self.mtime_ns):
            trace(f"lent {target.rel} the store's file of {pointer.oid}")
            if on_bytes is not None:
                on_bytes(pointer.size)
            return
        self.store.copy_to(pointer, target, mode, on_bytes)


def _materialize_one(
    placer: Placer,
    pointer: Pointer,
    target: safepath.Target,
    entry: index_file.Entry | None,
    hash_size: int,
    on_bytes: ByteCount | None = None,
) -> bool:
    """Replace ``target`` by the object if it and its index entry still hold the pointer;
    True when its stat data is to be recorded.

    A directory on the way that is a symlink (or not a directory) is refused, as Git
    refuses it: the file is left as it is and an :class:`~gitmodel.safepath.UnsafePathError`
    names it. A file that is no longer the pointer (a symlink included) is left alone,
    unless it is :func:`_unrecorded`: then it is kept and only its stat data recorded.
    """
    from gitmodel.git import index_file

    text = pointer.encode()
    if entry is None or entry.oid != index_file.blob_id(text, hash_size):
        return False
    st = safepath.lstat(target)
    if st is None or not stat.S_ISREG(st.st_mode):
        return False
    if st.st_size != len(text):
        return _unrecorded(pointer, target, entry, st.st_size, on_bytes)
    try:
        src = safepath.open_file(target)
        if src is None:
            return False
        with src:
            if src.read(len(text) + 1) != text:
                return False
    except OSError:
        return False
    started = time.perf_counter()
    placer.place(pointer, target, 0o755 if st.st_mode & 0o111 else 0o644, on_bytes)
    trace(f"wrote {target.rel} ({pointer.size} bytes) in {time.perf_counter() - started:.2f} s")
    return True


def _unrecorded(
    pointer: Pointer,
    target: safepath.Target,
    entry: index_file.Entry,
    size: int,
    on_bytes: ByteCount | None,
) -> bool:
    """Whether ``target`` is already the object while its index entry still has the
    pointer's size: a checkout or pull killed after writing the file but before
    recording it. Git takes that size change for a content change without reading the
    file, so the file would show as modified for good unless its stat data is recorded.
    Only a file whose bytes hash to the pointer's oid qualifies."""
    from gitmodel.store.local import hash_fd

    if size != pointer.size or entry.stat[9] != len(pointer.encode()):
        return False
    try:
        src = safepath.open_file(target)
        if src is None:
            return False
        with src:
            oid, read = hash_fd(src.fileno())
    except OSError:
        return False
    if oid != pointer.oid or read != pointer.size:
        return False
    trace(f"{target.rel} is already its object: recording its stat data")
    if on_bytes is not None:
        on_bytes(pointer.size)
    return True


def unrecorded_candidates(repo: git.Repo, whole: dict[str, Pointer]) -> list[str]:
    """The paths among ``whole`` (path to the pointer its index entry holds, for worktree
    files found of the object's size) whose index entry records the pointer's size: the
    ones :func:`_unrecorded` may take up. Read without the lock, to choose only."""
    from gitmodel.git import index_file

    if not whole:
        return []
    try:
        entries = index_file.parse_entries(repo.index_path.read_bytes(), repo.hash_size)
    except (OSError, GitModelError):
        return []
    found = []
    for path, pointer in whole.items():
        entry = entries.get(os.fsencode(path))
        text_size = len(pointer.encode())
        if entry is not None and pointer.size != text_size and entry.stat[9] == text_size:
            found.append(path)
    return found


def _record_stats(
    index: bytes,
    lock: git.IndexLock,
    hash_size: int,
    written: list[tuple[safepath.Target, index_file.Entry]],
    stamp: int,
) -> None:
    from gitmodel.git import index_file

    updates = {}
    for target, entry in written:
        with safepath.parent_dir(target) as (fd, name):  # the directory just written to
            st = os.stat(name, dir_fd=fd, follow_symlinks=False)
            os.utime(name, ns=(st.st_atime_ns, stamp), dir_fd=fd, follow_symlinks=False)
            st = os.stat(name, dir_fd=fd, follow_symlinks=False)
        updates[entry.offset] = index_file.stat_fields(st, entry.stat[6])
    lock.commit(index_file.patch_stats(index, updates, hash_size))
