"""Hostile bytes into every parser: only clear errors, no hang, no allocation sized by input.

Each property runs ``GIT_MODEL_FUZZ_EXAMPLES`` cases (default 200, so the suite stays
quick); ``stress/fuzz.sh`` runs them with 25,000 each (over 100,000 in all).
"""

from __future__ import annotations

import contextlib
import os
import string
import tempfile

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gitmodel import manifest as mf
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
    for oid, offset, size, check in decode_entries(data):
        assert ptr.is_valid_oid(oid)
        assert encode_entry(oid, offset, size, check) in data


@fuzz
@given(st.lists(st.tuples(st.binary(min_size=32, max_size=32), st.integers(0, 2**64 - 1),
                          st.integers(0, 2**64 - 1), st.integers(0, 2**64 - 1)), max_size=5),
       st.integers(0, 4 * ENTRY_SIZE), st.binary(min_size=1, max_size=1))  # fmt: skip
def test_pack_index_survives_a_flipped_byte(
    entries: list[tuple[bytes, int, int, int]], at: int, byte: bytes
) -> None:
    body = bytearray(b"".join(encode_entry(raw.hex(), *fields) for raw, *fields in entries))
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


# -- the chunked layout's formats (gitmodel/manifest.py)

ids32 = st.sampled_from([bytes([i]) * 32 for i in range(4)])  # the parsers do not look at ids
codecs = st.sampled_from([*mf.CODECS, 4, 255])
lengths = st.sampled_from([0, 1, 2, 4096, mf.CHUNK_MAX, mf.CHUNK_MAX + 1, 2**32 - 1])


@st.composite
def chunk_refs(draw: st.DrawFn) -> list[mf.ChunkRef]:
    packs = draw(st.lists(st.sampled_from(["a" * 64, "b" * 64, "0" * 64]), min_size=1, max_size=3))
    refs = []
    for _ in range(draw(st.integers(0, 6))):
        raw = draw(st.one_of(lengths, st.integers(1, mf.CHUNK_MAX)))
        over = min(raw + mf.STORED_SLACK + 1, 2**32 - 1)
        stored = draw(st.one_of(lengths, st.just(raw), st.just(over)))
        offset = draw(st.integers(0, 2**64 - 1))
        pack = draw(st.sampled_from(packs))
        refs.append(mf.ChunkRef(draw(ids32), pack, offset, stored, raw, draw(codecs)))
    return refs


def mutate(draw: st.DrawFn, data: bytes) -> bytes:
    """``data`` with a few bytes flipped, cut, inserted, or a 4- or 8-byte field blown up."""
    out = bytearray(data)
    for _ in range(draw(st.integers(0, 3))):
        at = draw(st.integers(0, len(out)))
        action = draw(st.sampled_from(["flip", "cut", "insert", "huge4", "huge8"]))
        if action == "flip" and at < len(out):
            out[at] ^= draw(st.integers(1, 255))
        elif action == "cut":
            del out[at:]
        elif action == "insert":
            out[at:at] = draw(st.binary(min_size=1, max_size=60))
        elif action == "huge4":
            out[at : at + 4] = (2**32 - draw(st.integers(1, 3))).to_bytes(4, "big")
        elif action == "huge8":
            out[at : at + 8] = (2**64 - draw(st.integers(1, 3))).to_bytes(8, "big")
    return bytes(out)


def damaged(data: st.DataObject, body: bytes, magic: bytes) -> bytes:
    """``body`` as it is, mutated, or random bytes after its format's magic."""
    return data.draw(st.one_of(st.just(body), st.builds(lambda: mutate(data.draw, body)),
                               st.binary(max_size=200).map(magic.__add__)))  # fmt: skip


def _manifest_checks(found: mf.Manifest, oid: str, size: int) -> None:
    assert found.oid == oid and found.size == size
    assert sum(c.raw for c in found.chunks) == size
    for c in found.chunks:
        assert c.codec in mf.CODECS and 0 < c.raw <= mf.CHUNK_MAX
        assert 0 < c.stored <= c.raw + mf.STORED_SLACK and len(c.id) == 32
        assert ptr.is_valid_oid(c.pack)
    again = mf.encode_manifest(found)  # what was accepted reads back the same
    assert mf.decode_manifest(again, oid, size) == found


@fuzz
@given(st.data())
def test_manifest_decoder_accepts_only_consistent_manifests(data: st.DataObject) -> None:
    refs = data.draw(chunk_refs())
    oid = "d" * 64
    size = sum(r.raw for r in refs) + data.draw(st.sampled_from([0, 0, 0, 1, -1]))
    body = mf.encode_manifest(mf.Manifest(oid, max(0, size), refs))
    body = damaged(data, body, mf.MANIFEST_MAGIC)
    try:
        found = mf.decode_manifest(body, oid, max(0, size))
    except mf.ManifestFormatError as exc:
        assert "\n" not in str(exc) and len(str(exc)) < 200
        return
    _manifest_checks(found, oid, max(0, size))
    assert len(body) == mf.manifest_length(body)


@fuzz
@given(st.data())
def test_index_decoder_round_trips_whatever_it_accepts(data: st.DataObject) -> None:
    refs = data.draw(chunk_refs())
    entries = [mf.PackIndexEntry(r.id, 0, r.stored, r.raw, r.codec) for r in refs]
    body = mf.encode_index("a" * 64, entries)
    body = damaged(data, body, mf.INDEX_MAGIC)
    try:
        found = mf.decode_index(body, "a" * 64)
    except mf.ManifestFormatError:
        return
    offset = 0
    for entry in found:
        assert entry.offset == offset and entry.codec in mf.CODECS
        assert 0 < entry.raw <= mf.CHUNK_MAX and 0 < entry.stored <= entry.raw + mf.STORED_SLACK
        offset += entry.stored
    assert mf.encode_index("a" * 64, found) == body


@fuzz
@given(st.data())
def test_chunk_list_decoder_round_trips_whatever_it_accepts(data: st.DataObject) -> None:
    refs = data.draw(chunk_refs())
    chunks = [(r.id, r.raw) for r in refs]
    size = sum(n for _, n in chunks) + data.draw(st.sampled_from([0, 0, 1]))
    body = mf.encode_chunk_list("c" * 64, size, chunks)
    body = damaged(data, body, mf.CHUNKS_MAGIC)
    try:
        found = mf.decode_chunk_list(body, "c" * 64)
    except mf.ManifestFormatError:
        return
    assert all(0 < n <= mf.CHUNK_MAX for _, n in found)
    total = sum(n for _, n in found)
    assert mf.encode_chunk_list("c" * 64, total, found) == body


@fuzz
@given(st.data())
def test_a_valid_manifest_with_one_byte_changed_never_reads_as_another(data: st.DataObject) -> None:
    """A flipped byte is refused, or decodes to a manifest that encodes back to the
    damaged bytes exactly: nothing is silently read around (the ids then catch it)."""
    refs = [r for r in data.draw(chunk_refs()) if 0 < r.raw <= mf.CHUNK_MAX and r.codec < 4
            and 0 < r.stored <= r.raw + mf.STORED_SLACK]  # fmt: skip
    oid = "e" * 64
    good = mf.Manifest(oid, sum(r.raw for r in refs), refs)
    body = bytearray(mf.encode_manifest(good))
    at = data.draw(st.integers(0, len(body) - 1))
    body[at] ^= data.draw(st.integers(1, 255))
    try:
        found = mf.decode_manifest(bytes(body), oid, good.size)
    except mf.ManifestFormatError:
        return
    assert found != good
    _manifest_checks(found, oid, good.size)


@fuzz
@given(st.data())
def test_batch_decoder_accepts_only_consistent_tables(data: st.DataObject) -> None:
    manifests = []
    for number in range(data.draw(st.integers(0, 4))):
        refs = data.draw(chunk_refs())
        oid = f"{number:x}" * 64 if number else "1" * 64
        manifests.append(mf.Manifest(oid[:64], sum(r.raw for r in refs), refs))
    body = damaged(data, mf.encode_batch(manifests), mf.BATCH_MAGIC)
    try:
        table = mf.decode_batch(body)
    except mf.ManifestFormatError as exc:
        assert "\n" not in str(exc) and len(str(exc)) < 200
        return
    assert list(table) == sorted(table)
    end = len(body)
    for entry in reversed(table.values()):
        assert entry.offset + entry.length == end and entry.length > 0
        end = entry.offset
        with contextlib.suppress(mf.ManifestFormatError):  # each is checked when read
            _manifest_checks(mf.batch_manifest(body, entry), entry.oid, entry.size)
