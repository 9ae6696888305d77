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
    """The view's elements as contiguous bytes, in blocks of exactly ``block`` bytes
    (the last may be short), as :func:`gitmodel.formats.base.iter_raw` gives them."""
    assert tensor.stride is not None
    itemsize = ITEM_SIZES[tensor.dtype]
    if tensor.numel == 0:
        return
    storage = _storage(f, tensor.offset, span(tensor.shape, tensor.stride) * itemsize)
    # every element the strides reach lies in the storage (checked by the reader)
    view = np.lib.stride_tricks.as_strided(
        storage.view(np.dtype(f"V{itemsize}")), tensor.shape,
        tuple(step * itemsize for step in tensor.stride), writeable=False,
    )  # fmt: skip
    pending: list[bytes] = []
    held = 0
    for piece in _pieces(view, max(1, block // itemsize)):
        pending.append(piece)
        held += len(piece)
        if held >= block:
            data = b"".join(pending)
            cut = len(data) - len(data) % block
            yield from (data[i : i + block] for i in range(0, cut, block))
            pending, held = [data[cut:]], len(data) - cut
    if held:
        yield b"".join(pending)


def _pieces(view: Any, limit: int) -> Iterator[bytes]:
    """Row-major copies of at most ``limit`` elements each (NumPy gathers the strides)."""
    if view.size <= limit or view.ndim == 0:
        yield np.ascontiguousarray(view).tobytes()
    elif view.ndim == 1:
        for start in range(0, view.shape[0], limit):
            yield np.ascontiguousarray(view[start : start + limit]).tobytes()
    else:
        rows = limit // (view.size // view.shape[0])
        if rows == 0:  # a row alone is too big: one row at a time, a dimension less
            for row in view:
                yield from _pieces(row, limit)
            return
        for start in range(0, view.shape[0], rows):
            yield np.ascontiguousarray(view[start : start + rows]).tobytes()


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
