"""A deploy folder on disk: releases, the ``current`` link, the split, the history.

::

    DIR/current -> releases/v7-1a2b3c4d5e6f   a relative symlink, replaced by rename(2)
    DIR/releases/v7-1a2b3c4d5e6f/             one version's files at their repository paths
        .gitmodel-release.json                what it is (model, version, commit, files)
    DIR/canary.json                           while the stage holds a weighted pair
    DIR/.gitmodel/store/                      objects (hard-linked into releases), chunk lists
    DIR/.gitmodel/deploys.json                the deployments, newest last (rollback pops)
    DIR/.gitmodel/lock                        held by the one deploy or rollback at work

A release is built under ``releases/.tmp-…`` and renamed into place whole, and ``current``
moves by renaming a new symlink over it, so a reader (or a ``kill -9`` at any moment)
sees the old release or the new one, never part of one.
"""

from __future__ import annotations

import contextlib
import json
import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gitmodel.errors import UserError, os_error_hint
from gitmodel.safepath import process_alive

CURRENT = "current"
RELEASES = "releases"
CANARY_FILE = "canary.json"
RELEASE_FILE = ".gitmodel-release.json"
STATE_DIR = ".gitmodel"
HISTORY_FILE = "deploys.json"
HISTORY_MAX = 100
TMP_PREFIX = ".tmp-"

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

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """Hold the folder's lock (the kernel drops it if we are killed)."""
        import fcntl

        fd = os.open(self.state / "lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
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
        regular file of the size listed (one edited or half deleted by hand is not)."""
        files = self.metadata(name).get("files")
        release = self.release(name)
        return isinstance(files, list) and all(_holds(release, f) for f in files)

    def put(self, tmp: Path, name: str) -> None:
        """Rename the release built in ``tmp`` into place as ``name``. One found there is
        not whole: it is moved aside, then deleted (a kill leaves it to
        :meth:`remove_stale`)."""
        final = self.release(name)
        aside = None
        if final.is_symlink() or final.is_file():
            final.unlink()
        elif final.exists():
            aside = self.new_tmp(name)
            os.rename(final, aside)  # onto the empty folder new_tmp made
        os.rename(tmp, final)
        if aside is not None:
            remove_tree(aside)

    def new_tmp(self, name: str) -> Path:
        tmp = self.releases / f"{TMP_PREFIX}{name}.{os.getpid()}-{os.urandom(4).hex()}"
        tmp.mkdir()
        return tmp

    def remove_stale(self) -> None:
        """Remove the half-built releases of deploys that were killed (their pid is gone)."""
        for path in self.releases.glob(f"{TMP_PREFIX}*"):
            pid = path.name.rsplit(".", 1)[-1].split("-", 1)[0]
            if pid.isdigit() and not process_alive(int(pid)):
                remove_tree(path)

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

    def switch(self, deployment: Deployment) -> None:
        """Serve ``deployment``: its split first (or none), then ``current`` in one rename."""
        canary = self.root / CANARY_FILE
        if len(deployment.split) > 1:
            split = [{"release": f"{RELEASES}/{name}", "weight": weight, **self._about(name)}
                     for name, weight in deployment.split]  # fmt: skip
            body = json.dumps({"releases": split}, indent=2, sort_keys=True) + "\n"
            _write_atomically(canary, body.encode())
        else:
            canary.unlink(missing_ok=True)
        link = self.root / f".{CURRENT}.{os.getpid()}.tmp"
        link.unlink(missing_ok=True)
        os.symlink(f"{RELEASES}/{deployment.current}", link)
        try:
            os.replace(link, self.root / CURRENT)
        except OSError as exc:
            link.unlink(missing_ok=True)
            raise UserError(f"cannot replace {self.root / CURRENT}: {exc.strerror}",
                            hint="move it away; deploy manages that name") from None  # fmt: skip
        _sync_dir(self.root)

    def _about(self, name: str) -> Json:
        meta = self.metadata(name)
        return {key: meta[key] for key in ("model", "version", "commit") if key in meta}

    # -- history

    def history(self) -> list[Deployment]:
        try:
            raw = json.loads((self.state / HISTORY_FILE).read_text(encoding="utf-8"))
        except FileNotFoundError:
            return []
        except (OSError, ValueError) as exc:
            raise UserError(f"cannot read {self.state / HISTORY_FILE}: {exc}",
                            hint=self._history_hint()) from None  # fmt: skip
        try:
            return [Deployment.from_json(item) for item in raw["deployments"]]
        except (KeyError, TypeError, ValueError) as exc:
            raise UserError(f"{self.state / HISTORY_FILE} is malformed ({exc!r})",
                            hint=self._history_hint()) from None  # fmt: skip

    def _history_hint(self) -> str:
        path = self.state / HISTORY_FILE
        return (f"it was not written by gitmodel: move it away to start a new history (the "
                f"next deploy keeps only its own releases): mv {path} {path}.bad")  # fmt: skip

    def save_history(self, deployments: list[Deployment]) -> None:
        body = {"deployments": [d.to_json() for d in deployments[-HISTORY_MAX:]]}
        _write_atomically(self.state / HISTORY_FILE, json.dumps(body, indent=1).encode())

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
            removed.append(path.name)
        return removed


def _holds(release: Path, listed: Any) -> bool:
    """Whether ``release`` holds the file its metadata lists as ``listed``, at its size."""
    try:
        path, size = str(listed["path"]), int(listed["size"])
    except (TypeError, KeyError, ValueError):
        return False
    if path.startswith("/") or ".." in path.split("/"):
        return False
    try:
        found = os.lstat(release / path)
    except OSError:
        return False
    return stat.S_ISREG(found.st_mode) and found.st_size == size


def remove_tree(path: Path) -> None:
    """Remove a release (its files are read-only; their folders are ours)."""
    import shutil

    shutil.rmtree(path, ignore_errors=True)


def _write_atomically(path: Path, body: bytes) -> None:
    """``path`` replaced whole (a file of ours: a temporary file beside it, renamed)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as out:
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
