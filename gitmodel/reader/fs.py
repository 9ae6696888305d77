"""``gitmodel://``: any version of a repository's files as a read-only fsspec filesystem,
without a clone.

::

    gitmodel://PATH?repo=URL[&rev=REV]          PATH as of REV (a branch, a tag or a full
                                                commit id; default: the remote's HEAD)
    gitmodel://PATH?repo=URL&stage=NAME@STAGE   PATH in the version that stage serves

``URL`` is percent-encoded when it holds ``?``, ``&``, ``#`` or ``%``; one holding ``::``
is refused, even percent-encoded (fsspec reads it as a chain of URLs, Git as a transport
helper such as ``ext::``). The same values may
be given as storage options instead (``repo=``, ``rev=``, ``stage=``), with ``store=`` (a
local gitmodel store to take objects and chunks from, e.g. a clone's ``.git/model``),
``model_url=``/``model_options=`` (the model remote, when the repository does not say),
and ``cache_dir=``. A filesystem is pinned to one commit when it is made: pickled to a
worker (Dask, Ray), it reads that commit, not wherever a branch or stage has moved since.

Model files are read with ranged reads of the remote's packs (:mod:`gitmodel.remote.ranges`):
``cat_file(path, start, end)`` and reads of an open file move only the chunks that cover
what is read, each checked against its id. Plain Git files are read from the cache.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

from fsspec.spec import AbstractBufferedFile, AbstractFileSystem
from fsspec.utils import stringify_path

from gitmodel.errors import UserError
from gitmodel.reader.source import Entry, RemoteRepo, cache_root, check_store_url

PROTOCOL = "gitmodel"
QUERY_KEYS = ("repo", "rev", "stage")
_BLOBS_KEPT = 8  # plain blobs held in memory (a file object reads one in several blocks)


class GitModelFileSystem(AbstractFileSystem):  # type: ignore[misc]
    """Read-only files of one commit of a Git repository read without a clone."""

    protocol = PROTOCOL
    root_marker = ""

    def __init__(self, repo: str, rev: str | None = None, stage: str | None = None,
                 store: str | None = None, model_url: str | None = None,
                 model_options: dict[str, Any] | None = None, cache_dir: str | None = None,
                 **kwargs: Any) -> None:  # fmt: skip
        if {"fo", "target_protocol", "target_options"} & kwargs.keys():
            raise UserError(  # given by fsspec to the outer filesystem of a chain
                f"{PROTOCOL}:// URL: `::` is not accepted (fsspec reads it as a chain of "
                "URLs, Git as a transport helper)",
                hint="name the repository by a URL or path without `::`",
            )
        super().__init__(**kwargs)
        if rev is not None and stage is not None:
            raise UserError("give rev or stage, not both", hint="gitmodel://PATH?repo=URL&rev=REV")
        if model_url is not None:  # now, not at the first read of a model file's bytes
            check_store_url(model_url)
        self.cache_dir = Path(cache_dir) if cache_dir is not None else cache_root()
        self.source = RemoteRepo(repo, self.cache_dir)
        self.version: int | None = None
        if stage is not None:  # one fetch of the registry log; a canary: its main version
            primary = self.source.served_version(stage)
            self.commit, self.version = primary.commit, primary.version
        else:
            self.commit = self.source.commit(rev)
        self.entries = self.source.files(self.commit)
        self.dirs = {"/".join(p.split("/")[:i]) for p in self.entries
                     for i in range(p.count("/") + 1)}  # fmt: skip
        self._options = {"repo": self.source.url, "rev": self.commit, "store": store,
                         "model_url": model_url, "model_options": model_options,
                         "cache_dir": str(self.cache_dir)}  # fmt: skip
        self._store, self._model_url, self._model_options = store, model_url, model_options
        self._reader: Any = None
        self._blob_sizes: dict[str, int] = {}
        self._blobs: dict[str, bytes] = {}
        self._lock = threading.Lock()

    # -- URLs

    @classmethod
    def _strip_protocol(cls, path: Any) -> Any:
        if isinstance(path, list):
            return [cls._strip_protocol(p) for p in path]
        text = stringify_path(path)
        if text.startswith(f"{PROTOCOL}://"):
            text = text[len(PROTOCOL) + 3 :].split("?", 1)[0]
        elif text.startswith(f"{PROTOCOL}::"):
            text = text[len(PROTOCOL) + 2 :]
        return text.strip("/")

    @staticmethod
    def _get_kwargs_from_urls(path: str) -> dict[str, Any]:
        """``repo``, ``rev`` and ``stage`` from the URL's query."""
        if not path.startswith(f"{PROTOCOL}://") or "?" not in path:
            return {}
        query = parse_qs(urlsplit(path).query, keep_blank_values=True)
        unknown = sorted(set(query) - set(QUERY_KEYS))
        if unknown or any(len(values) != 1 for values in query.values()):
            raise UserError(
                f"{PROTOCOL}:// URL: unknown or repeated key in {sorted(query)}",
                hint="gitmodel://PATH?repo=URL&rev=REV or &stage=NAME@STAGE",
            )
        return {key: values[0] for key, values in query.items()}

    def unstrip_protocol(self, name: str) -> str:
        query = f"repo={quote(self.source.url, safe='/:@')}&rev={self.commit}"
        return f"{PROTOCOL}://{self._strip_protocol(name)}?{query}"

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickled pinned to the commit it reads (workers read what the caller resolved)."""
        from fsspec.spec import make_instance

        return make_instance, (type(self), (), self._options)

    # -- listing

    def ls(self, path: str, detail: bool = True, **kwargs: Any) -> list[Any]:
        path = self._strip_protocol(path)
        if path in self.entries:
            names = [path]
        elif path in self.dirs:
            prefix = f"{path}/" if path else ""
            names = sorted({prefix + rest.split("/", 1)[0] for p in self.entries
                            if p.startswith(prefix) and (rest := p[len(prefix):])})  # fmt: skip
        else:
            raise FileNotFoundError(path)
        if not detail:
            return names
        self._fetch_sizes([n for n in names if n in self.entries])
        return [self.info(name) for name in names]

    def info(self, path: str, **kwargs: Any) -> dict[str, Any]:
        path = self._strip_protocol(path)
        entry = self.entries.get(path)
        if entry is None:
            if path in self.dirs:
                return {"name": path, "size": 0, "type": "directory"}
            raise FileNotFoundError(path)
        found: dict[str, Any] = {"name": path, "size": self._size(entry), "type": "file",
                                 "blob": entry.blob, "executable": entry.executable}  # fmt: skip
        if entry.pointer is not None:
            found["oid"] = entry.pointer.oid
        found["ETag"] = found.get("oid", entry.blob)  # what caches (datasets, s3fs users) key on
        return found

    def ukey(self, path: str) -> str:
        entry = self._entry(path)
        return entry.pointer.oid if entry.pointer is not None else entry.blob

    def _entry(self, path: str) -> Entry:
        path = self._strip_protocol(path)
        entry = self.entries.get(path)
        if entry is None:
            raise IsADirectoryError(path) if path in self.dirs else FileNotFoundError(path)
        return entry

    def _size(self, entry: Entry) -> int:
        size = entry.size if entry.size is not None else self._blob_sizes.get(entry.blob)
        if size is None:
            self._fetch_sizes([entry.path])
            size = self._blob_sizes[entry.blob]
        return size

    def _fetch_sizes(self, paths: list[str]) -> None:
        """Sizes of the plain blobs among ``paths`` that the filter left out, in one go."""
        blobs = [e.blob for p in paths if (e := self.entries[p]).size is None
                 and e.blob not in self._blob_sizes]  # fmt: skip
        if blobs:
            self._blob_sizes.update(self.source.sizes(blobs))

    # -- reading

    def cat_file(self, path: str, start: int | None = None, end: int | None = None,
                 **kwargs: Any) -> bytes:  # fmt: skip
        entry = self._entry(path)
        size = self._size(entry)
        first, last = _bounds(start, end, size)
        if entry.pointer is None:
            return self._blob(entry)[first:last]
        return bytes(self._object_reader().read(entry.pointer, first, last))

    def _blob(self, entry: Entry) -> bytes:
        with self._lock:
            data = self._blobs.get(entry.blob)
        if data is None:
            data = self.source.blob(entry.blob)
            with self._lock:
                while len(self._blobs) >= _BLOBS_KEPT:
                    self._blobs.pop(next(iter(self._blobs)))
                self._blobs[entry.blob] = data
        return data

    def _object_reader(self) -> Any:
        """The remote's ranged reader, opened on first use (listing needs no remote)."""
        with self._lock:
            if self._reader is None:
                from gitmodel.remote.ranges import ObjectReader
                from gitmodel.store.local import LocalStore

                found = self.source.model_remote(self.entries, self._model_url,
                                                 self._model_options)  # fmt: skip
                store = LocalStore(Path(self._store)) if self._store is not None else None
                self._reader = ObjectReader(found.open(), self.cache_dir, store)
            return self._reader

    def _open(self, path: str, mode: str = "rb", block_size: Any = None,
              autocommit: bool = True, cache_options: Any = None,
              **kwargs: Any) -> GitModelFile:  # fmt: skip
        if mode != "rb":
            raise PermissionError(f"{PROTOCOL}:// is read-only (mode {mode!r})")
        entry = self._entry(path)
        return GitModelFile(self, entry.path, mode, block_size or "default",
                            cache_options=cache_options, size=self._size(entry),
                            **kwargs)  # fmt: skip


class GitModelFile(AbstractBufferedFile):  # type: ignore[misc]
    """A file of a :class:`GitModelFileSystem`, read in blocks through ``cat_file``."""

    def _fetch_range(self, start: int, end: int) -> bytes:
        data: bytes = self.fs.cat_file(self.path, start, end)
        return data


def _bounds(start: int | None, end: int | None, size: int) -> tuple[int, int]:
    """fsspec's ``start``/``end`` (None, negative from the end) as offsets in the file."""
    first = 0 if start is None else start + size if start < 0 else start
    last = size if end is None else end + size if end < 0 else end
    return max(0, min(first, size)), max(0, min(last, size))
