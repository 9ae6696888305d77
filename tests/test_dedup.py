"""Chunk-level dedup through real git: a new version sends and fetches only what changed."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
from conftest import git_model, run_git
from helpers.model_files import safetensors_bytes
from hygiene_support import make_author, model_dir, oid_of

from gitmodel.pointer import Pointer
from gitmodel.remote import transfer
from gitmodel.remote.store import RemoteStore
from gitmodel.store import codec
from gitmodel.store.local import LocalStore

TENSOR = 256 << 10


def model(seed: int, changed: dict[str, int], extra: tuple[str, ...] = ()) -> dict[str, np.ndarray]:
    """24 tensors of 256 KiB; ``changed`` names tensors drawn from another seed."""
    names = [*extra, *(f"layer{i:02d}" for i in range(24))]
    rng = {name: np.random.default_rng(changed.get(name, seed) * 1000 + i)
           for i, name in enumerate(names)}  # fmt: skip
    return {name: rng[name].standard_normal(TENSOR // 4).astype(np.float32) for name in names}


def remote_root(origin: Path) -> Path:
    return origin / "model" / "remote"


def pack_bytes(origin: Path) -> int:
    return sum(p.stat().st_size for p in (remote_root(origin) / "packs").rglob("*") if p.is_file())


def clone_of(origin: Path, tmp_path: Path) -> Path:
    git_model("install", cwd=tmp_path)  # globally, in this test's own HOME
    clone = tmp_path / "clone"
    run_git("clone", "-q", str(origin), str(clone), cwd=tmp_path)
    return clone


def commit_push(repo: Path, name: str, data: bytes, message: str) -> None:
    (repo / name).write_bytes(data)
    run_git("add", name, ".gitattributes", cwd=repo)
    run_git("commit", "-qm", message, cwd=repo)
    run_git("push", "-q", "origin", "main", cwd=repo)


def test_new_versions_send_and_fetch_only_changed_tensors(tmp_path: Path) -> None:
    origin, repo = make_author(tmp_path)
    git_model("track", "*.safetensors", cwd=repo)
    v1 = safetensors_bytes(model(1, {}))
    commit_push(repo, "m.safetensors", v1, "v1")
    first = pack_bytes(origin)
    assert len(v1) * 0.95 < first <= len(v1) * 1.01  # random floats: stored as they are

    # two tensors retrained and a new one in front, so every later offset shifts
    v2 = safetensors_bytes(model(1, {"layer05": 2, "layer17": 2}, extra=("adapter",)))
    commit_push(repo, "m.safetensors", v2, "v2")
    changed = 3 * TENSOR
    sent = pack_bytes(origin) - first
    assert changed <= sent <= 1.2 * changed

    # a store holding v1 fetches v2 reading little more than the changed tensors
    mine = LocalStore(tmp_path / "mine")
    remote = RemoteStore(f"file://{remote_root(origin)}")
    got = transfer.download(remote, mine, [Pointer(oid_of(v1), len(v1))], quiet=True)
    assert got.transferred >= len(v1) * 0.95
    got = transfer.download(remote, mine, [Pointer(oid_of(v2), len(v2))], quiet=True)
    assert changed <= got.transferred <= 1.2 * changed
    assert b"".join(bytes(c) for c in mine.read(Pointer(oid_of(v2), len(v2)))) == v2

    # and through git: a clone gets both versions byte for byte
    clone = clone_of(origin, tmp_path)
    assert (clone / "m.safetensors").read_bytes() == v2
    run_git("checkout", "-q", "HEAD~1", cwd=clone)
    assert (clone / "m.safetensors").read_bytes() == v1


def test_appended_data_set_stores_only_the_new_rows(tmp_path: Path) -> None:
    _, repo = make_author(tmp_path)
    git_model("track", "*.csv", cwd=repo)
    rows = [f"{i},{i * 7 % 1000},text {i % 97},{i / 3:.5f}\n".encode() for i in range(60_000)]
    logical = 0
    for version in range(4):
        rows += [f"{i},new,{version}\n".encode() for i in range(len(rows), len(rows) + 3000)]
        rows[1000 + version] = b"edited in the middle\n"
        data = b"".join(rows)
        logical += len(data)
        commit_push(repo, "set.csv", data, f"v{version}")
    usage = json.loads(git_model("du", "--json", cwd=repo).stdout)
    assert usage["objects"] == 4 and usage["logical_bytes"] == logical
    # compressed and deduplicated: far less than even one version
    assert usage["stored_bytes"] < 0.5 * len(data)
    assert usage["dedup_ratio"] > 6
    text = git_model("du", cwd=repo).stdout.decode()
    assert "dedup ratio" in text and "objects      4" in text


def test_whole_object_remote_stays_readable_and_upgrades(tmp_path: Path) -> None:
    origin, repo = make_author(tmp_path)
    run_git("config", "model.chunking", "false", cwd=repo)
    old = os.urandom(300_000)
    commit_push(repo, "a.bin", old, "whole")
    layout = json.loads((remote_root(origin) / "gitmodel-remote.json").read_text())
    assert layout["layout"] == 1 and not (remote_root(origin) / "packs").exists()
    run_git("config", "--unset", "model.chunking", cwd=repo)
    new = old[:100_000] + os.urandom(1000) + old[100_000:]
    commit_push(repo, "a.bin", new, "chunked")
    layout = json.loads((remote_root(origin) / "gitmodel-remote.json").read_text())
    assert layout["layout"] == 2 and (remote_root(origin) / "packs").is_dir()
    clone = clone_of(origin, tmp_path)
    assert (clone / "a.bin").read_bytes() == new
    run_git("checkout", "-q", "HEAD~1", cwd=clone)
    assert (clone / "a.bin").read_bytes() == old
    assert git_model("fsck", "--remote", cwd=clone).returncode == 0


def test_many_small_files_are_compressed_where_it_pays_even_when_the_kind_changes(
    tmp_path: Path,
) -> None:
    """Small files take the compression answer of the alike files before them, and a
    file in 16 is tried again: after a run of random files, text files are compressed
    again within 16 files, and everything reads back."""
    origin, repo = make_author(tmp_path)
    files = {f"a/{i:02d}.bin": os.urandom(20_000) for i in range(40)}
    for i in range(48):
        rows = (f"{i},{n},row {n % 89},{n / 7:.4f}\n" for n in range(1000))
        files[f"b/{i:02d}.bin"] = "".join(rows).encode()[:20_000]
    for name, data in files.items():
        (repo / name).parent.mkdir(exist_ok=True)
        (repo / name).write_bytes(data)
    run_git("add", ".", cwd=repo)
    run_git("commit", "-qm", "a data set", cwd=repo)
    run_git("push", "-q", "origin", "main", cwd=repo)
    random = sum(len(d) for n, d in files.items() if n.startswith("a/"))
    text = sum(len(d) for n, d in files.items() if n.startswith("b/"))
    stored = pack_bytes(origin)
    assert random <= stored  # the random files as they are
    # each text file shrinks to under a third; 15 at most are sent as they are
    assert all(len(codec.compressor().compress(d)) < len(d) / 3 for d in files.values()
               if d.isascii())  # fmt: skip
    assert stored - random < (15 + 33 / 3) / 48 * text
    clone = clone_of(origin, tmp_path)
    for name, data in files.items():
        assert (clone / name).read_bytes() == data


def test_small_file_verdicts_try_one_file_in_16_once_8_agree() -> None:
    text = memoryview(b"the same words again and again " * 700)
    noise = memoryview(os.urandom(20_000))

    def answers(verdicts: codec.SmallFileVerdicts, view: memoryview, count: int) -> list[bool]:
        return [verdicts.worth(view, [(b"new", len(view))]) for _ in range(count)]

    settled = codec.SmallFileVerdicts()
    assert answers(settled, noise, 8) == [False] * 8  # each tried: 8 agree
    # the next 15 take that answer untried; the 16th is tried, and so is every file
    # until 8 agree again
    assert answers(settled, text, 18) == [False] * 15 + [True] * 3
    unsettled = codec.SmallFileVerdicts()
    assert answers(unsettled, noise, 7) == [False] * 7
    assert answers(unsettled, text, 1) == [True]  # 7 alike do not make a guess yet
    assert answers(settled, noise, 1) == [False]  # tried: the run of "yes" is 3 long


@pytest.mark.parametrize("size", [0, 1, 9000, 300_000])
def test_sizes_round_trip_through_chunks(tmp_path: Path, size: int) -> None:
    origin, repo = make_author(tmp_path)
    data = os.urandom(size)
    commit_push(repo, "x.bin", data, "x")
    clone = clone_of(origin, tmp_path)
    assert (clone / "x.bin").read_bytes() == data
    assert LocalStore(model_dir(clone)).has(oid_of(data))


def test_du_of_a_store_with_nothing_to_share_says_so_without_a_sign(tmp_path: Path) -> None:
    _, repo = make_author(tmp_path)
    for name in ("a.bin", "b.bin"):
        commit_push(repo, name, os.urandom(200_000), name)  # incompressible, nothing shared
    usage = json.loads(git_model("du", "--json", cwd=repo).stdout)
    assert usage["stored_bytes"] > usage["logical_bytes"]  # manifests and indexes on top
    text = git_model("du", cwd=repo).stdout.decode()
    line = next(x for x in text.splitlines() if x.startswith("dedup ratio"))
    assert "nothing saved;" in line and "more than the objects" in line
    assert "-" not in line.split("(", 1)[1], line


@pytest.mark.parametrize(
    ("logical", "stored", "said"),
    [(1000, 1000, "nothing saved"), (1000, 999, "under 1% saved"), (1000, 10, "99% saved"),
     (1000, 500, "50% saved"), (1000, 1001, "nothing saved; 1 B more than the objects")],
)  # fmt: skip
def test_du_savings_wording(logical: int, stored: int, said: str) -> None:
    from gitmodel.commands.du import savings

    assert savings(logical, stored) == said
