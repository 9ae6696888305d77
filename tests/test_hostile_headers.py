"""Hostile model file headers: what they claim is refused early, or costs memory in
proportion to the file (measured with tracemalloc, not the clock)."""

from __future__ import annotations

import io
import json
import math
import pickle
import struct
import tracemalloc
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from gitmodel.formats import FormatError, read_model, torch_pickle
from gitmodel.formats.arrays import PackedArray, differences
from gitmodel.formats.diff import FileContent, diff_versions
from gitmodel.formats.digests import STREAM_READERS, StreamDigester, compute_digests
from gitmodel.formats.report import array_digest, diff_text, inspect_json, inspect_text
from gitmodel.store.digests import DigestStore


def _s(text: bytes) -> bytes:
    return struct.pack("<Q", len(text)) + text


def _gguf(n_tensors: int, n_keys: int, body: bytes) -> bytes:
    data = b"GGUF" + struct.pack("<IQQ", 3, n_tensors, n_keys) + body
    return data + bytes(-len(data) % 32)


def _array(kind: int, n: int, items: bytes) -> bytes:
    return _gguf(0, 1, _s(b"a") + struct.pack("<IIQ", 9, kind, n) + items)


def u8_array(n: int) -> bytes:
    return _array(0, n, bytes(n))


def empty_strings(n: int) -> bytes:
    return _array(8, n, _s(b"") * n)


def distinct_strings(n: int) -> bytes:
    return _array(8, n, b"".join(_s(b"%x" % i) for i in range(n)))


def many_keys(n: int) -> bytes:
    return _gguf(0, n, b"".join(_s(b"%x" % i) + struct.pack("<IB", 0, 1) for i in range(n)))


def nested_arrays(n: int) -> bytes:
    return _array(9, n, struct.pack("<IQ", 0, 0) * n)


def deep_arrays(depth: int) -> bytes:
    inner = struct.pack("<IQ", 0, 0)  # an empty u8 array
    for _ in range(depth - 1):
        inner = struct.pack("<IQ", 9, 1) + inner
    return _gguf(0, 1, _s(b"a") + struct.pack("<I", 9) + inner)


def many_tensors(n: int) -> bytes:
    entry = b"".join(_s(b"%x" % i) + struct.pack("<IQIQ", 1, 0, 0, 0) for i in range(n))
    return _gguf(n, 0, entry)


def peak(parse: Callable[[], Any]) -> tuple[Any, int]:
    """What ``parse`` returns and the most memory Python held while it ran."""
    tracemalloc.start()
    try:
        return parse(), tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def read(data: bytes) -> Any:
    return read_model(io.BytesIO(data), "m.gguf")


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: many_keys(70_000), "claims 70,000 metadata keys, over the 65,536 read"),
        (lambda: many_tensors(70_000), "claims 70,000 tensors, over the 65,536 read"),
        (lambda: nested_arrays(70_000), "claims 70,000 arrays, over the 65,536 read in all"),
        (lambda: _gguf(0, 1, _s(b"a") + struct.pack("<IIQ", 9, 8, 3 << 20)), "over the 2,097,152"),
        (lambda: deep_arrays(5), "nest over 4 deep"),
        (lambda: _array(8, 2, _s(b"x") + struct.pack("<Q", 65 << 20)), "string is too long"),
        (lambda: _array(8, 2, _s(b"x") + struct.pack("<Q", 1 << 20)), "ends inside its header"),
        (lambda: _array(6, 1 << 40, b""), "more than the file holds"),
        (lambda: _gguf(2, 0, (_s(b"w") + struct.pack("<IQIQ", 1, 0, 0, 0)) * 2), "named twice"),
    ],
    ids=["keys", "tensors", "arrays", "strings", "deep", "long-string", "past-end",
         "numbers", "same-name"],
)  # fmt: skip
def test_a_header_claiming_too_much_is_refused_early(
    make: Callable[[], bytes], message: str
) -> None:
    data = make()

    def refused() -> FormatError:
        with pytest.raises(FormatError, match=message) as caught:
            read(data)
        return caught.value

    error, used = peak(refused)
    assert "\n" not in str(error) and error.hint
    assert used < len(data) + (4 << 20)  # nothing allocated for what is claimed


@pytest.mark.parametrize(
    "make", [u8_array, empty_strings, distinct_strings], ids=["numbers", "empty", "distinct"]
)
def test_large_arrays_cost_their_own_bytes(make: Callable[[int], bytes]) -> None:
    data = make(1 << 18)
    info, used = peak(lambda: read(data))
    array = info.metadata["a"]
    assert isinstance(array, PackedArray) and len(array) == 1 << 18
    assert used < 2 * len(data) + (2 << 20)  # as a list: 8 bytes a value, 60 a string
    shown = make(1 << 15)
    lines, used = peak(lambda: inspect_text(read(shown), len(shown)))
    assert any(line.startswith("  a = (32768 items, xxh3:") for line in lines)
    assert used < 2 * len(shown) + (2 << 20)  # decoded a chunk at a time


def test_the_digest_stream_skips_arrays_and_keeps_to_the_head() -> None:
    tensor = np.arange(8, dtype=np.float32)
    body = _s(b"a") + struct.pack("<IIQ", 9, 0, 4 << 20) + bytes(4 << 20)
    head = b"GGUF" + struct.pack("<IQQ", 3, 1, 1) + body
    head += _s(b"w") + struct.pack("<IQIQ", 1, 8, 0, 0)
    data = head + bytes(-len(head) % 32) + tensor.tobytes()
    digester = StreamDigester(STREAM_READERS[".gguf"])

    def stream() -> Any:
        for start in range(0, len(data), 1 << 16):
            digester.update(data[start : start + (1 << 16)])
        return digester.result()

    digests, used = peak(stream)
    assert digests is not None and set(digests.digests) == {"w"}
    assert digests == compute_digests(io.BytesIO(data), read(data))
    assert used < 3 * len(data)  # the head buffered, never its array decoded


def test_packed_arrays_read_as_lists() -> None:
    numbers = [1.5, math.nan, -0.0, 2.0]
    a = PackedArray("f", 4, struct.pack("<4f", *numbers))
    b = PackedArray("f", 4, struct.pack("<4f", 1.5, math.nan, -0.0, 3.0))
    assert repr(a) == repr(numbers) and a[-1] == 2.0 and a[1:3][1] == -0.0
    assert a == PackedArray("f", 4, struct.pack("<4f", *numbers))  # NaN equal to NaN
    assert a != b and differences(a, b) == (1, 3)
    words = ["x", "", "é😀", "\x1b"]
    c = PackedArray("s", 4, b"".join(_s(w.encode()) for w in words))
    assert list(c) == words and c == words and c[2] == "é😀"
    assert differences(c, words[:2]) == (2, 2)
    with pytest.raises(IndexError):
        c[4]
    many = [f"w{i}" for i in range(10_000)]  # chunks whose bytes agree are never decoded
    changed = [*many[:5000], "x", *many[5001:9000], "y", *many[9001:]]
    packed = [PackedArray("s", len(w), b"".join(_s(t.encode()) for t in w)) for w in
              (many, changed, many[:9500])]  # fmt: skip
    assert differences(packed[0], packed[1]) == differences(many, changed) == (2, 5000)
    assert differences(packed[0], packed[2]) == (500, 9500) and packed[1][9000] == "y"


def test_a_real_gguf_file_reads_shows_and_diffs_as_lists_did(tmp_path: Path) -> None:
    gguf = pytest.importorskip("gguf")
    n = 20_000
    tokens = [f"tok{i}" for i in range(n)]
    tokens[3] = "é\n\x1b[31m😀"
    scores = [float(-i) for i in range(n)]
    scores[2] = math.nan

    def write(path: Path, step: int) -> None:
        writer = gguf.GGUFWriter(str(path), "llama")
        writer.add_array("tokenizer.ggml.tokens", tokens)
        writer.add_array("tokenizer.ggml.scores", scores)
        writer.add_array("tokenizer.ggml.token_type", [1] * n)
        writer.add_array("nested", [[1, 2], [3]])
        writer.add_tensor("w", np.arange(64, dtype=np.float32) + step)
        writer.write_header_to_file()
        writer.write_kv_data_to_file()
        writer.write_tensors_to_file()
        writer.close()

    old, new = tmp_path / "old.gguf", tmp_path / "new.gguf"
    write(old, 0)
    tokens[1234] = "changed"
    write(new, 1)
    with open(new, "rb") as f:
        info = read_model(f, "new.gguf")
        assert info is not None
        digests = compute_digests(f, info)
    meta = info.metadata
    assert meta["tokenizer.ggml.tokens"] == tokens and list(meta["nested"]) == [[1, 2], [3]]
    plain = inspect_json(info, 0, None)["metadata"]
    assert plain["tokenizer.ggml.tokens"] == tokens and plain["tokenizer.ggml.scores"][3] == -3.0
    canonical = json.dumps(tokens, ensure_ascii=False, separators=(",", ":"))
    import xxhash

    expected = xxhash.xxh3_128_hexdigest(canonical.encode())
    assert array_digest(meta["tokenizer.ggml.tokens"]) == expected
    shown = "\n".join(inspect_text(info, 0))
    assert f"  tokenizer.ggml.tokens = ({n} items, xxh3:{expected[:16]})" in shown
    digester = StreamDigester(STREAM_READERS[".gguf"])
    digester.update(new.read_bytes())
    assert digester.result() == digests
    side = [FileContent(p, c * 64, p.stat().st_size) for p, c in ((old, "a"), (new, "b"))]
    diff = diff_versions("m.gguf", side[0], side[1], DigestStore(tmp_path / "digests"))
    assert set(diff.metadata) == {"tokenizer.ggml.tokens"}  # NaN scores the same
    text = diff_text(diff)
    assert f"  metadata tokenizer.ggml.tokens: array of {n} -> {n} items, 1 differ," \
        " the first [1234]: tok1234 -> changed" in text  # fmt: skip
    assert "  ~ w  F32 [64]  changed 100.00% of elements" in "\n".join(text)


def _safetensors(text: bytes) -> bytes:
    return struct.pack("<Q", len(text)) + text


def _npz(members: int) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for i in range(members):
            archive.writestr(f"{i:x}.npy", b"")
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("name", "make", "message"),
    [
        ("m.safetensors", lambda: _safetensors(json.dumps({f"{i:x}": {
            "dtype": "U8", "shape": [0], "data_offsets": [0, 0]} for i in range(140_000)}
        ).encode()), "over 135,168 objects, more than 131,072 tensors need"),
        ("m.safetensors", lambda: _safetensors(b'{"x":{"dtype":"U8","shape":[' + b"0," * (3 << 20)
                                       + b'0],"data_offsets":[0,0]}}'), "over 2,097,152 values"),
        ("m.safetensors", lambda: _safetensors(b'{"x":[' + b"[]," * 300_000 + b"[]]}"), "lists"),
        ("m.safetensors", lambda: struct.pack("<Q", 200 << 20) + b"{" + bytes(100), "too large"),
        ("m.npz", lambda: _npz(70_000), "lists 70,000 members, over the 65,536 read"),
    ],
    ids=["safetensors-tensors", "safetensors-values", "safetensors-lists",
         "safetensors-size", "npz-members"],
)  # fmt: skip
def test_a_json_or_zip_header_claiming_too_much_is_refused_early(
    name: str, make: Callable[[], bytes], message: str
) -> None:
    data = make()

    def refused() -> FormatError:
        with pytest.raises(FormatError, match=message) as caught:
            read_model(io.BytesIO(data), name)
        return caught.value

    error, used = peak(refused)
    assert "\n" not in str(error) and error.hint
    assert used < 2 * len(data) + (1 << 20)  # read, counted, never parsed


def _checkpoint(state: Any) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("archive/data.pkl", pickle.dumps(state, protocol=2))
        archive.writestr("archive/byteorder", "little")
    return buffer.getvalue()


@pytest.mark.parametrize(
    "state", [{"a": [0] * 20_000}, {"a": ["ab"] * 20_000}], ids=["numbers", "strings"]
)
def test_a_checkpoint_pickle_of_too_many_opcodes_is_refused_early(
    state: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(torch_pickle, "MAX_OPCODES", 1 << 14)  # as 2,097,152 are to a larger one
    data = _checkpoint(state)

    def refused() -> FormatError:
        with pytest.raises(FormatError, match="over 16,384 objects") as caught:
            read_model(io.BytesIO(data), "m.pt")
        return caught.value

    error, used = peak(refused)
    assert "\n" not in str(error) and error.hint
    assert used < 2 * len(data) + (1 << 20)  # counted in the pickle's bytes, never unpickled


def test_a_checkpoint_pickle_of_objects_far_larger_than_the_file_is_refused() -> None:
    data = _checkpoint({"a": [[] for _ in range(400_000)]})  # 0.9 MB: 45 MB of lists
    with pytest.raises(FormatError, match="more than a state dict of its size would"):
        read_model(io.BytesIO(data), "m.pt")


def test_a_checkpoint_holding_many_numbers_is_still_read() -> None:
    data = _checkpoint({"losses": [1000.5] * 100_000, "steps": list(range(100_000)),
                        "nested": [[{"x": 1}]]})  # fmt: skip
    info = read_model(io.BytesIO(data), "m.pt")
    assert info is not None and info.metadata["steps"] == list(range(100_000))
    assert info.metadata["nested.0.0.x"] == 1


def _npy(header: str) -> bytes:
    text = header.encode("latin-1") + b"\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(text)) + text


def test_npy_headers_not_as_numpy_writes_them_are_evaluated_within_a_budget() -> None:
    extra = "".join(f"{i}:0," for i in range(9000))  # 60 KB: 90 ms to evaluate
    with pytest.raises(FormatError, match="is too long for a plain array"):
        read_model(io.BytesIO(_npy("{" + extra + "}")), "a.npy")
    quoted = '{"descr": "<f4", "fortran_order": False, "shape": (0,), "x": "%s"}' % ("y" * 1900)
    info = read_model(io.BytesIO(_npy(quoted)), "a.npy")  # another writer's spelling: read
    assert info is not None and info.tensors[0].shape == (0,)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for i in range(40):  # 80 KB of such headers, 2 MB of them unzipped from 2,000 members
            archive.writestr(f"{i}.npy", _npy(quoted))
    with pytest.raises(FormatError, match="not as NumPy writes them, and too many"):
        read_model(io.BytesIO(buffer.getvalue()), "m.npz")
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:  # as NumPy writes them: never evaluated
        for i in range(2000):
            archive.writestr(f"{i}.npy", _npy("{'descr': '<f4', 'fortran_order': False, "
                                              "'shape': (0,), }"))  # fmt: skip
    info = read_model(io.BytesIO(buffer.getvalue()), "m.npz")
    assert info is not None and len(info.tensors) == 2000


def test_a_streamed_safetensors_header_over_the_counts_is_given_up_early() -> None:
    entry = '"%x":{"dtype":"U8","shape":[0],"data_offsets":[0,0]},'
    text = ("{" + "".join(entry % i for i in range(450_000)))[:-1] + "}"
    data = _safetensors(text.encode())
    digester = StreamDigester(STREAM_READERS[".safetensors"])
    fed = 0
    while not digester.failed and fed < len(data):
        digester.update(data[fed : fed + (1 << 20)])
        fed += 1 << 20
    assert digester.failed and fed < len(data) // 2  # refused from the first part of it
