"""A 3 GiB file through clean and smudge with bounded memory in every gitmodel process."""

from __future__ import annotations

import subprocess
import threading
import time
from pathlib import Path

import psutil
import pytest
from conftest import git_out, need_disk, run_git

SIZE = 3 << 30
LIMIT = 100 << 20


class PeakRss:
    """Samples the RSS of every gitmodel process started below this one."""

    def __init__(self) -> None:
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        me = psutil.Process()
        while not self._stop.is_set():
            for child in me.children(recursive=True):
                try:
                    if any("git-model" in part for part in child.cmdline()[:3]):
                        self.peak = max(self.peak, child.memory_info().rss)
                except psutil.Error:
                    pass
            time.sleep(0.02)

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def sparse_file(path: Path) -> None:
    with open(path, "wb") as f:
        f.truncate(SIZE)
        f.seek(SIZE // 2)
        f.write(b"middle")


def zero_check(path: Path) -> None:
    """The file is exactly the sparse original: zeros with 'middle' at half way."""
    assert path.stat().st_size == SIZE
    with open(path, "rb") as f:
        f.seek(SIZE // 2 - 4)
        assert f.read(10) == b"\0\0\0\0middle"
        f.seek(SIZE - 6)
        assert f.read() == b"\0" * 6


@pytest.mark.slow
def test_three_gib_round_trip_with_bounded_memory(repo: Path) -> None:
    """One add, then a checkout each way: written by the post-checkout hook (direct
    checkout), then through the smudge pipe (``model.directCheckoutThreshold`` 0, which
    only a checkout reads)."""
    need_disk(repo, 3 * SIZE)  # the stored object, the checked-out file, and room to spare
    big = repo / "big.bin"
    sparse_file(big)
    with PeakRss() as add_rss:
        run_git("add", "big.bin", cwd=repo)
    run_git("commit", "-qm", "3 GiB", cwd=repo)
    blob = run_git("cat-file", "blob", "HEAD:big.bin", cwd=repo).stdout
    assert blob.endswith(f"size {SIZE}\n".encode())
    assert 0 < add_rss.peak < LIMIT, add_rss.peak
    for way in ("direct-checkout", "smudge-pipe"):
        if way == "smudge-pipe":
            run_git("config", "model.directCheckoutThreshold", "0", cwd=repo)
        big.unlink()
        with PeakRss() as checkout_rss:
            run_git("checkout", "--", "big.bin", cwd=repo)
        zero_check(big)
        assert git_out("status", "--porcelain", cwd=repo) == "", way
        assert 0 < checkout_rss.peak < LIMIT, (way, checkout_rss.peak)


@pytest.mark.slow
def test_one_shot_filters_stream(repo: Path) -> None:
    source = repo.parent / "src.bin"
    sparse_file(source)
    with PeakRss() as rss, open(source, "rb") as f:
        pointer = subprocess.run(
            ["git-model", "clean"], cwd=repo, stdin=f, capture_output=True, check=True
        ).stdout
    assert pointer.endswith(f"size {SIZE}\n".encode())
    out = repo.parent / "out.bin"
    with PeakRss() as rss2, open(out, "wb") as f:
        subprocess.run(["git-model", "smudge"], cwd=repo, input=pointer, stdout=f, check=True)
    zero_check(out)
    assert 0 < rss.peak < LIMIT and 0 < rss2.peak < LIMIT, (rss.peak, rss2.peak)
    source.unlink()
    out.unlink()
