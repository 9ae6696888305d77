"""A deploy folder on disk: releases, the ``serving`` and ``current`` links, the split,
the history.

::

    DIR/serving -> deployments/12             what is served, replaced by rename(2)
    DIR/deployments/12/current -> ../../releases/v7-1a2b3c4d5e6f
    DIR/deployments/12/canary.json            while the stage holds a weighted pair
    DIR/current -> releases/v7-1a2b3c4d5e6f   the main release, moved right after serving
    DIR/canary.json -> serving/canary.json    fixed (a file in folders older than serving/)
    DIR/releases/v7-1a2b3c4d5e6f/             one version's files at their repository paths
        .gitmodel-release.json                what it is (model, version, commit, files)
    DIR/.gitmodel/store/                      objects (hard-linked into releases), chunk lists
    DIR/.gitmodel/deploys.json                the deployments, newest last (rollback pops)
    DIR/.gitmodel/lock                        held by the one deploy or rollback at work
    DIR/.gitmodel/verified.json               files hashed: size, inode, mtime (see verify)

A release is built under ``releases/.tmp-…`` and renamed into place whole, and so is a
deployment's state folder under ``deployments/``; ``serving`` moves by renaming a new
symlink over it, so a reader that resolves it once (or a ``kill -9`` at any moment) sees
the old release and split or the new ones, never part of one or one's with the other's.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import stat
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gitmodel.errors import UserError, os_error_hint
from gitmodel.safepath import process_alive

CURRENT = "current"
RELEASES = "releases"
CANARY_FILE = "canary.json"
SERVING = "serving"
DEPLOYMENTS = "deployments"
DEPLOYMENTS_KEPT = 3  # the serving one and two before it, for readers that just resolved them
RELEASE_FILE = ".gitmodel-release.json"
STATE_DIR = ".gitmodel"
HISTORY_FILE = "deploys.json"
HISTORY_MAX = 100
LOCK_FILE = "lock"
STORE_DIR = "store"
TMP_PREFIX = ".tmp-"
VERIFIED_FILE = "verified.json"
# a file modified this close to when it was hashed could change again within the same
# timestamp tick, unseen: it is hashed again next time (Git's "racy" index entries)
_SETTLED_NS = 2_000_000_000
_BACKDATE_NS = 10_000_000_000  # a file we just wrote: its mtime set this far back

Json = dict[str, Any]


@dataclass(frozen=True)
class Deployment:
    """What a deploy switched to: the main release and, for a canary, every release with
    its weight (``[(release, weight), …]``, the main one first)."""

    current: str
    split: tuple[tuple[str, int], ...] = ()
    at: str = ""

    def releases(self) -> set[str]:
        return {self.current, *(name for name, _ in self.split)}

    def to_json(self) -> Json:
        return {"current": self.current, "split": [list(item) for item in self.split],
                "at": self.at}  # fmt: skip

    @classmethod
    def from_json(cls, data: Json) -> Deployment:
        split = tuple((check_name(str(n)), int(w)) for n, w in data.get("split", []))
        return cls(check_name(str(data["current"])), split, str(data.get("at", "")))


def check_name(name: str) -> str:
    """A release name as this module makes them (it names a folder under ``releases/``)."""
    if not name or name.startswith(".") or "/" in name or "\0" in name or len(name) > 100:
        raise UserError(f"invalid release name {name[:100]!r} in the deploy history",
                        hint=f"the folder's {STATE_DIR}/{HISTORY_FILE} was not written by "
                        "gitmodel")  # fmt: skip
    return name


class Folder:
    """The deploy folder ``root`` (made on first use)."""

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root).absolute()
        self.releases = self.root / RELEASES
        self.state = self.root / STATE_DIR
        self.damaged: set[str] = set()  # the ids of files found edited in place
        self._whole: dict[str, bool] = {}
        self._verified: dict[str, list[Any]] | None = None  # see verify()
        self._seen: dict[tuple[str, int, int, str], bool] = {}  # hashed in this process
        self._changed = False

    def make(self) -> None:
        """Make the folder (and its parents, as ``git clone`` does) and its own folders."""
        for path in (self.root, self.releases, self.state):
            try:
                path.mkdir(parents=path == self.root, exist_ok=True)
            except (FileExistsError, NotADirectoryError) as exc:
                raise UserError(f"{path} is not a directory",
                                hint="name a folder for the deployment") from exc  # fmt: skip
            except OSError as exc:
                hint = os_error_hint(exc) or "name another folder"
                raise UserError(f"cannot make {path}: {exc.strerror}", hint=hint) from None
            if path != self.root and path.is_symlink():  # ours: never written through a link
                raise _planted(path)

    def check_store(self) -> None:
        """Refuse a store (``.gitmodel/store``) that is, or holds, a symlink: objects are
        written, hard-linked and deleted as unused there, so a link would have a deploy
        write into another folder and delete another store's objects. A walk of its
        folders (no call per file: their types come with the listing)."""
        store = self.state / STORE_DIR
        if store.is_symlink():
            raise _planted(store)
        folders = [store]
        while folders:
            folder = folders.pop()
            try:
                entries = list(os.scandir(folder))
            except (FileNotFoundError, NotADirectoryError):
                continue  # none yet; a file in its place fails where it is first used
            for entry in entries:
                if entry.is_symlink():
                    raise _planted(Path(entry.path), "a name of gitmodel's store")
                if entry.is_dir(follow_symlinks=False):
                    folders.append(Path(entry.path))

    def check_releases(self) -> None:
        """Refuse a release that is a symlink (one listing of ``releases/``): never
        followed, so ``current`` and ``canary.json`` never name files outside the folder."""
        with os.scandir(self.releases) as entries:
            for entry in entries:
                if entry.is_symlink():
                    raise _planted(Path(entry.path), "a release gitmodel built")

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """Hold the folder's lock (the kernel drops it if we are killed)."""
        import fcntl

        path = self.state / LOCK_FILE
        try:  # a link planted there is never followed (nor its target created)
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
        except OSError as exc:
            if exc.errno != errno.ELOOP:
                raise
            raise _planted(path, "a file of gitmodel's") from None
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise UserError(f"another deploy or rollback is at work in {self.root}",
                                hint="wait for it to finish, then retry") from None  # fmt: skip
            yield
        finally:
            os.close(fd)

    # -- releases

    def release(self, name: str) -> Path:
        return self.releases / check_name(name)

    def has(self, name: str) -> bool:
        """Whether release ``name`` is whole: its metadata, and every file it lists a
        regular file of the size listed with the content listed (one edited in place,
        truncated or half deleted by hand is not; see :meth:`verify`). One that is a
        symlink is refused, never followed: whatever it points at, ``current`` would then
        serve files from outside the folder."""
        release = self.release(name)
        if release.is_symlink():
            raise _planted(release, "a release gitmodel built")
        if name not in self._whole:
            files = self.metadata(name).get("files")
            self._whole[name] = isinstance(files, list) and all(
                self._holds(release, f) for f in files
            )
        return self._whole[name]

    def _holds(self, release: Path, listed: Any) -> bool:
        """Whether ``release`` holds the file its metadata lists as ``listed``."""
        try:
            path, size = str(listed["path"]), int(listed["size"])
            oid, blob = listed.get("oid"), str(listed["git_blob"])
        except (TypeError, KeyError, ValueError, AttributeError):
            return False
        if path.startswith("/") or ".." in path.split("/"):
            return False
        kind, digest = ("sha256", str(oid)) if oid else (blob_kind(blob), blob)
        return self.verify(release / path, size, kind, digest)

    def verify(self, path: Path, size: int, kind: str, digest: str) -> bool:
        """Whether ``path`` is a regular file of ``size`` bytes whose ``kind`` of hash
        (``sha256`` of its bytes, or :func:`blob_kind`: its Git blob id) is ``digest``.

        A file is hashed once; its size, inode and modification time are then kept in
        ``.gitmodel/verified.json``, and while they stay the same (and it had not been
        modified within 2 seconds of being hashed) it is not hashed again. Any write
        moves the modification time, so an edit in place of the same size is hashed and
        caught; a file found damaged is noted in :attr:`damaged` by its id."""
        try:
            found = os.lstat(path)
        except OSError:
            return False
        if not stat.S_ISREG(found.st_mode) or found.st_size != size:
            return False
        key = f"{found.st_dev}:{found.st_ino}"
        seen = (key, size, found.st_mtime_ns, digest)
        if seen in self._seen:
            return self._seen[seen]
        known = self._known().get(key)
        settled = known is not None and found.st_mtime_ns + _SETTLED_NS <= known[4]
        if settled and known is not None and known[:4] == [size, found.st_mtime_ns, kind, digest]:
            return True
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
        except OSError:
            return False
        try:
            opened = os.fstat(fd)
            if (opened.st_ino, opened.st_dev) != (found.st_ino, found.st_dev):
                return False  # replaced meanwhile: judged at the next look
            good = _hash(fd, kind, size) == digest
        finally:
            os.close(fd)
        self._seen[seen] = good
        if good:
            self._remember(key, found, kind, digest)
        else:
            self.damaged.add(digest)
        return good

    def record(self, path: Path, kind: str, digest: str) -> None:
        """Note the file we just wrote at ``path`` (its bytes checked on their way in)
        as verified, its modification time set 10 seconds back, so that any later write
        is seen even within the same timestamp tick."""
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
        try:
            found = os.fstat(fd)
            if not stat.S_ISREG(found.st_mode):
                return
            os.utime(fd, ns=(found.st_atime_ns, time.time_ns() - _BACKDATE_NS))
            found = os.fstat(fd)
        finally:
            os.close(fd)
        self._remember(f"{found.st_dev}:{found.st_ino}", found, kind, digest)

    def built(self, name: str) -> None:
        """Release ``name`` was just built whole."""
        self._whole[name] = True

    def _remember(self, key: str, found: os.stat_result, kind: str, digest: str) -> None:
        self._known()[key] = [found.st_size, found.st_mtime_ns, kind, digest, time.time_ns()]
        self._changed = True

    def _known(self) -> dict[str, list[Any]]:
        """The files hashed before (the folder's own file; an entry of the wrong shape
        is dropped, so its file is hashed again)."""
        if self._verified is None:
            try:
                raw = json.loads((self.state / VERIFIED_FILE).read_text(encoding="utf-8"))
            except (OSError, ValueError):
                raw = {}
            files = raw.get("files") if isinstance(raw, dict) else None
            self._verified = {
                key: value
                for key, value in (files.items() if isinstance(files, dict) else [])
                if isinstance(value, list) and len(value) == 5
                and all(isinstance(v, int) and not isinstance(v, bool) for v in value[::4])
                and isinstance(value[1], int) and all(isinstance(v, str) for v in value[2:4])
            }  # fmt: skip
        return self._verified

    def save_verified(self) -> None:
        """Keep what was hashed, for the files of the releases the folder still has."""
        if not self._changed or self._verified is None:
            return
        used: set[str] = set()
        for path in self.releases.iterdir():
            if path.name.startswith("."):
                continue  # a release being built, not yet one
            for f in self.metadata(path.name).get("files", []):
                if isinstance(f, dict):
                    used |= {str(f.get("oid")), str(f.get("git_blob"))}
        kept = {key: value for key, value in self._verified.items() if value[3] in used}
        _write_atomically(self.state / VERIFIED_FILE, json.dumps({"files": kept}).encode())
        self._changed = False

    def put(self, tmp: Path, name: str) -> None:
        """Rename the release built in ``tmp`` into place as ``name``. One found there is
        not whole (it may be the one served): the two are exchanged in one
        ``renameat2(RENAME_EXCHANGE)`` where the kernel has it, so its path never goes
        missing, else it is moved aside first; then it is deleted (a kill leaves it to
        :meth:`remove_stale`)."""
        final = self.release(name)
        if final.is_symlink() or final.is_file():
            final.unlink()
        elif final.exists():
            if _exchange(tmp, final):
                remove_tree(tmp)  # now the old release
                return
            aside = self.new_tmp(name)
            os.rename(final, aside)  # onto the empty folder new_tmp made
            os.rename(tmp, final)
            remove_tree(aside)
            return
        os.rename(tmp, final)

    def new_tmp(self, name: str) -> Path:
        tmp = self.releases / f"{TMP_PREFIX}{name}.{os.getpid()}-{os.urandom(4).hex()}"
        tmp.mkdir()
        return tmp

    def remove_stale(self) -> None:
        """Remove what deploys that were killed (their pid is gone) left: half-built
        releases, and the parts of the objects their store was downloading
        (``store/tmp/<pid>-…``, as large as the object). Call :meth:`check_store` first."""
        from gitmodel.store.local import LocalStore

        for path in self.releases.glob(f"{TMP_PREFIX}*"):
            pid = path.name.rsplit(".", 1)[-1].split("-", 1)[0]
            if pid.isdigit() and not process_alive(int(pid)):
                remove_tree(path)
        for path in LocalStore(self.state / STORE_DIR).unfinished_writes():
            path.unlink(missing_ok=True)

    def metadata(self, name: str) -> Json:
        try:
            data = json.loads((self.release(name) / RELEASE_FILE).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    # -- what is served

    def current(self) -> str | None:
        """The release ``current`` names, or None."""
        try:
            target = os.readlink(self.root / CURRENT)
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise UserError(f"{self.root / CURRENT} is not a symlink",
                            hint="move it away; deploy manages that name") from exc  # fmt: skip
        return Path(target).name

    def has_serving(self) -> bool:
        """Whether the folder has a ``serving`` link (those deployed before it do not)."""
        return (self.root / SERVING).is_symlink()

    def switch(self, deployment: Deployment) -> None:
        """Serve ``deployment``: a new ``deployments/<n>/`` holding its ``current`` link
        and its ``canary.json`` (a pair only) is made whole, then ``serving`` is renamed
        over to name it, so the main release and the split change in that one rename.
        ``current`` then follows, and ``canary.json`` is a fixed link through
        ``serving``."""
        for name in (SERVING, CURRENT, CANARY_FILE):  # canary.json: a file in older layouts
            path = self.root / name
            if path.is_symlink() or not os.path.lexists(path):
                continue
            if name != CANARY_FILE or path.is_dir():
                raise UserError(f"{path} is not a symlink",
                                hint="move it away; deploy manages that name")  # fmt: skip
        state = self._new_state(deployment)
        self._replace_link(SERVING, f"{DEPLOYMENTS}/{state}")
        self._replace_link(CURRENT, f"{RELEASES}/{deployment.current}")
        canary = f"{SERVING}/{CANARY_FILE}"
        with contextlib.suppress(OSError):
            if os.readlink(self.root / CANARY_FILE) == canary:
                canary = ""
        if canary:  # an older layout's file, or none yet
            self._replace_link(CANARY_FILE, canary)
        _sync_dir(self.root)
        self._prune_states(int(state))

    def _new_state(self, deployment: Deployment) -> str:
        """Make ``deployments/<n>/`` for ``deployment`` (n one more than any there);
        returns its name."""
        base = self.root / DEPLOYMENTS
        try:
            base.mkdir(exist_ok=True)
        except OSError as exc:
            raise UserError(f"cannot make {base}: {exc.strerror}",
                            hint="move it away; deploy manages that name") from None  # fmt: skip
        if base.is_symlink() or not base.is_dir():
            raise UserError(f"{base} is not a folder of gitmodel's",
                            hint="move it away; deploy manages that name")  # fmt: skip
        number = 1 + max(_numbered(base), default=0)
        tmp = base / f"{TMP_PREFIX}{number}.{os.getpid()}-{os.urandom(4).hex()}"
        tmp.mkdir()
        os.symlink(f"../../{RELEASES}/{deployment.current}", tmp / CURRENT)
        if len(deployment.split) > 1:
            split = [{"release": f"{RELEASES}/{name}", "weight": weight, **self._about(name)}
                     for name, weight in deployment.split]  # fmt: skip
            body = json.dumps({"releases": split}, indent=2, sort_keys=True) + "\n"
            fd = os.open(tmp / CANARY_FILE, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC,
                         0o644)  # fmt: skip
            with open(fd, "wb") as out:
                out.write(body.encode())
                os.fsync(out.fileno())
        _sync_dir(tmp)
        os.rename(tmp, base / str(number))
        _sync_dir(base)
        return str(number)

    def _replace_link(self, name: str, target: str) -> None:
        """Point ``DIR/name`` at ``target``: a new symlink renamed over it."""
        link = self.root / f".{name}.{os.getpid()}.tmp"
        link.unlink(missing_ok=True)
        os.symlink(target, link)
        try:
            os.replace(link, self.root / name)
        except OSError as exc:
            link.unlink(missing_ok=True)
            raise UserError(f"cannot replace {self.root / name}: {exc.strerror}",
                            hint="move it away; deploy manages that name") from None  # fmt: skip

    def _prune_states(self, serving: int) -> None:
        """Delete the state folders before the ``DEPLOYMENTS_KEPT`` newest up to the one
        serving (a reader that resolved ``serving`` just before a switch still finds
        its own), and those of killed deploys."""
        base = self.root / DEPLOYMENTS
        kept = sorted((n for n in _numbered(base) if n <= serving), reverse=True)
        kept = kept[:DEPLOYMENTS_KEPT]
        for path in base.iterdir():
            if _is_number(path.name) and int(path.name) not in kept:
                remove_tree(path)
            elif path.name.startswith(TMP_PREFIX):
                pid = path.name.rsplit(".", 1)[-1].split("-", 1)[0]
                if pid.isdigit() and not process_alive(int(pid)):
                    remove_tree(path)

    def _about(self, name: str) -> Json:
        meta = self.metadata(name)
        return {key: meta[key] for key in ("model", "version", "commit") if key in meta}

    # -- history

    def history(self) -> list[Deployment]:
        """The deployments, newest last. A deploy or rollback killed between its switch
        and its last save left the history it meant to write beside the one before
        (``next``): that one is the history if ``serving`` names its last deployment."""
        try:
            raw = json.loads((self.state / HISTORY_FILE).read_text(encoding="utf-8"))
        except FileNotFoundError:
            return []
        except (OSError, ValueError) as exc:
            raise UserError(f"cannot read {self.state / HISTORY_FILE}: {exc}",
                            hint=self._history_hint()) from None  # fmt: skip
        try:
            before = [Deployment.from_json(item) for item in raw["deployments"]]
            after = [Deployment.from_json(item) for item in raw.get("next", [])]
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise UserError(f"{self.state / HISTORY_FILE} is malformed ({exc!r})",
                            hint=self._history_hint()) from None  # fmt: skip
        return after if after and self._serves(after[-1]) else before

    def _serves(self, deployment: Deployment) -> bool:
        """Whether ``serving`` names ``deployment``: its main release and its split."""
        try:
            state = self.root / os.readlink(self.root / SERVING)
            if Path(os.readlink(state / CURRENT)).name != deployment.current:
                return False
            if len(deployment.split) < 2:
                return not os.path.lexists(state / CANARY_FILE)
            pairs = json.loads((state / CANARY_FILE).read_text(encoding="utf-8"))["releases"]
            split = tuple((Path(p["release"]).name, p["weight"]) for p in pairs)
        except (OSError, ValueError, KeyError, TypeError):
            return False
        return split == deployment.split

    def _history_hint(self) -> str:
        path = self.state / HISTORY_FILE
        return (f"it was not written by gitmodel: move it away to start a new history (the "
                f"next deploy keeps only its own releases): mv {path} {path}.bad")  # fmt: skip

    def save_history(self, deployments: list[Deployment],
                     after: list[Deployment] | None = None) -> None:  # fmt: skip
        """Save the history; with ``after``, also the one a switch about to be made will
        make it (see :meth:`switch_from`)."""
        body: Json = {"deployments": [d.to_json() for d in deployments[-HISTORY_MAX:]]}
        if after:
            body["next"] = [d.to_json() for d in after[-HISTORY_MAX:]]
        _write_atomically(self.state / HISTORY_FILE, json.dumps(body, indent=1).encode())

    def switch_from(self, history: list[Deployment], after: list[Deployment]) -> None:
        """Serve ``after[-1]``, the history ``history`` to become ``after``: both are
        saved first, then :meth:`switch`; the caller then saves ``after`` (or what it
        keeps of it). Killed in between, :meth:`history` tells which one is true."""
        self.save_history(history, after)
        self.switch(after[-1])

    # -- pruning

    def prune(self, history: list[Deployment], keep: int) -> list[str]:
        """Delete releases beyond the ``keep`` newest that the history names (and any it
        does not name); returns the names deleted. What ``current`` serves stays."""
        kept: set[str] = set()
        for deployment in reversed(history):
            if len(kept) >= keep:
                break
            kept |= deployment.releases()
        kept |= history[-1].releases() if history else set()
        removed = []
        for path in sorted(self.releases.iterdir()):
            if path.name.startswith(TMP_PREFIX) or path.name in kept:
                continue
            remove_tree(path)
            self._whole.pop(path.name, None)
            removed.append(path.name)
        return removed


def _planted(path: Path, what: str = "a folder of gitmodel's") -> UserError:
    """A name the folder manages found as a symlink (never followed)."""
    return UserError(f"{path} is a symlink, not {what}",
                     hint="move it away; deploy manages that name")  # fmt: skip


def _exchange(a: Path, b: Path) -> bool:
    """Swap the paths ``a`` and ``b`` in one step (Linux's ``renameat2`` with
    ``RENAME_EXCHANGE``); False where the kernel, C library or file system cannot."""
    import ctypes

    try:
        renameat2 = ctypes.CDLL(None, use_errno=True).renameat2
    except (AttributeError, OSError):
        return False
    at_fdcwd, rename_exchange = -100, 2
    done = renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange)
    return bool(done == 0)


def _is_number(name: str) -> bool:
    return name.isascii() and name.isdigit() and len(name) < 19


def _numbered(base: Path) -> list[int]:
    """The numbers of the state folders in ``base`` (``deployments/``)."""
    return [int(p.name) for p in base.iterdir() if _is_number(p.name)]


def blob_kind(blob: str) -> str:
    """How the Git blob id ``blob`` is hashed: SHA-1, or SHA-256 in a SHA-256
    repository (told by the id's length, 40 or 64)."""
    return "git-sha1" if len(blob) == 40 else "git-sha256"


def _hash(fd: int, kind: str, size: int) -> str:
    """The ``sha256`` of an open file's bytes, or its Git blob id (:func:`blob_kind`)."""
    import hashlib

    from gitmodel.store.local import hash_fd

    if kind == "sha256":
        return hash_fd(fd)[0]
    digest = hashlib.sha1(usedforsecurity=False) if kind == "git-sha1" else hashlib.sha256()
    digest.update(b"blob %d\0" % size)
    offset = 0
    while block := os.pread(fd, 1 << 20, offset):
        digest.update(block)
        offset += len(block)
    return digest.hexdigest()


def remove_tree(path: Path) -> None:
    """Remove a release (its files are read-only; their folders are ours)."""
    import shutil

    shutil.rmtree(path, ignore_errors=True)


def _write_atomically(path: Path, body: bytes) -> None:
    """``path`` replaced whole (a file of ours: a temporary file beside it, renamed)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.unlink(missing_ok=True)  # one a killed run left, or a link: never written through
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
    with open(fd, "wb") as out:
        out.write(body)
        out.flush()
        os.fsync(out.fileno())
    os.replace(tmp, path)


def _sync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
