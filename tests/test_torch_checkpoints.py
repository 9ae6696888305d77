"""PyTorch checkpoints: what torch's weights-only loader allows is read, nothing more;
views compare by their elements.

The checkpoints are pickled opcode by opcode as torch.save writes them (protocol 2,
the helpers in helpers/model_files.py say which opcodes); when torch is installed,
files torch itself writes are read and checked against ``torch.load``.
"""

from __future__ import annotations

import collections
import io
import pickle
import struct
import tracemalloc
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from helpers.model_files import (
    torch_dict,
    torch_dtype,
    torch_pickle,
    torch_set,
    torch_view,
    write_torch_storages,
    write_torch_zip,
)
from test_formats import values

from gitmodel.formats import FormatError, read_model
from gitmodel.formats.base import ModelInfo, iter_raw
from gitmodel.formats.diff import FileContent, FileDiff, diff_versions
from gitmodel.store.digests import DigestStore


def read(path: Path) -> ModelInfo:
    with open(path, "rb") as f:
        info = read_model(f, path.name)
    assert info is not None and info.format == "pytorch"
    return info


def diff(tmp_path: Path, old: Path, new: Path) -> FileDiff:
    sides = [FileContent(p, None, p.stat().st_size) for p in (old, new)]
    return diff_versions("m.pt", sides[0], sides[1], DigestStore(tmp_path / "sidecars"))


# dtype, its canonical name, storage bytes, the values they hold
V3_DTYPES = [
    ("uint16", "U16", np.array([1, 65535], "<u2").tobytes(), [1, 65535]),
    ("uint32", "U32", np.array([7, 2**32 - 1], "<u4").tobytes(), [7, 2**32 - 1]),
    ("uint64", "U64", np.array([9, 2**40], "<u8").tobytes(), [9, 2**40]),
    ("float8_e4m3fn", "F8_E4M3", bytes([0x38, 0xB8]), [1.0, -1.0]),
    ("float8_e5m2", "F8_E5M2", bytes([0x3C, 0x40]), [1.0, 2.0]),
    ("float8_e4m3fnuz", "F8_E4M3FNUZ", bytes([0x40, 0x48]), [1.0, 2.0]),
    ("float8_e5m2fnuz", "F8_E5M2FNUZ", bytes([0x40, 0x44]), [1.0, 2.0]),
    ("float8_e8m0fnu", "F8_E8M0", bytes([127, 130]), [1.0, 8.0]),
]


@pytest.mark.parametrize(("dtype", "canonical", "data", "expected"), V3_DTYPES,
                         ids=[d[0] for d in V3_DTYPES])  # fmt: skip
def test_untyped_storages_of_new_dtypes(
    tmp_path: Path, dtype: str, canonical: str, data: bytes, expected: list[float]
) -> None:
    path = tmp_path / "m.pt"
    pickled = torch_dict({"w": torch_view("0", dtype, len(data), 0, (2,), (1,))})
    write_torch_storages(path, pickled, {"0": data})
    [tensor] = read(path).tensors
    assert (tensor.dtype, tensor.shape, tensor.nbytes) == (canonical, (2,), len(data))
    assert values(path, "w").tolist() == expected


def test_values_torch_allows_beside_tensors(tmp_path: Path) -> None:
    path = tmp_path / "m.pt"
    encoded = b"c_codecs\nencode\nX\x02\x00\x00\x00xyX\x06\x00\x00\x00latin1\x86R"
    counter = b"ccollections\nCounter\n}X\x01\x00\x00\x00aK\x02s\x85R"
    device = b"ctorch\ndevice\nX\x03\x00\x00\x00cpu\x85R"
    pickled = torch_dict({
        "w": torch_view("0", "float32", 8, 0, (2,), (1,)), "ids": torch_set((3, 1)),
        "dtype": torch_dtype("float16"), "raw": encoded, "count": counter, "device": device,
        "z": b"c__builtin__\ncomplex\nG" + struct.pack(">d", 1) + b"G" + struct.pack(">d", 2)
        + b"\x86R",
    })  # fmt: skip
    write_torch_storages(path, pickled, {"0": np.ones(2, np.float32).tobytes()})
    info = read(path)
    assert [t.name for t in info.tensors] == ["w"]
    assert info.metadata == {"ids": "{1, 3}", "dtype": "torch.float16", "raw": "b'xy'",
                             "count.a": 2, "device": "cpu", "z": "(1+2j)"}  # fmt: skip


def test_a_tensor_with_attributes_keeps_them_as_metadata(tmp_path: Path) -> None:
    """``t.note = "x"``: torch.save writes ``_rebuild_from_type_v2(rebuild, torch.Tensor,
    args, {"note": "x"})``."""
    rebuild = b"ctorch._utils\n_rebuild_tensor_v3\n"
    args = VIEW[len(rebuild) : -1]  # the call's argument tuple
    state = b"}X\x04\x00\x00\x00noteX\x01\x00\x00\x00xs"
    tensor = (b"ctorch._tensor\n_rebuild_from_type_v2\n(" + rebuild + b"ctorch\nTensor\n"
              + args + state + b"tR")  # fmt: skip
    info = read(_zip(tmp_path, torch_dict({"w": tensor})))
    assert [t.name for t in info.tensors] == ["w"] and info.metadata == {"w.note": "x"}


def views_of(storage: np.ndarray) -> dict[str, bytes]:
    """``w[:, 1]`` and ``w.t()`` of a 3x4 float32 storage, as torch.save writes them."""
    nbytes = storage.nbytes
    return {
        "col": torch_view("0", "float32", nbytes, 1, (3,), (4,)),
        "t": torch_view("0", "float32", nbytes, 0, (4, 3), (1, 4)),
    }


def test_views_read_their_own_elements(tmp_path: Path) -> None:
    w = np.arange(12, dtype=np.float32).reshape(3, 4)
    path = tmp_path / "views.pt"
    write_torch_storages(path, torch_dict(views_of(w)), {"0": w.tobytes()})
    tensors = read(path).by_name()
    assert (tensors["t"].dtype, tensors["t"].stride, tensors["t"].nbytes) == ("F32", (1, 4), 48)
    np.testing.assert_array_equal(values(path, "col"), w[:, 1])
    np.testing.assert_array_equal(values(path, "t"), w.T)


def test_a_view_equal_in_value_is_unchanged_and_a_changed_one_is_measured(
    tmp_path: Path,
) -> None:
    w = np.arange(12, dtype=np.float32).reshape(3, 4)
    views = tmp_path / "views.pt"
    write_torch_storages(views, torch_dict(views_of(w)), {"0": w.tobytes()})
    same = tmp_path / "same.pt"
    write_torch_zip(same, {"col": w[:, 1].copy(), "t": w.T.copy()})
    result = diff(tmp_path, views, same)
    assert (result.changes, result.unchanged) == ([], 2)
    edited = w.T.copy()
    edited[3, 2] += 2.0  # w[2, 3]: 11 -> 13
    changed = tmp_path / "changed.pt"
    write_torch_zip(changed, {"col": w[:, 1].copy(), "t": edited})
    [change] = diff(tmp_path, views, changed).changes
    assert (change.name, change.new.dtype if change.new else None) == ("t", "F32")
    assert change.changed == 1 and change.max_abs == 2.0
    assert change.relative_l2 == pytest.approx(2.0 / np.linalg.norm(w))


def _zip(tmp_path: Path, pickled: bytes, storage: bytes = bytes(8)) -> Path:
    path = tmp_path / "m.pt"
    write_torch_storages(path, pickled, {"0": storage})
    return path


VIEW = torch_view("0", "float32", 8, 0, (2,), (1,))


@pytest.mark.parametrize(
    ("pickled", "message"),
    [
        (pickle.dumps({"a": 1}, protocol=4), "opcode FRAME"),
        (b"\x80\x02}X\x01\x00\x00\x00aC\x02xys.", "opcode SHORT_BINBYTES"),
        (torch_dict({"a": b"c__builtin__\nfrozenset\n)R"}), "references builtins.frozenset"),
        (torch_dict({"a": b"ctorch._utils\n_rebuild_qtensor\n)R"}), "_rebuild_qtensor"),
        (torch_dict({"a": b"ctorch\nQInt8Storage\n"}), "torch.QInt8Storage"),
        (torch_dict({"a": b"c__builtin__\nbytearray\nJ\x00\x00\x00\x7f\x85R"}), "a bytearray"),
        (torch_dict({"a": VIEW + b"}X\x01\x00\x00\x00aK\x01sb"}), "sets the state"),
        (torch_dict({"a": torch_view("0", "int4", 8, 0, (2,), (1,))}), "unsupported dtype"),
        (torch_dict({"a": torch_view("0", "float32", 8, 0, (2,), (2,))}), "reaches past"),
        (torch_dict({"a": torch_view("0", "float32", 8, 0, (2, 1), (1,))}), "malformed"),
        (torch_dict({"a": torch_view("0", "float32", 8, 0, (2**31 - 1,) * 99_999 + (0,),
                                     (1,) * 100_000)}), "64 or fewer"),
        (torch_dict({"a": b"]" * 40 + b"a" * 39}), "nest too deep"),
        (torch_dict({"a": b"]q\x00h\x00a"}), "nest too deep"),  # a list in itself
        (torch_dict({"a": b"(]q\x00" + b"".join(  # a tuple of lists, each the last twice
            b"](h" + bytes([i]) + b"h" + bytes([i]) + b"eq" + bytes([i + 1]) for i in range(30)
        ) + b"t"}), "repeat too often"),
    ],
    ids=["protocol-4", "bytes-opcode", "frozenset", "qtensor", "quantized-storage",
         "bytearray-size", "build-on-tensor", "int4", "past-storage", "stride-rank",
         "many-dims", "deep", "cycle", "repeated"],
)  # fmt: skip
def test_what_torch_or_we_cannot_read_is_refused(
    tmp_path: Path, pickled: bytes, message: str
) -> None:
    with open(_zip(tmp_path, pickled), "rb") as f, pytest.raises(FormatError, match=message):
        read_model(f, "m.pt")


def test_a_pickle_that_expands_past_the_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "m.pt"  # 60 KiB on disk, 32 MiB of pickled list items unzipped
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("archive/data.pkl", b"\x80\x02](" + b"K\x01" * (16 << 20) + b"e.")
        archive.writestr("archive/data/0", bytes(8))
    assert path.stat().st_size < 100_000
    with open(path, "rb") as f, pytest.raises(FormatError, match="zip bomb"):
        read_model(f, "m.pt")


def test_a_byteorder_member_is_read_only_as_far_as_a_word(tmp_path: Path) -> None:
    path = tmp_path / "m.pt"  # 64 KiB on disk, 64 MiB unzipped
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("archive/data.pkl", torch_dict({"a": VIEW}))
        archive.writestr("archive/data/0", bytes(8))
        archive.writestr(zipfile.ZipInfo("archive/byteorder"), b"little" + b" " * (64 << 20),
                         compress_type=zipfile.ZIP_DEFLATED)  # fmt: skip
    tracemalloc.start()
    try:
        assert [t.name for t in read(path).tensors] == ["a"]
        assert tracemalloc.get_traced_memory()[1] < 16 << 20
    finally:
        tracemalloc.stop()


def test_a_negative_stride_is_refused(tmp_path: Path) -> None:
    view = torch_view("0", "float32", 8, 1, (2,), (1,)).replace(
        b"(J\x01\x00\x00\x00t\x89", b"(J\xff\xff\xff\xfft\x89"
    )
    assert view != torch_view("0", "float32", 8, 1, (2,), (1,))
    path = _zip(tmp_path, torch_dict({"a": view}))
    with open(path, "rb") as f, pytest.raises(FormatError, match="malformed"):
        read_model(f, "m.pt")


def test_typed_storages_still_read(tmp_path: Path) -> None:
    path = tmp_path / "m.pt"
    write_torch_zip(path, {"w": np.arange(4, dtype=np.float32)}, torch_pickle(
        {"w": np.arange(4, dtype=np.float32)}))  # fmt: skip
    assert values(path, "w").tolist() == [0, 1, 2, 3]


# -- files torch itself writes (when torch is installed) ----------------------------


def _torch() -> Any:
    return pytest.importorskip("torch", reason="torch is not installed; the opcodes above "
                               "are written as torch.save writes them")  # fmt: skip


def test_files_torch_writes_read_as_torch_loads_them(tmp_path: Path) -> None:
    torch = _torch()
    w = torch.arange(12, dtype=torch.float32).reshape(3, 4)
    state = {
        "col": w[:, 1], "t": w.t(), "p": torch.nn.Parameter(torch.ones(2)),
        "f8": torch.tensor([1.0, -2.0]).to(torch.float8_e4m3fn),
        "e5": torch.tensor([0.5, 4.0]).to(torch.float8_e5m2),
        "e8": torch.tensor([1.0, 8.0]).to(torch.float8_e8m0fnu),
        "u16": torch.tensor([1, 60000]).to(torch.uint16),
        "u32": torch.tensor([1, 2**31]).to(torch.uint32),
        "u64": torch.tensor([1, 2**40]).to(torch.uint64),
        "bf": torch.tensor([1.5, -3.0]).to(torch.bfloat16),
        "dtype": torch.float16, "ids": {1, 2}, "raw": b"xy", "z": 1 + 2j, "noted": torch.ones(2),
    }  # fmt: skip
    state["noted"].note = "x"
    path = tmp_path / "m.pt"
    torch.save(state, path)
    loaded = torch.load(path, weights_only=True)
    info = read(path)
    assert {t.name for t in info.tensors} == {k for k, v in loaded.items()
                                              if isinstance(v, torch.Tensor)}  # fmt: skip
    for tensor in info.tensors:
        expected = loaded[tensor.name].detach().to(torch.float64).numpy()
        np.testing.assert_array_equal(values(path, tensor.name), expected)
    assert info.metadata["dtype"] == "torch.float16" and info.metadata["ids"] == "{1, 2}"
    assert info.metadata["noted.note"] == loaded["noted"].note == "x"


OTHER_OBJECTS: list[tuple[str, Any]] = [
    ("set", {1, 2}),
    ("counter", collections.Counter("aab")),
    ("bytes", b"\x00\xff"),
    ("complex", 3j),
    ("frozenset", frozenset({1})),
    ("slice", slice(1, 2)),
    ("range", range(3)),
    ("bytesio", io.BytesIO(b"x")),
    ("path", Path("weights")),
]


@pytest.mark.parametrize(("kind", "value"), OTHER_OBJECTS, ids=[k for k, _ in OTHER_OBJECTS])
def test_we_accept_what_torch_weights_only_accepts(tmp_path: Path, kind: str, value: Any) -> None:
    torch = _torch()
    path = tmp_path / "m.pt"
    try:
        torch.save({"w": torch.ones(2), "other": value}, path)
    except Exception:
        pytest.skip(f"torch cannot save a {kind}")
    try:
        torch.load(path, weights_only=True)
        torch_reads = True
    except Exception:
        torch_reads = False
    try:
        read(path)
        we_read = True
    except FormatError:
        we_read = False
    assert we_read == torch_reads


def test_version_1_digest_sidecars_of_pytorch_files_are_recomputed(tmp_path: Path) -> None:
    """Version 1 digested a view by the bytes its storage spans; safetensors' stay good."""
    from gitmodel.formats.digests import load_digests

    w = np.arange(12, dtype=np.float32).reshape(3, 4)
    path = tmp_path / "views.pt"
    write_torch_storages(path, torch_dict(views_of(w)), {"0": w.tobytes()})
    sidecars = DigestStore(tmp_path / "sidecars")
    stale = {"col": "0" * 32, "t": "1" * 32}
    for kind, oid in (("pytorch", "a" * 64), ("safetensors", "b" * 64)):
        sidecars.write(oid, {"version": 1, "format": kind, "digests": stale})
    with open(path, "rb") as f:
        info = read_model(f, path.name)
        assert info is not None
        fresh = load_digests(sidecars, "a" * 64, f, info).digests
        assert fresh != stale and load_digests(sidecars, "b" * 64, f, info).digests == stale
    assert (sidecars.read("a" * 64) or {})["version"] == 2


@pytest.mark.parametrize("block", [4, 12, 20, 100, 1 << 20])
@pytest.mark.parametrize("where", ["file", "memory"])
def test_views_come_in_exact_blocks(tmp_path: Path, block: int, where: str) -> None:
    """A permuted 3-D view (``x.permute(2, 0, 1)[:, 1:, ::2]``) gathered in blocks of
    ``block`` bytes: every block full but the last, the bytes NumPy's view holds."""
    from gitmodel.formats.base import TensorInfo

    x = np.arange(4 * 5 * 6, dtype=np.float32).reshape(4, 5, 6)
    view = x.transpose(2, 0, 1)[:, 1:, ::2]
    stride = tuple(s // 4 for s in view.strides)
    offset = (view.__array_interface__["data"][0] - x.__array_interface__["data"][0]) // 4
    path = tmp_path / "storage"
    path.write_bytes(x.tobytes())
    tensor = TensorInfo("v", "F32", view.shape, offset * 4, view.nbytes, stride=stride)
    with open(path, "rb") as real:
        f = real if where == "file" else io.BytesIO(path.read_bytes())
        blocks = list(iter_raw(f, tensor, block))
    assert all(len(b) == block for b in blocks[:-1]) and 0 < len(blocks[-1]) <= block
    assert b"".join(blocks) == np.ascontiguousarray(view).tobytes()
