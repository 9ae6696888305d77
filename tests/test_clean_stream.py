"""A large file on its way into the store through the filter process: the bytes stored
are exactly the ones Git sent, however they are framed, and a stream cut short
leaves nothing behind."""

from __future__ import annotations

import hashlib
import os
import random
from pathlib import Path

import pytest
from conftest import repo_store, run_git
from test_filter_process import HANDSHAKE, content, packets, run_filter

from gitmodel import pktline
from gitmodel.pointer import Pointer, try_parse

SIZE = 5 << 20  # past the first MiB, where the reader stops polling for input


def clean_request(path: str, data: bytes) -> bytes:
    return packets("command=clean", f"pathname={path}") + content(data)


def odd_packets(data: bytes, seed: int) -> bytes:
    """``data`` in packets of random sizes, 1 byte to the largest, then a flush."""
    rng = random.Random(seed)
    out = bytearray()
    pos = 0
    while pos < len(data):
        size = min(rng.choice((1, 3, 4, 5, 1000, 4096, 65515, pktline.PKT_MAX_DATA)),
                   len(data) - pos)  # fmt: skip
        out += pktline.encode(data[pos : pos + size])
        pos += size
    return bytes(out + pktline.PKT_FLUSH)


def stored_pointer(reply_group: list[bytes]) -> Pointer:
    pointer = try_parse(b"".join(reply_group))
    assert pointer is not None
    return pointer


def leftovers(repo: Path) -> list[Path]:
    tmp = repo_store(repo).tmp_dir
    return list(tmp.iterdir()) if tmp.exists() else []


@pytest.mark.parametrize("seed", [1, 2])
def test_packets_of_any_size_store_exactly_the_bytes_sent(repo: Path, seed: int) -> None:
    data = os.urandom(SIZE)
    request = packets("command=clean", "pathname=a.bin") + odd_packets(data, seed)
    reply, stderr, code = run_filter(repo, HANDSHAKE + request)
    assert code == 0, stderr
    groups = list(reply)
    assert groups[2] == [b"status=success\n"]
    pointer = stored_pointer(groups[3])
    assert pointer == Pointer(hashlib.sha256(data).hexdigest(), SIZE)
    with repo_store(repo).open(pointer.oid) as f:
        assert f.read() == data
    assert leftovers(repo) == []


def test_large_files_back_to_back_in_one_process(repo: Path) -> None:
    first, second = os.urandom(SIZE), os.urandom(SIZE + 12345)
    stdin = HANDSHAKE + clean_request("a.bin", first) + clean_request("b.bin", second)
    reply, stderr, code = run_filter(repo, stdin)
    assert code == 0, stderr
    groups = list(reply)
    assert stored_pointer(groups[3]).oid == hashlib.sha256(first).hexdigest()
    assert stored_pointer(groups[6]).oid == hashlib.sha256(second).hexdigest()


def test_the_bytes_git_sends_win_over_the_worktree_file(repo: Path) -> None:
    """Git may send other bytes than the file holds now (a file changed during ``git
    add``, or ``git add`` of an edited index entry): the pipe's are stored."""
    (repo / "a.bin").write_bytes(os.urandom(SIZE * 2))
    data = os.urandom(SIZE)
    reply, stderr, code = run_filter(repo, HANDSHAKE + clean_request("a.bin", data))
    assert code == 0, stderr
    assert stored_pointer(list(reply)[3]).oid == hashlib.sha256(data).hexdigest()


@pytest.mark.parametrize("cut", [SIZE // 2, SIZE // 2 + 2, SIZE - 1])
def test_a_stream_cut_short_stores_nothing(repo: Path, cut: int) -> None:
    """Git dying mid-file (in a payload, or in a header): one line, exit 1, and no
    object, partial or whole, nor anything left in tmp/."""
    data = os.urandom(SIZE)
    stream = clean_request("a.bin", data)
    _, stderr, code = run_filter(repo, HANDSHAKE + stream[: len(stream) - (SIZE - cut)])
    assert code == 1
    assert b"Traceback" not in stderr
    assert stderr.count(b"\n") <= 2
    assert repo_store(repo).oids() == set()
    assert leftovers(repo) == []


def test_git_add_of_a_large_file_then_checkout(repo: Path) -> None:
    data = os.urandom(SIZE)
    (repo / "a.bin").write_bytes(data)
    run_git("add", "a.bin", cwd=repo)
    run_git("commit", "-qm", "a", cwd=repo)
    (repo / "a.bin").unlink()
    run_git("checkout", "--", "a.bin", cwd=repo)
    assert (repo / "a.bin").read_bytes() == data
    assert repo_store(repo).oids() == {hashlib.sha256(data).hexdigest()}
