"""Tensor digests: a fast digest of every tensor's bytes, so that a diff reads
only the tensors that changed.

xxh3-128 is for quick equality of non-adversarial data (ARCHITECTURE.md, decision 2);
object identity stays sha256. A file's digests are computed while ``clean`` streams
it (:class:`StreamDigester`), or on first use from the stored object
(:func:`compute_digests`), and kept as a sidecar by
:class:`gitmodel.store.digests.DigestStore`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from io import BytesIO
from pathlib import Path
from typing import Any

import xxhash

from gitmodel.formats import gguf, numpy_files, safetensors
from gitmodel.formats.base import BinaryFile, FormatError, ModelInfo, TensorInfo, Truncated
from gitmodel.pointer import Pointer
from gitmodel.store.digests import DigestStore

DIGESTS_VERSION = 2
# version 1 digested a PyTorch view's whole storage span; version 2 its own elements
_VERSION_1_FORMATS = frozenset({"safetensors", "gguf", "npy", "npz"})
HEAD_START = 64 << 10
HEAD_LIMIT = 64 << 20  # a header larger than this is digested later, from the store
READ_BLOCK = 4 << 20
ParseHeader = Callable[[BinaryFile, "int | None"], ModelInfo]
STREAM_READERS: dict[str, ParseHeader] = {
    ".safetensors": safetensors.read_header,
    ".gguf": gguf.read_layout,  # the tensor table: array metadata is skipped
    ".npy": numpy_files.read_npy,
}


@dataclass(frozen=True)
class TensorDigests:
    """Digests of a file's tensors by name (format-level facts come from the header)."""

    format: str
    digests: dict[str, str]

    def to_json(self) -> dict[str, Any]:
        return {"version": DIGESTS_VERSION, "format": self.format, "digests": self.digests}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> TensorDigests | None:
        digests, kind = data.get("digests"), str(data.get("format"))
        current = data.get("version") == DIGESTS_VERSION
        if not (current or (data.get("version") == 1 and kind in _VERSION_1_FORMATS)):
            return None
        if not isinstance(digests, dict):
            return None
        return cls(kind, {str(k): str(v) for k, v in digests.items()})


def compute_digests(f: BinaryFile, info: ModelInfo) -> TensorDigests:
    """Digest every tensor by reading it (once, in bounded blocks)."""
    from gitmodel.formats.base import iter_raw

    digests = {}
    for tensor in info.tensors:
        digest = xxhash.xxh3_128()
        for block in iter_raw(f, tensor, READ_BLOCK):
            digest.update(block)
        digests[tensor.name] = digest.hexdigest()
    return TensorDigests(info.format, digests)


class StreamDigester:
    """Digests tensors from a byte stream: buffers the header until it parses, then
    hashes each tensor's byte range as the bytes go by. Never raises from ``update``:
    a stream it cannot follow just yields no digests."""

    def __init__(self, parse: ParseHeader) -> None:
        self._parse = parse
        self._head: bytearray | None = bytearray()
        self._want = HEAD_START
        self._pos = 0
        self._info: ModelInfo | None = None
        self._todo: list[TensorInfo] = []
        self._digest = xxhash.xxh3_128()
        self._digests: dict[str, str] = {}
        self.failed = False

    def update(self, chunk: bytes | bytearray | memoryview) -> None:
        if self.failed:
            return
        if self._info is not None:
            self._feed(memoryview(chunk))
            return
        assert self._head is not None
        self._head += chunk
        if len(self._head) >= self._want:
            self._try_parse(final=False)

    def result(self) -> TensorDigests | None:
        """The digests once the whole stream went by, else None."""
        if self._info is None and not self.failed:
            self._try_parse(final=True)
        if self.failed or self._info is None or self._todo:
            return None
        return TensorDigests(self._info.format, self._digests)

    def _try_parse(self, final: bool) -> None:
        assert self._head is not None
        head = bytes(self._head)
        try:
            info = self._parse(BytesIO(head), None)
        except Truncated:
            self._want = len(head) * 2
            if final or len(head) > HEAD_LIMIT:
                self._give_up()
            return
        except (FormatError, ValueError):
            self._give_up()
            return
        self._info, self._head = info, None
        self._todo = sorted(info.tensors, key=lambda t: t.offset, reverse=True)
        self._skip_empty()
        self._feed(memoryview(head))

    def _give_up(self) -> None:
        self.failed, self._head, self._todo = True, None, []

    def _skip_empty(self) -> None:
        while self._todo and self._todo[-1].nbytes == 0:
            self._digests[self._todo.pop().name] = xxhash.xxh3_128().hexdigest()

    def _feed(self, data: memoryview) -> None:
        while data and self._todo:
            tensor = self._todo[-1]
            end = tensor.offset + tensor.nbytes
            if self._pos < tensor.offset:
                skip = min(len(data), tensor.offset - self._pos)
                data, self._pos = data[skip:], self._pos + skip
                continue
            if self._pos >= end:  # overlapping tensors: not a layout we digest
                self._give_up()
                return
            take = min(len(data), end - self._pos)
            self._digest.update(data[:take])
            data, self._pos = data[take:], self._pos + take
            if self._pos == end:
                self._digests[self._todo.pop().name] = self._digest.hexdigest()
                self._digest = xxhash.xxh3_128()
                self._skip_empty()
        self._pos += len(data)


def observer_for(path: str, model_dir: Path) -> DigestObserver | None:
    """A digest observer for a file whose name says it is a streamable format."""
    lower = path.lower()
    for suffix, parse in STREAM_READERS.items():
        if lower.endswith(suffix):
            return DigestObserver(StreamDigester(parse), DigestStore(model_dir))
    return None


class DigestObserver:
    """Feeds ``clean``'s bytes to a digester and saves the digests once the object is stored."""

    def __init__(self, digester: StreamDigester, sidecars: DigestStore) -> None:
        self._digester, self._sidecars = digester, sidecars

    def update(self, chunk: bytes | bytearray | memoryview) -> None:
        try:
            self._digester.update(chunk)
        except Exception:  # digests are an optional cache: never fail `git add` over them
            self._digester.failed = True

    def finish(self, pointer: Pointer) -> None:
        try:
            digests = self._digester.result()
        except Exception:  # as in update: a header no reader can follow gets no digests
            return
        if digests is not None:
            with contextlib.suppress(OSError):
                self._sidecars.write(pointer.oid, digests.to_json())


def load_digests(
    sidecars: DigestStore, oid: str | None, f: BinaryFile, info: ModelInfo
) -> TensorDigests:
    """The cached digests of object ``oid``, computing and caching them when absent."""
    if oid is not None:
        cached = sidecars.read(oid)
        digests = TensorDigests.from_json(cached) if cached is not None else None
        if digests is not None and set(digests.digests) == {t.name for t in info.tensors}:
            return digests
    digests = compute_digests(f, info)
    if oid is not None:
        with contextlib.suppress(OSError):
            sidecars.write(oid, digests.to_json())
    return digests


__all__ = ["DigestObserver", "StreamDigester", "TensorDigests", "load_digests", "observer_for"]
