"""File locks for what cannot be merged (weights, notebooks), like ``git lfs lock``.

On an LFS host, the host keeps the locks (its locking API, in ``remote/lfs_locks.py``). On
any other remote, they are a record log on the Git remote itself, ``refs/gitmodel/locks``,
so no server is needed: taking a lock fetches the log, appends a record on the remote's
tip and pushes it without force. Git applies a push as a compare-and-swap of the ref,
so of two people locking at once one push lands and the other is refused (and told who
holds the file), never both.

The state is ``{"locks": {path: {"id", "owner", "email", "at"}}}``. It comes from a
remote, so every entry is checked before it is used; one that fails is left out.
Files marked ``lockable`` in ``.gitattributes`` are checked out read-only unless
the user holds their lock, so an edit without one is noticed before it is made. An
LFS host says whose a lock is only when asked over the network, so the paths this user
locked there are kept in ``<model dir>/lfs-locks.json`` (as git-lfs keeps its own
lock cache) for checkouts to read.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gitmodel import git, safepath
from gitmodel.errors import UserError
from gitmodel.logs import records
from gitmodel.logs import sync as records_sync
from gitmodel.text import printable
from gitmodel.urls import scrub

if TYPE_CHECKING:
    from gitmodel.remote.lfs_locks import LfsLocking

Json = dict[str, Any]
LOG = "locks"
LFS_LOCKS = "lfs-locks.json"  # in the model dir: the paths this user holds on an LFS host


def _reduce(state: Json, record: Json) -> Json:
    locks = state.setdefault("locks", {})
    path = record.get("path")
    if not isinstance(path, str):
        return state
    if record.get("type") == "lock":
        locks[path] = {key: record.get(key) for key in ("id", "owner", "email", "at")}
    elif record.get("type") == "unlock":
        locks.pop(path, None)
    return state


KIND = records.LogKind(LOG, reduce=_reduce, commutes=False)


@dataclass(frozen=True)
class Lock:
    id: str
    path: str
    owner: str
    email: str
    at: str  # ISO 8601, UTC

    def to_json(self) -> Json:
        return {"id": self.id, "path": self.path, "owner": self.owner, "email": self.email,
                "locked_at": self.at}  # fmt: skip


def held(state: Json) -> dict[str, Lock]:
    """The locks in a state read from a log, each checked (a bad entry is left out)."""
    locks = state.get("locks")
    out: dict[str, Lock] = {}
    if not isinstance(locks, dict):
        return out
    for path, entry in locks.items():
        if not isinstance(entry, dict) or not safepath.is_valid(path):
            continue
        fields = [entry.get(key) for key in ("id", "owner", "email", "at")]
        texts = [value for value in fields if isinstance(value, str)]
        if len(texts) == 4 and all(t.isprintable() and len(t) <= 200 for t in texts):
            out[path] = Lock(texts[0], path, texts[1], texts[2], texts[3])
    return out


class GitLocks:
    """Locks kept as a record log on Git remote ``remote``."""

    def __init__(self, repo: git.Repo, remote: str) -> None:
        self.repo = repo
        self.remote = remote
        self.log = records.Log(repo, KIND)

    def current(self, fetch: bool = True) -> dict[str, Lock]:
        """Every lock, as the remote has them (``fetch``) or as last fetched."""
        if fetch:
            self._fetch()
        return held(self.log.state())

    def lock(self, path: str) -> Lock:
        name, email = records.identity(self.repo)
        for _ in range(3):
            tip, locks = self._fresh()
            other = locks.get(path)
            if other is not None:
                raise _locked_error(other, email)
            at = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
            lock_id = hashlib.sha256(f"{path}\0{email}\0{time.time_ns()}".encode()).hexdigest()
            record = {"type": "lock", "path": path, "id": lock_id[:16], "owner": name,
                      "email": email, "at": at}  # fmt: skip
            if self._append(record, tip, f"lock {path}"):
                return Lock(record["id"], path, name, email, at)
        raise _busy()

    def unlock(self, path: str, force: bool = False) -> Lock:
        _, email = records.identity(self.repo)
        for _ in range(3):
            tip, locks = self._fresh()
            current = locks.get(path)
            if current is None:
                raise UserError(f"{path} is not locked", hint="see `git model locks`")
            if current.email != email and not force:
                raise UserError(f"{printable(path)} is locked by {current.owner} <{current.email}>",
                                hint="ask them to unlock it, or pass --force to break the "
                                "lock (it is recorded who did)")  # fmt: skip
            record = {"type": "unlock", "path": path, "id": current.id, "force": force}
            if self._append(record, tip, f"unlock {path}"):
                return current
        raise _busy()

    def _fresh(self) -> tuple[str | None, dict[str, Lock]]:
        self._fetch()
        tip = self.log.tip()
        return tip, held(self.log.state(tip))

    def _fetch(self) -> None:
        """Make the local log the remote's: a record here that the remote refused (or
        never got) is no lock. Only this log is fetched, and it is never merged."""
        tracking = records_sync.tracking_ref(self.remote, LOG)
        proc = self.repo.run(["fetch", "--quiet", "--no-tags", "--no-write-fetch-head",
                              "--end-of-options", self.remote, f"+{KIND.ref}:{tracking}"],
                             check=False)  # fmt: skip
        if proc.returncode != 0:
            if b"couldn't find remote ref" not in proc.stderr:
                raise UserError(
                    f"cannot fetch the locks from {self.remote}: {_first_line(proc.stderr)}",
                    hint="check the remote with `git remote -v` and `git fetch`",
                )
            self.repo.run(["update-ref", "-d", tracking], check=False)
        remote_tip = git.read_ref(self.repo, tracking)
        local = self.log.tip()
        if local != remote_tip:
            if remote_tip is None:
                self.repo.run(["update-ref", "-d", KIND.ref], check=False)
            else:
                self.repo.run(["update-ref", KIND.ref, remote_tip])

    def _append(self, record: Json, tip: str | None, message: str) -> bool:
        """Append on the remote's tip and push without force: True when the remote took
        it (Git's compare-and-swap of the ref), False when someone moved first."""
        entry = self.log.append(record, expected_tip=tip, message=message)
        proc = self.repo.run(["push", "--porcelain", "--no-verify", "--end-of-options",
                              self.remote, f"{KIND.ref}:{KIND.ref}"], check=False)  # fmt: skip
        if proc.returncode == 0:
            tracking = records_sync.tracking_ref(self.remote, LOG)
            self.repo.run(["update-ref", tracking, entry.commit])
            return True
        rejected = any(line.startswith("!") for line in proc.stdout.decode().splitlines())
        self._fetch()
        if not rejected:
            raise UserError(
                f"cannot push the lock to {self.remote}: {_first_line(proc.stderr)}",
                hint="check the remote with `git remote -v` and `git push`",
            )
        return False


def _first_line(stderr: bytes) -> str:
    lines = [line for line in stderr.decode("utf-8", "replace").splitlines() if line.strip()]
    return scrub(lines[0].removeprefix("fatal: ").removeprefix("error: ")) if lines else "failed"


def _locked_error(lock: Lock, email: str) -> UserError:
    if lock.email == email:
        return UserError(f"{printable(lock.path)} is already locked by you (since {lock.at})",
                         hint="`git model unlock` releases it")  # fmt: skip
    holder = f"{lock.owner} <{lock.email}> since {lock.at}"
    return UserError(f"{printable(lock.path)} is locked by {holder}",
                     hint="ask them to unlock it (`git model locks` lists every lock)")  # fmt: skip


def _busy() -> UserError:
    return UserError("the locks kept changing while this ran",
                     hint="run the command again")  # fmt: skip


def conflicts(changed: Iterable[str], locks: dict[str, Lock], email: str) -> list[Lock]:
    """The locks held by someone else on any of the ``changed`` paths."""
    return [locks[path] for path in sorted(set(changed))
            if path in locks and locks[path].email != email]  # fmt: skip


def set_read_only(top: Path, paths: Iterable[str], writable: bool) -> None:
    """Make worktree files read-only (or writable again): opened through directories
    that are not symlinks, and never through a symlink itself."""
    for path in paths:
        if not safepath.is_valid(path):
            continue
        try:
            with safepath.parent_dir(safepath.Target(top, path)) as (dir_fd, name):
                fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK, dir_fd=dir_fd)
        except (OSError, UserError):
            continue  # gone, a symlink, or under one: nothing of ours to protect
        try:
            mode = os.fstat(fd).st_mode
            if stat.S_ISREG(mode):
                new = mode | stat.S_IWUSR if writable else mode & ~0o222
                if new != mode:
                    os.fchmod(fd, stat.S_IMODE(new))
        finally:
            os.close(fd)


class LfsLocks:
    """Locks kept by an LFS host, behind the same calls as :class:`GitLocks`."""

    def __init__(self, repo: git.Repo, locking: LfsLocking) -> None:
        self.repo = repo
        self.api = locking
        self._ref = _current_ref(repo)

    def current(self, fetch: bool = True) -> dict[str, Lock]:
        return {lock.path: lock for lock in map(_from_host, self.api.listing())}

    def lock(self, path: str) -> Lock:
        from gitmodel.remote.lfs_locks import LockHeld

        try:
            taken = _from_host(self.api.create(path, self._ref))
        except LockHeld as exc:
            ours, _ = self.api.verify(self._ref) if exc.lock else ([], [])
            if exc.lock is None or exc.lock["id"] not in {lock["id"] for lock in ours}:
                raise
            _keep_own_lfs_locks(self.repo, own_lfs_locks(self.repo) | {path})
            mine = _from_host(exc.lock)
            raise _locked_error(mine, mine.email) from exc  # "already locked by you"
        _keep_own_lfs_locks(self.repo, own_lfs_locks(self.repo) | {taken.path})
        return taken

    def unlock(self, path: str, force: bool = False) -> Lock:
        found = self.api.listing(path)
        if not found:
            _keep_own_lfs_locks(self.repo, own_lfs_locks(self.repo) - {path})  # broken meanwhile
            raise UserError(f"{path} is not locked", hint="see `git model locks`")
        if not force:
            ours, _ = self.api.verify(self._ref)
            if found[0]["id"] not in {lock["id"] for lock in ours}:
                holder = found[0]["owner"] or "someone else"
                raise UserError(f"{printable(path)} is locked by {holder}",
                                hint="ask them to unlock it, or pass --force")  # fmt: skip
        released = _from_host(self.api.delete(found[0]["id"], force, self._ref))
        _keep_own_lfs_locks(self.repo, own_lfs_locks(self.repo) - {path})
        return released

    def theirs(self, ref: str | None = None) -> dict[str, Lock]:
        """Others' locks, as the host sees them for a push to ``ref`` (default: the
        current branch)."""
        ours, theirs = self.api.verify(ref or self._ref)
        _keep_own_lfs_locks(self.repo, {lock["path"] for lock in ours})  # as the host has them
        return {lock.path: lock for lock in map(_from_host, theirs)}


def own_lfs_locks(repo: git.Repo) -> set[str]:
    """The paths this user holds on the LFS host, as last learnt here (by ``lock``,
    ``unlock`` or a push's check), so that a checkout needs no network."""
    try:
        document = json.loads((repo.model_dir / LFS_LOCKS).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return set()
    paths = document.get("paths") if isinstance(document, dict) else None
    if not isinstance(paths, list):
        return set()
    return {path for path in paths if isinstance(path, str) and safepath.is_valid(path)}


def _keep_own_lfs_locks(repo: git.Repo, paths: set[str]) -> None:
    repo.model_dir.mkdir(parents=True, exist_ok=True)
    tmp = repo.model_dir / f".{LFS_LOCKS}.tmp"
    tmp.write_text(json.dumps({"paths": sorted(paths)}), encoding="utf-8")
    tmp.replace(repo.model_dir / LFS_LOCKS)


def _from_host(lock: dict[str, str]) -> Lock:
    return Lock(lock["id"], lock["path"], lock["owner"], "", lock["locked_at"])


def _current_ref(repo: git.Repo) -> str | None:
    proc = repo.run(["symbolic-ref", "-q", "HEAD"], check=False)
    return proc.stdout.decode().strip() or None


def remote_name(settings: dict[str, str], remote: str | None) -> str | None:
    """The Git remote locks go to: ``remote``, else the default one (None: none)."""
    from gitmodel.remote.config import default_remote_name

    return remote or default_remote_name(settings)


def check_finished(repo: git.Repo, path: str, remote: str | None) -> None:
    """Refuse to release the lock of ``path`` while its change is unfinished: changes not
    committed, or commits not pushed to ``remote`` (then another user could take the
    lock and edit the version before it, as git-lfs refuses too)."""
    spec = f":(literal){path}"
    if repo.run(["status", "--porcelain", "-z", "--untracked-files=no", "--", spec]).stdout:
        why = "has changes that are not committed"
    elif (
        remote is not None
        and git.valid_remote_name(remote)
        and repo.run(
            ["rev-list", "-n1", "HEAD", "--not", f"--remotes={remote}", "--", spec], check=False
        ).stdout.strip()
    ):
        why = f"has commits not pushed to {remote}"
    else:
        return
    raise UserError(f"cannot unlock {path}: it {why}",
                    hint="commit and push it first, or pass --force to unlock anyway")  # fmt: skip


def for_remote(repo: git.Repo, settings: dict[str, str], remote: str | None) -> GitLocks | LfsLocks:
    """Where the locks of Git remote ``remote`` live: its LFS host, or the Git remote."""
    from gitmodel.remote.config import default_remote_name, remote_for

    name = remote or default_remote_name(settings)
    if name is None:
        raise UserError("no Git remote to keep locks on",
                        hint="add one (`git remote add origin URL`)")  # fmt: skip
    try:
        model_remote = remote_for(repo, settings, name)
    except UserError:
        model_remote = None  # no model store: the Git remote still keeps locks
    if model_remote is not None and model_remote.lfs:
        from gitmodel.remote.lfs import LfsRemote
        from gitmodel.remote.lfs_locks import LfsLocking

        host = model_remote.open()
        assert isinstance(host, LfsRemote)
        return LfsLocks(repo, LfsLocking(host))
    if not git.valid_remote_name(name) or f"remote.{name}.url" not in settings:
        raise UserError(f"no Git remote named {name!r}", hint="see `git remote -v`")
    return GitLocks(repo, name)


def repo_path(repo: git.Repo, path: str) -> str:
    """``path`` (as the user typed it, relative to here) as a path in the repository."""
    if not path:  # not the current folder, which abspath("") would make of it
        raise UserError("an empty path names no file", hint="name a file inside the worktree")
    top = repo.top
    absolute = os.path.abspath(path)
    relative = os.path.relpath(absolute, top).replace(os.sep, "/")
    if relative.startswith("../") or relative == ".." or not safepath.is_valid(relative):
        raise UserError(f"{printable(path)} is not a file in this repository",
                        hint="name a file inside the worktree")  # fmt: skip
    return relative


def path_to_lock(repo: git.Repo, path: str) -> str:
    """:func:`repo_path`, refused when it names a directory: a lock holds one file (a
    push is checked against the files it changes, never a folder); and, as git-lfs does,
    when no file of that name is in the worktree, so a mistyped path locks nothing."""
    relative = repo_path(repo, path)
    if not os.path.lexists(repo.top / relative):
        raise UserError(f"cannot lock {printable(path)}: no such file in the worktree",
                        hint="name a file that exists here (`git ls-files` lists the "
                        "tracked ones)")  # fmt: skip
    if os.path.isdir(repo.top / relative) and not os.path.islink(repo.top / relative):
        raise UserError(f"cannot lock {printable(path)}: it is a directory",
                        hint="lock the files in it, each by name")  # fmt: skip
    return relative


def lockable_paths(repo: git.Repo, paths: Iterable[str] | None = None) -> list[str]:
    """Which of ``paths`` (default: every tracked file) are marked ``lockable``."""
    if paths is None:  # Git's own listing, passed on as it is: no path decoded
        listed = repo.run(["ls-files", "-z"]).stdout
    else:
        listed = b"".join(os.fsencode(p) + b"\0" for p in paths)
    if not listed:
        return []
    out = repo.run(["check-attr", "-z", "--stdin", "lockable"], input=listed).stdout
    fields = out.split(b"\0")  # path, attribute, value; only the set ones are decoded
    return [os.fsdecode(path) for path, value in zip(fields[0::3], fields[2::3], strict=False)
            if value not in (b"unspecified", b"unset")]  # fmt: skip


def protect(repo: git.Repo) -> None:
    """After a checkout: lockable files read-only, except those locked by this user
    (as last fetched, or learnt from an LFS host: no network at checkout)."""
    paths = lockable_paths(repo)
    if not paths:
        return
    try:
        _, email = records.identity(repo)
    except UserError:
        email = ""  # no identity: no lock can be this user's
    mine = {path for path, lock in held(records.Log(repo, KIND).state()).items()
            if lock.email == email} | own_lfs_locks(repo)  # fmt: skip
    set_read_only(repo.top, [p for p in paths if p not in mine], writable=False)
