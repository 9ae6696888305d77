"""``git model migrate import`` on a long history, side by side with ``git lfs migrate import``.

Builds one repository with ``git fast-import``: COMMITS commits, FILES large ``*.bin``
files (one of them replaced every INTERVAL commits) and a small text file changed in
every commit. Each tool migrates its own copy with ``--include="*.bin" --everything``;
then every INTERVAL-th commit is checked out and each large file compared byte for
byte with what was generated. Target: gitmodel ≤ 30 s for 2,000 commits x 50 files.

    python benchmarks/bench_migrate.py                       # 2000 commits, 50 x 1 MiB
    python benchmarks/bench_migrate.py --commits 200 --size 256KiB
"""

from __future__ import annotations

import argparse
import hashlib
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import benchlib

TARGET_SECONDS = 30.0


def build_stream(commits: int, files: int, size: int, interval: int) -> tuple[bytes, dict]:
    """A fast-import stream and, per checked commit number, each large file's sha256."""
    rng = random.Random(1234)
    current = {f"models/m{i:02d}.bin": rng.randbytes(size) for i in range(files)}
    out: list[bytes] = []
    expected: dict[int, dict[str, str]] = {}
    for n in range(1, commits + 1):
        changed = dict(current) if n == 1 else {}
        if n > 1 and n % interval == 0:
            name = f"models/m{(n // interval) % files:02d}.bin"
            current[name] = rng.randbytes(size)
            changed[name] = current[name]
        changed["log.txt"] = f"step {n}\n".encode()
        msg = f"step {n}".encode()
        out.append(b"commit refs/heads/main\n")
        out.append(f"committer Bench <b@example.invalid> {1_600_000_000 + n} +0000\n".encode())
        out.append(b"data %d\n%s\n" % (len(msg), msg))
        for path, data in changed.items():
            out.append(b"M 100644 inline %s\ndata %d\n" % (path.encode(), len(data)))
            out.append(data + b"\n")
        if n % interval == 0 or n == commits:
            expected[n] = {p: hashlib.sha256(d).hexdigest() for p, d in current.items()}
    return b"".join(out), expected


def make_repo(path: Path, stream: bytes, env: dict[str, str]) -> None:
    benchlib.run(["git", "init", "-q", str(path)], path.parent, env)
    subprocess.run(["git", "fast-import", "--quiet"], cwd=path, input=stream, env=env,
                   check=True)  # fmt: skip
    benchlib.run(["git", "reset", "-q", "--hard", "main"], path, env)


def verify(path: Path, expected: dict[int, dict[str, str]], commits: int,
           env: dict[str, str]) -> None:  # fmt: skip
    for n, files in sorted(expected.items()):
        benchlib.run(["git", "checkout", "-q", f"main~{commits - n}"], path, env)
        for name, digest in files.items():
            actual = hashlib.sha256((path / name).read_bytes()).hexdigest()
            if actual != digest:
                raise benchlib.BenchError(f"commit {n}: {name} differs after migration")
    benchlib.run(["git", "checkout", "-q", "main"], path, env)


def timed(cmd: list[str], cwd: Path, env: dict[str, str]) -> float:
    start = time.perf_counter()
    benchlib.run(cmd, cwd, env)
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--commits", type=int, default=2000)
    parser.add_argument("--files", type=int, default=50)
    parser.add_argument("--size", type=benchlib.parse_size, default=1 << 20)
    parser.add_argument("--interval", type=int, default=40)
    args = parser.parse_args()
    scripts = Path(sys.executable).parent
    path_first = scripts if (scripts / "git-model").exists() else None
    stream, expected = build_stream(args.commits, args.files, args.size, args.interval)
    with tempfile.TemporaryDirectory(prefix="bench-migrate-") as tmp:
        env = benchlib.make_home(Path(tmp) / "home", benchlib.clean_env(path_first=path_first),
                                 "main")  # fmt: skip
        results = {}
        gm = Path(tmp) / "gitmodel"
        make_repo(gm, stream, env)
        benchlib.run(["git-model", "install", "--local"], gm, env)
        cmd = ["git-model", "migrate", "import", "--include=*.bin", "--everything"]
        results["gitmodel"] = timed(cmd, gm, env)
        verify(gm, expected, args.commits, env)
        if shutil.which("git-lfs", path=env["PATH"]):
            lfs = Path(tmp) / "lfs"
            make_repo(lfs, stream, env)
            benchlib.run(["git", "lfs", "install", "--local"], lfs, env)
            cmd = ["git", "lfs", "migrate", "import", "--include=*.bin", "--everything", "--yes"]
            results["git-lfs"] = timed(cmd, lfs, env)
    print(f"migrate import: {args.commits} commits, {args.files} files of {args.size} bytes")
    for tool, seconds in results.items():
        print(f"  {tool:9} {seconds:6.1f} s")
    if "git-lfs" in results:
        print(f"  ratio gitmodel / git-lfs: {results['gitmodel'] / results['git-lfs']:.2f}")
    ok = results["gitmodel"] <= TARGET_SECONDS
    print(f"  target ≤ {TARGET_SECONDS:.0f} s: {'met' if ok else 'MISSED'}; content verified")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
