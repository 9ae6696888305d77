"""Writers for model files in the formats gitmodel reads, without torch or gguf-py."""

from __future__ import annotations

import json
import struct
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

SAFETENSORS_DTYPES = {"float64": "F64", "float32": "F32", "float16": "F16", "int64": "I64",
                      "int32": "I32", "int8": "I8", "uint8": "U8", "bool": "BOOL"}  # fmt: skip


def safetensors_bytes(tensors: dict[str, np.ndarray], metadata: dict[str, str] | None = None
                      ) -> bytes:  # fmt: skip
    header: dict[str, Any] = {"__metadata__": metadata} if metadata else {}
    offset, blobs = 0, []
    for name, array in tensors.items():
        data = np.ascontiguousarray(array).tobytes()
        header[name] = {"dtype": SAFETENSORS_DTYPES[str(array.dtype)], "shape": list(array.shape),
                        "data_offsets": [offset, offset + len(data)]}  # fmt: skip
        offset += len(data)
        blobs.append(data)
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    return struct.pack("<Q", len(text)) + text + b"".join(blobs)


def write_safetensors(path: Path, tensors: dict[str, np.ndarray],
                      metadata: dict[str, str] | None = None) -> None:  # fmt: skip
    path.write_bytes(safetensors_bytes(tensors, metadata))


def _gguf_string(text: str) -> bytes:
    data = text.encode()
    return struct.pack("<Q", len(data)) + data


GGUF_TYPES = {"float32": 0, "float16": 1, "int32": 26}


def write_gguf(path: Path, metadata: dict[str, Any], tensors: dict[str, np.ndarray],
               quantized: dict[str, tuple[int, tuple[int, ...], bytes]] | None = None
               ) -> None:  # fmt: skip
    """GGUF v3; ``quantized`` maps a name to (ggml type, numpy shape, raw bytes)."""
    kv = b""
    for key, value in metadata.items():
        kv += _gguf_string(key)
        if isinstance(value, str):
            kv += struct.pack("<I", 8) + _gguf_string(value)
        elif isinstance(value, list):
            kv += struct.pack("<IIQ", 9, 5, len(value))  # an array of int32
            kv += b"".join(struct.pack("<i", v) for v in value)
        else:
            kv += struct.pack("<I", 4) + struct.pack("<I", value)
    items = [(n, GGUF_TYPES[str(a.dtype)], a.shape, a.tobytes()) for n, a in tensors.items()]
    items += [(n, t, s, raw) for n, (t, s, raw) in (quantized or {}).items()]
    infos, data = b"", b""
    for name, kind, shape, raw in items:
        data += b"\0" * (-len(data) % 32)
        infos += _gguf_string(name) + struct.pack("<I", len(shape))
        infos += b"".join(struct.pack("<Q", d) for d in reversed(shape))
        infos += struct.pack("<IQ", kind, len(data))
        data += raw
    head = b"GGUF" + struct.pack("<IQQ", 3, len(items), len(metadata)) + kv + infos
    path.write_bytes(head + b"\0" * (-len(head) % 32) + data)


# -- PyTorch zip checkpoints, pickled by hand as torch.save does (protocol 2) ------


def _str(text: str) -> bytes:
    data = text.encode()
    return b"X" + struct.pack("<I", len(data)) + data


def _int(value: int) -> bytes:
    return b"J" + struct.pack("<i", value)


def _global(module: str, name: str) -> bytes:
    return b"c" + f"{module}\n{name}\n".encode()


def _tuple(values: tuple[int, ...]) -> bytes:
    return b"(" + b"".join(_int(v) for v in values) + b"t"


STORAGES = {"float32": "FloatStorage", "float16": "HalfStorage", "int64": "LongStorage"}


def torch_pickle(tensors: dict[str, np.ndarray]) -> bytes:
    ordered_dict = _global("collections", "OrderedDict") + b")R"
    out = b"\x80\x02" + ordered_dict + b"("
    for key, (name, array) in enumerate(tensors.items()):
        storage = (b"(" + _str("storage") + _global("torch", STORAGES[str(array.dtype)])
                   + _str(str(key)) + _str("cpu") + _int(array.size) + b"tQ")  # fmt: skip
        strides = tuple(s // array.itemsize for s in array.strides)
        out += _str(name) + _global("torch._utils", "_rebuild_tensor_v2") + b"(" + storage
        out += _int(0) + _tuple(array.shape) + _tuple(strides) + b"\x89" + ordered_dict + b"tR"
    return out + b"u."


def write_torch_zip(path: Path, tensors: dict[str, np.ndarray], pickle_bytes: bytes | None = None
                    ) -> None:  # fmt: skip
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as archive:
        archive.writestr("archive/data.pkl", pickle_bytes or torch_pickle(tensors))
        archive.writestr("archive/byteorder", "little")
        for key, array in enumerate(tensors.values()):
            archive.writestr(f"archive/data/{key}", np.ascontiguousarray(array).tobytes())
        archive.writestr("archive/version", "3\n")


# torch 2.x writes tensors whose dtype has no typed storage (float8, uint16/32/64,
# float4) as _rebuild_tensor_v3 of an UntypedStorage, whose size counts bytes:
#   _rebuild_tensor_v3(storage, offset, size, stride, requires_grad, hooks, dtype)
# storage = persistent id ("storage", torch.storage.UntypedStorage, key, "cpu", nbytes)


def torch_view(key: str, dtype: str, storage_nbytes: int, offset: int,
               shape: tuple[int, ...], stride: tuple[int, ...]) -> bytes:  # fmt: skip
    """The opcodes of one tensor as torch.save (2.x) writes it (see above)."""
    storage = (b"(" + _str("storage") + _global("torch.storage", "UntypedStorage") + _str(key)
               + _str("cpu") + _int(storage_nbytes) + b"tQ")  # fmt: skip
    ordered_dict = _global("collections", "OrderedDict") + b")R"
    return (_global("torch._utils", "_rebuild_tensor_v3") + b"(" + storage + _int(offset)
            + _tuple(shape) + _tuple(stride) + b"\x89" + ordered_dict
            + _global("torch", dtype) + b"tR")  # fmt: skip


def torch_dict(items: dict[str, bytes]) -> bytes:
    """A pickled dict of already-pickled values, protocol 2 as torch.save writes it."""
    return b"\x80\x02}(" + b"".join(_str(k) + v for k, v in items.items()) + b"u."


def torch_set(values: tuple[int, ...]) -> bytes:
    """``{1, 2}`` as protocol 2 writes a set: ``__builtin__.set([...])``."""
    return _global("__builtin__", "set") + b"](" + b"".join(_int(v) for v in values) + b"e\x85R"


def torch_dtype(name: str) -> bytes:
    """A ``torch.float16`` value (not a tensor): the dtype is pickled by name."""
    return _global("torch", name)


def write_torch_storages(path: Path, pickle_bytes: bytes, storages: dict[str, bytes]) -> None:
    """A zip checkpoint laid out as torch.save lays it out, storages as given."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as archive:
        archive.writestr("archive/data.pkl", pickle_bytes)
        archive.writestr("archive/byteorder", "little")
        for key, data in storages.items():
            archive.writestr(f"archive/data/{key}", data)
        archive.writestr("archive/version", "3\n")
