#!/usr/bin/env python3
"""LFS host benchmark: ``git push`` and ``git clone`` through one LFS server, gitmodel
against git-lfs in the same run.

The host is the tests' own (``tests/helpers/giftless_server.py``): Git over HTTP and
giftless, on 127.0.0.1, started and stopped by this script. Two payloads: one large file
(``--size``, default 1 GiB) and many small ones (``--files`` x ``--file-size``, default
1,000 x 100 KB). For each payload, run and tool: a user with only that tool installed
tracks ``*.bin`` its own way, commits the files into a fresh repository on the host (not
timed), then **``git push`` is timed**; another user of the same tool then **``git clone``
is timed**, and every file is checked byte for byte. Medians of ``--runs`` runs, ratio
gitmodel / git-lfs. Target (issue 19): gitmodel's time <= 1.0x git-lfs's.

    python benchmarks/bench_lfs.py                                   # 1 GiB; 1,000 x 100 KB
    python benchmarks/bench_lfs.py --size 64MiB --files 100 --runs 1  # a quick check
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import socket
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

import benchlib
from benchlib import BenchError, Measurement

REPO_ROOT = Path(__file__).resolve().parent.parent
SERVER = REPO_ROOT / "tests" / "helpers" / "giftless_server.py"
TOOLS = ("gitmodel", "git-lfs")
TARGET_RATIO = 1.0
COMMAND_TIMEOUT = 3600.0
SERVER_START_TIMEOUT = 60.0


@dataclass(frozen=True)
class Payload:
    name: str  # "1 GiB" or "1000 files"
    source: Path
    digests: dict[str, str]  # path in the repository -> sha256


@dataclass(frozen=True)
class Host:
    url: str
    root: Path
    pid: int
    cpu: dict[tuple[str, str], list[float]] = field(default_factory=dict)  # see busy()

    def cpu_seconds(self) -> float | None:
        """The server's CPU time so far, the Git it runs included (``/proc``; None
        where there is none)."""
        try:
            fields = Path(f"/proc/{self.pid}/stat").read_text().rpartition(")")[2].split()
        except OSError:
            return None
        ticks = sum(int(n) for n in fields[11:15])  # utime, stime, cutime, cstime
        return ticks / os.sysconf("SC_CLK_TCK")

    @contextlib.contextmanager
    def busy(self, scenario: str, tool: str) -> Iterator[None]:
        """Record the server's CPU time during the block, for the report's last column."""
        before = self.cpu_seconds()
        yield
        after = self.cpu_seconds()
        if before is not None and after is not None:
            self.cpu.setdefault((scenario, tool), []).append(after - before)

    def new_repo(self) -> str:
        """A new empty repository (branch main) on the host; its Git URL."""
        name = uuid.uuid4().hex[:12]
        bare = self.root / "git" / "team" / f"{name}.git"
        subprocess.run(["git", "init", "-q", "--bare", "--initial-branch=main", str(bare)],
                       check=True, env=benchlib.clean_env())  # fmt: skip
        return f"{self.url}/team/{name}.git"

    def delete(self, url: str) -> None:
        name = url.rsplit("/", 1)[1].removesuffix(".git")
        shutil.rmtree(self.root / "git" / "team" / f"{name}.git", ignore_errors=True)
        shutil.rmtree(self.root / "lfs" / "team" / name, ignore_errors=True)


@contextlib.contextmanager
def lfs_host(workdir: Path) -> Iterator[Host]:
    """The tests' LFS host on a free port of 127.0.0.1, anonymous read-write."""
    root = workdir / "host"
    (root / "tmp").mkdir(parents=True)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    log = open(root / "server.log", "wb")  # noqa: SIM115 (closed below)
    env = {**benchlib.clean_env(), "TMPDIR": str(root / "tmp")}  # request bodies spool here
    proc = subprocess.Popen([sys.executable, str(SERVER), str(port), str(root)],
                            stdout=log, stderr=subprocess.STDOUT, env=env)  # fmt: skip
    try:
        deadline = time.monotonic() + SERVER_START_TIMEOUT
        while True:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise BenchError(f"the LFS host did not start:\n{log_text(root)}")
            with contextlib.suppress(OSError):
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            time.sleep(0.1)
        yield Host(f"http://127.0.0.1:{port}", root, proc.pid)
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        log.close()


def log_text(root: Path) -> str:
    return (root / "server.log").read_text(errors="replace")[-4000:]


# -- users and steps ---------------------------------------------------------------------


def user(workdir: Path, tool: str) -> dict[str, str]:
    """A fresh HOME with only ``tool`` installed."""
    home = workdir / f"home-{uuid.uuid4().hex[:8]}"
    env = benchlib.make_home(home, benchlib.clean_env(path_first=scripts_dir()), "main")
    install = ["git-model", "install"] if tool == "gitmodel" else ["git", "lfs", "install"]
    benchlib.run(install, home, env)
    return env


def scripts_dir() -> Path | None:
    """The folder of this Python's ``git-model``, put first on PATH when there is one."""
    scripts = Path(sys.executable).parent
    return scripts if (scripts / "git-model").exists() else None


def push_and_clone(recorder: benchlib.Recorder[Measurement], host: Host, payload: Payload,
                   tool: str, workdir: Path) -> None:  # fmt: skip
    """One timed push, then one timed clone by someone else; the clone checked."""
    url = host.new_repo()
    folder = workdir / f"{tool}-{uuid.uuid4().hex[:8]}"
    folder.mkdir()
    try:
        author = user(folder, tool)
        repo = folder / "author"
        benchlib.run(["git", "clone", "-q", url, str(repo)], folder, author)
        track = ["git-model", "track"] if tool == "gitmodel" else ["git", "lfs", "track"]
        benchlib.run([*track, "*.bin"], repo, author)
        benchlib.place_files(payload.source, payload.digests, repo)
        benchlib.run(["git", "add", "."], repo, author)
        benchlib.run(["git", "commit", "-qm", payload.name], repo, author)
        with host.busy(f"push {payload.name}", tool):
            push, _ = benchlib.timed(["git", "push", "-q", "origin", "main"], repo, author,
                                     timeout=COMMAND_TIMEOUT)  # fmt: skip
        recorder.record(f"push {payload.name}", tool, push)
        reader = user(folder, tool)
        clone_dir = folder / "reader"
        clone_dir.mkdir()
        with host.busy(f"clone {payload.name}", tool):
            clone, _ = benchlib.timed(["git", "clone", "-q", url, "clone"], clone_dir, reader,
                                      timeout=COMMAND_TIMEOUT)  # fmt: skip
        recorder.record(f"clone {payload.name}", tool, clone)
        problems = benchlib.checkout_problems(payload.digests, clone_dir / "clone", reader)
        if problems:
            listed = f"clone {payload.name} ({tool}): " + "; ".join(problems)
            recorder.add_failure(f"clone {payload.name}", tool, listed, listed)
        print(f"  {tool:8} {payload.name}: push {push.seconds:.2f} s, "
              f"clone {clone.seconds:.2f} s", flush=True)  # fmt: skip
    except BenchError as exc:
        recorder.add_failure(f"push {payload.name}", tool, f"{payload.name} ({tool}): {exc}",
                             str(exc))  # fmt: skip
    finally:
        shutil.rmtree(folder, ignore_errors=True)
        host.delete(url)


def run_all(recorder: benchlib.Recorder[Measurement], host: Host, payloads: list[Payload],
            runs: int, workdir: Path) -> None:  # fmt: skip
    for number in range(runs):
        order = TOOLS if number % 2 == 0 else TOOLS[::-1]  # alternate who goes first
        print(f"run {number + 1} of {runs}", flush=True)
        for payload in payloads:
            for tool in order:
                push_and_clone(recorder, host, payload, tool, workdir)


# -- data --------------------------------------------------------------------------------


def make_payloads(workdir: Path, args: argparse.Namespace) -> list[Payload]:
    """Random files, written once (not timed) and hard-linked into each repository."""
    big = workdir / "source-big"
    digest = benchlib.write_random(big / "model.bin", args.size)
    payloads = [Payload(size_label(args.size), big, {"model.bin": digest})]
    many = workdir / "source-many"
    digests = {f"data/f{i:05d}.bin": "" for i in range(args.files)}
    for rel in digests:
        digests[rel] = benchlib.write_random(many / rel, args.file_size)
    payloads.append(Payload(f"{args.files} files", many, digests))
    return payloads


def size_label(size: int) -> str:
    for unit, shift in (("GiB", 30), ("MiB", 20), ("KiB", 10)):
        if size >= 1 << shift:
            return f"{size / (1 << shift):g} {unit}"
    return f"{size} B"


# -- report ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Row:
    scenario: str
    gitmodel: float | None
    git_lfs: float | None
    ratio: float | None
    met: bool | None
    server: tuple[float | None, float | None]  # the server's median CPU seconds, per tool


def median(recorder: benchlib.Recorder[Measurement], scenario: str, tool: str) -> float | None:
    runs = recorder.runs.get(scenario, {}).get(tool, [])
    if not runs or (scenario, tool) in recorder.failed:
        return None
    return statistics.median(m.seconds for m in runs)


def build_rows(recorder: benchlib.Recorder[Measurement], payloads: list[Payload],
               host_cpu: dict[tuple[str, str], list[float]]) -> list[Row]:  # fmt: skip
    rows = []
    for payload in payloads:
        for step in ("push", "clone"):
            scenario = f"{step} {payload.name}"
            ours, theirs = (median(recorder, scenario, tool) for tool in TOOLS)
            ratio = ours / theirs if ours is not None and theirs else None
            cpu = [host_cpu.get((scenario, tool)) for tool in TOOLS]
            server = (statistics.median(cpu[0]) if cpu[0] else None,
                      statistics.median(cpu[1]) if cpu[1] else None)  # fmt: skip
            rows.append(Row(scenario, ours, theirs, ratio,
                            None if ratio is None else ratio <= TARGET_RATIO, server))  # fmt: skip
    return rows


def print_report(rows: list[Row], recorder: benchlib.Recorder[Measurement],
                 meta: dict[str, object], runs: int) -> None:  # fmt: skip
    benchlib.print_header(meta, 14)
    print(f"\nmedians of {runs} run(s); target: gitmodel / git-lfs <= {TARGET_RATIO}\n")
    cells = [["scenario", "gitmodel", "git-lfs", "ratio", "target", "server CPU"]]
    for row in rows:
        met = "-" if row.met is None else ("met" if row.met else "MISSED")
        ratio = "-" if row.ratio is None else f"{row.ratio:.2f}"
        server = " / ".join(benchlib.secs(cpu) for cpu in row.server)
        cells.append([row.scenario, benchlib.secs(row.gitmodel), benchlib.secs(row.git_lfs),
                      ratio, met, server])  # fmt: skip
    print("\n".join(benchlib.aligned(cells)))
    print("\nserver CPU: the LFS host's own CPU time during each tool's command (gitmodel /")
    print("git-lfs), Git's included; one Python process, so near the command's time it is")
    print("what both tools wait for")
    recorder.print_problems()


# -- main --------------------------------------------------------------------------------


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=benchlib.parse_size, default=1 << 30,
                        help="the large file (default 1GiB)")  # fmt: skip
    parser.add_argument("--files", type=int, default=1000, help="number of small files")
    parser.add_argument("--file-size", type=benchlib.parse_size, default=100_000,
                        help="size of each small file (default 100KB)")  # fmt: skip
    benchlib.add_common_options(parser, "lfs")
    args = parser.parse_args()
    if min(args.size, args.files, args.file_size, args.repeat) < 1:
        parser.error("sizes, --files and --runs must be at least 1")
    return args


def check_prerequisites(env: dict[str, str]) -> dict[str, str]:
    """The versions of everything measured; exit when a part is missing."""
    missing = [m for m in ("giftless", "waitress") if not importable(m)]
    if missing:
        sys.exit(f"error: {' and '.join(missing)} not installed: pip install -e '.[test]'")
    versions = {
        "git": benchlib.first_line(["git", "--version"], env),
        "git-lfs": benchlib.first_line(["git-lfs", "version"], env),
        "gitmodel": benchlib.first_line(["git-model", "--version"], env),
        "giftless": metadata.version("giftless"),
    }
    for tool in ("git-lfs", "git-model"):
        if shutil.which(tool, path=env["PATH"]) is None:
            sys.exit(f"error: {tool} is not on PATH")
    return versions


def importable(module: str) -> bool:
    with contextlib.suppress(ImportError):
        __import__(module)
        return True
    return False


def main() -> int:
    args = parse_args()
    with benchlib.work_folder(args.workdir, "gitmodel-bench-lfs-") as workdir:
        env = benchlib.make_home(workdir / "meta-home",
                                 benchlib.clean_env(path_first=scripts_dir()), "main")  # fmt: skip
        versions = check_prerequisites(env)
        benchlib.compile_bytecode()
        small = args.files * args.file_size
        # sources; per step: the author's files and store, the server's copy and its
        # spooled request, the reader's store and files
        benchlib.check_disk(workdir, 7 * (args.size + small) + (256 << 20), "--size")
        ram = benchlib.proc_field("/proc/meminfo", "MemTotal")
        machine = benchlib.machine_info(ram, {"server": "giftless on waitress, 8 threads"})
        meta = {**benchlib.start_meta(args), "versions": versions, "machine": machine}
        payloads = make_payloads(workdir, args)
        recorder: benchlib.Recorder[Measurement] = benchlib.Recorder()
        with lfs_host(workdir) as host:
            run_all(recorder, host, payloads, args.repeat, workdir)
    rows = build_rows(recorder, payloads, host.cpu)
    print_report(rows, recorder, meta, args.repeat)
    if args.json is not None:
        benchlib.write_json(args.json, recorder.document(meta, rows))
    return 1 if recorder.failures else 0


if __name__ == "__main__":
    sys.exit(main())
