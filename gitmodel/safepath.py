"""Git-style path safety for every file gitmodel writes into a worktree or ``--to`` folder.

A path that comes from a commit, the index, a record log or a remote is hostile until
proven otherwise. Git guards its own worktree writes in two ways, and so do we:

* ``verify_path`` (read-cache.c): a repository path is relative, POSIX, and has no
  empty, ``.``, ``..`` or ``.git`` component (in any case, nor its NTFS aliases
  ``.git.``/``git~1``), no backslash and no NUL.
* ``has_symlink_leading_path`` (symlinks.c): nothing is written through a symlink.
  Every directory between the root and the file must be a real directory.

We walk the directories with file descriptors (``O_DIRECTORY | O_NOFOLLOW``, then
``dir_fd=`` for ``mkdir``, ``open`` and ``rename``), so a component swapped for a
symlink between a check and the write cannot redirect it: the write happens in the
very directory that was checked. The root itself is the caller's choice (the worktree
top, or a ``--to`` folder the user named) and may be a symlink; nothing under it may.

A file is written to a temporary file in its (verified) directory and renamed over
the old one only once complete; an existing symlink or non-regular file at the
destination is refused, never replaced or written through.

Loaded by the filter process: only ``os`` and ``stat``, no ``typing`` at run time.
"""

from __future__ import annotations

import _thread
import contextlib
import errno
import os
import stat
from pathlib import Path

from gitmodel.errors import UserError

TYPE_CHECKING = False  # typing's flag without loading typing: the filter process starts often
if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from typing import BinaryIO

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_READ_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC  # FIFOs: no wait
_NEW_FILE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
_TMP_SUFFIX = ".tmp"
_TMP_NAME_MAX = 200  # of the destination's name inside a temporary name (NAME_MAX is 255)
_MOVE_AWAY = "move it away (or check out again elsewhere) and retry"


class UnsafePathError(UserError):
    """A path that would escape its root, name Git's own files, or go through a symlink."""


def is_valid(path: str) -> bool:
    """True when ``path`` is a repository path Git itself would check out (verify_path)."""
    if not path or "\0" in path or "\\" in path or path.startswith("/"):
        return False
    return all(_valid_component(part) for part in path.split("/"))


def _valid_component(part: str) -> bool:
    if part in ("", ".", ".."):
        return False
    core = part.rstrip(" .").lower()  # NTFS drops trailing spaces and dots: ".git. " is .git
    return core not in (".git", "git~1")


def check(path: str) -> str:
    """``path`` when :func:`is_valid`, else an :class:`UnsafePathError` naming it."""
    if not is_valid(path):
        raise UnsafePathError(
            f"refusing unsafe path {path[:200]!r}",
            hint="a path must be relative, inside the repository, and not under .git",
        )
    return path


class Target:
    """A file ``rel`` (a checked repository path) under ``root`` (trusted as given)."""

    __slots__ = ("rel", "root")

    def __init__(self, root: Path | str, rel: str) -> None:
        self.root = Path(root)
        self.rel = check(rel)

    @property
    def path(self) -> Path:
        """The file's path, for messages and for reads that need no protection."""
        return self.root.joinpath(*self.rel.split("/"))

    def __str__(self) -> str:
        return str(self.path)

    def __repr__(self) -> str:
        return f"Target({str(self.root)!r}, {self.rel!r})"


@contextlib.contextmanager
def parent_dir(dest: Target | Path, create: bool = False) -> Iterator[tuple[int, str]]:
    """An open descriptor of the directory that holds ``dest``, and ``dest``'s name in it.

    For a :class:`Target`, every directory below the root is opened without following
    symlinks (and made, one at a time, when ``create``); a symlink or a file in the way
    is an :class:`UnsafePathError`, a missing one (without ``create``) a
    :class:`FileNotFoundError`. A plain ``Path`` (the store's own files) names a
    trusted directory.
    """
    if isinstance(dest, Target):
        *dirs, name = dest.rel.split("/")
        fd = _open_walk(dest, dirs, create)
    else:
        name = dest.name
        fd = os.open(dest.parent, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        yield fd, name
    finally:
        os.close(fd)


def _open_walk(dest: Target, dirs: list[str], create: bool) -> int:
    fd = os.open(dest.root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        for depth, part in enumerate(dirs, 1):
            below = _open_component(fd, part, create, dest, depth)
            os.close(fd)
            fd = below
    except BaseException:
        os.close(fd)
        raise
    return fd


def _open_component(fd: int, part: str, create: bool, dest: Target, depth: int) -> int:
    """Open directory ``part`` of the directory ``fd``, never through a symlink."""
    try:
        return _open_dir_at(fd, part, dest, depth)
    except FileNotFoundError:
        if not create:
            raise
    with contextlib.suppress(FileExistsError):  # made by another writer meanwhile: fine
        os.mkdir(part, 0o777, dir_fd=fd)
    return _open_dir_at(fd, part, dest, depth)


def _open_dir_at(fd: int, part: str, dest: Target, depth: int) -> int:
    try:
        return os.open(part, _DIR_FLAGS, dir_fd=fd)
    except OSError as exc:
        if exc.errno not in (errno.ELOOP, errno.ENOTDIR):
            raise
    try:
        mode = os.stat(part, dir_fd=fd, follow_symlinks=False).st_mode
    except OSError:
        mode = 0
    kind = "a symlink" if stat.S_ISLNK(mode) else "not a directory"
    shown = dest.root.joinpath(*dest.rel.split("/")[:depth])
    raise UnsafePathError(f"{shown} is {kind}; refusing to go through it", hint=_MOVE_AWAY)


def lstat(dest: Target) -> os.stat_result | None:
    """``dest``'s own status (a symlink is not followed), None when it or a directory
    above it is missing; an :class:`UnsafePathError` when a directory above it is a
    symlink or not a directory."""
    try:
        with parent_dir(dest) as (fd, name):
            return os.stat(name, dir_fd=fd, follow_symlinks=False)
    except FileNotFoundError:
        return None


def _not_regular(dest: Target | Path, mode: int) -> UnsafePathError:
    kind = "a symlink" if stat.S_ISLNK(mode) else "not a regular file"
    return UnsafePathError(f"{dest} is {kind}; refusing to use it", hint=_MOVE_AWAY)


def open_file(dest: Target) -> BinaryIO | None:
    """``dest`` opened for reading, without following a symlink anywhere under the root;
    None when it is missing. Refuses a symlink or a non-regular file."""
    try:
        with parent_dir(dest) as (dir_fd, name):
            fd = os.open(name, _READ_FLAGS, dir_fd=dir_fd)
    except FileNotFoundError:
        return None
    except OSError as exc:
        if exc.errno != errno.ELOOP:
            raise
        raise _not_regular(dest, stat.S_IFLNK) from None  # O_NOFOLLOW met a symlink
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):
        os.close(fd)
        raise _not_regular(dest, mode)
    return open(fd, "rb", buffering=0)


def write(
    dest: Target | Path,
    fill: Callable[[BinaryIO], None],
    mode: int = 0o644,
    unlink_first: bool = False,
) -> None:
    """Write ``dest`` whole or not at all: ``fill`` writes a temporary file beside it
    (raising to abandon it), which is then given ``mode`` and renamed over ``dest``.

    Missing directories of a :class:`Target` are made. An existing destination that
    is a symlink or not a regular file is refused and left as it is. ``unlink_first``
    removes the old file just before the rename (see ``LocalStore.copy_to``).
    """
    with parent_dir(dest, create=isinstance(dest, Target)) as (dir_fd, name):
        _refuse_non_regular(dir_fd, name, dest)
        _remove_stale(dir_fd, name)
        fd, tmp = _new_tmp(dir_fd, name)
        try:
            with open(fd, "wb") as out:  # buffered: a short write is retried
                fill(out)
                os.fchmod(out.fileno(), mode)
            _refuse_non_regular(dir_fd, name, dest)
            if unlink_first:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(name, dir_fd=dir_fd)
            os.rename(tmp, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp, dir_fd=dir_fd)
            raise


def link(src: Path, dest: Target | Path) -> None:
    """Make ``dest`` a new name of the file ``src`` (a hard link), replacing ``dest``
    at once, under the same rules as :func:`write`: missing directories of a
    :class:`Target` are made, and a destination that is a symlink or not a regular file
    is refused. ``src`` is the caller's own file (a store object), never a worktree path."""
    with parent_dir(dest, create=isinstance(dest, Target)) as (dir_fd, name):
        _refuse_non_regular(dir_fd, name, dest)
        _remove_stale(dir_fd, name)
        while True:
            tmp = _tmp_name(name)
            try:
                os.link(src, tmp, dst_dir_fd=dir_fd, follow_symlinks=False)
                break
            except FileExistsError:
                continue
        try:
            _refuse_non_regular(dir_fd, name, dest)
            os.rename(tmp, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp, dir_fd=dir_fd)
            raise


def _refuse_non_regular(dir_fd: int, name: str, dest: Target | Path) -> None:
    try:
        mode = os.stat(name, dir_fd=dir_fd, follow_symlinks=False).st_mode
    except FileNotFoundError:
        return
    if not stat.S_ISREG(mode):
        raise _not_regular(dest, mode)


def _tmp_prefix(name: str) -> str:
    return f".{name[:_TMP_NAME_MAX]}."


def _tmp_name(name: str) -> str:
    """A new name ``.<name>.<pid>-<random>.tmp`` (see :func:`_remove_stale`)."""
    return f"{_tmp_prefix(name)}{os.getpid()}-{os.urandom(6).hex()}{_TMP_SUFFIX}"


def _new_tmp(dir_fd: int, name: str) -> tuple[int, str]:
    """A new empty file ``.<name>.<pid>-<random>.tmp`` in ``dir_fd``, never a symlink."""
    while True:
        tmp = _tmp_name(name)
        try:
            return os.open(tmp, _NEW_FILE_FLAGS, 0o600, dir_fd=dir_fd), tmp
        except FileExistsError:
            continue


# while :func:`listing_once` runs: each directory's temporary-looking names, listed at
# its first write (by device and inode); None otherwise
_listed: dict[tuple[int, int], list[str]] | None = None
_listed_lock = _thread.allocate_lock()


@contextlib.contextmanager
def listing_once() -> Iterator[None]:
    """Within this, :func:`write` and :func:`link` list a directory for stale temporary
    files once, at their first write into it, not at every write: writing the n files
    of one folder otherwise reads n² names (a pull of 20,000 files in folders of 1,000
    spent two fifths of its time there). A writer killed meanwhile leaves its temporary
    file to the next command."""
    global _listed
    if _listed is not None:  # nested: the outer one lists
        yield
        return
    _listed = {}
    try:
        yield
    finally:
        _listed = None


def _temporaries(dir_fd: int) -> list[str]:
    """The names in ``dir_fd`` that may be temporary files: listed now, or once per
    directory within :func:`listing_once`."""
    listed = _listed
    if listed is None:
        with os.scandir(dir_fd) as entries:
            return [e.name for e in entries if e.name.endswith(_TMP_SUFFIX)]
    st = os.fstat(dir_fd)
    key = (st.st_dev, st.st_ino)
    with _listed_lock:
        found = listed.get(key)
    if found is None:
        with os.scandir(dir_fd) as entries:
            found = [e.name for e in entries if e.name.endswith(_TMP_SUFFIX)]
        with _listed_lock:
            listed[key] = found
    return found


def _remove_stale(dir_fd: int, name: str) -> None:
    """Remove the temporary files of writers of ``name`` that were killed (their pid is
    gone), so a crash leaves no half-written file behind for long."""
    prefix = _tmp_prefix(name)
    for tmp in _temporaries(dir_fd):
        if not tmp.startswith(prefix):
            continue
        pid = tmp[len(prefix) :].split("-", 1)[0]
        if pid.isdigit() and not process_alive(int(pid)):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp, dir_fd=dir_fd)


def process_alive(pid: int) -> bool:
    """Whether process ``pid`` still runs (its temporary files are not stale yet). A
    killed process that nobody has reaped yet (a zombie, which an orphan stays where
    PID 1 does not reap) runs no more."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            state = f.read(512).rsplit(b")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True
    return state not in (b"Z", b"X")
