"""PyTorch checkpoints (the zip format of ``torch.save`` since 1.6), read without torch.

``data.pkl`` is unpickled by :class:`SafeUnpickler`, which resolves only the
handful of globals a state dict needs (tensor rebuild functions, storage types,
``OrderedDict``) to inert stand-ins defined here. Any other global (``os.system``,
``builtins.eval``, an arbitrary class…) is refused before anything is called, so
no code from the file ever runs. Storages are located as zip members by offset.
"""

from __future__ import annotations

import collections
import io
import pickle
import zipfile
from dataclasses import dataclass
from typing import Any

from gitmodel.formats.base import (
    ITEM_SIZES,
    BinaryFile,
    FormatError,
    ModelInfo,
    TensorInfo,
    check_extent,
)
from gitmodel.formats.numpy_files import member_data_offset

FORMAT = "pytorch"
MAX_PICKLE = 64 << 20
UNSUPPORTED_HINT = "only tensors, dicts, lists and numbers are read; convert it to safetensors"

STORAGE_DTYPES = {
    "DoubleStorage": "F64", "FloatStorage": "F32", "HalfStorage": "F16",
    "BFloat16Storage": "BF16", "LongStorage": "I64", "IntStorage": "I32",
    "ShortStorage": "I16", "CharStorage": "I8", "ByteStorage": "U8", "BoolStorage": "BOOL",
    "ComplexFloatStorage": "C64", "ComplexDoubleStorage": "C128",
}  # fmt: skip


@dataclass(frozen=True)
class _StorageType:
    dtype: str


@dataclass(frozen=True)
class _Storage:
    dtype: str
    key: str
    numel: int


@dataclass(frozen=True)
class _Tensor:
    storage: _Storage
    storage_offset: int
    shape: tuple[int, ...]
    stride: tuple[int, ...]


class _Parameter:
    """Stands in for ``torch.nn.Parameter`` as a type argument; never instantiated."""


def _rebuild_tensor(storage: Any, storage_offset: Any, size: Any, stride: Any, *_: Any) -> _Tensor:
    if not isinstance(storage, _Storage):
        raise FormatError("a tensor in the checkpoint has no storage", hint=UNSUPPORTED_HINT)
    return _Tensor(storage, int(storage_offset), tuple(map(int, size)), tuple(map(int, stride)))


def _rebuild_parameter(data: Any, *_: Any) -> Any:
    return data


def _rebuild_from_type(func: Any, new_type: Any, args: Any, state: Any) -> Any:
    if func not in (_rebuild_tensor, _rebuild_parameter) or new_type is not _Parameter:
        raise FormatError("the checkpoint holds a tensor subclass", hint=UNSUPPORTED_HINT)
    return func(*args)


def _size(*args: Any) -> tuple[int, ...]:
    return tuple(map(int, args[0])) if args else ()


_ALLOWED: dict[tuple[str, str], Any] = {
    ("collections", "OrderedDict"): collections.OrderedDict,
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor,
    ("torch._utils", "_rebuild_tensor"): _rebuild_tensor,
    ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
    ("torch._utils", "_rebuild_parameter_with_state"): _rebuild_parameter,
    ("torch._tensor", "_rebuild_from_type_v2"): _rebuild_from_type,
    ("torch.nn.parameter", "Parameter"): _Parameter,
    ("torch", "Size"): _size,
    **{("torch", name): _StorageType(dtype) for name, dtype in STORAGE_DTYPES.items()},
}


class SafeUnpickler(pickle.Unpickler):
    """Resolves only :data:`_ALLOWED` globals; refuses everything else unexecuted."""

    def find_class(self, module: str, name: str) -> Any:
        try:
            return _ALLOWED[(module, name)]
        except KeyError:
            raise FormatError(
                f"unsupported PyTorch checkpoint: its pickle references {module}.{name}"
                " (refused, never executed)",
                hint=UNSUPPORTED_HINT,
            ) from None

    def persistent_load(self, pid: Any) -> Any:
        if not (isinstance(pid, tuple) and len(pid) == 5 and pid[0] == "storage"):
            raise FormatError("unsupported PyTorch storage reference", hint=UNSUPPORTED_HINT)
        kind, key, numel = pid[1], pid[2], pid[4]
        if not isinstance(kind, _StorageType) or not isinstance(key, str):
            raise FormatError("unsupported PyTorch storage reference", hint=UNSUPPORTED_HINT)
        return _Storage(kind.dtype, key, int(numel))


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
    obj = _unpickle(archive.read(pkl))
    tensors: list[TensorInfo] = []
    metadata: dict[str, Any] = {}
    for name, value in _walk(obj, ""):
        if isinstance(value, _Tensor):
            tensors.append(_locate(f, archive, prefix, name, value, file_size))
        else:
            metadata[name] = value
    tensors.sort(key=lambda t: t.offset)
    return ModelInfo(FORMAT, tensors, metadata)


def _unpickle(data: bytes) -> Any:
    try:
        return SafeUnpickler(io.BytesIO(data)).load()
    except FormatError:
        raise
    except Exception as exc:  # any malformed pickle: one message, no traceback
        raise FormatError(f"unreadable PyTorch pickle: {exc}", hint=UNSUPPORTED_HINT) from None


def _check_byteorder(archive: zipfile.ZipFile, prefix: str) -> None:
    try:
        order = archive.read(prefix + "byteorder").strip()
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
    if isinstance(obj, (list, tuple)) and any(isinstance(v, (dict, list, _Tensor)) for v in obj):
        items = []
        for index, value in enumerate(obj):
            items += _walk(value, f"{path}.{index}" if path else str(index))
        return items
    if isinstance(obj, (_Tensor, str, int, float, bool, type(None), list, tuple)):
        return [(path, obj)]
    return [(path, repr(obj))]


def _locate(
    f: BinaryFile,
    archive: zipfile.ZipFile,
    prefix: str,
    name: str,
    tensor: _Tensor,
    file_size: int | None,
) -> TensorInfo:
    storage = tensor.storage
    try:
        member = archive.getinfo(f"{prefix}data/{storage.key}")
    except KeyError:
        raise FormatError(f"tensor {name!r}: storage {storage.key!r} is missing") from None
    if member.compress_type != zipfile.ZIP_STORED:
        raise FormatError(f"tensor {name!r}: compressed storages are not supported")
    itemsize = ITEM_SIZES[storage.dtype]
    dtype, span = storage.dtype, _span(tensor.shape, tensor.stride)
    if tensor.stride != _contiguous(tensor.shape):
        dtype = f"{storage.dtype}(strided)"  # compared as the bytes it spans
    offset = member_data_offset(f, member) + tensor.storage_offset * itemsize
    nbytes = span * itemsize
    if (tensor.storage_offset + span) * itemsize > member.file_size:
        raise FormatError(f"tensor {name!r} reaches past its storage")
    check_extent(name, offset, nbytes, file_size)
    return TensorInfo(name, dtype, tensor.shape, offset, nbytes)


def _contiguous(shape: tuple[int, ...]) -> tuple[int, ...]:
    strides, step = [], 1
    for d in reversed(shape):
        strides.append(step)
        step *= d
    return tuple(reversed(strides))


def _span(shape: tuple[int, ...], stride: tuple[int, ...]) -> int:
    """Elements from the first to one past the last that a strided view touches."""
    if any(d == 0 for d in shape):
        return 0
    return 1 + sum((d - 1) * s for d, s in zip(shape, stride, strict=False))
