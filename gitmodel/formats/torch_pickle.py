"""The pickle inside a PyTorch checkpoint, read as ``torch.load(weights_only=True)`` reads
it, without torch.

What is allowed mirrors torch's weights-only unpickler
(``torch/_weights_only_unpickler.py``): the same opcodes, and globals from its
allow-list only, each resolved to an inert stand-in defined here. Anything else
(``os.system``, an arbitrary class, a quantized or sparse tensor, which torch allows
but we cannot read) is refused before anything is called, so no code from the file
ever runs.
"""

from __future__ import annotations

import _compat_pickle
import collections
import dataclasses
import io
import pickle
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, NoReturn

from gitmodel.formats.base import FormatError, check_shape

MAX_DEPTH = 32  # nested deeper is not a state dict (and would exhaust Python's stack)
UNSUPPORTED_HINT = "only tensors, dicts, lists and numbers are read; convert it to safetensors"

# torch.<name>Storage -> canonical dtype (typed storages, torch.save before 2.0)
STORAGE_DTYPES = {
    "DoubleStorage": "F64", "FloatStorage": "F32", "HalfStorage": "F16",
    "BFloat16Storage": "BF16", "LongStorage": "I64", "IntStorage": "I32",
    "ShortStorage": "I16", "CharStorage": "I8", "ByteStorage": "U8", "BoolStorage": "BOOL",
    "ComplexFloatStorage": "C64", "ComplexDoubleStorage": "C128",
}  # fmt: skip
# torch.<dtype> -> canonical dtype; None: a dtype torch allows that we cannot read
TORCH_DTYPES: dict[str, str | None] = {
    "float64": "F64", "float32": "F32", "float16": "F16", "bfloat16": "BF16",
    "int64": "I64", "int32": "I32", "int16": "I16", "int8": "I8",
    "uint64": "U64", "uint32": "U32", "uint16": "U16", "uint8": "U8", "bool": "BOOL",
    "complex128": "C128", "complex64": "C64", "complex32": "C32",
    "float8_e4m3fn": "F8_E4M3", "float8_e5m2": "F8_E5M2", "float8_e4m3fnuz": "F8_E4M3FNUZ",
    "float8_e5m2fnuz": "F8_E5M2FNUZ", "float8_e8m0fnu": "F8_E8M0", "float4_e2m1fn_x2": "F4_X2",
    **{f"{kind}{bits}": None for kind in ("int", "uint") for bits in range(1, 8)},
    **{name: None for name in ("bits8", "bits16", "bits1x8", "bits2x4", "bits4x2", "qint8",
                               "qint32", "quint8", "quint4x2", "quint2x4")},
}  # fmt: skip
# the opcodes torch's weights-only unpickler implements (protocol 2 and less)
TORCH_OPCODES = frozenset({
    "GLOBAL", "NEWOBJ", "REDUCE", "BUILD", "APPEND", "APPENDS", "SETITEM", "SETITEMS", "MARK",
    "TUPLE", "TUPLE1", "TUPLE2", "TUPLE3", "NONE", "NEWFALSE", "NEWTRUE", "EMPTY_TUPLE",
    "EMPTY_LIST", "EMPTY_DICT", "EMPTY_SET", "BININT", "BININT1", "BININT2", "BINFLOAT",
    "BINUNICODE", "SHORT_BINSTRING", "BINPERSID", "BINGET", "LONG_BINGET", "BINPUT",
    "LONG_BINPUT", "LONG1", "PROTO", "STOP",
})  # fmt: skip


class _Inert:
    """A stand-in: a pickle may name it and call it, never set its state."""

    def __setstate__(self, state: Any) -> None:
        raise FormatError("the checkpoint sets the state of a tensor", hint=UNSUPPORTED_HINT)


@dataclass(frozen=True)
class Dtype(_Inert):
    name: str  # torch's name
    canonical: str | None

    def __repr__(self) -> str:
        return f"torch.{self.name}"


@dataclass(frozen=True)
class StorageType(_Inert):
    dtype: str | None  # None: untyped (bytes), the tensor names its dtype


@dataclass(frozen=True)
class Storage(_Inert):
    dtype: str | None
    key: str
    numel: int  # elements of a typed storage, bytes of an untyped one


@dataclass(frozen=True)
class Tensor(_Inert):
    storage: Storage
    storage_offset: int
    shape: tuple[int, ...]
    stride: tuple[int, ...]
    dtype: str
    attributes: tuple[tuple[str, Any], ...] = ()  # a tensor's Python attributes (t.note = …)


def _tensor(storage: Any, offset: Any, size: Any, stride: Any, dtype: Any) -> Tensor:
    if not isinstance(storage, Storage):
        raise FormatError("a tensor in the checkpoint has no storage", hint=UNSUPPORTED_HINT)
    if dtype is None:
        raise FormatError(f"a tensor has an unsupported dtype ({dtype!r})", hint=UNSUPPORTED_HINT)
    shape, strides = check_shape("a tensor", size), check_shape("a tensor", stride)
    if len(shape) != len(strides) or type(offset) is not int or offset < 0:
        raise FormatError("a tensor has a malformed shape or stride", hint=UNSUPPORTED_HINT)
    return Tensor(storage, offset, shape, strides, dtype)


def _rebuild_tensor(storage: Any, offset: Any, size: Any, stride: Any, *_: Any) -> Tensor:
    """``_rebuild_tensor`` and ``_rebuild_tensor_v2``: the storage is typed."""
    return _tensor(storage, offset, size, stride, getattr(storage, "dtype", None))


def _rebuild_tensor_v3(
    storage: Any, offset: Any, size: Any, stride: Any, grad: Any, hooks: Any, dtype: Any,
    *_: Any,
) -> Tensor:  # fmt: skip
    """An untyped storage and a dtype (torch 2.x for float8, uint16/32/64, float4…)."""
    canonical = dtype.canonical if isinstance(dtype, Dtype) else None
    return _tensor(storage, offset, size, stride, canonical)


def _rebuild_parameter(data: Any, *_: Any) -> Any:
    return data


class Parameter(_Inert):
    """``torch.nn.Parameter``: as NEWOBJ's class or a type argument, it is its data."""

    def __new__(cls, data: Any = None, *_: Any) -> Any:
        if not isinstance(data, Tensor):
            raise FormatError("a parameter in the checkpoint has no tensor", hint=UNSUPPORTED_HINT)
        return data


class TensorType(_Inert):
    """``torch.Tensor`` as a type argument: a plain tensor that carries attributes."""


def _rebuild_from_type(func: Any, new_type: Any, args: Any, state: Any) -> Any:
    known = (_rebuild_tensor, _rebuild_tensor_v3, _rebuild_parameter)
    if func not in known or new_type not in (Parameter, TensorType):
        raise FormatError("the checkpoint holds a tensor subclass", hint=UNSUPPORTED_HINT)
    tensor = func(*args)
    if not state:
        return tensor
    if not isinstance(state, dict) or not all(isinstance(k, str) for k in state):
        raise FormatError("a tensor's attributes are not a dict", hint=UNSUPPORTED_HINT)
    return dataclasses.replace(tensor, attributes=tuple(state.items()))


def _size(*args: Any) -> tuple[int, ...]:
    return tuple(map(int, args[0])) if args else ()


def _device(kind: Any, index: Any = None) -> str:
    return str(kind) if index is None else f"{kind}:{int(index)}"


def _encode(text: Any, encoding: Any = "utf-8") -> bytes:
    """``_codecs.encode``: how protocol 2 writes bytes (latin-1 text)."""
    if not isinstance(text, str) or encoding not in ("latin1", "latin-1", "utf-8"):
        raise FormatError("the checkpoint encodes bytes oddly", hint=UNSUPPORTED_HINT)
    return text.encode(encoding)


def _bytearray(*args: Any) -> bytearray:
    """``bytearray`` of bytes or text, never of a size (a hostile file's allocation)."""
    if not args:
        return bytearray()
    if isinstance(args[0], int):
        raise FormatError("the checkpoint sizes a bytearray", hint=UNSUPPORTED_HINT)
    return bytearray(*args)


ALLOWED: dict[tuple[str, str], Any] = {
    ("collections", "OrderedDict"): collections.OrderedDict,
    ("collections", "Counter"): collections.Counter,
    ("builtins", "set"): set,
    ("builtins", "complex"): complex,
    ("builtins", "bytearray"): _bytearray,
    ("_codecs", "encode"): _encode,
    ("torch._utils", "_rebuild_tensor"): _rebuild_tensor,
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor,
    ("torch._utils", "_rebuild_tensor_v3"): _rebuild_tensor_v3,
    ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
    ("torch._utils", "_rebuild_parameter_with_state"): _rebuild_parameter,
    ("torch._tensor", "_rebuild_from_type_v2"): _rebuild_from_type,
    ("torch.nn.parameter", "Parameter"): Parameter,
    ("torch", "Tensor"): TensorType,
    ("torch", "Size"): _size,
    ("torch", "device"): _device,
    ("torch.storage", "UntypedStorage"): StorageType(None),
    **{("torch", name): StorageType(dtype) for name, dtype in STORAGE_DTYPES.items()},
    **{("torch", name): Dtype(name, canonical) for name, canonical in TORCH_DTYPES.items()},
}


class SafeUnpickler(pickle.Unpickler):
    """Resolves only :data:`ALLOWED` globals; refuses everything else unexecuted."""

    def find_class(self, module: str, name: str) -> Any:
        # protocol 2 spells Python 2's names (``__builtin__.set``), mapped as torch maps them
        if (module, name) in _compat_pickle.NAME_MAPPING:
            module, name = _compat_pickle.NAME_MAPPING[(module, name)]
        module = _compat_pickle.IMPORT_MAPPING.get(module, module)
        try:
            return ALLOWED[(module, name)]
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
        if not isinstance(kind, StorageType) or not isinstance(key, str):
            raise FormatError("unsupported PyTorch storage reference", hint=UNSUPPORTED_HINT)
        return Storage(kind.dtype, key, int(numel))


def unpickle(data: bytes, budget: int | None = None) -> Any:
    """The object a checkpoint's ``data.pkl`` holds, with :class:`Tensor` leaves; its
    objects may take about ``budget`` bytes of memory (None: no bound but the opcodes')."""
    try:
        _check_opcodes(data, budget)
        obj = SafeUnpickler(io.BytesIO(data)).load()
    except FormatError:
        raise
    except Exception as exc:  # any malformed pickle: one message, no traceback
        raise FormatError(f"unreadable PyTorch pickle: {exc}", hint=UNSUPPORTED_HINT) from None
    _check_values(obj, len(data) + 64)
    return obj


_END = object()


def _check_values(obj: Any, budget: int) -> None:
    """Refuse values nested over :data:`MAX_DEPTH` deep (a cycle is endless), or more
    than ``budget`` of them as a walk meets them: a pickle names a value again in two
    bytes, so a few kilobytes can make a value whose text or walk never ends. The walk
    holds an iterator a level, and counts a container's plain numbers and strings
    without visiting them one by one."""
    stack: list[Iterator[Any]] = [iter((obj,))]
    budget -= 1
    while stack:
        value = next(stack[-1], _END)
        if value is _END:
            stack.pop()
            continue
        if isinstance(value, dict):
            parts: tuple[Any, ...] = (value.keys(), value.values())
        elif isinstance(value, (list, tuple, set, frozenset)):
            parts = (value,)
        elif isinstance(value, Tensor):
            parts = (tuple(v for _, v in value.attributes),)
        else:
            continue
        for part in parts:
            budget -= len(part)
            if budget < 0 or (len(stack) > MAX_DEPTH and len(part)):
                raise FormatError(
                    "the checkpoint's values nest too deep or repeat too often to be a state dict",
                    hint=UNSUPPORTED_HINT,
                )
            if not _LEAVES.issuperset(map(type, part)):
                stack.append(iter(part))


_LEAVES = frozenset({int, float, complex, bool, str, bytes, type(None)})


MAX_OPCODES = 1 << 21  # a state dict takes some 30 a tensor: this is some 70,000 tensors
# opcode -> bytes of its argument (-1: a byte of length then the bytes, -4: four of length
# then the bytes, -2: two lines), and what the object it makes may cost in memory beyond
# the 16 bytes every opcode is counted (its reference on the stack, in a container or memo)
_OPCODES: list[tuple[str, int, int] | None] = []


def _opcode_table() -> list[tuple[str, int, int] | None]:
    """By opcode byte: its name, argument and cost, or None where torch refuses it."""
    if not _OPCODES:
        import pickletools  # only when a checkpoint is read

        lengths = {pickletools.TAKEN_FROM_ARGUMENT1: -1, pickletools.TAKEN_FROM_ARGUMENT4U: -4}
        made = {"EMPTY_LIST": 64, "EMPTY_DICT": 64, "EMPTY_SET": 216, "TUPLE": 48,
                "TUPLE1": 48, "TUPLE2": 56, "TUPLE3": 64, "BININT": 32, "BININT2": 32,
                "LONG1": 40, "BINFLOAT": 24, "BINUNICODE": 56, "SHORT_BINSTRING": 40,
                "REDUCE": 256, "NEWOBJ": 256, "BINPERSID": 128, "SETITEM": 48,
                "SETITEMS": 48}  # fmt: skip
        table: list[tuple[str, int, int] | None] = [None] * 256
        for op in pickletools.opcodes:
            if op.name in TORCH_OPCODES:
                n = 0 if op.arg is None else lengths.get(op.arg.n, op.arg.n)
                n = -2 if op.name == "GLOBAL" else n
                table[ord(op.code)] = (op.name, n, 16 + made.get(op.name, 0))
        _OPCODES[:] = table
    return _OPCODES


def _check_opcodes(data: bytes, budget: int | None) -> None:
    """Only the opcodes torch's weights-only unpickler reads, at most
    :data:`MAX_OPCODES` of them, making objects that should take about ``budget``
    bytes (each opcode is counted 16, its reference on the stack, in a container or
    the memo, and what it makes beyond that). Stops at the first bound passed."""
    table, at, count, cost, end, name = _opcode_table(), 0, 0, 0, len(data), ""
    most = MAX_OPCODES if budget is None else min(MAX_OPCODES, budget // 16)
    while at < end and count <= most:
        op = table[data[at]]
        if op is None:
            _refuse_opcode(data, at)
        name, n, made = op
        count += 1
        cost += made
        at += 1
        if n >= 0:
            at += n
        elif n == -1:
            size = data[at] if at < end else 0
            at += 1 + size
            cost += size
        elif n == -4:
            size = int.from_bytes(data[at : at + 4], "little")
            at += 4 + size
            cost += size
        else:  # GLOBAL: module and name, a line each
            first = data.find(b"\n", at)
            second = data.find(b"\n", first + 1) if first >= 0 else -1
            at = second + 1 if second >= 0 else end + 1
        if name == "STOP":
            break
    if count > most or (budget is not None and cost > budget):
        raise FormatError(f"the checkpoint's pickle makes over {min(count, most):,} objects"
                          " (or their size), more than a state dict of its size would",
                          hint=UNSUPPORTED_HINT)  # fmt: skip
    if at > end or name != "STOP":
        raise FormatError("unreadable PyTorch pickle: it ends inside an opcode",
                          hint=UNSUPPORTED_HINT)  # fmt: skip


def _refuse_opcode(data: bytes, at: int) -> NoReturn:
    import pickletools

    try:
        name = next(op.name for op in pickletools.opcodes if op.code == chr(data[at]))
    except StopIteration:
        name = f"0x{data[at]:02x}"
    raise FormatError(
        f"unsupported PyTorch checkpoint: pickle opcode {name} at byte {at}"
        " (torch.load(weights_only=True) refuses it too)",
        hint=UNSUPPORTED_HINT,
    )
