"""git model cache: what reads without a clone keep, and pruning it by age and size."""

from __future__ import annotations

import fcntl
import json
import os
import time
from pathlib import Path

import numpy as np
from conftest import git_model
from reader_support import Published, publish, random_tensor, safetensors_bytes

from gitmodel.reader.fs import GitModelFileSystem
from gitmodel.reader.source import cache_root

DAY = 86_400


def usage(cwd: Path) -> dict[str, dict[str, int]]:
    return json.loads(git_model("cache", "--json", cwd=cwd).stdout)["parts"]  # type: ignore[no-any-return]


def read_everything(published: Published) -> bytes:
    fs = GitModelFileSystem(repo=published.url, skip_instance_cache=True)
    return fs.cat_file("m/model.safetensors")  # type: ignore[no-any-return]


def age(folder: Path, days: float) -> None:
    """Make every file under ``folder`` look last used ``days`` ago."""
    when = time.time() - days * DAY
    for path in folder.rglob("*"):
        if path.is_file() and not path.is_symlink():
            os.utime(path, (when, when))


def test_prune_removes_what_was_not_used_lately_and_reads_fetch_it_again(tmp_path: Path) -> None:
    published = publish(tmp_path)
    model = safetensors_bytes({"w": random_tensor((512, 1024), 1), "z": np.zeros(4096)})
    published.commit("v1", {"m/model.safetensors": model})
    assert read_everything(published) == model
    held = usage(tmp_path)
    assert held["repos"]["items"] == 1 and held["chunks"]["items"] > 0
    assert held["chunks"]["bytes"] >= len(model) // 2  # the random tensor does not shrink

    fresh = git_model("cache", "prune", cwd=tmp_path).stdout.decode()
    assert fresh.startswith("removed 0 item(s)")  # everything was used today
    age(cache_root() / "chunks", 40)
    dry = git_model("cache", "prune", "--dry-run", cwd=tmp_path).stdout.decode()
    assert dry.startswith(f"would remove {held['chunks']['items']} item(s)")
    assert usage(tmp_path)["chunks"] == held["chunks"]
    git_model("cache", "prune", cwd=tmp_path)
    after = usage(tmp_path)
    assert after["chunks"]["items"] == 0
    assert after["repos"] == held["repos"] and after["manifests"] == held["manifests"]
    assert read_everything(published) == model  # fetched again, checked again
    assert usage(tmp_path)["chunks"]["items"] == held["chunks"]["items"]


def test_max_size_removes_the_least_recently_used_first(tmp_path: Path) -> None:
    published = publish(tmp_path)
    model = safetensors_bytes({"w": random_tensor((512, 1024), 2)})
    published.commit("v1", {"m/model.safetensors": model})
    read_everything(published)
    chunks = sorted(p for p in (cache_root() / "chunks").rglob("*") if p.is_file())
    assert len(chunks) >= 2
    old, new = chunks[: len(chunks) // 2], chunks[len(chunks) // 2 :]
    for number, path in enumerate(old):
        when = time.time() - DAY * (10 + number)
        os.utime(path, (when, when))
    total = sum(p.stat().st_blocks * 512 for p in (cache_root()).rglob("*") if p.is_file())
    dropped = sum(p.stat().st_blocks * 512 for p in old)
    git_model("cache", "prune", "--max-size", str(total - dropped), cwd=tmp_path)
    assert not any(p.exists() for p in old)
    assert all(p.exists() for p in new)
    assert read_everything(published) == model


def test_all_leaves_a_repository_cache_in_use_alone(tmp_path: Path) -> None:
    published = publish(tmp_path)
    model = safetensors_bytes({"w": np.ones(64)})
    published.commit("v1", {"m/model.safetensors": model})
    read_everything(published)
    (repo,) = (cache_root() / "repos").iterdir()
    fd = os.open(repo / "lock", os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)  # a read fetching into it now
        out = git_model("cache", "prune", "--all", cwd=tmp_path).stdout.decode()
        assert "1 repository cache(s) in use were left alone" in out
        assert repo.is_dir()
    finally:
        os.close(fd)
    git_model("cache", "prune", "--all", cwd=tmp_path)
    assert not repo.exists()
    assert all(part["items"] == 0 for part in usage(tmp_path).values())
    assert read_everything(published) == model  # the cache is made anew


def test_prune_never_follows_a_link_out_of_the_cache(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "precious").write_bytes(b"keep")
    chunks = cache_root() / "chunks"
    chunks.mkdir(parents=True)
    (chunks / "ab").symlink_to(outside, target_is_directory=True)
    for part in ("manifests", "objects", "repos"):  # a part of the cache itself a link
        (cache_root() / part).symlink_to(outside, target_is_directory=True)
    (outside / "repo").mkdir()
    (outside / "repo" / "lock").write_bytes(b"")
    git_model("cache", "prune", "--all", cwd=tmp_path)
    assert (outside / "precious").read_bytes() == b"keep"
    assert (outside / "repo" / "lock").exists()


def test_one_repository_spelled_several_ways_has_one_cache(tmp_path: Path) -> None:
    published = publish(tmp_path)  # at tmp_path/origin.git
    model = safetensors_bytes({"w": np.ones(64)})
    published.commit("v1", {"m/model.safetensors": model})
    spellings = [str(published.origin), f"{published.origin}/", published.url,
                 f"{published.url}/", str(tmp_path / "origin"), f"file://{tmp_path}/origin",
                 str(tmp_path / "sub" / ".." / "origin.git")]  # fmt: skip
    (tmp_path / "sub").mkdir()
    (tmp_path / "link.git").symlink_to(published.origin)
    spellings.append(str(tmp_path / "link.git"))
    for url in spellings:
        fs = GitModelFileSystem(repo=url, skip_instance_cache=True)
        assert fs.cat_file("m/model.safetensors") == model, url
    assert usage(tmp_path)["repos"]["items"] == 1
    assert git_model("cache", "--json", cwd=tmp_path).returncode == 0


def test_two_repositories_whose_names_differ_by_dot_git_keep_two_caches(tmp_path: Path) -> None:
    for part in ("a", "b"):
        (tmp_path / part).mkdir()
    first = publish(tmp_path / "a")
    first.commit("v1", {"m/model.safetensors": safetensors_bytes({"w": np.ones(64)})})
    second = publish(tmp_path / "b")
    second.commit("v1", {"m/model.safetensors": safetensors_bytes({"w": np.zeros(64)})})
    plain = tmp_path / "a" / "origin"  # beside a/origin.git: Git reads each as itself
    second.origin.rename(plain)
    read = {}
    for path in (first.origin, plain):
        fs = GitModelFileSystem(repo=str(path), skip_instance_cache=True)
        read[path] = fs.cat_file("m/model.safetensors")
    assert read[first.origin] != read[plain]
    assert usage(tmp_path)["repos"]["items"] == 2
