#!/usr/bin/env python3
"""Many small files to a remote: ``git push`` and a fresh ``git clone``, timed and counted.

N files of S bytes (default 20,000 x 20 KB) are committed once per run, then pushed and
cloned by a second user, to a local directory remote (the bare repository's own store;
git-lfs through its standalone file transfer, side by side) and to S3 on loopback (moto,
gitmodel only). Every remote call of gitmodel is counted (``GIT_MODEL_TEST_COUNT_FILE``).
Every cloned file is checked against its sha256. Medians over ``--repeat`` runs.

    python benchmarks/bench_many_remote.py                       # 20,000 x 20 KB, 3 runs
    python benchmarks/bench_many_remote.py --count 2000 --repeat 1
    PYTHONPATH=/path/to/older/gitmodel python benchmarks/bench_many_remote.py   # before
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import os
import shutil
import socket
import statistics
import subprocess
import sys
import sysconfig
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from benchlib import parse_size

SCRIPTS_DIR = sysconfig.get_path("scripts")
COUNT_ENV = "GIT_MODEL_TEST_COUNT_FILE"
AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_EC2_METADATA_DISABLED": "true",
}


@dataclass
class Run:
    seconds: float
    requests: int  # 0 when not counted
    writes: int
    received: int


def base_env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GIT_", "AWS_"))}
    env |= {"HOME": str(home), "GIT_CONFIG_NOSYSTEM": "1", **AWS_ENV}
    env["PATH"] = f"{SCRIPTS_DIR}{os.pathsep}{env.get('PATH', '')}"
    return env


def make_home(root: Path, name: str) -> dict[str, str]:
    home = root / f"home-{name}-{uuid.uuid4().hex[:6]}"
    home.mkdir(parents=True)
    (home / ".gitconfig").write_text(
        "[user]\n\tname = Bench\n\temail = bench@example.com\n[init]\n\tdefaultBranch = main\n"
    )
    return base_env(home)


def git(*args: str, cwd: Path, env: dict[str, str]) -> None:
    proc = subprocess.run(["git", *args], cwd=cwd, env=env, capture_output=True)
    if proc.returncode != 0:
        raise SystemExit(f"git {' '.join(args)} failed:\n{proc.stderr.decode()[-2000:]}")


def timed(args: list[str], cwd: Path, env: dict[str, str], log: Path | None) -> Run:
    env = {**env, COUNT_ENV: str(log)} if log is not None else env
    if log is not None:
        log.unlink(missing_ok=True)
    os.sync()
    start = time.perf_counter()
    git(*args, cwd=cwd, env=env)
    seconds = time.perf_counter() - start
    if log is None or not log.exists():
        return Run(seconds, 0, 0, 0)
    lines = [line.split() for line in log.read_text().splitlines()]
    writes = sum(1 for name, _, _ in lines if name == "pipe_file")
    return Run(seconds, len(lines), writes, sum(int(r) for _, _, r in lines))


def make_source(folder: Path, count: int, size: int) -> dict[str, str]:
    """The data set, written once: relative path → sha256."""
    digests = {}
    for i in range(count):
        rel = f"data/{i // 1000:03d}/f{i:06d}.bin"
        data = os.urandom(size)
        (folder / rel).parent.mkdir(parents=True, exist_ok=True)
        (folder / rel).write_bytes(data)
        digests[rel] = hashlib.sha256(data).hexdigest()
    return digests


def check_clone(clone: Path, digests: dict[str, str]) -> None:
    for rel, digest in digests.items():
        if hashlib.sha256((clone / rel).read_bytes()).hexdigest() != digest:
            raise SystemExit(f"CORRECTNESS FAILURE: {rel} differs in {clone}")


def prepare(work: Path, tool: str, source: Path, extra: list[str]) -> tuple[Path, Path]:
    """A bare origin and an author clone holding the committed data set."""
    env = make_home(work, f"{tool}-author")
    origin = work / f"origin-{tool}-{uuid.uuid4().hex[:6]}.git"
    git("init", "-q", "--bare", str(origin), cwd=work, env=env)
    author = work / f"author-{tool}-{uuid.uuid4().hex[:6]}"
    git("clone", "-q", str(origin), str(author), cwd=work, env=env)
    if tool == "git-lfs":
        git("lfs", "install", "--local", cwd=author, env=env)
        git("lfs", "track", "*.bin", cwd=author, env=env)
    else:
        git("model", "install", "--local", cwd=author, env=env)
        git("model", "track", "*.bin", cwd=author, env=env)
        for option in extra:
            git("config", *option.split("=", 1), cwd=author, env=env)
    shutil.copytree(source / "data", author / "data", copy_function=os.link)
    git("add", ".", cwd=author, env=env)
    git("commit", "-qm", "data set", cwd=author, env=env)
    return origin, author


def one_run(work: Path, tool: str, remote: str, s3: str | None, source: Path,
            digests: dict[str, str]) -> tuple[Run, Run]:  # fmt: skip
    extra: list[str] = []
    clone_args: list[str] = []
    if remote == "s3":
        assert s3 is not None
        url = f"s3://{make_bucket(s3)}/models"
        extra = [f"remote.origin.modelurl={url}", f"remote.origin.modelendpoint={s3}"]
        clone_args = ["-c", extra[0], "-c", extra[1]]
    origin, author = prepare(work, tool, source, extra)
    env = make_home(work, f"{tool}-push")
    if tool == "gitmodel":
        git("model", "install", cwd=work, env=env)
    log = work / "count.log" if tool == "gitmodel" else None
    push = timed(["push", "-q", "origin", "main"], author, env, log)
    user = make_home(work, f"{tool}-clone")
    git("lfs" if tool == "git-lfs" else "model", "install", cwd=work, env=user)
    clone = work / f"clone-{tool}-{uuid.uuid4().hex[:6]}"
    cloned = timed(["clone", "-q", *clone_args, str(origin), str(clone)], work, user, log)
    check_clone(clone, digests)
    for folder in (origin, author, clone):
        shutil.rmtree(folder, ignore_errors=True)
    return push, cloned


def make_bucket(endpoint: str) -> str:
    import s3fs

    bucket = f"bench-{uuid.uuid4().hex[:12]}"
    s3fs.S3FileSystem(endpoint_url=endpoint, key="testing", secret="testing").mkdir(bucket)
    return bucket


@contextlib.contextmanager
def moto(work: Path) -> Iterator[str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    log = (work / "moto.log").open("wb")
    proc = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p",
                             str(port)], stdout=log, stderr=log)  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 1):
                break
            time.sleep(0.1)
        os.environ.update(AWS_ENV)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        log.close()


def median_row(label: str, runs: list[Run]) -> str:
    seconds = statistics.median(r.seconds for r in runs)
    requests = statistics.median(r.requests for r in runs)
    writes = statistics.median(r.writes for r in runs)
    mib = statistics.median(r.received for r in runs) / (1 << 20)
    counted = (
        f"{requests:8.0f} {writes:7.0f} {mib:9.1f}" if requests else f"{'-':>8} {'-':>7} {'-':>9}"
    )
    return f"{label:<28} {seconds:8.2f} {counted}   ({', '.join(f'{r.seconds:.2f}' for r in runs)})"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=20_000)
    parser.add_argument("--size", type=parse_size, default=parse_size("20KB"))
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--remotes", default="dir,s3", help="dir, s3 or both")
    parser.add_argument("--tools", default="gitmodel,git-lfs", help="git-lfs: dir only")
    parser.add_argument("--workdir", type=Path, default=None)
    args = parser.parse_args()
    remotes = args.remotes.split(",")
    tools = args.tools.split(",")
    with tempfile.TemporaryDirectory(prefix="bench-many-remote-", dir=args.workdir) as tmp:
        work = Path(tmp)
        source = work / "source"
        digests = make_source(source, args.count, args.size)
        results: dict[tuple[str, str], list[tuple[Run, Run]]] = {}
        with moto(work) if "s3" in remotes else contextlib.nullcontext() as s3:
            for number in range(args.repeat):
                for remote in remotes:
                    order = tools if number % 2 == 0 else list(reversed(tools))
                    for tool in order:
                        if tool == "git-lfs" and remote != "dir":
                            continue
                        runs = results.setdefault((tool, remote), [])
                        runs.append(one_run(work, tool, remote, s3, source, digests))
    print(f"{args.count} files x {args.size} bytes, {args.repeat} run(s); medians "
          "(seconds, remote calls, of which writes, MiB received), then each run")  # fmt: skip
    print(f"{'':<28} {'seconds':>8} {'calls':>8} {'writes':>7} {'MiB read':>9}")
    for (tool, remote), runs in results.items():
        print(median_row(f"{tool} push ({remote})", [push for push, _ in runs]))
        print(median_row(f"{tool} clone ({remote})", [clone for _, clone in runs]))
    for remote in remotes:
        ours, theirs = results.get(("gitmodel", remote)), results.get(("git-lfs", remote))
        if ours and theirs:
            for index, what in ((0, "push"), (1, "clone")):
                mine = statistics.median(r[index].seconds for r in ours)
                lfs = statistics.median(r[index].seconds for r in theirs)
                print(f"{what} ({remote}): gitmodel / git-lfs = {mine / lfs:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
