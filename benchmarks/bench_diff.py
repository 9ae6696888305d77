#!/usr/bin/env python3
"""What tensor digests add to ``git add``, and what ``git model diff`` reads.

1. ``git add`` of the same random 2 GiB safetensors file named ``model.safetensors``
   (digested while clean streams it) and ``model.bin`` (not digested), alternating.
2. ``git model diff HEAD~1 HEAD`` of two versions differing in one tensor: time,
   bytes read (``rchar``) and peak RSS (``VmHWM``) of the gitmodel process.

    python benchmarks/bench_diff.py [--size 2GiB] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import benchlib

TENSORS = 32
MEASURE = """
import sys
from gitmodel.cli import main
sys.argv = ["git-model", *sys.argv[1:]]
try:
    main()
except SystemExit as exc:
    assert not exc.code, exc.code
io = dict(line.split(": ") for line in open("/proc/self/io").read().splitlines())
status = dict(line.split(":", 1) for line in open("/proc/self/status").read().splitlines())
print(int(io["rchar"]), int(status["VmHWM"].split()[0]) * 1024, file=sys.stderr)
"""


def write_model(path: Path, size: int) -> int:
    """Random F32 tensors filling ``size`` bytes; returns the offset of tensor 9's data."""
    per = size // TENSORS // 4 * 4
    header = {
        f"t{i}": {"dtype": "F32", "shape": [per // 4], "data_offsets": [i * per, (i + 1) * per]}
        for i in range(TENSORS)
    }
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(len(text).to_bytes(8, "little") + text)
        left = per * TENSORS
        while left:
            left -= f.write(os.urandom(min(benchlib.CHUNK_SIZE, left)))
    return 8 + len(text) + 9 * per


def git(args: list[str], repo: Path, env: dict[str, str]) -> None:
    subprocess.run(["git", *args], cwd=repo, env=env, check=True, capture_output=True)


def timed_add(source: Path, name: str, work: Path, env: dict[str, str], n: int) -> float:
    repo = work / f"repo-{name}-{n}"
    repo.mkdir()
    git(["init", "-q"], repo, env)
    subprocess.run(["git-model", "install", "--local"], cwd=repo, env=env, check=True,
                   capture_output=True)  # fmt: skip
    subprocess.run(["git-model", "track", name], cwd=repo, env=env, check=True,
                   capture_output=True)  # fmt: skip
    os.link(source, repo / name)
    os.sync()
    start = time.perf_counter()
    git(["add", name], repo, env)
    seconds = time.perf_counter() - start
    subprocess.run(["rm", "-rf", str(repo)], check=True)
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=benchlib.parse_size, default=2 << 30)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    scripts = Path(sys.executable).parent
    with benchlib.work_folder(None, "bench-diff-") as work:
        env = benchlib.make_home(work / "home", benchlib.clean_env(path_first=scripts), "main")
        source = work / "source"
        offset = write_model(source, args.size)
        times: dict[str, list[float]] = {"model.bin": [], "model.safetensors": []}
        for n in range(args.repeat):
            for name in list(times) if n % 2 == 0 else list(reversed(times)):
                times[name].append(timed_add(source, name, work, env, n))
        plain, digested = (statistics.median(times[k]) for k in times)
        print(f"git add {args.size >> 20} MiB: not digested {plain:.2f} s, digested"
              f" {digested:.2f} s, overhead {100 * (digested / plain - 1):+.1f}%"
              f" (medians of {args.repeat}; runs {times})")  # fmt: skip
        in_process(source, work, args.repeat)
        hashing_cpu(source, args.repeat)
        diff_run(source, offset, work, env)


def in_process(source: Path, work: Path, repeat: int) -> None:
    """clean() alone, reading the file from the page cache: the CPU the digests add."""
    from gitmodel.filter.convert import clean
    from gitmodel.formats.digests import observer_for
    from gitmodel.store.local import LocalStore

    store = LocalStore(work / "store")
    times: dict[str, list[float]] = {"plain": [], "digested": []}
    for _ in range(repeat):
        for kind in times:
            observer = observer_for("m.safetensors", store.root) if kind == "digested" else None
            with open(source, "rb") as f:
                start = time.perf_counter()
                clean(store, iter(lambda: f.read(1 << 20), b""), observer)
                times[kind].append(time.perf_counter() - start)
            subprocess.run(["rm", "-rf", str(store.root)], check=True)
    plain, digested = (statistics.median(times[k]) for k in times)
    print(
        f"clean() in process: plain {plain:.2f} s, digested {digested:.2f} s,"
        f" overhead {100 * (digested / plain - 1):+.1f}% (medians of {repeat})"
    )


def hashing_cpu(source: Path, repeat: int) -> None:
    """The tensor digester against clean's sha256, on the same bytes in memory."""
    import hashlib

    from gitmodel.formats import safetensors
    from gitmodel.formats.digests import StreamDigester

    with open(source, "rb") as f:
        data = memoryview(f.read())
    blocks = [data[i : i + (1 << 20)] for i in range(0, len(data), 1 << 20)]

    def sha256() -> None:
        digest = hashlib.sha256()
        for block in blocks:
            digest.update(block)

    def digest() -> None:
        digester = StreamDigester(safetensors.read_header)
        for block in blocks:
            digester.update(block)
        assert digester.result() is not None

    for func in (sha256, digest):
        runs = []
        for _ in range(repeat):
            start = time.perf_counter()
            func()
            runs.append(time.perf_counter() - start)
        print(f"{func.__name__} of {len(data) >> 20} MiB in memory: {min(runs):.2f} s (best of"
              f" {repeat})")  # fmt: skip


def diff_run(source: Path, offset: int, work: Path, env: dict[str, str]) -> None:
    repo = work / "diff"
    repo.mkdir()
    git(["init", "-q"], repo, env)
    subprocess.run(["git-model", "install", "--local"], cwd=repo, env=env, check=True)
    subprocess.run(["git-model", "track", "*.safetensors"], cwd=repo, env=env, check=True)
    model = repo / "m.safetensors"
    subprocess.run(["cp", str(source), str(model)], check=True)
    git(["add", "."], repo, env)
    git(["commit", "-qm", "v1"], repo, env)
    with open(model, "r+b") as f:
        f.seek(offset)
        f.write(os.urandom(1 << 20))
    git(["add", "."], repo, env)
    git(["commit", "-qm", "v2"], repo, env)
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", MEASURE, "diff", "HEAD~1", "HEAD"], cwd=repo,
                          env=env, capture_output=True, check=True)  # fmt: skip
    seconds = time.perf_counter() - start
    read, rss = map(int, proc.stderr.split()[-2:])
    print(proc.stdout.decode().rstrip())
    print(f"git model diff: {seconds:.2f} s, read {read >> 20} MiB of"
          f" {2 * model.stat().st_size >> 20} MiB, peak RSS {rss >> 20} MiB")  # fmt: skip


if __name__ == "__main__":
    main()
