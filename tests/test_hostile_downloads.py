"""Hostile pointers and remotes on the way down: a wrong size in a pointer is the pointer's
fault and never costs a good object; every download stops at the size it expects; a
permanent failure says what is missing and where we looked, never "run it again"."""

from __future__ import annotations

import functools
import hashlib
import http.server
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import git_model, repo_store, run_git
from hygiene_support import LOOSE, commit_file, make_author
from test_hostile_chunked import peak_memory

from gitmodel import manifest
from gitmodel.errors import GitModelError
from gitmodel.manifest import ChunkRef, Manifest
from gitmodel.pointer import Pointer
from gitmodel.remote import layouts, transfer, whole
from gitmodel.remote.errors import RemoteObjectDamaged
from gitmodel.remote.store import RemoteStore
from gitmodel.store.chunking import CHUNK_MIN, Chunker
from gitmodel.store.local import LocalStore


def commit_pointer(repo: Path, path: str, pointer: Pointer) -> None:
    """Commit ``pointer`` at ``path`` as someone else's commit would bring it: a blob in
    the index and history, not (yet) a file in the worktree."""
    blob = run_git("hash-object", "-w", "--stdin", cwd=repo, input=pointer.encode())
    info = f"100644,{blob.stdout.decode().strip()},{path}"
    run_git("update-index", "--add", "--cacheinfo", info, cwd=repo)
    run_git("commit", "-qm", f"add {path}", cwd=repo)


def oid_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def assert_refused_as_a_pointer(stderr: str, path: str, pointer: Pointer, held: int) -> None:
    assert path in stderr and pointer.oid in stderr, stderr
    assert f"{pointer.size} bytes" in stderr and f"{held} bytes" in stderr, stderr
    assert "expected sha256" not in stderr and "Traceback" not in stderr, stderr
    assert "hint:" in stderr, stderr


@pytest.mark.parametrize("size", [3000, 300_000, LOOSE], ids=["packed", "packed-large", "loose"])
@pytest.mark.parametrize("delta", [1, -1])
@pytest.mark.parametrize("direct", [False, True], ids=["smudge", "direct-checkout"])
def test_a_wrong_size_in_a_pointer_never_costs_the_object(
    repo: Path, size: int, delta: int, direct: bool
) -> None:
    """The victim's own unpushed object, named by a pointer claiming one byte more (or
    less): that file fails to check out, naming the pointer; the object stays, intact."""
    if direct:  # large files skip the smudge pipe: the post-checkout hook writes them
        run_git("config", "model.directCheckoutThreshold", "1k", cwd=repo)
    data = os.urandom(size)
    (repo / "mine.bin").write_bytes(data)
    run_git("add", "mine.bin", cwd=repo)
    run_git("commit", "-qm", "my work, not pushed", cwd=repo)
    good = Pointer(hashlib.sha256(data).hexdigest(), size)
    liar = Pointer(good.oid, size + delta)
    commit_pointer(repo, "theirs.bin", liar)

    proc = run_git("checkout", "--", "theirs.bin", cwd=repo, check=False)
    stderr = proc.stderr.decode()
    assert proc.returncode != 0, stderr
    assert_refused_as_a_pointer(stderr, "theirs.bin", liar, size)
    assert not (repo / "theirs.bin").exists() or (repo / "theirs.bin").read_bytes() != data

    store = repo_store(repo)
    assert store.has(good.oid) and not store.bad_dir.exists()
    assert b"".join(bytes(c) for c in store.read(good)) == data
    (repo / "mine.bin").unlink()
    run_git("checkout", "--", "mine.bin", cwd=repo)
    assert (repo / "mine.bin").read_bytes() == data
    fsck = git_model("fsck", cwd=repo, check=False)
    report = fsck.stdout.decode()
    assert fsck.returncode == 1 and "theirs.bin" in report and "corrupt" not in report, report
    assert store.has(good.oid) and not store.bad_dir.exists()


def test_pushing_a_wrong_size_pointer_is_refused_and_costs_nothing(tmp_path: Path) -> None:
    """A push reads every object it sends: a pointer with a wrong size stops the push,
    named, and the object it names stays in the store, intact."""
    _origin, author = make_author(tmp_path)
    data = commit_file(author, "mine.bin", os.urandom(LOOSE))
    good = Pointer(hashlib.sha256(data).hexdigest(), len(data))
    liar = Pointer(good.oid, good.size + 1)
    commit_pointer(author, "theirs.bin", liar)
    proc = run_git("push", "-q", "origin", "main", cwd=author, check=False)
    stderr = proc.stderr.decode()
    assert proc.returncode != 0 and good.oid in stderr and f"{liar.size} bytes" in stderr, stderr
    assert "expected sha256" not in stderr and "again" not in stderr, stderr
    store = repo_store(author)
    assert store.has(good.oid) and not store.bad_dir.exists()
    assert hashlib.sha256(b"".join(bytes(c) for c in store.read(good))).hexdigest() == good.oid


# -- every download stops at the size it expects


def received(counts: Path) -> int:
    """The bytes all remote reads returned, as ``GIT_MODEL_TEST_COUNT_FILE`` counted them."""
    lines = counts.read_text().splitlines() if counts.exists() else []
    return sum(int(line.split()[2]) for line in lines)


@pytest.fixture
def counts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Count what every remote store opened from now on reads (in this process too)."""
    path = tmp_path / "counts"
    monkeypatch.setenv("GIT_MODEL_TEST_COUNT_FILE", str(path))
    return path


def open_remote(path: Path, chunked: bool = True) -> RemoteStore:
    return RemoteStore(f"file://{path}", tries=2, sleep=lambda _: None, chunked=chunked)


def stored_pointer(store: LocalStore, data: bytes) -> Pointer:
    with store.writer() as writer:
        writer.write(data)
        return writer.commit()


def grow_sparse(path: Path, size: int) -> None:
    """Make a remote file ``size`` bytes long, its first bytes kept: no disk used."""
    os.truncate(path, size)


def assert_nothing_kept(store: LocalStore, pointer: Pointer) -> None:
    assert not store.has(pointer.oid)
    assert not store.tmp_dir.exists() or list(store.tmp_dir.iterdir()) == []


def test_a_whole_object_grown_huge_on_the_remote_is_read_no_further_than_its_size(
    tmp_path: Path, counts: Path
) -> None:
    """``git clone`` of a whole-object remote (``model.chunking=false``) whose 10 MiB object
    became 4 GiB: refused, naming the oid and the remote key, after size + 1 bytes."""
    git_model("install", cwd=tmp_path)  # for the clone too
    origin, author = make_author(tmp_path)
    run_git("config", "model.chunking", "false", cwd=author)
    data = commit_file(author, "model.bin", os.urandom(10 << 20))
    run_git("push", "-q", "origin", "main", cwd=author)
    pointer = Pointer(hashlib.sha256(data).hexdigest(), len(data))
    remote = open_remote(origin / "model" / "remote")
    grow_sparse(Path(remote.data_key(pointer.oid)), 4 << 30)
    counts.unlink(missing_ok=True)

    clone = tmp_path / "clone"
    started = time.monotonic()
    proc = run_git("clone", "-q", str(origin), str(clone), cwd=tmp_path, check=False)
    elapsed = time.monotonic() - started
    stderr = proc.stderr.decode()
    assert proc.returncode != 0 and "checkout failed" in stderr, stderr
    assert pointer.oid in stderr and f"data/{pointer.oid[:2]}/" in stderr, stderr
    assert "longer than" in stderr and "again" not in stderr and "hint:" in stderr, stderr
    assert received(counts) <= pointer.size + 1 + (64 << 10), received(counts)
    assert elapsed < 60
    assert_nothing_kept(LocalStore(clone / ".git" / "model"), pointer)


@pytest.mark.parametrize("size", [1000, 9 << 20], ids=["one-request", "in-ranges"])
def test_a_whole_object_ten_times_too_long_is_refused_after_its_size(
    tmp_path: Path, counts: Path, size: int
) -> None:
    remote = open_remote(tmp_path / "remote", chunked=False)
    pointer = stored_pointer(LocalStore(tmp_path / "source"), os.urandom(size))
    whole.upload(remote, LocalStore(tmp_path / "source"), pointer)
    grow_sparse(Path(remote.data_key(pointer.oid)), 10 * size)
    counts.unlink()
    store = LocalStore(tmp_path / "mine")
    with pytest.raises(RemoteObjectDamaged) as info:
        layouts.download(remote, store, pointer)
    message = str(info.value)
    assert f"data/{pointer.oid[:2]}/{pointer.oid[2:4]}/{pointer.oid}" in message, message
    assert received(counts) <= size + 1 + 4096
    assert_nothing_kept(store, pointer)
    assert not layouts.verify(remote, pointer)  # read back no further either
    assert received(counts) <= 2 * (size + 1) + 4096


def chunked_remote(tmp_path: Path, sizes: list[int]) -> tuple[RemoteStore, list[Pointer]]:
    """A directory remote with one object per size, pushed together (so in one pack)."""
    remote = open_remote(tmp_path / "remote")
    source = LocalStore(tmp_path / "source")
    pointers = [stored_pointer(source, os.urandom(size)) for size in sizes]
    transfer.upload(remote, source, pointers, jobs=2, quiet=True)
    return remote, pointers


def refused_download(remote: RemoteStore, pointer: Pointer, store: LocalStore) -> str:
    with pytest.raises(GitModelError) as info:
        transfer.download(remote, store, [pointer], jobs=2, quiet=True)
    message = f"{info.value}\nhint: {info.value.hint}"
    assert pointer.oid in message and "again" not in message, message
    assert_nothing_kept(store, pointer)
    return message


@pytest.mark.parametrize("damage", ["huge tail", "huge garbage"])
def test_a_manifest_grown_huge_is_read_no_further_than_its_cap(
    tmp_path: Path, counts: Path, damage: str
) -> None:
    remote, (pointer,) = chunked_remote(tmp_path, [700_000])
    path = Path(remote.manifest_key(pointer.oid))
    if damage == "huge garbage":
        path.unlink()
        path.write_bytes(b"")
    grow_sparse(path, 2 << 30)
    counts.unlink()
    store = LocalStore(tmp_path / "mine")
    message = ""

    def download() -> None:
        nonlocal message
        message = refused_download(remote, pointer, store)

    assert peak_memory(download) < 4 << 20
    assert "bad manifest" in message and f"manifests/{pointer.oid[:2]}/" in message, message
    assert received(counts) <= 2 * (manifest.max_manifest_size(pointer.size) + 1) + (64 << 10)


@pytest.mark.parametrize("step", [CHUNK_MIN, CHUNK_MIN + 1, 3 * CHUNK_MIN // 2, 1000])
def test_the_manifest_cap_holds_for_what_the_chunker_cuts(step: int) -> None:
    """The cap on a manifest rests on the chunker's minimum: even with a segment start
    as often as a segmenter can ask for one, an honest file's manifest stays under it."""
    assert manifest.CHUNK_MIN == CHUNK_MIN
    data = os.urandom(50 * CHUNK_MIN + 123)
    chunks = Chunker().cut(memoryview(data), list(range(step, len(data), step)))
    refs = [ChunkRef(chunk_id, f"{i:064x}", 0, raw, raw, 0)
            for i, (chunk_id, raw) in enumerate(chunks)]  # fmt: skip
    body = manifest.encode_manifest(Manifest(oid_of(data), len(data), refs))
    assert len(chunks) <= manifest.max_chunks(len(data))
    assert len(body) <= manifest.max_manifest_size(len(data))


def test_a_pack_index_grown_huge_is_read_no_further_than_its_cap(
    tmp_path: Path, counts: Path
) -> None:
    """A push reads every pack index to dedup against it: a huge one costs at most the cap,
    is not used, and the push still lands (its chunks are simply sent again)."""
    remote, (first,) = chunked_remote(tmp_path, [700_000])
    found = remote.read_manifest(first)
    assert found is not None
    grow_sparse(Path(remote.index_key(found.chunks[0].pack)), 2 << 30)
    counts.unlink()
    other = LocalStore(tmp_path / "other")
    data = LocalStore(tmp_path / "source").open(first.oid).read() + b"one more line"
    second = stored_pointer(other, data)
    started = time.monotonic()
    transfer.upload(remote, other, [second], jobs=2, quiet=True)
    assert time.monotonic() - started < 30
    assert received(counts) <= manifest.max_index_size() + 1 + (1 << 20)
    store = LocalStore(tmp_path / "reader")
    transfer.download(remote, store, [second], jobs=2, quiet=True)
    assert hashlib.sha256(store.open(second.oid).read()).hexdigest() == second.oid


@pytest.fixture
def served(tmp_path: Path) -> Iterator[str]:
    """``tmp_path / "remote"`` over HTTP on 127.0.0.1, by Python's own server, which
    ignores byte ranges: every ranged read gets the whole file, as on sshfs."""
    pytest.importorskip("aiohttp")
    (tmp_path / "remote").mkdir(exist_ok=True)
    handler = functools.partial(http.server.SimpleHTTPRequestHandler,
                                directory=str(tmp_path / "remote"))  # fmt: skip
    handler.log_message = lambda *args: None  # type: ignore[attr-defined]
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_a_chunk_range_answered_with_more_than_asked_is_refused(
    tmp_path: Path, served: str
) -> None:
    """Two files share a pack; reading the second asks for its part of the pack only.
    A server that sends the whole pack instead is never sliced as if it fit: the backend
    layer reads by seeking, which this server refuses too, so the read fails for good."""
    _, (first, second) = chunked_remote(tmp_path, [300_000, 300_000])
    remote = RemoteStore(served, tries=2, sleep=lambda _: None)
    store = LocalStore(tmp_path / "mine")
    message = refused_download(remote, second, store)
    assert "range" in message and "again" not in message, message
    assert not store.has(second.oid)
    assert not store.has(first.oid)


# -- a permanent failure says what is missing and where we looked


def make_shared(tmp_path: Path, files: dict[str, bytes]) -> tuple[Path, RemoteStore]:
    git_model("install", cwd=tmp_path)  # for the clones too
    origin, author = make_author(tmp_path)
    for name, data in files.items():
        commit_file(author, name, data)
    run_git("push", "-q", "origin", "main", cwd=author)
    return origin, open_remote(origin / "model" / "remote")


def test_an_object_missing_from_the_remote_is_named_with_where_we_looked(
    tmp_path: Path,
) -> None:
    files = {"model.bin": os.urandom(200_000), "data.bin": os.urandom(100_000)}
    origin, remote = make_shared(tmp_path, files)
    oid = oid_of(files["model.bin"])
    Path(remote.manifest_key(oid)).unlink()
    clone = tmp_path / "clone"
    proc = run_git("clone", "-q", str(origin), str(clone), cwd=tmp_path, check=False)
    stderr = proc.stderr.decode()
    assert proc.returncode != 0 and "model.bin" in stderr and oid in stderr, stderr
    assert f"manifests/{oid[:2]}/{oid}" in stderr and str(origin) in stderr, stderr
    assert "push it from a clone that has it" in stderr and "again" not in stderr, stderr
    fetched = git_model("fetch", cwd=clone, check=False)
    stderr = fetched.stderr.decode()
    assert fetched.returncode == 1 and oid in stderr and "does not have" in stderr, stderr
    assert "hint: push it from a clone" in stderr and "again" not in stderr, stderr


@pytest.mark.parametrize("damage", ["pack byte flipped", "manifest of garbage"])
def test_a_damaged_copy_is_named_and_the_other_objects_still_come(
    tmp_path: Path, damage: str
) -> None:
    """One damaged object on the remote fails that file, named; the others of the same
    checkout are still fetched (one object's fault is not the remote's)."""
    files = {f"f{i}.bin": os.urandom(150_000 + i) for i in range(3)}
    origin, remote = make_shared(tmp_path, files)
    oid = oid_of(files["f0.bin"])
    if damage == "pack byte flipped":
        found = remote.read_manifest(Pointer(oid, len(files["f0.bin"])))
        assert found is not None
        pack = Path(remote.pack_key(found.chunks[0].pack))
        body = bytearray(pack.read_bytes())
        body[found.chunks[0].offset + 10] ^= 1
        pack.unlink()
        pack.write_bytes(bytes(body))
    else:
        path = Path(remote.manifest_key(oid))
        path.unlink()
        path.write_bytes(os.urandom(8192))
    clone = tmp_path / "clone"
    proc = run_git("clone", "-q", str(origin), str(clone), cwd=tmp_path, check=False)
    stderr = proc.stderr.decode()
    assert proc.returncode != 0 and "f0.bin" in stderr and oid in stderr, stderr
    assert str(origin) in stderr and "again" not in stderr and "hint:" in stderr, stderr

    lazy = tmp_path / "lazy"
    env = {**os.environ, "GIT_MODEL_SKIP_SMUDGE": "1"}
    run_git("clone", "-q", str(origin), str(lazy), cwd=tmp_path, env=env)
    repair = git_model("fsck", "--repair", cwd=lazy, check=False)
    out, err = repair.stdout.decode(), repair.stderr.decode()
    assert repair.returncode == 1 and f"could not fetch {oid}" in err, err
    for name in ("f1.bin", "f2.bin"):  # tried after f0.bin, which failed
        assert f"repaired object {oid_of(files[name])}" in out, out + err
    fetched = git_model("fetch", cwd=lazy, check=False)
    stderr = fetched.stderr.decode()
    assert fetched.returncode == 1 and oid in stderr and str(origin) in stderr, stderr
    assert "hint: the remote's copy cannot be used" in stderr and "again" not in stderr, stderr


def test_only_a_remote_that_fails_after_its_retries_suggests_running_again(
    tmp_path: Path,
) -> None:
    files = {"model.bin": os.urandom(100_000)}
    origin, _ = make_shared(tmp_path, files)
    clone = tmp_path / "clone"
    env = {**os.environ, "GIT_MODEL_SKIP_SMUDGE": "1"}
    run_git("clone", "-q", str(origin), str(clone), cwd=tmp_path, env=env)
    run_git("config", "model.retries", "2", cwd=clone)
    run_git("config", "model.retryDelay", "0.01", cwd=clone)
    down = {**os.environ, "GIT_MODEL_TEST_FAULTS": "fail=1"}
    fetched = git_model("fetch", cwd=clone, check=False, env=down)
    stderr = fetched.stderr.decode()
    assert fetched.returncode == 1 and "hint: check the network" in stderr, stderr
