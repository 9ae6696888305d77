"""Readers for model file formats: headers, tensor tables, tensor data by offset.

Pure readers over open binary files: no Git, no CLI. NumPy is imported only
where tensor values are needed (:mod:`gitmodel.formats.tensors`).
"""

from __future__ import annotations

import os
import zipfile
import zlib

from gitmodel.formats import gguf, numpy_files, safetensors, torch_zip
from gitmodel.formats.base import (
    BinaryFile,
    FormatError,
    ModelInfo,
    TensorInfo,
    check_zip_directory,
)

__all__ = ["FormatError", "ModelInfo", "TensorInfo", "detect", "read_model"]

_PICKLE_SUFFIXES = (".pt", ".pth", ".ckpt", ".pkl", ".pickle")
# torch.save before 1.6: a pickle (protocol 2) of this magic number first
_LEGACY_TORCH_MAGIC = b"\x80\x02\x8a\x0a\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19"
STREAMABLE_SUFFIXES = (".safetensors", ".gguf", ".npy")


def detect(head: bytes, name: str = "") -> str | None:
    """The format of a file from its first bytes (16 are enough), or None."""
    if head.startswith(numpy_files.NPY_MAGIC):
        return "npy"
    if gguf.looks_like(head):
        return gguf.FORMAT
    if head.startswith(numpy_files.ZIP_MAGIC):
        return "zip"
    if safetensors.looks_like(head):
        return safetensors.FORMAT
    if head.startswith(_LEGACY_TORCH_MAGIC):
        return "pickle"
    if (
        head[:1] == b"\x80"
        and head[1:2] in b"\x02\x03\x04\x05"
        and name.lower().endswith(_PICKLE_SUFFIXES)
    ):
        return "pickle"
    return None


def tensor_starts(f: BinaryFile) -> list[int]:
    """Where a model file's header ends and each tensor starts: the cuts that let an
    unchanged tensor dedup when others move (empty for other files or bad headers)."""
    try:
        f.seek(0)
        if detect(f.read(16)) is None:  # most files of a data set: no header to parse
            return []
        info = read_model(f)
    except (FormatError, ValueError, OSError):
        return []
    if info is None:
        return []
    return sorted({info.data_offset, *(t.offset for t in info.tensors)})


def read_model(f: BinaryFile, name: str = "") -> ModelInfo | None:
    """The parsed header of a model file, or None for a format we do not know.

    Raises :class:`FormatError` for a known format that is corrupt or refused.
    """
    file_size = _size(f)
    f.seek(0)
    kind = detect(f.read(16), name)
    f.seek(0)
    if kind is None:
        return None
    if kind == "pickle":
        raise FormatError(
            "unsupported: a bare pickle (legacy PyTorch format) is never loaded",
            hint="re-save with a current torch.save, or convert the weights to safetensors",
        )
    if kind == "zip":
        return _read_zip(f, file_size)
    readers = {
        "npy": numpy_files.read_npy,
        gguf.FORMAT: gguf.read_header,
        safetensors.FORMAT: safetensors.read_header,
    }
    return readers[kind](f, file_size)


def _read_zip(f: BinaryFile, file_size: int | None) -> ModelInfo | None:
    if file_size is not None:
        check_zip_directory(f, file_size)
    try:
        archive = zipfile.ZipFile(f)
    except (zipfile.BadZipFile, OSError):
        return None
    names = archive.namelist()
    try:
        if torch_zip.is_checkpoint(archive):
            return torch_zip.read_checkpoint(f, file_size)
        if names and all(n.endswith(".npy") or n.endswith("/") for n in names):
            return numpy_files.read_npz(f, file_size)
    except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError, ValueError) as exc:
        message = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
        raise FormatError(f"damaged zip archive: {message}") from exc
    return None


def _size(f: BinaryFile) -> int | None:
    try:
        return os.fstat(f.fileno()).st_size
    except (OSError, AttributeError, ValueError):
        f.seek(0, os.SEEK_END)
        return f.tell()
