"""The long-running filter process, driven by hand over pkt-lines, as Git drives it."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import corrupt_object, git_model, repo_store, run_git
from test_pointer import MALFORMED

from gitmodel import git, pktline
from gitmodel.errors import UserError
from gitmodel.pointer import Pointer


def packets(*lines: str) -> bytes:
    return b"".join(pktline.encode_text(line) for line in lines) + pktline.PKT_FLUSH


def content(data: bytes) -> bytes:
    chunks = [data[i : i + pktline.PKT_MAX_DATA] for i in range(0, len(data), pktline.PKT_MAX_DATA)]
    return b"".join(pktline.encode(c) for c in chunks) + pktline.PKT_FLUSH


HANDSHAKE = packets("git-filter-client", "version=2") + packets(
    "capability=clean", "capability=smudge", "capability=delay"
)


class Reply:
    """Parses the filter's whole stdout back into flush-separated groups."""

    def __init__(self, data: bytes) -> None:
        self.groups: list[list[bytes]] = [[]]
        pos = 0
        while pos < len(data):
            size = pktline.parse_header(data[pos : pos + 4])
            pos += 4
            if size == 0:
                self.groups.append([])
            else:
                self.groups[-1].append(data[pos : pos + size])
                pos += size
        assert self.groups[-1] == []
        self.groups.pop()

    def __iter__(self) -> Iterator[list[bytes]]:
        return iter(self.groups)


def run_filter(repo: Path, stdin: bytes, *args: str) -> tuple[Reply, bytes, int]:
    proc = subprocess.run(
        ["git-model", "filter-process", *args],
        cwd=repo,
        input=stdin,
        capture_output=True,
        check=False,
    )
    return Reply(proc.stdout), proc.stderr, proc.returncode


def test_handshake_and_clean_exit_on_eof(repo: Path) -> None:
    reply, stderr, code = run_filter(repo, HANDSHAKE)
    assert code == 0, stderr
    assert stderr == b""
    assert reply.groups == [
        [b"git-filter-server\n", b"version=2\n"],
        [b"capability=clean\n", b"capability=smudge\n", b"capability=delay\n"],
    ]


def test_only_offered_capabilities_are_claimed(repo: Path) -> None:
    stdin = packets("git-filter-client", "version=2") + packets("capability=clean")
    reply, _, code = run_filter(repo, stdin)
    assert code == 0
    assert list(reply)[1] == [b"capability=clean\n"]


def test_refuses_other_protocol_versions(repo: Path) -> None:
    reply, stderr, code = run_filter(repo, packets("git-filter-client", "version=3"))
    assert code == 1
    assert b"version 2" in stderr
    assert reply.groups == []


def test_clean_then_smudge(repo: Path) -> None:
    data = b"weights " * 100_000
    pointer = Pointer(hashlib.sha256(data).hexdigest(), len(data)).encode()
    stdin = (
        HANDSHAKE
        + packets("command=clean", "pathname=dir/a b.bin")
        + content(data)
        + packets("command=smudge", "pathname=dir/a b.bin")
        + content(pointer)
    )
    reply, stderr, code = run_filter(repo, stdin)
    assert code == 0, stderr
    groups = list(reply)[2:]
    assert groups[0] == [b"status=success\n"]
    assert b"".join(groups[1]) == pointer
    assert groups[2] == []
    assert groups[3] == [b"status=success\n"]
    assert b"".join(groups[4]) == data
    assert groups[5] == []


@pytest.mark.parametrize(
    "size", [1, 65516, 65517, 100_000, 256 << 10, (256 << 10) + 1, 1 << 20, (1 << 20) + 1]
)
def test_smudge_answers_are_framed_at_every_size(repo: Path, size: int) -> None:
    """Small answers are queued and sent in one write, larger ones streamed: both
    must frame the same (packed objects up to 1 MiB, loose ones above)."""
    data = bytes(range(256)) * (size // 256) + b"x" * (size % 256)
    pointer = Pointer(hashlib.sha256(data).hexdigest(), len(data)).encode()
    stdin = HANDSHAKE + packets("command=clean", "pathname=a.bin") + content(data)
    for _ in range(2):
        stdin += packets("command=smudge", "pathname=a.bin") + content(pointer)
    reply, stderr, code = run_filter(repo, stdin)
    assert code == 0, stderr
    groups = list(reply)[5:]
    assert groups == [[b"status=success\n"], list(groups[1]), []] * 2
    assert b"".join(groups[1]) == data
    assert all(len(packet) <= pktline.PKT_MAX_DATA for packet in groups[1])


def test_filter_start_loads_no_option_parser_or_remote_code(repo: Path) -> None:
    """Git starts the filter for every add and checkout: its start-up stays small."""
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "gitmodel", "filter-process"],
        cwd=repo,
        input=HANDSHAKE,
        capture_output=True,
        check=True,
    )
    loaded = {line.rpartition(b"|")[2].strip().decode() for line in proc.stderr.splitlines()}
    assert "gitmodel.commands.filter" in loaded
    heavy = {"click", "fsspec", "gitmodel.cli", "gitmodel.remote.store", "gitmodel.remote.chunked",
             "gitmodel.remote.config", "concurrent.futures"}
    assert loaded.isdisjoint(heavy), sorted(loaded & heavy)


def test_clean_passes_pointers_and_empty_files_through(repo: Path) -> None:
    pointer = Pointer("a" * 64, 5).encode()
    stdin = (
        HANDSHAKE
        + packets("command=clean", "pathname=p.bin")
        + content(pointer)
        + packets("command=clean", "pathname=e.bin")
        + pktline.PKT_FLUSH
    )
    reply, _, code = run_filter(repo, stdin)
    assert code == 0
    groups = list(reply)[2:]
    assert b"".join(groups[1]) == pointer
    assert groups[3:6] == [[b"status=success\n"], [], []]


def test_smudge_of_missing_object_is_an_error_naming_path_and_oid(repo: Path) -> None:
    pointer = Pointer("b" * 64, 5).encode()
    stdin = HANDSHAKE + packets("command=smudge", "pathname=m.bin") + content(pointer)
    reply, stderr, code = run_filter(repo, stdin)
    assert code == 0
    assert list(reply)[2] == [b"status=error\n"]
    assert b"m.bin" in stderr and b"b" * 64 in stderr
    assert b"GIT_MODEL_SKIP_SMUDGE" in stderr


def test_smudge_skip_writes_pointer(repo: Path) -> None:
    pointer = Pointer("b" * 64, 5).encode()
    stdin = HANDSHAKE + packets("command=smudge", "pathname=m.bin") + content(pointer)
    reply, _, code = run_filter(repo, stdin, "--skip")
    assert code == 0
    assert b"".join(list(reply)[3]) == pointer


def test_smudge_of_corrupt_object_withdraws_content(repo: Path) -> None:
    data = b"z" * 200_000
    git_model("clean", cwd=repo, input=data)
    oid = hashlib.sha256(data).hexdigest()
    corrupt_object(repo_store(repo), oid, b"y" * 200_000)
    pointer = Pointer(oid, len(data)).encode()
    stdin = HANDSHAKE + packets("command=smudge", "pathname=c.bin") + content(pointer)
    reply, stderr, code = run_filter(repo, stdin)
    assert code == 0
    groups = list(reply)[2:]
    assert groups[0] == [b"status=success\n"]
    assert groups[2] == [b"status=error\n"]
    assert oid.encode() in stderr
    assert (repo / ".git" / "model" / "bad" / oid).exists()


@pytest.mark.parametrize("name", sorted(MALFORMED))
def test_malformed_pointers_smudge_to_themselves(repo: Path, name: str) -> None:
    """Anything that is not a canonical pointer is content: never a path, never a crash."""
    data = MALFORMED[name]
    stdin = HANDSHAKE + packets("command=smudge", "pathname=m.bin") + content(data)
    reply, stderr, code = run_filter(repo, stdin)
    assert code == 0, stderr
    groups = list(reply)[2:]
    assert groups[0] == [b"status=success\n"]
    assert b"".join(groups[1]) == data
    assert stderr == b""


def test_list_available_blobs_is_answered(repo: Path) -> None:
    stdin = HANDSHAKE + packets("command=list_available_blobs")
    reply, _, code = run_filter(repo, stdin)
    assert code == 0
    assert list(reply)[2:] == [[], [b"status=success\n"]]


@pytest.mark.parametrize(
    "stdin",
    [
        HANDSHAKE + packets("command=frobnicate"),
        HANDSHAKE + packets("no equals sign"),
        HANDSHAKE + packets("command=clean") + b"00",
        HANDSHAKE + b"zzzz",
    ],
    ids=["unknown command", "malformed line", "truncated", "bad header"],
)
def test_protocol_errors_exit_nonzero_without_traceback(repo: Path, stdin: bytes) -> None:
    _, stderr, code = run_filter(repo, stdin)
    assert code == 1
    assert b"Traceback" not in stderr
    assert stderr.count(b"\n") <= 2
    assert (
        list((repo / ".git" / "model" / "tmp").glob("*")) == []
        if (repo / ".git" / "model" / "tmp").exists()
        else True
    )


# Git starts the filter process for every add and checkout: what it loads is start-up time.
NOT_AT_FILTER_START = (
    "click", "pygit2", "dulwich", "fsspec", "dataclasses", "typing", "subprocess",
    "threading", "queue", "hashlib", "gitmodel.cli", "gitmodel.remote.config",
    "gitmodel.git.index_file", "gitmodel.urls", "gitmodel.store.sink",
)  # fmt: skip


def test_filter_process_start_loads_only_what_it_needs() -> None:
    def modules(imports: str) -> set[str]:
        code = f"import sys{imports}; print(' '.join(sys.modules))"
        proc = subprocess.run([sys.executable, "-c", code], capture_output=True, check=True)
        return set(proc.stdout.decode().split())

    baseline = modules("")  # what this interpreter's site hooks load anyway
    loaded = modules(", gitmodel.entry, gitmodel.commands.filter") - baseline
    assert "gitmodel.filter.process" in loaded
    assert loaded.isdisjoint(NOT_AT_FILTER_START), loaded & set(NOT_AT_FILTER_START)


@pytest.mark.parametrize("where", [".", "sub"])
def test_discovery_reads_shared_settings_at_the_top(
    repo: Path, where: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    (repo / ".gitmodel").write_text(
        "[model]\n\tremote = shared\n[core]\n\thooksPath = /tmp/elsewhere\n"
    )
    run_git("config", "model.jobs", "3", cwd=repo)
    run_git("remote", "add", "shared", str(repo), cwd=repo)  # .gitmodel names only ours
    (repo / "sub").mkdir()
    monkeypatch.chdir(repo / where)
    found, settings = git.Discovery().result()
    assert found.worktree == repo.resolve()
    assert settings["model.remote"] == "shared"
    assert settings["model.jobs"] == "3"
    assert "core.hookspath" not in settings  # a committed file never sets anything else


def test_discovery_outside_a_repository(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path.parent))
    with pytest.raises(UserError, match="not in a git repository"):
        git.Discovery().result()


def test_discovery_without_git(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(repo)
    monkeypatch.setenv("PATH", str(repo / "no-such-dir"))
    with pytest.raises(UserError, match="git is not installed"):
        git.Discovery()
