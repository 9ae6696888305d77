"""PyTorch checkpoints (the zip format of ``torch.save`` since 1.6), read without torch.

``data.pkl`` is unpickled by :mod:`gitmodel.formats.torch_pickle` as torch's
weights-only loader would, never executing anything; storages are located as zip
members by offset, and views (``w.t()``) keep their strides.
"""

from __future__ import annotations

import math
import zipfile
from typing import Any

from gitmodel.formats.base import (
    ITEM_SIZES,
    BinaryFile,
    FormatError,
    ModelInfo,
    TensorInfo,
    check_extent,
    span,
)
from gitmodel.formats.numpy_files import member_data_offset
from gitmodel.formats.torch_pickle import UNSUPPORTED_HINT, Tensor, unpickle

FORMAT = "pytorch"
MAX_PICKLE = 64 << 20


def is_checkpoint(archive: zipfile.ZipFile) -> bool:
    return any(n.endswith("/data.pkl") and n.count("/") == 1 for n in archive.namelist())


def read_checkpoint(f: BinaryFile, file_size: int | None = None) -> ModelInfo:
    """The tensors of a zip checkpoint, named by their key path (``model.fc.weight``)."""
    try:
        archive = zipfile.ZipFile(f)
    except (zipfile.BadZipFile, OSError) as exc:
        raise FormatError(f"not a readable PyTorch checkpoint: {exc}") from None
    pkl = next((n for n in archive.namelist() if n.endswith("/data.pkl")), None)
    if pkl is None:
        raise FormatError("zip file without data.pkl is not a PyTorch checkpoint")
    prefix = pkl.removesuffix("data.pkl")
    _check_byteorder(archive, prefix)
    info = archive.getinfo(pkl)
    if info.file_size > MAX_PICKLE:
        raise FormatError("data.pkl is too large to be a state dict", hint=UNSUPPORTED_HINT)
    if file_size is not None and info.file_size > file_size:  # torch.save stores it as is
        raise FormatError("data.pkl expands past the size of the whole file (a zip bomb?)")
    # its objects, beside the file they describe: real pickles are a sliver of the file
    budget = None if file_size is None else 2 * file_size + (32 << 20)
    obj = unpickle(archive.read(pkl), budget)
    tensors: list[TensorInfo] = []
    metadata: dict[str, Any] = {}
    for name, value in _walk(obj, ""):
        if isinstance(value, Tensor):
            tensors.append(_locate(f, archive, prefix, name, value, file_size))
        else:
            metadata[name] = value
    tensors.sort(key=lambda t: t.offset)
    return ModelInfo(FORMAT, tensors, metadata)


def _check_byteorder(archive: zipfile.ZipFile, prefix: str) -> None:
    try:
        with archive.open(prefix + "byteorder") as member:
            order = member.read(64).strip()  # "little" or "big", however long it claims to be
    except KeyError:
        return
    if order != b"little":
        raise FormatError("big-endian PyTorch checkpoints are not supported")


def _walk(obj: Any, path: str) -> list[tuple[str, Any]]:
    """Leaves of nested dicts/lists with dotted key paths."""
    if isinstance(obj, dict):
        items: list[tuple[str, Any]] = []
        for key, value in obj.items():
            items += _walk(value, f"{path}.{key}" if path else str(key))
        return items
    if isinstance(obj, (list, tuple)) and any(  # by type: a million numbers are one look each
        issubclass(t, (dict, list, Tensor)) for t in set(map(type, obj))
    ):
        items = []
        for index, value in enumerate(obj):
            items += _walk(value, f"{path}.{index}" if path else str(index))
        return items
    if isinstance(obj, Tensor):  # then its attributes, as metadata
        return [(path, obj), *(item for key, value in obj.attributes
                               for item in _walk(value, f"{path}.{key}"))]  # fmt: skip
    if isinstance(obj, (str, int, float, bool, type(None), list, tuple)):
        return [(path, obj)]
    return [(path, repr(obj))]


def _locate(
    f: BinaryFile,
    archive: zipfile.ZipFile,
    prefix: str,
    name: str,
    tensor: Tensor,
    file_size: int | None,
) -> TensorInfo:
    storage = tensor.storage
    try:
        member = archive.getinfo(f"{prefix}data/{storage.key}")
    except KeyError:
        raise FormatError(f"tensor {name!r}: storage {storage.key!r} is missing") from None
    if member.compress_type != zipfile.ZIP_STORED:
        raise FormatError(f"tensor {name!r}: compressed storages are not supported")
    itemsize = ITEM_SIZES[tensor.dtype]
    elements = span(tensor.shape, tensor.stride)
    if (tensor.storage_offset + elements) * itemsize > member.file_size:
        raise FormatError(f"tensor {name!r} reaches past its storage")
    offset = member_data_offset(f, member) + tensor.storage_offset * itemsize
    check_extent(name, offset, elements * itemsize, file_size)
    return TensorInfo(
        name, tensor.dtype, tensor.shape, offset, math.prod(tensor.shape) * itemsize,
        stride=None if _is_contiguous(tensor.shape, tensor.stride) else tensor.stride,
    )  # fmt: skip


def _is_contiguous(shape: tuple[int, ...], stride: tuple[int, ...]) -> bool:
    """Row-major with no gaps (the stride of a dimension of size 1 does not matter)."""
    step = 1
    for d, s in zip(reversed(shape), reversed(stride), strict=True):
        if d != 1 and s != step:
            return False
        step *= d
    return True
