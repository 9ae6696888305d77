"""Model file readers: headers, tensor locations and values, refusals; tensor digests."""

from __future__ import annotations

import io
import os
import pickle
import struct
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
from helpers.model_files import (
    safetensors_bytes,
    torch_pickle,
    write_gguf,
    write_safetensors,
    write_torch_zip,
)

from gitmodel.commands.filter import DIGESTED_SUFFIXES
from gitmodel.formats import FormatError, read_model
from gitmodel.formats.digests import (
    HEAD_START,
    STREAM_READERS,
    StreamDigester,
    compute_digests,
    observer_for,
)
from gitmodel.formats.safetensors import read_header
from gitmodel.formats.tensors import compare_values, iter_raw, to_float
from gitmodel.pointer import Pointer
from gitmodel.store.digests import DigestStore


def values(path: Path, name: str) -> np.ndarray:
    with open(path, "rb") as f:
        info = read_model(f, path.name)
        assert info is not None
        tensor = info.by_name()[name]
        return to_float(b"".join(iter_raw(f, tensor)), tensor).reshape(tensor.shape)


def test_the_filter_knows_every_digested_suffix() -> None:
    # the filter checks a path's suffix before it loads the format readers
    assert sorted(DIGESTED_SUFFIXES) == sorted(STREAM_READERS)


def test_safetensors_header_metadata_and_values(tmp_path: Path) -> None:
    a = np.arange(12, dtype=np.float32).reshape(3, 4)
    path = tmp_path / "m.safetensors"
    write_safetensors(path, {"a": a, "b": np.ones(5, np.int64)}, {"step": "7"})
    with open(path, "rb") as f:
        info = read_model(f, "m.safetensors")
    assert info is not None and info.format == "safetensors"
    assert info.metadata == {"step": "7"}
    assert [(t.name, t.dtype, t.shape) for t in info.tensors] == [
        ("a", "F32", (3, 4)), ("b", "I64", (5,))
    ]  # fmt: skip
    assert info.parameters == 17
    np.testing.assert_array_equal(values(path, "a"), a)


def _header(entries: object) -> bytes:
    return _text_header(__import__("json").dumps(entries).encode())


def _text_header(text: bytes) -> bytes:
    return struct.pack("<Q", len(text)) + text


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (_header({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}}), "outside"),
        (_header({"a": {"dtype": "F32", "shape": [3], "data_offsets": [0, 8]}}), "does not match"),
        (_header({"a": {"dtype": "Q9", "shape": [2], "data_offsets": [0, 8]}}), "unsupported"),
        (_header({"a": {"shape": [2]}}), "malformed"),
        (_header([1, 2]), "not a JSON object"),
        (struct.pack("<Q", 10) + b"{not json}", "not JSON"),
        (struct.pack("<Q", 100) + b"{}", "ends inside"),
        (_header({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
                  "b": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]}}) + bytes(12),
         "overlap"),
        (_text_header(b'{"a": {"dtype": "F32", "shape": [Infinity], "data_offsets": [0, 4]}}'),
         "malformed shape"),
        (_header({"a": {"dtype": "F32", "shape": [1.5], "data_offsets": [0, 4]}}), "malformed"),
        (_header({"a": {"dtype": "F32", "shape": [True], "data_offsets": [0, 4]}}), "malformed"),
        (_header({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0.0, 8]}}), "malformed"),
        (_header({"a": {"dtype": "F32", "shape": [2**31] * 100_000 + [0],
                        "data_offsets": [0, 0]}}), "64 or fewer"),
        (_header({"__metadata__": "ab"}), "strings to strings"),
        (_header({"__metadata__": {"k": 5}}), "strings to strings"),
        (_text_header(b"[" * 100_000 + b"]" * 100_000), "nests too deep"),
    ],
    ids=["outside", "shape", "dtype", "malformed", "list", "json", "truncated", "overlap",
         "infinity", "float-dim", "bool-dim", "float-offset", "many-dims", "metadata-text",
         "metadata-number", "deep"],
)  # fmt: skip
def test_bad_safetensors_are_refused(data: bytes, message: str) -> None:
    with pytest.raises(FormatError, match=message):
        read_header(io.BytesIO(data), len(data))


def test_bf16_and_fp8_values() -> None:
    from gitmodel.formats.base import TensorInfo

    floats = np.array([1.5, -2.0, 0.0, 3.140625], np.float32)
    bf16 = (floats.view(np.uint32) >> 16).astype("<u2").tobytes()
    out = to_float(bf16, TensorInfo("x", "BF16", (4,), 0, 8))
    np.testing.assert_array_equal(out, floats)
    e4m3 = bytes([0x38, 0xB8, 0x7E, 0x7F, 0x01])  # 1, -1, 448, NaN, 2^-9
    out = to_float(e4m3, TensorInfo("x", "F8_E4M3", (5,), 0, 5))
    np.testing.assert_array_equal(out[[0, 1, 2, 4]], [1.0, -1.0, 448.0, 2.0**-9])
    assert np.isnan(out[3])


def test_npy_and_npz_stored_and_compressed(tmp_path: Path) -> None:
    a = np.arange(20, dtype=np.float64).reshape(4, 5)
    b = np.asfortranarray(np.arange(6, dtype=np.int32).reshape(2, 3))
    np.save(tmp_path / "a.npy", a)
    np.savez(tmp_path / "s.npz", a=a, b=b)
    np.savez_compressed(tmp_path / "c.npz", a=a, b=b)
    np.testing.assert_array_equal(values(tmp_path / "a.npy", "array"), a)
    for name in ("s.npz", "c.npz"):
        with open(tmp_path / name, "rb") as f:
            info = read_model(f, name)
        assert info is not None and info.format == "npz"
        assert {t.name: (t.dtype, t.shape) for t in info.tensors} == {
            "a": ("F64", (4, 5)), "b": ("I32", (2, 3))
        }  # fmt: skip
        np.testing.assert_array_equal(values(tmp_path / name, "a"), a)


def _npy(header: str, data: bytes = b"") -> bytes:
    text = header.encode("latin-1")
    return b"\x93NUMPY\x02\x00" + struct.pack("<I", len(text)) + text + data


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (_npy("{'descr': '<f4', 'fortran_order': False, 'shape': (%s)}" % ("1," * 40_000)),
         "too large for a plain array"),
        (_npy("{'descr': '<f99', 'fortran_order': False, 'shape': (1,)}", bytes(99)),
         "not supported"),
        (_npy("{'descr': '<c4', 'fortran_order': False, 'shape': (1,)}", bytes(4)),
         "not supported"),
        (_npy("{'descr': '<f4', 'fortran_order': False, 'shape': (1.5,)}", bytes(4)),
         "malformed shape"),
        (_npy("{'descr': '<f4', 'fortran_order': False, 'shape': (1,) * 65}", bytes(4)),
         "not a Python literal"),
        (_npy("{'descr': '<f4', 'fortran_order': False, 'shape': (%s)}" % ("1," * 65), bytes(4)),
         "64 or fewer"),
    ],
    ids=["huge-header", "f99", "c4", "float-dim", "expression", "many-dims"],
)  # fmt: skip
def test_bad_npy_is_refused(data: bytes, message: str) -> None:
    with pytest.raises(FormatError, match=message):
        read_model(io.BytesIO(data), "a.npy")


def test_npy_object_arrays_are_refused(tmp_path: Path) -> None:
    np.save(tmp_path / "o.npy", np.array([{"x": 1}], dtype=object), allow_pickle=True)
    with open(tmp_path / "o.npy", "rb") as f, pytest.raises(FormatError, match="pickle"):
        read_model(f, "o.npy")


def test_gguf_metadata_tensors_and_quantized(tmp_path: Path) -> None:
    tok = np.arange(12, dtype=np.float32).reshape(3, 4)
    path = tmp_path / "m.gguf"
    quant = {"blk.0.q": (8, (2, 32), bytes(range(68)))}  # Q8_0: 34 bytes per 32 values
    write_gguf(path, {"general.architecture": "llama", "layers": 2, "ids": [1, 2, 3]},
               {"tok": tok}, quant)  # fmt: skip
    with open(path, "rb") as f:
        info = read_model(f)
    assert info is not None and info.format == "gguf"
    assert info.metadata["general.architecture"] == "llama"
    assert info.metadata["ids"] == [1, 2, 3]
    assert {t.name: (t.dtype, t.shape, t.nbytes) for t in info.tensors} == {
        "tok": ("F32", (3, 4), 48), "blk.0.q": ("Q8_0", (2, 32), 68)
    }  # fmt: skip
    np.testing.assert_array_equal(values(path, "tok"), tok)


def _gguf_text(text: str) -> bytes:
    return struct.pack("<Q", len(text)) + text.encode()


GGUF_KEY = b"GGUF" + struct.pack("<IQQ", 3, 0, 1) + _gguf_text("k")
GGUF_ALIGNMENT = b"GGUF" + struct.pack("<IQQ", 3, 0, 1) + _gguf_text("general.alignment")


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"GGUF" + struct.pack("<I", 1), "version 1"),
        (b"GGUF" + struct.pack("<IQQ", 3, 1 << 40, 0), "1,099,511,627,776 tensors, over the"),
        (b"GGUF" + struct.pack("<IQQ", 3, 0, 1), "more than the file holds"),
        (b"GGUF" + struct.pack("<IQQ", 3, 0, 1 << 22), "keys, over the 65,536 read"),
        (GGUF_KEY + struct.pack("<IIQ", 9, 9, 1 << 22), "arrays, over the 65,536 read in all"),
        (GGUF_KEY + struct.pack("<IIQ", 9, 8, 1 << 22), "strings, over the 2,097,152 read in all"),
        (GGUF_KEY + struct.pack("<IIQ", 9, 8, 1000) + bytes(100), "more than the file holds"),
        (GGUF_ALIGNMENT + struct.pack("<I", 8) + _gguf_text("abc"), "not a power of two"),
        (GGUF_ALIGNMENT + struct.pack("<II", 9, 4) + struct.pack("<QI", 1, 32), "power of two"),
        (GGUF_ALIGNMENT + struct.pack("<Ii", 5, -7), "not a power of two"),
        (GGUF_ALIGNMENT + struct.pack("<II", 4, 24), "not a power of two"),
    ],
    ids=["version", "count", "truncated", "many-keys", "many-arrays", "many-strings", "short-array",
         "alignment-text", "alignment-array", "alignment-negative", "alignment-24"],
)  # fmt: skip
def test_bad_gguf_is_refused(data: bytes, message: str) -> None:
    with pytest.raises(FormatError, match=message):
        read_model(io.BytesIO(data))


def test_pytorch_checkpoint_tensors(tmp_path: Path) -> None:
    weight = np.arange(6, dtype=np.float32).reshape(2, 3)
    path = tmp_path / "model.pt"
    write_torch_zip(path, {"fc.weight": weight, "fc.bias": np.ones(2, np.float16)})
    with open(path, "rb") as f:
        info = read_model(f, "model.pt")
    assert info is not None and info.format == "pytorch"
    assert [(t.name, t.dtype, t.shape) for t in info.tensors] == [
        ("fc.weight", "F32", (2, 3)), ("fc.bias", "F16", (2,))
    ]  # fmt: skip
    np.testing.assert_array_equal(values(path, "fc.weight"), weight)


class _Payload:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (os.system, (f"touch {self.marker}",))


@pytest.mark.parametrize("where", ["alone", "inside-state-dict"])
def test_malicious_pickle_is_never_executed(tmp_path: Path, where: str) -> None:
    marker = tmp_path / "pwned"
    payload = pickle.dumps(_Payload(marker), protocol=2)
    # the payload is live: plain pickle runs it
    loads = "import pickle, sys; pickle.loads(sys.stdin.buffer.read())"
    subprocess.run([sys.executable, "-c", loads], input=payload, check=True)
    assert marker.exists()
    marker.unlink()
    if where == "inside-state-dict":  # a tensor, then the payload as another value
        good = torch_pickle({"w": np.ones(2, np.float32)})
        payload = good[:-2] + b"X" + struct.pack("<I", 4) + b"evil" + payload[2:-1] + b"u."
    path = tmp_path / "model.pt"
    write_torch_zip(path, {"w": np.ones(2, np.float32)}, payload)
    with open(path, "rb") as f, pytest.raises(FormatError, match=r"posix\.system.*never executed"):
        read_model(f, "model.pt")
    assert not marker.exists()


LEGACY_MAGIC = pickle.dumps(0x1950A86A20F9469CFC6C, protocol=2)[:-1]


@pytest.mark.parametrize(
    ("name", "data"),
    [("old.pt", pickle.dumps({"w": [1.0]}, protocol=2)), ("old.bin", LEGACY_MAGIC + b"\x8a")],
)
def test_pickles_and_legacy_checkpoints_are_refused(name: str, data: bytes) -> None:
    with pytest.raises(FormatError, match="never loaded"):
        read_model(io.BytesIO(data), name)


def test_random_bytes_are_not_a_pickle() -> None:
    assert read_model(io.BytesIO(b"\x80\x02" + os.urandom(100)), "weights.bin") is None


def test_unknown_format_and_other_zips(tmp_path: Path) -> None:
    assert read_model(io.BytesIO(b"just some bytes here")) is None
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as archive:
        archive.writestr("readme.txt", "hi")
    assert read_model(buf, "x.zip") is None


def test_compare_values_matches_numpy() -> None:
    rng = np.random.default_rng(1)
    old = rng.standard_normal(300_000).astype(np.float32)
    new = old.copy()
    new[::7] += rng.standard_normal(new[::7].size).astype(np.float32)
    data = safetensors_bytes({"old": old, "new": new})
    info = read_header(io.BytesIO(data), len(data))
    f = io.BytesIO(data)
    delta = compare_values(f, info.by_name()["old"], io.BytesIO(data), info.by_name()["new"])
    diff = new.astype(np.float64) - old.astype(np.float64)
    assert delta.changed == np.count_nonzero(diff)
    norm_old = np.linalg.norm(old.astype(np.float64))
    assert delta.relative_l2 == pytest.approx(np.linalg.norm(diff) / norm_old, rel=1e-9)
    assert delta.max_abs == pytest.approx(np.abs(diff).max(), rel=1e-12)


@pytest.mark.parametrize("chunk", [1, 7, 4096, HEAD_START + 3, 1 << 20])
def test_stream_digests_equal_stored_digests(tmp_path: Path, chunk: int) -> None:
    rng = np.random.default_rng(2)
    tensors = {f"t{i}": rng.standard_normal((i + 1, 33)).astype(np.float32) for i in range(30)}
    tensors["empty"] = np.zeros((0, 3), np.float32)
    data = safetensors_bytes(tensors, {"note": "x" * 100_000})  # header > first buffer
    path = tmp_path / "m.safetensors"
    path.write_bytes(data)
    observer = observer_for("sub/m.safetensors", tmp_path)
    assert observer is not None and observer_for("m.txt", tmp_path) is None
    for start in range(0, len(data), chunk):
        observer.update(memoryview(data)[start : start + chunk])
    pointer = Pointer("a" * 64, len(data))
    observer.finish(pointer)
    with open(path, "rb") as f:
        info = read_model(f, path.name)
        assert info is not None
        expected = compute_digests(f, info)
    stored = DigestStore(tmp_path).read(pointer.oid)
    assert stored is not None and stored["digests"] == expected.digests
    assert len(expected.digests) == 31


def test_stream_digester_gives_up_quietly_on_non_models() -> None:
    from gitmodel.formats import safetensors

    digester = StreamDigester(safetensors.read_header)
    digester.update(b"\xff" * 100_000)
    assert digester.result() is None
    short = StreamDigester(safetensors.read_header)
    short.update(safetensors_bytes({"a": np.ones(4, np.float32)})[:-3])
    assert short.result() is None


def _write_pair(tmp_path: Path, kind: str) -> tuple[Path, Path]:
    old = {"a": np.arange(64, dtype=np.float32).reshape(8, 8), "b": np.ones(32, np.float16)}
    new = {"a": old["a"].copy(), "b": old["b"].copy()}
    new["a"][0, :4] += 1
    paths = tmp_path / f"old.{kind}", tmp_path / f"new.{kind}"
    for path, tensors in zip(paths, (old, new), strict=True):
        if kind == "gguf":
            quant = bytes(34) if path.name.startswith("old") else bytes(33) + b"\x01"
            write_gguf(path, {"general.architecture": "x"}, tensors, {"q": (8, (32,), quant)})
        elif kind == "npz":
            np.savez_compressed(path, **tensors)
        else:
            write_torch_zip(path, tensors)
    return paths


@pytest.mark.parametrize("kind", ["gguf", "npz", "pt"])
def test_diff_of_each_format(tmp_path: Path, kind: str) -> None:
    from gitmodel.formats.diff import FileContent, diff_versions

    old, new = _write_pair(tmp_path, kind)
    result = diff_versions(
        f"m.{kind}",
        FileContent(old, None, old.stat().st_size),
        FileContent(new, None, new.stat().st_size),
        DigestStore(tmp_path),
    )
    changes = {c.name: c for c in result.changes}
    assert changes["a"].changed == 4 and changes["a"].max_abs == 1.0
    assert "b" not in changes
    if kind == "gguf":  # a quantized tensor: compared byte by byte
        assert (changes["q"].changed, changes["q"].unit) == (1, "bytes")
    assert result.unchanged == 1


def _raw_safetensors(entries: dict[str, tuple[str, list[int], bytes]]) -> bytes:
    """A safetensors file with the header written by hand, per the spec: safetensors'
    NumPy API has no F8_E8M0, FNUZ, F4 or F6 arrays to write from."""
    header, offset = {}, 0
    for name, (dtype, shape, data) in entries.items():
        end = offset + len(data)
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [offset, end]}
        offset += len(data)
    return _header(header) + b"".join(data for _, _, data in entries.values())


NEW_DTYPES = {
    "e8": ("F8_E8M0", [3], bytes([127, 128, 0xFF])),
    "e4nuz": ("F8_E4M3FNUZ", [2], bytes([0x40, 0x80])),
    "e5nuz": ("F8_E5M2FNUZ", [2], bytes([0xC4, 0x00])),
    "f4": ("F4", [2, 2], bytes([0x21, 0xF7])),  # two a byte, the first in the low nibble
    "f6": ("F6_E2M3", [4], bytes(3)),  # four in three bytes, compared as bytes
}


def test_safetensors_new_dtypes_are_read() -> None:
    f = io.BytesIO(_raw_safetensors(NEW_DTYPES))
    info = read_model(f, "m.safetensors")
    assert info is not None
    tensors = info.by_name()
    assert {n: (t.dtype, t.nbytes) for n, t in tensors.items()} == {
        "e8": ("F8_E8M0", 3), "e4nuz": ("F8_E4M3FNUZ", 2), "e5nuz": ("F8_E5M2FNUZ", 2),
        "f4": ("F4", 2), "f6": ("F6_E2M3", 3),
    }  # fmt: skip

    def decoded(name: str) -> list[float]:
        return to_float(b"".join(iter_raw(f, tensors[name])), tensors[name]).tolist()

    assert decoded("e8")[:2] == [1.0, 2.0] and np.isnan(decoded("e8")[2])
    assert decoded("e4nuz")[0] == 1.0 and np.isnan(decoded("e4nuz")[1])
    assert decoded("e5nuz") == [-2.0, 0.0]
    assert decoded("f4") == [0.5, 1.0, 6.0, -6.0]


@pytest.mark.parametrize(
    ("dtype", "shape", "nbytes", "message", "hint"),
    [
        ("F4", [3], 2, "does not match", "corrupt"),  # 1.5 bytes: not whole
        ("F7_E3M3", [2], 2, "unsupported dtype 'F7_E3M3'", "F8_E8M0"),
    ],
)  # fmt: skip
def test_safetensors_odd_sizes_and_unknown_dtypes(
    dtype: str, shape: list[int], nbytes: int, message: str, hint: str
) -> None:
    data = _raw_safetensors({"a": (dtype, shape, bytes(nbytes))})
    with pytest.raises(FormatError, match=message) as caught:
        read_model(io.BytesIO(data), "m.safetensors")
    assert hint in (caught.value.hint or "")


def test_safetensors_written_by_safetensors_torch() -> None:
    torch = pytest.importorskip("torch", reason="torch is not installed; headers above are "
                                "written per the safetensors spec")  # fmt: skip
    from safetensors.torch import save

    codes = torch.arange(256, dtype=torch.uint8)
    kinds = {"F8_E4M3": torch.float8_e4m3fn, "F8_E5M2": torch.float8_e5m2,
             "F8_E4M3FNUZ": torch.float8_e4m3fnuz, "F8_E5M2FNUZ": torch.float8_e5m2fnuz,
             "F8_E8M0": torch.float8_e8m0fnu}  # fmt: skip
    data = save({name: codes.clone().view(kind) for name, kind in kinds.items()})
    f = io.BytesIO(data)
    info = read_model(f, "m.safetensors")
    assert info is not None
    for name, kind in kinds.items():
        tensor = info.by_name()[name]
        assert tensor.dtype == name
        expected = codes.view(kind).to(torch.float64).numpy()
        np.testing.assert_array_equal(to_float(b"".join(iter_raw(f, tensor)), tensor), expected)
