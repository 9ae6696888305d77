from __future__ import annotations

import contextlib
import os
import random
import threading
import time

import pytest

from gitmodel import pktline
from gitmodel.errors import ProtocolError
from gitmodel.filter import stream
from gitmodel.filter.stream import PktReader


def test_encode_text_and_header() -> None:
    assert pktline.encode_text("version=2") == b"000eversion=2\n"
    assert pktline.encode(b"a") == b"0005a"
    assert pktline.parse_header(b"000e") == 10
    assert pktline.parse_header(b"0000") == 0
    assert pktline.parse_header(b"FFF0") == pktline.PKT_MAX_DATA


def test_max_payload() -> None:
    assert len(pktline.encode(b"x" * pktline.PKT_MAX_DATA)) == pktline.PKT_MAX_SIZE
    with pytest.raises(ValueError):
        pktline.encode(b"x" * (pktline.PKT_MAX_DATA + 1))
    with pytest.raises(ValueError):
        pktline.encode(b"")


@pytest.mark.parametrize(
    "header",
    [
        b"",
        b"00",
        b"0001",
        b"0002",
        b"0004",
        b"fff1",
        b"zzzz",
        b"+00f",
        b" 00f",
        b"-001",
        b"0x1f",
        b"1_00",
    ],
)
def test_bad_headers(header: bytes) -> None:
    with pytest.raises(ProtocolError):
        pktline.parse_header(header)


def test_decode_text() -> None:
    assert pktline.decode_text(b"pathname=a b\n") == "pathname=a b"
    assert pktline.decode_text(b"pathname=\xff\n") == "pathname=\udcff"


@pytest.mark.parametrize("seed", range(6))
def test_reader_reassembles_packets_however_the_pipe_splits_them(seed: int) -> None:
    """Requests and content of every size, written in pieces of random sizes (1 byte
    to 200 KiB), come out exactly as framed: headers split across reads, content
    read straight into its buffer together with the next header."""
    rng = random.Random(seed)
    sizes = [0, 1, 3, 4, 5, 65515, 65516, 65517, 131032, 300_000, 1 << 20, (1 << 20) + 7]
    contents = [rng.randbytes(rng.choice(sizes)) for _ in range(14)]
    stream = bytearray()
    for i, data in enumerate(contents):
        stream += b"".join(pktline.encode_text(f"{k}={i}") for k in ("command", "pathname"))
        stream += pktline.PKT_FLUSH
        for start in range(0, len(data), pktline.PKT_MAX_DATA):
            stream += pktline.encode(data[start : start + pktline.PKT_MAX_DATA])
        stream += pktline.PKT_FLUSH
    read_fd, write_fd = os.pipe()

    def feed() -> None:
        view = memoryview(stream)
        while view:
            piece = min(len(view), rng.choice([1, 2, 3, 5, 4096, 65520, 200_000]))
            os.write(write_fd, view[:piece])
            view = view[piece:]
        os.close(write_fd)

    writer = threading.Thread(target=feed)
    writer.start()
    reader = PktReader(read_fd)
    try:
        for i, data in enumerate(contents):
            assert reader.read_text_list() == [f"command={i}", f"pathname={i}"]
            assert b"".join(bytes(chunk) for chunk in reader.read_content()) == data
        assert reader.read_packet() is None
    finally:
        writer.join()
        os.close(read_fd)


@pytest.mark.parametrize("spin", [0.0, 0.01])
def test_reader_sleeps_once_its_spin_is_over(spin: float) -> None:
    """A request that comes long after the spin budget is still read whole, and the
    wait costs the reader no CPU beyond the budget."""
    read_fd, write_fd = os.pipe()

    def late_request() -> None:
        os.write(write_fd, pktline.encode_text("command=smudge") + pktline.PKT_FLUSH)
        os.close(write_fd)

    timer = threading.Timer(0.5, late_request)
    reader = PktReader(read_fd, spin=spin)
    try:
        timer.start()
        cpu = time.thread_time()
        assert reader.read_text_list() == ["command=smudge"]
        assert time.thread_time() - cpu < 0.25
        assert reader.read_packet() is None
    finally:
        timer.join()
        os.close(read_fd)


def test_no_spinning_with_a_single_cpu(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "getloadavg", lambda: (0.5, 0.5, 0.5))
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0})
    assert stream.spin_budget() == 0
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1})
    assert stream.spin_budget() == stream.SPIN_SECONDS


def test_no_spinning_on_a_busy_machine(monkeypatch: pytest.MonkeyPatch) -> None:
    """Polling would only take a CPU from Git when every CPU has work already."""
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1})
    monkeypatch.setattr(os, "getloadavg", lambda: (2.5, 1.0, 1.0))
    assert stream.spin_budget() == 0


def test_reader_sleeps_inside_a_large_content() -> None:
    """Past the first MiB of a content (a large file streaming) a wait for Git does
    not poll: the threads that hash and write the file need the CPUs."""
    data = os.urandom(3 << 20)
    packets = b"".join(
        pktline.encode(data[i : i + pktline.PKT_MAX_DATA])
        for i in range(0, len(data), pktline.PKT_MAX_DATA)
    )
    half = len(packets) // 2
    read_fd, write_fd = os.pipe()

    def feed() -> None:
        os.write(write_fd, packets[:half])
        time.sleep(0.5)  # Git is slow to send the rest
        os.write(write_fd, packets[half:] + pktline.PKT_FLUSH)
        os.close(write_fd)

    writer = threading.Thread(target=feed)
    reader = PktReader(read_fd, spin=10.0)  # would poll through the whole pause
    try:
        writer.start()
        cpu = time.thread_time()
        assert b"".join(bytes(chunk) for chunk in reader.read_content()) == data
        assert time.thread_time() - cpu < 0.25
    finally:
        writer.join()
        os.close(read_fd)


def test_claimed_content_buffers_are_never_refilled() -> None:
    """A consumer may keep the buffer a chunk of a large content is in (the store's
    writer threads do) instead of copying it: the reader then fills other buffers,
    so every kept chunk stays intact, and buffers given back are used again."""
    data = os.urandom(5 << 20)
    read_fd, write_fd = os.pipe()

    def feed() -> None:
        with contextlib.suppress(BrokenPipeError):  # the reader failed and closed its end
            for _ in range(2):
                for start in range(0, len(data), pktline.PKT_MAX_DATA):
                    os.write(write_fd, pktline.encode(data[start : start + pktline.PKT_MAX_DATA]))
                os.write(write_fd, pktline.PKT_FLUSH)
        os.close(write_fd)

    writer = threading.Thread(target=feed)
    reader = PktReader(read_fd)
    try:
        writer.start()
        kept, claimed = [], []
        for chunk in reader.read_content():
            buffer = reader.buffers.claim(chunk)
            assert buffer is not None and all(buffer is not other for other in claimed)
            kept.append(chunk)
            claimed.append(buffer)
        assert b"".join(bytes(chunk) for chunk in kept) == data
        for buffer in claimed:
            reader.buffers.give_back(buffer)
        again = [reader.buffers.claim(chunk) for chunk in reader.read_content()]
        assert any(buffer is old for buffer in again for old in claimed)
    finally:
        os.close(read_fd)
        writer.join()
