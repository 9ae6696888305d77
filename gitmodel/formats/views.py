"""Strided views: a tensor that is a window on a larger storage (PyTorch saves
``w.t()`` or ``w[:, 1]`` as the whole storage plus an offset and strides).

Its elements are gathered in row-major order, block by block, so a view compares
and digests like the contiguous tensor of the same values. The storage is mapped,
not read: memory stays bounded by the block whatever the storage's size.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import Any

import numpy as np

from gitmodel.formats.base import (
    ITEM_SIZES,
    BinaryFile,
    FormatError,
    TensorInfo,
    read_exact,
    span,
)


def iter_view(f: BinaryFile, tensor: TensorInfo, block: int) -> Iterator[bytes]:
    """The view's elements as contiguous bytes, in blocks of ``block`` bytes."""
    assert tensor.stride is not None
    itemsize = ITEM_SIZES[tensor.dtype]
    if tensor.numel == 0:
        return
    storage = _storage(f, tensor.offset, span(tensor.shape, tensor.stride) * itemsize)
    items = storage.view(np.dtype(f"V{itemsize}"))
    per_block = max(1, block // itemsize)
    for start in range(0, tensor.numel, per_block):
        flat = np.arange(start, min(start + per_block, tensor.numel), dtype=np.int64)
        index = np.unravel_index(flat, tensor.shape)
        offsets = np.zeros(flat.size, np.int64)
        for axis, step in zip(index, tensor.stride, strict=True):
            offsets += axis * step
        yield items[offsets].tobytes()


def _storage(f: BinaryFile, offset: int, nbytes: int) -> Any:
    """The storage's bytes: mapped from a real file, read from an in-memory one."""
    try:
        f.fileno()
    except (OSError, AttributeError, io.UnsupportedOperation):
        f.seek(offset)
        return np.frombuffer(read_exact(f, nbytes), np.uint8)
    try:
        return np.memmap(f, np.uint8, "r", offset, (nbytes,))
    except (OSError, ValueError) as exc:
        raise FormatError(f"cannot map a tensor's storage: {exc}") from None
