"""Hostile bytes into every parser: only clear errors, no hang, no allocation sized by input.

Each property runs ``GIT_MODEL_FUZZ_EXAMPLES`` cases (default 200, so the suite stays
quick); ``stress/fuzz.sh`` runs them with 25,000 each (over 100,000 in all).
"""

from __future__ import annotations

import os
import string
import tempfile

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gitmodel import pktline
from gitmodel import pointer as ptr
from gitmodel.errors import PointerError, ProtocolError
from gitmodel.filter.stream import PktReader
from gitmodel.store.pack import ENTRY_SIZE, decode_entries, encode_entry

EXAMPLES = int(os.environ.get("GIT_MODEL_FUZZ_EXAMPLES", "200"))
fuzz = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=EXAMPLES <= 200,  # the suite is repeatable; long runs explore
    suppress_health_check=[HealthCheck.too_slow],
)

HEX = "0123456789abcdef"
CANONICAL_LINES = [
    b"version https://git-lfs.github.com/spec/v1\n",
    b"oid sha256:" + b"a" * 64 + b"\n",
    b"size 12345\n",
]
MUTATIONS = [b"\r\n", b"../", b"/", b"\x00", b" ", b"ext-0-foo bar\n", b"size 1\n", b"A", b"-1"]


@st.composite
def pointer_like(draw: st.DrawFn) -> bytes:
    """Near-pointers: the canonical lines with bytes inserted, dropped or swapped."""
    lines = list(CANONICAL_LINES)
    oid = draw(st.text(alphabet=HEX + "ABCDEFG./", min_size=0, max_size=70))
    lines[1] = b"oid sha256:" + oid.encode() + b"\n"
    lines[2] = b"size " + draw(st.sampled_from([b"0", b"9" * 19, b"9" * 20, b"12", b"01"])) + b"\n"
    if draw(st.booleans()):
        lines = draw(st.permutations(lines))
    data = b"".join(lines)
    for _ in range(draw(st.integers(0, 3))):
        at = draw(st.integers(0, len(data)))
        data = data[:at] + draw(st.sampled_from(MUTATIONS)) + data[at:]
    return data


@fuzz
@given(st.one_of(st.binary(max_size=1100), pointer_like()))
def test_pointer_parser_accepts_only_the_canonical_form(data: bytes) -> None:
    found = ptr.try_parse(data)
    if found is None:
        try:
            ptr.parse(data)
        except PointerError:
            return
        raise AssertionError("parse accepted what try_parse refused")
    assert found.encode() == data
    assert ptr.is_valid_oid(found.oid) and set(found.oid) <= set(HEX)


@fuzz
@given(st.binary(max_size=8))
def test_pkt_header_parser_raises_only_protocol_errors(header: bytes) -> None:
    try:
        size = pktline.parse_header(header)
    except ProtocolError:
        return
    assert 0 <= size <= pktline.PKT_MAX_DATA


def pkt_stream() -> st.SearchStrategy[bytes]:
    packet = st.one_of(
        st.binary(min_size=1, max_size=300).map(pktline.encode),
        st.just(b"0000"),
        st.text(alphabet=string.hexdigits, min_size=4, max_size=4).map(str.encode),
        st.binary(max_size=12),
    )
    return st.lists(packet, max_size=12).map(b"".join)


@fuzz
@given(pkt_stream())
def test_pkt_reader_ends_with_eof_or_a_protocol_error(stream: bytes) -> None:
    with tempfile.TemporaryFile() as f:
        f.write(stream)
        f.seek(0)
        reader = PktReader(f.fileno())
        packets = 0
        try:
            while (packet := reader.read_packet()) is not None:
                assert len(packet) <= pktline.PKT_MAX_DATA
                packets += 1
        except ProtocolError:
            pass
        assert packets <= len(stream) // 4  # every packet consumed input: no loop


@fuzz
@given(st.binary(max_size=4 * ENTRY_SIZE + 7))
def test_pack_index_decoder_never_trusts_damage(data: bytes) -> None:
    for oid, offset, size in decode_entries(data):
        assert ptr.is_valid_oid(oid)
        assert encode_entry(oid, offset, size) in data


@fuzz
@given(st.lists(st.tuples(st.binary(min_size=32, max_size=32), st.integers(0, 2**64 - 1),
                          st.integers(0, 2**64 - 1)), max_size=5),
       st.integers(0, 4 * ENTRY_SIZE), st.binary(min_size=1, max_size=1))  # fmt: skip
def test_pack_index_survives_a_flipped_byte(
    entries: list[tuple[bytes, int, int]], at: int, byte: bytes
) -> None:
    body = bytearray(b"".join(encode_entry(raw.hex(), off, size) for raw, off, size in entries))
    if at < len(body) and body[at] != byte[0]:
        body[at] = byte[0]
        decoded = list(decode_entries(bytes(body)))
        assert len(decoded) <= at // ENTRY_SIZE  # the damaged entry and all after it are gone


def _model_seeds() -> dict[str, bytes]:
    """One small valid file of each format the readers know."""
    import io
    import tempfile as tf
    from pathlib import Path

    import numpy as np
    from helpers.model_files import safetensors_bytes, write_gguf, write_torch_zip

    tensors = {"w": np.arange(6, dtype=np.float32).reshape(2, 3), "b": np.ones(3, np.float16)}
    seeds = {"m.safetensors": safetensors_bytes(tensors, {"k": "v"})}
    with tf.TemporaryDirectory() as tmp:
        write_gguf(Path(tmp) / "m.gguf", {"general.name": "x", "n": 3}, tensors)
        write_torch_zip(Path(tmp) / "m.pt", tensors)
        seeds["m.gguf"] = (Path(tmp) / "m.gguf").read_bytes()
        seeds["m.pt"] = (Path(tmp) / "m.pt").read_bytes()
    npy, npz = io.BytesIO(), io.BytesIO()
    np.save(npy, tensors["w"])
    np.savez(npz, **tensors)
    seeds["m.npy"], seeds["m.npz"] = npy.getvalue(), npz.getvalue()
    return seeds


MODEL_SEEDS = _model_seeds()


@st.composite
def damaged_model(draw: st.DrawFn) -> tuple[str, bytes]:
    """A valid model file with bytes flipped, cut, or a size field blown up."""
    name = draw(st.sampled_from(sorted(MODEL_SEEDS)))
    data = bytearray(MODEL_SEEDS[name])
    for _ in range(draw(st.integers(1, 4))):
        at = draw(st.integers(0, len(data) - 1))
        action = draw(st.sampled_from(["flip", "cut", "huge", "insert"]))
        if action == "flip":
            data[at] ^= draw(st.integers(1, 255))
        elif action == "cut":
            del data[at:]
            if not data:
                data += b"\0"
        elif action == "huge":
            data[at : at + 8] = (2**63 - draw(st.integers(0, 9))).to_bytes(8, "little")
        else:
            data[at:at] = draw(st.binary(min_size=1, max_size=16))
    return name, bytes(data)


@fuzz
@given(damaged_model())
def test_model_readers_refuse_damage_clearly(case: tuple[str, bytes]) -> None:
    import io

    from gitmodel.formats import FormatError, read_model

    name, data = case
    try:
        info = read_model(io.BytesIO(data), name)
    except FormatError as exc:
        assert "\n" not in str(exc) and len(str(exc)) < 500
        return
    if info is not None:  # what a damaged file still claims must fit inside it
        for tensor in info.tensors:
            assert tensor.offset >= 0 and tensor.offset + tensor.nbytes <= len(data), tensor
