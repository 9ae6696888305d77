"""Building one release: a version's files under ``releases/<name>/``, whole or not at all.

Model files come through the deploy folder's own store (``.gitmodel/store``): an object
it already holds (an unchanged file) is reused at once, one a local store holds is
copied from it, and any other is downloaded from the model remote, taking every chunk
the store's objects already hold (earlier releases) and only the rest from the remote,
each chunk checked against its id and the file against its sha256. The release's file
is then a hard link to the object (a copy where links cannot be made: ``copy_file_range``,
a reflink on file systems that have them), read-only. Plain Git files are written from
their blobs. Every path was checked by the registry; each is written through
:mod:`gitmodel.safepath` (no symlink followed, nothing outside the release).
"""

from __future__ import annotations

import errno
import json
import os
import sys
from pathlib import Path
from typing import Any

from gitmodel import children, safepath
from gitmodel.deploy.layout import RELEASE_FILE, STORE_DIR, Folder, blob_kind, remove_tree
from gitmodel.deploy.origin import Origin
from gitmodel.errors import ChecksumError, UserError
from gitmodel.pointer import Pointer
from gitmodel.registry.stage_events import Assignment
from gitmodel.registry.versions import File
from gitmodel.store.local import LocalStore, import_object, write_atomically

_LINK_FALLBACK = {errno.EXDEV, errno.EPERM, errno.EMLINK, errno.ENOTSUP, errno.EACCES}


def name_of(held: Assignment) -> str:
    """A release's folder name: the version and its commit (``v7-1a2b3c4d5e6f``)."""
    return f"v{held.version}-{held.commit[:12]}"


class Builder:
    """Builds the releases of one deploy; counts what it fetched and wrote."""

    def __init__(self, folder: Folder, origin: Origin) -> None:
        self.folder, self.origin = folder, origin
        self.store = LocalStore(folder.state / STORE_DIR)
        self.fetched = 0
        self.size = 0
        self._local_chunks: Any = None

    def build(self, name: str, held: Assignment) -> bool:
        """Build release ``name`` unless the folder has it; whether it was built."""
        if self.folder.has(name):
            return False
        tmp = self.folder.new_tmp(name)
        try:
            for f in held.files:
                self._write(tmp, f)
                self.size += f.size
            about = {"model": self.origin.resolved.model, "stage": self.origin.resolved.stage,
                     **held.to_json(), "from": self.origin.display}  # fmt: skip
            body = json.dumps(about, indent=2, sort_keys=True) + "\n"
            write_atomically(tmp / RELEASE_FILE, [body.encode()], 0o444)
            self.folder.put(tmp, name)
            self.folder.built(name)
        except BaseException:
            remove_tree(tmp)
            raise
        return True

    def _write(self, root: Path, f: File) -> None:
        target = safepath.Target(root, f.path)
        if f.oid is None:
            data = self.origin.read_blob(f.blob)
            if len(data) != f.size:
                raise UserError(f"Git blob {f.blob[:12]} of {f.path} holds {len(data)} bytes, "
                                f"not the {f.size} the registry log says",
                                hint="the registry log was not written by gitmodel: "
                                "see `git model history`")  # fmt: skip
            write_atomically(target, [data], 0o444)
            self.folder.record(target.path, blob_kind(f.blob), f.blob)
            return
        self._ensure(f)
        if not self._link(f, target):
            self.store.copy_to(f.pointer, target, 0o444)
            self.folder.record(target.path, "sha256", f.pointer.oid)

    def _ensure(self, f: File) -> None:
        """Put ``f``'s object into the folder's store (reused, copied or downloaded)."""
        pointer = f.pointer
        if self.store.has(pointer.oid):
            try:
                self.store.check_size(pointer, f.path)
                if self._sound(pointer):
                    return
            except ChecksumError:
                pass  # edited through a release (they share its inode): set aside, fetched again
        local = self.origin.local
        if local is None or not import_object(self.store, local, pointer):
            from gitmodel.remote import chunked, layouts

            remote = self.origin.remote()
            if self._local_chunks is None:
                key_check = getattr(getattr(remote, "cipher", None), "key_check", "")
                self._local_chunks = chunked.LocalChunks(self.store, key_check)
            self.fetched += layouts.download(remote, self.store, pointer, self._local_chunks)
        source = self.store.object_path(pointer.oid)
        if source.is_file():  # checked on its way in
            self.folder.record(source, "sha256", pointer.oid)

    def _sound(self, pointer: Pointer) -> bool:
        """Whether the store's own file of ``pointer`` still holds its bytes (a release
        shares its inode, so an edit in place there is an edit here); one that does not
        is set aside in the store's ``bad/``, to be fetched again."""
        source = self.store.object_path(pointer.oid)
        if not source.is_file():
            return True  # a small object, in a pack: checked by its crc when read
        if self.folder.verify(source, pointer.size, "sha256", pointer.oid):
            return True
        self.store.quarantine(pointer.oid)
        return False

    def _link(self, f: File, target: safepath.Target) -> bool:
        """Hard-link the object into the release; False where the file system will not."""
        source = self.store.object_path(f.pointer.oid)
        if not source.is_file():
            return False  # a small object, kept in a pack
        with safepath.parent_dir(target, create=True) as (dir_fd, name):
            try:
                os.link(source, name, dst_dir_fd=dir_fd)
            except OSError as exc:
                if exc.errno in _LINK_FALLBACK:
                    return False
                raise
        return True

    def forget_unused(self) -> None:
        """Delete the store's objects that no remaining release uses."""
        used: set[str] = set()
        for path in self.folder.releases.iterdir():
            if path.name.startswith("."):
                continue  # a release another process is building (its objects are its own)
            files = self.folder.metadata(path.name).get("files", [])
            used |= {str(f["oid"]) for f in files if isinstance(f, dict) and f.get("oid")}
        unused = self.store.oids() - used
        if unused:
            self.store.remove(unused)


def run_check(folder: Folder, name: str, command: str, current: str | None,
              timeout: float | None) -> None:  # fmt: skip
    """Run the user's health check in release ``name``; a failure stops the deploy.

    It runs as :mod:`gitmodel.children` runs a command: when it outlives ``timeout``
    seconds (None: no limit), or when we are interrupted (Ctrl-C, SIGTERM), its whole
    group is stopped, so nothing it started outlives the deploy that held the lock."""
    release = folder.release(name)
    env = {**os.environ, "GITMODEL_RELEASE": str(release), "GITMODEL_DEPLOY_DIR": str(folder.root)}
    serving = f"current still serves {current}" if current else "nothing is served yet"
    try:
        done = children.run(command, shell=True, cwd=release, env=env, timeout=timeout)
    except children.Interrupted as exc:
        print(f"gitmodel: interrupted: the health check in {name} was stopped; {serving}",
              file=sys.stderr)  # fmt: skip
        exc.end()
    if done.timed_out:
        raise UserError(f"the health check ran out of time in {name} ({timeout:g} s; its "
                        f"processes were stopped); {serving}",
                        hint="fix the check, or give it longer: --check-timeout SECONDS "
                        "(0: no limit)")  # fmt: skip
    if done.code != 0:
        code = done.code
        ended = f"killed by signal {-code}" if code < 0 else f"exit {code}"
        raise UserError(f"the health check failed in {name} ({ended}); {serving}",
                        hint="fix the check or the version, then deploy again")  # fmt: skip
