"""The read cache (:func:`~gitmodel.reader.source.cache_root`): how much it holds, and
pruning it.

Everything in it is derived and checked when used, so any of it may go: a chunk, a
manifest or an object read again is fetched again. Pruning removes, oldest use first,
what was not used within ``older_than`` days, then more until the cache fits in
``max_size``. A file's last use is the later of its access and modification times (with
Linux's default ``relatime``, access times move at most once a day; on a ``noatime``
mount the order is the order files were written). A repository cache counts as one
item, used when its ``lock`` file was last touched (each read through it touches it),
and is removed only while no read holds its lock: it is renamed aside under the lock,
then deleted. Nothing outside the cache's own folders is touched, and links are never
followed.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

PARTS = ("repos", "chunks", "manifests", "objects")
DAY = 86_400.0


@dataclass
class Item:
    """A unit of pruning: one file, or one repository cache (a folder)."""

    part: str
    path: Path
    size: int
    used: float


@dataclass
class Usage:
    """Bytes and items per part of the cache."""

    root: Path
    parts: dict[str, tuple[int, int]] = field(default_factory=dict)  # part: (items, bytes)

    @property
    def size(self) -> int:
        return sum(size for _, size in self.parts.values())


@dataclass
class Pruned:
    removed: list[Item] = field(default_factory=list)
    busy: int = 0  # repository caches in use, left alone
    left: int = 0  # bytes left

    @property
    def size(self) -> int:
        return sum(item.size for item in self.removed)


def items(root: Path) -> Iterator[Item]:
    """Every prunable item under ``root``."""
    for part in PARTS:
        if (root / part).is_symlink():
            continue  # never followed, at the top either: what it points to is not ours
        if part == "repos":
            yield from _repos(root / part)
        else:
            for path, info in _files(root / part):
                yield Item(part, path, info.st_blocks * 512, max(info.st_atime, info.st_mtime))


def usage(root: Path) -> Usage:
    found = Usage(root, {part: (0, 0) for part in PARTS})
    for item in items(root):
        count, size = found.parts[item.part]
        found.parts[item.part] = (count + 1, size + item.size)
    return found


def prune(root: Path, older_than: float | None, max_size: int | None,
          dry_run: bool = False, now: float | None = None) -> Pruned:  # fmt: skip
    """Remove what was last used more than ``older_than`` days ago, then the least
    recently used until at most ``max_size`` bytes are left (None: no such rule)."""
    now = time.time() if now is None else now
    if not dry_run and not (root / "repos").is_symlink():
        for leftover in (root / "repos").glob(".pruned-*"):  # a prune that was stopped
            shutil.rmtree(leftover, ignore_errors=True)
    everything = sorted(items(root), key=lambda item: item.used)
    total = sum(item.size for item in everything)
    pruned = Pruned()
    for item in everything:
        stale = older_than is not None and item.used < now - older_than * DAY
        over = max_size is not None and total > max_size
        if not stale and not over:
            break  # sorted by last use: every later item is newer still
        if dry_run or _remove(item):
            pruned.removed.append(item)
            total -= item.size
        elif item.part == "repos":
            pruned.busy += 1
    pruned.left = total
    return pruned


def forget(folder: Path) -> bool | None:
    """Remove one repository cache (``repos/<digest>``) as :func:`prune` would: True
    when removed, False when a read holds it, None when there is none."""
    if folder.is_symlink() or not folder.is_dir():
        return None
    return _remove(Item("repos", folder, 0, 0.0))


def _files(folder: Path) -> Iterator[tuple[Path, os.stat_result]]:
    """Regular files under ``folder``, never following links."""
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return
    for entry in entries:
        try:
            if entry.is_dir(follow_symlinks=False):
                yield from _files(Path(entry.path))
            elif entry.is_file(follow_symlinks=False):
                yield Path(entry.path), entry.stat(follow_symlinks=False)
        except OSError:
            continue  # gone meanwhile


def _repos(folder: Path) -> Iterator[Item]:
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return
    for entry in entries:
        if not entry.is_dir(follow_symlinks=False) or entry.name.startswith("."):
            continue
        size, used = 0, 0.0
        for _, info in _files(Path(entry.path)):
            size += info.st_blocks * 512
            used = max(used, info.st_mtime)
        with contextlib.suppress(OSError):
            used = os.stat(os.path.join(entry.path, "lock"), follow_symlinks=False).st_mtime
        yield Item("repos", Path(entry.path), size, used)


def _remove(item: Item) -> bool:
    """Delete one item; False when it is a repository cache in use."""
    if item.part != "repos":
        with contextlib.suppress(FileNotFoundError):
            item.path.unlink()
        return True
    try:
        fd = os.open(item.path / "lock", os.O_RDWR | os.O_NOFOLLOW | os.O_CLOEXEC)
    except FileNotFoundError:
        fd = None
    except OSError:
        return False
    try:
        if fd is not None:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return False
        aside = item.path.with_name(f".pruned-{item.path.name}.{os.getpid()}")
        os.rename(item.path, aside)  # readers that come later make a fresh cache
    finally:
        if fd is not None:
            os.close(fd)
    shutil.rmtree(aside, ignore_errors=True)
    return True
