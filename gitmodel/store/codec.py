"""How a chunk is stored: as is, zstd-compressed, and/or encrypted (AES-256-GCM).

Compression is chosen per file, by trying a sample of its new chunks: weights
barely compress and would only cost CPU, while text data sets shrink several
times. Among many small files in a row that all answer alike, only some are
tried (:class:`SmallFileVerdicts`).

Encryption at rest is off unless a key is given (``GIT_MODEL_ENCRYPTION_KEY``
or ``model.encryptionKeyFile``): then chunk ids are blake3 *keyed* by a key
derived from it, so dedup works only within one key and ids reveal nothing of
the contents, and each stored chunk is ``nonce ‖ AES-256-GCM(chunk)`` with the
chunk id as associated data, so a chunk cannot be swapped for another one.
"""

from __future__ import annotations

import io
import os
import threading
from collections.abc import Container
from typing import Any

import zstandard
from blake3 import blake3

from gitmodel.errors import GitModelError, UserError
from gitmodel.manifest import CODEC_AES, CODEC_RAW, CODEC_ZSTD, CODEC_ZSTD_AES

ZSTD_LEVEL = 3
SAMPLE_CHUNKS = 8
SAMPLE_BYTES = 4 << 10  # of each sampled chunk
WORTH_RATIO = 0.85  # compress a file's chunks when the sample shrinks at least this much
AGREE = 8  # small files in a row that answered alike, after which ...
RETRY = 16  # ... only one small file in this many is tried
KEY_SIZE = 32
NONCE_SIZE = 12
_ID_CONTEXT = "gitmodel 2026-11 chunk id"
_ENCRYPTION_CONTEXT = "gitmodel 2026-11 chunk encryption"
_CHECK_CONTEXT = "gitmodel 2026-11 key check"


class CodecError(GitModelError):
    """A stored chunk that does not decode."""


class Cipher:
    """Seals chunks for the remote and opens them again (``key`` None: no encryption)."""

    def __init__(self, key: bytes | None = None) -> None:
        self.encrypted = key is not None
        self.id_key: bytes | None = None
        self._aead: Any = None
        self.key_check = ""
        if key is not None:
            if len(key) != KEY_SIZE:
                raise UserError("the encryption key must be 32 bytes",
                                hint="make one with: openssl rand -hex 32")  # fmt: skip
            from cryptography.hazmat.primitives.ciphers.aead import AESGCM

            self.id_key = _derive(_ID_CONTEXT, key)
            self._aead = AESGCM(_derive(_ENCRYPTION_CONTEXT, key))
            self.key_check = _derive(_CHECK_CONTEXT, key)[:16].hex()

    def seal(
        self, chunk_id: bytes, data: memoryview, compress: bool
    ) -> tuple[bytes | memoryview, int]:
        """The chunk's stored bytes (``data`` itself when stored as is) and codec."""
        stored: bytes | memoryview = data
        kind = CODEC_RAW
        if compress:
            packed = compressor().compress(data)
            if len(packed) < len(data):
                stored, kind = packed, CODEC_ZSTD
        if self._aead is None:
            return stored, kind
        nonce = os.urandom(NONCE_SIZE)
        sealed = nonce + self._aead.encrypt(nonce, stored, chunk_id)
        return sealed, CODEC_ZSTD_AES if kind == CODEC_ZSTD else CODEC_AES

    def open(
        self, chunk_id: bytes, stored: bytes | memoryview, raw: int, kind: int
    ) -> bytes | memoryview:
        """The raw bytes of a stored chunk (at most ``raw`` of them are ever produced)."""
        if kind in (CODEC_AES, CODEC_ZSTD_AES):
            if self._aead is None:
                raise CodecError("is encrypted and no key is set")
            from cryptography.exceptions import InvalidTag

            try:
                stored = self._aead.decrypt(stored[:NONCE_SIZE], stored[NONCE_SIZE:], chunk_id)
            except (InvalidTag, ValueError):
                raise CodecError("does not decrypt with this key") from None
            kind = CODEC_ZSTD if kind == CODEC_ZSTD_AES else CODEC_RAW
        if kind == CODEC_ZSTD:
            return _decompress(stored, raw)
        return stored


def _derive(context: str, key: bytes) -> bytes:
    return blake3(key, derive_key_context=context).digest()


def _decompress(stored: bytes | memoryview, raw: int) -> bytes:
    """zstd-decompress at most ``raw + 1`` bytes: a frame cannot make us allocate more."""
    try:
        reader = zstandard.ZstdDecompressor().stream_reader(io.BytesIO(stored))
        out = bytearray()
        while len(out) <= raw and (block := reader.read(raw + 1 - len(out))):
            out += block
    except zstandard.ZstdError as exc:
        raise CodecError(f"does not decompress: {exc}") from None
    return bytes(out)


_THREAD = threading.local()


def compressor() -> zstandard.ZstdCompressor:
    """This thread's zstd compressor: making one costs more than compressing a 20 KB
    chunk, and a compressor may only be used by one thread at a time."""
    found: zstandard.ZstdCompressor | None = getattr(_THREAD, "zstd", None)
    if found is None:
        found = _THREAD.zstd = zstandard.ZstdCompressor(level=ZSTD_LEVEL)
    return found


def worth_compressing(view: memoryview, chunks: list[tuple[bytes, int]],
                      *known: Container[bytes]) -> bool:  # fmt: skip
    """Whether zstd pays on this file: tried on the first :data:`SAMPLE_BYTES` of up to 8
    of its new chunks, spread out (a few KiB tell as well as the whole chunk would, and
    a data set of many small files pays this test once per file)."""
    offsets = []
    offset = 0
    for chunk_id, raw in chunks:
        for k in known:
            if chunk_id in k:
                break
        else:
            offsets.append((offset, raw))
        offset += raw
    if not offsets:
        return False
    step = max(1, len(offsets) // SAMPLE_CHUNKS)
    sample = [(o, min(n, SAMPLE_BYTES)) for o, n in offsets[::step][:SAMPLE_CHUNKS]]
    compress = compressor().compress
    raw_bytes = packed = 0
    for o, n in sample:
        raw_bytes += n
        packed += len(compress(view[o : o + n]))
    return packed <= WORTH_RATIO * raw_bytes


class SmallFileVerdicts:
    """:func:`worth_compressing` for a push's small files, one after another. Once
    :data:`AGREE` in a row answered alike, the next take that answer untried and one
    in :data:`RETRY` is tried again, so the many alike files of a data set pay the
    test (a tenth of their push) once in 16, and a change of kind is seen within 16
    files. A wrong "yes" costs only CPU (:meth:`Cipher.seal` keeps a chunk that does
    not shrink as is); a wrong "no" leaves at most 15 files uncompressed."""

    def __init__(self) -> None:
        self._last: bool | None = None
        self._alike = 0  # files in a row, tried, that answered ``_last``
        self._untried = 0  # files since the last one tried

    def worth(self, view: memoryview, chunks: list[tuple[bytes, int]],
              *known: Container[bytes]) -> bool:  # fmt: skip
        if self._last is not None and self._alike >= AGREE and self._untried < RETRY - 1:
            self._untried += 1
            return self._last
        verdict = worth_compressing(view, chunks, *known)
        self._untried = 0
        self._alike = self._alike + 1 if verdict == self._last else 1
        self._last = verdict
        return verdict
