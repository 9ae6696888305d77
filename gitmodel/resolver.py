"""Turn what Git names (blobs, pointers, worktree files) into local files to read.

A pointer resolves to its object in the store, fetched from the model remote
when missing; a blob that is not a pointer is its own content.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from gitmodel import git
from gitmodel.errors import ChecksumError, ObjectMissingError
from gitmodel.filter.convert import MISSING_HINT, missing_hint
from gitmodel.formats.diff import FileContent
from gitmodel.pointer import POINTER_MAX_SIZE, Pointer, try_parse
from gitmodel.store.local import LocalStore, write_atomically

if TYPE_CHECKING:
    from gitmodel.workspace import Fetcher


EXPORT_DIR = "export"


class Resolver:
    """Local files for versions of model files; temporary copies live in ``tmp_dir``.

    Blobs are read with ``git cat-file``, never pygit2: a diff or an inspection reads a
    few blobs, and two ``cat-file`` calls cost a tenth of loading pygit2."""

    def __init__(self, repo: git.Repo, store: LocalStore, tmp_dir: Path) -> None:
        self.repo, self.store, self.tmp_dir = repo, store, tmp_dir
        self._fetcher: Fetcher | None = None
        self._pointers: dict[str, Pointer | None] = {}  # blob -> its pointer, if it is one

    def read_pointers(self, blobs: Iterable[str]) -> None:
        """Learn which of ``blobs`` are pointers, in two ``cat-file`` calls for them all."""
        wanted = {blob for blob in blobs if blob.strip("0") and blob not in self._pointers}
        if wanted:
            found = git.pointers_of(self.repo, wanted)
            self._pointers.update({blob: found.get(blob) for blob in wanted})

    def pointer_of(self, blob: str) -> Pointer | None:
        """The pointer blob ``blob`` holds, or None (not a pointer, or the null id)."""
        self.read_pointers([blob])
        return self._pointers.get(blob)

    def object(self, pointer: Pointer, path: str | None = None) -> Path:
        """The store path of a pointer's object, fetching it first when missing (or when
        the held one is not of the pointer's size and its bytes are not the object's: it
        is set aside in ``bad/``, as a checkout would). A path's reader reads the whole
        file, so it is never longer or shorter than the pointer says."""
        if pointer.size == 0:
            return Path(os.devnull)
        with contextlib.suppress(ChecksumError):  # damaged: quarantined, fetched below
            self.store.check_size(pointer, path)  # a lookup; hashes only on a mismatch
        if not self.store.has(pointer.oid):
            if self._fetcher is None:
                from gitmodel.workspace import Fetcher  # fsspec: only when fetching

                self._fetcher = Fetcher(self.repo, self.store, self.repo.settings())
            fetched = self._fetcher(pointer)
            if not self.store.has(pointer.oid):
                raise ObjectMissingError(pointer.oid, path, missing_hint(fetched))
        loose = self.store.object_path(pointer.oid)
        return loose if loose.is_file() else self._export(pointer, path)

    def _export(self, pointer: Pointer, path: str | None) -> Path:
        """A file with the bytes of an object the store keeps in no file of its own
        (a store may pack small objects): ``<model dir>/export/<oid>``, written once
        from the verified stream, then reused."""
        target = self.store.root / EXPORT_DIR / pointer.oid
        if target.is_file() and target.stat().st_size == pointer.size:
            return target
        target.parent.mkdir(parents=True, exist_ok=True)
        write_atomically(target, self.store.read(pointer, path, MISSING_HINT), 0o444)
        return target

    def pointer_version(self, pointer: Pointer, path: str | None = None) -> FileContent:
        return FileContent(self.object(pointer, path), pointer.oid, pointer.size)

    def blob(self, blob_oid: str, path: str) -> FileContent:
        """A committed or staged blob: its object if a pointer, else a temporary copy."""
        pointer = self.pointer_of(blob_oid)
        if pointer is not None:
            return self.pointer_version(pointer, path)
        fd, name = tempfile.mkstemp(dir=self.tmp_dir)
        size = 0
        with open(fd, "wb") as out, git.BlobStream(self.repo) as stream:
            for chunk in stream.read(blob_oid):  # streamed: such a blob may be large
                out.write(chunk)
                size += len(chunk)
        return FileContent(Path(name), None, size)

    def file(self, file: Path, path: str | None = None) -> FileContent:
        """A file on disk: the worktree's content, or a pointer left in its place."""
        size = file.stat().st_size
        if size < POINTER_MAX_SIZE:
            pointer = try_parse(file.read_bytes())
            if pointer is not None:
                return self.pointer_version(pointer, path)
        return FileContent(file, None, size)
