#!/usr/bin/env python3
"""Many small files: ``add``, ``commit``, ``status``, push and a fresh clone of N files of
S bytes, with gitmodel, git-lfs and DVC in the same run, to a local directory remote and
to S3 on loopback (issue 20).

Each run and tool: a user with only that tool installed makes a repository whose origin
is a local bare repository, tracks ``*.bin`` (DVC: ``dvc add data``), and times the steps
one by one: **add**, **commit**, **status** with nothing changed (median of seven, after one
untimed status), **push**, then another user's **fresh clone** (DVC: ``git clone`` and
``dvc pull``), whose every file is checked byte for byte, then the tool's own commands in
the author's repository: ``ls-files``, ``status``, ``fsck`` and ``prune --dry-run``
(gitmodel and git-lfs; DVC has no counterparts). On S3 the moto server's log
counts the HTTP requests of each push and clone. git-lfs has no S3 transfer, so it runs
against the local directory only (it pushes into the bare repository's ``lfs/`` folder
with its standalone file transfer).

    python benchmarks/bench_many.py                       # 100,000 x 10 KB, 1 run
    python benchmarks/bench_many.py --quick               # 20,000 x 20 KB
    python benchmarks/bench_many.py --quick --s3-count 2000 --repeat 3 --json
"""

from __future__ import annotations

import argparse
import contextlib
import shutil
import statistics
import sys
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import benchlib
from bench_remote import AWS_DROPPED, AWS_ENV, SCRIPTS_DIR, moto_server
from benchlib import BenchError, Measurement

BRANCH = "main"
TOOLS = ("gitmodel", "git-lfs", "dvc")
TARGETS = ("local", "s3")
STEPS = ("add", "commit", "status", "push", "clone", "ls-files", "tool-status", "fsck", "prune")
STATUS_RUNS = 7
COMMAND_TIMEOUT = 4 * 3600.0
FILES_PER_FOLDER = 1000

# Issue 20's targets: gitmodel / git-lfs time ratios, requests and memory.
TIME_TARGETS = {("push", "local"): 0.5, ("clone", "local"): 0.5, ("status", "local"): 1.0}
BYTES_PER_REQUEST = 4 << 20  # S3: at most one request per 4 MiB moved ...
REQUEST_CONSTANT = 100  # ... plus this many
MAX_RSS_MB = 200  # decimal, as the issue states it: 190.7 MiB


@dataclass(frozen=True)
class Payload:
    source: Path
    digests: dict[str, str]  # path in the repository -> sha256
    size: int  # of each file

    @property
    def total(self) -> int:
        return self.size * len(self.digests)

    @property
    def label(self) -> str:
        return f"{len(self.digests):,} x {self.size:,} B"


@dataclass(frozen=True)
class Target:
    kind: str  # "local" or "s3"
    bucket: str = ""
    endpoint: str = ""
    log: Path | None = None  # the S3 server's request log

    def requests(self) -> int:
        """HTTP requests the S3 server logged so far (0 for a local directory)."""
        return 0 if self.log is None else benchlib.logged_requests(self.log)


@dataclass
class Results(benchlib.Recorder[Measurement]):
    requests: dict[str, dict[str, list[int]]] = field(default_factory=dict)  # scenario -> tool
    moved: dict[str, int] = field(default_factory=dict)  # scenario -> bytes of data moved

    def count(self, scenario: str, tool: str, requests: int) -> None:
        self.requests.setdefault(scenario, {}).setdefault(tool, []).append(requests)


# -- users, tools and steps --------------------------------------------------------------


def user(folder: Path, tool: str, name: str) -> dict[str, str]:
    """A fresh HOME in which only ``tool`` is installed (DVC needs no Git set-up)."""
    base = benchlib.clean_env(AWS_DROPPED, SCRIPTS_DIR, **AWS_ENV, DVC_NO_ANALYTICS="1")
    # no automatic gc: packing thousands of loose objects in the background would overlap
    # the next timed step (and made git-lfs's pre-push scan miss objects being packed)
    env = benchlib.make_home(folder / f"home-{name}", base, BRANCH,
                             "[advice]\n\tdetachedHead = false\n[gc]\n\tauto = 0\n")  # fmt: skip
    if tool == "gitmodel":
        benchlib.run(["git", "model", "install"], folder, env)
    elif tool == "git-lfs":
        benchlib.run(["git", "lfs", "install", "--skip-repo"], folder, env)
    return env


def setup(tool: str, target: Target, repo: Path, env: dict[str, str], prefix: str) -> None:
    """Track ``*.bin`` (or init DVC) and point the tool's store at ``target``; committed."""

    def run(*cmd: str) -> None:
        benchlib.run(list(cmd), repo, env)

    if tool == "gitmodel":
        run("git", "model", "track", "*.bin")
        if target.kind == "s3":
            run("git", "model", "remote", "set", "origin", f"s3://{target.bucket}/{prefix}")
            run("git", "config", "remote.origin.modelendpoint", target.endpoint)
    elif tool == "git-lfs":
        run("git", "lfs", "track", "*.bin")
    else:
        run("dvc", "init", "-q")
        if target.kind == "s3":
            run("dvc", "remote", "add", "-d", "store", f"s3://{target.bucket}/{prefix}")
            run("dvc", "remote", "modify", "store", "endpointurl", target.endpoint)
        else:
            run("dvc", "remote", "add", "-d", "store", str(repo.parent / "dvc-store"))
    run("git", "add", "-A")
    run("git", "commit", "-q", "-m", "set-up")


def step_commands(tool: str) -> dict[str, list[list[str]]]:
    """What each timed step runs, in the author's repository (the clone is apart)."""
    if tool == "dvc":
        return {
            "add": [["dvc", "add", "-q", "data"]],
            "commit": [["git", "add", "data.dvc", ".gitignore"],
                       ["git", "commit", "-q", "-m", "data"]],
            "status": [["dvc", "status", "-q"]],
            "push": [["dvc", "push", "-q"], ["git", "push", "-q", "origin", BRANCH]],
        }  # fmt: skip
    verb = ["git", "model"] if tool == "gitmodel" else ["git", "lfs"]
    return {
        "add": [["git", "add", "data"]],
        "commit": [["git", "commit", "-q", "-m", "data"]],
        "status": [["git", "status", "--porcelain"]],
        "push": [["git", "push", "-q", "origin", BRANCH]],
        "ls-files": [[*verb, "ls-files"]],
        "tool-status": [[*verb, "status"]],  # git model status, git lfs status
        "fsck": [[*verb, "fsck"]],
        "prune": [[*verb, "prune", "--dry-run"]],
    }


def timed_all(cmds: list[list[str]], cwd: Path, env: dict[str, str]) -> Measurement:
    """The commands one after the other: their summed time and largest peak RSS."""
    seconds, rss = 0.0, 0
    for cmd in cmds:
        measurement, _ = benchlib.timed(cmd, cwd, env, timeout=COMMAND_TIMEOUT)
        seconds += measurement.seconds
        rss = max(rss, measurement.max_rss_kib)
    return Measurement(seconds, rss, None)


def clone_commands(tool: str, target: Target, origin: Path, prefix: str) -> list[list[str]]:
    if tool == "dvc":
        return [["git", "clone", "-q", str(origin), "clone"], ["dvc", "pull", "-q"]]
    config = []
    if tool == "gitmodel" and target.kind == "s3":
        config = ["-c", f"remote.origin.modelurl=s3://{target.bucket}/{prefix}",
                  "-c", f"remote.origin.modelendpoint={target.endpoint}"]  # fmt: skip
    return [["git", "clone", "-q", *config, str(origin), "clone"]]


def one_run(results: Results, payload: Payload, tool: str, target: Target, workdir: Path,
            steps: list[str]) -> None:  # fmt: skip
    """Every step of one tool against one target; each measured, the clone checked."""
    folder = workdir / f"{tool}-{target.kind}-{uuid.uuid4().hex[:8]}"
    folder.mkdir()
    prefix = folder.name
    where = f"{tool} / {target.kind}"
    try:
        author = user(folder, tool, "author")
        origin, repo = folder / "origin.git", folder / "author"
        benchlib.run(["git", "init", "-q", "--bare", str(origin)], folder, author)
        benchlib.run(["git", "clone", "-q", str(origin), str(repo)], folder, author)
        setup(tool, target, repo, author, prefix)
        benchlib.place_files(payload.source, payload.digests, repo)
        commands = step_commands(tool)
        line = []
        for step in steps:
            scenario = f"{step} {target.kind}"
            before = target.requests()
            if step != "clone" and step not in commands:
                continue  # DVC has no ls-files, fsck or prune of its own
            if step == "clone":
                reader = user(folder, tool, "reader")
                cmds = clone_commands(tool, target, origin, prefix)
                cwd = folder / "reader"
                cwd.mkdir()
                first, *rest = cmds
                measurement = timed_all([first], cwd, reader)
                if rest:
                    later = timed_all(rest, cwd / "clone", reader)
                    measurement = Measurement(measurement.seconds + later.seconds,
                                              max(measurement.max_rss_kib, later.max_rss_kib),
                                              None)  # fmt: skip
            elif step == "status":
                benchlib.run(commands[step][0], repo, author)  # refreshes the index
                tries = [timed_all(commands[step], repo, author) for _ in range(STATUS_RUNS)]
                measurement = sorted(tries, key=lambda m: m.seconds)[STATUS_RUNS // 2]
            else:
                measurement = timed_all(commands[step], repo, author)
            results.record(scenario, tool, measurement)
            if target.log is not None and step in ("push", "clone"):
                results.count(scenario, tool, target.requests() - before)
                results.moved[scenario] = payload.total
            line.append(f"{step} {measurement.seconds:.2f} s")
        if "clone" in steps:
            check_clone(results, payload, tool, target, folder / "reader" / "clone", reader)
        print(f"  {where}: " + ", ".join(line), flush=True)
    except BenchError as exc:
        results.add_failure(f"push {target.kind}", tool, f"{where}: {exc}", str(exc))
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def check_clone(results: Results, payload: Payload, tool: str, target: Target, clone: Path,
                env: dict[str, str]) -> None:  # fmt: skip
    problems = benchlib.checkout_problems(payload.digests, clone, env)
    if problems:
        listed = f"clone {target.kind} ({tool}): " + "; ".join(benchlib.limited(problems))
        results.add_failure(f"clone {target.kind}", tool, listed, listed)


# -- data and the S3 server --------------------------------------------------------------


def make_payload(workdir: Path, count: int, size: int, name: str) -> Payload:
    """``count`` random files of ``size`` bytes under ``data/``, a thousand a folder."""
    source = workdir / name
    digests = {}
    for i in range(count):
        rel = f"data/d{i // FILES_PER_FOLDER:03d}/f{i:06d}.bin"
        digests[rel] = benchlib.write_random(source / rel, size)
    return Payload(source, digests, size)


@contextlib.contextmanager
def s3_target(workdir: Path) -> Iterator[Target]:
    """The moto server of ``bench_remote.py`` on loopback, and a bucket on it."""
    import s3fs

    with moto_server(workdir) as (endpoint, _pid):
        fs = s3fs.S3FileSystem(endpoint_url=endpoint, key=AWS_ENV["AWS_ACCESS_KEY_ID"],
                               secret=AWS_ENV["AWS_SECRET_ACCESS_KEY"],
                               skip_instance_cache=True)  # fmt: skip
        bucket = f"bench-many-{uuid.uuid4().hex[:12]}"
        fs.mkdir(bucket)
        yield Target("s3", bucket, endpoint, workdir / "moto.log")


# -- report ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Row:
    scenario: str
    seconds: dict[str, float | None]  # tool -> median
    ratio: float | None  # gitmodel / git-lfs
    requests: int | None  # gitmodel's median, S3 only
    max_rss_mib: float | None  # gitmodel's largest process
    verdicts: list[str]


def median(results: Results, scenario: str, tool: str,
           pick: Callable[[Measurement], float]) -> float | None:  # fmt: skip
    runs = results.runs.get(scenario, {}).get(tool, [])
    if not runs or (scenario, tool) in results.failed:
        return None
    return statistics.median(pick(m) for m in runs)


def build_row(results: Results, step: str, kind: str) -> Row:
    scenario = f"{step} {kind}"
    seconds = {tool: median(results, scenario, tool, lambda m: m.seconds) for tool in TOOLS}
    ours, theirs = seconds["gitmodel"], seconds["git-lfs"]
    ratio = ours / theirs if ours is not None and theirs else None
    rss = median(results, scenario, "gitmodel", lambda m: m.max_rss_kib / 1024)
    verdicts = []
    if (step, kind) in TIME_TARGETS:
        limit = TIME_TARGETS[step, kind]
        met = "-" if ratio is None else ("met" if ratio <= limit else "MISSED")
        verdicts.append(f"time <= {limit}x git-lfs: {met}")
    counts = results.requests.get(scenario, {}).get("gitmodel")
    requests = int(statistics.median(counts)) if counts else None
    if requests is not None:
        allowed = results.moved[scenario] // BYTES_PER_REQUEST + REQUEST_CONSTANT
        verdicts.append(f"requests <= {allowed}: {'met' if requests <= allowed else 'MISSED'}")
    if rss is not None:
        met = rss * (1 << 20) <= MAX_RSS_MB * 1_000_000
        verdicts.append(f"RSS <= {MAX_RSS_MB} MB ({MAX_RSS_MB * 1e6 / (1 << 20):.1f} MiB): "
                        f"{'met' if met else 'MISSED'}")  # fmt: skip
    return Row(scenario, seconds, ratio, requests, rss, verdicts)


def print_report(rows: list[Row], results: Results, meta: dict[str, Any]) -> None:
    benchlib.print_header(meta, 14)
    print(f"\nmedians of {meta['args']['repeat']} run(s); RSS: gitmodel's largest process\n")
    cells = [["scenario", *TOOLS, "ratio", "requests", "RSS", "targets"]]
    for row in rows:
        cells.append([
            row.scenario, *(benchlib.secs(row.seconds[tool]) for tool in TOOLS),
            "-" if row.ratio is None else f"{row.ratio:.2f}",
            "-" if row.requests is None else str(row.requests),
            "-" if row.max_rss_mib is None else f"{row.max_rss_mib:.0f} MiB",
            "; ".join(row.verdicts),
        ])  # fmt: skip
    print("\n".join(benchlib.aligned(cells)))
    for scenario, by_tool in sorted(results.requests.items()):
        for tool, counts in by_tool.items():
            print(f"S3 requests, {scenario}, {tool}: {counts}")
    results.print_problems()


# -- main --------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=100_000, help="number of files")
    parser.add_argument("--size", type=benchlib.parse_size, default=10_000,
                        help="size of each file (default 10KB)")  # fmt: skip
    parser.add_argument("--quick", action="store_true", help="20,000 files of 20 KB")
    parser.add_argument("--s3-count", type=int,
                        help="files for the S3 runs (default: --count)")  # fmt: skip
    parser.add_argument("--tools", default=",".join(TOOLS), help="comma-separated subset")
    parser.add_argument("--targets", default=",".join(TARGETS), help="local, s3 or both")
    parser.add_argument("--steps", default=",".join(STEPS),
                        help="the first steps only, e.g. add,commit,status")  # fmt: skip
    benchlib.add_common_options(parser, "many")
    parser.set_defaults(repeat=1)
    args = parser.parse_args(argv)
    if args.quick:
        args.count, args.size = 20_000, 20_000
    args.tools = [t for t in TOOLS if t in args.tools.split(",")]
    args.targets = [t for t in TARGETS if t in args.targets.split(",")]
    chosen = args.steps.split(",")
    args.steps = [s for s in STEPS if s in chosen]
    if args.steps != list(STEPS[: len(args.steps)]):
        parser.error(f"--steps must be the first of {','.join(STEPS)}: each needs the one before")
    if min(args.count, args.size, args.repeat, args.s3_count or 1) < 1 or not args.tools:
        parser.error("counts, sizes and --repeat must be positive, and a tool chosen")
    return args


def versions(env: dict[str, str], tools: list[str]) -> dict[str, str]:
    """What is measured; exits when a chosen tool is missing (DVC is dropped instead)."""
    found = {"git": benchlib.first_line(["git", "--version"], env)}
    commands = {"gitmodel": ["git-model", "--version"], "git-lfs": ["git-lfs", "version"],
                "dvc": ["dvc", "--version"]}  # fmt: skip
    for tool, cmd in commands.items():
        if tool not in tools:
            continue
        found[tool] = benchlib.first_line(cmd, env)
        if shutil.which(cmd[0], path=env["PATH"]) is None:
            if tool != "dvc":
                sys.exit(f"error: {cmd[0]} is not on PATH")
            print("DVC is not installed (pip install dvc dvc-s3): skipped", file=sys.stderr)
            tools.remove(tool)
    with contextlib.suppress(metadata.PackageNotFoundError):
        found["moto"] = metadata.version("moto")
    return found


def benchmark(args: argparse.Namespace, workdir: Path, results: Results) -> None:
    local = make_payload(workdir, args.count, args.size, "source")
    s3_count = args.s3_count or args.count
    s3 = local if s3_count == args.count else make_payload(workdir, s3_count, args.size, "s3")
    with contextlib.ExitStack() as stack:
        targets = [(Target("local"), local)] if "local" in args.targets else []
        if "s3" in args.targets:
            targets.append((stack.enter_context(s3_target(workdir)), s3))
        for number in range(args.repeat):
            print(f"run {number + 1} of {args.repeat}", flush=True)
            order = args.tools if number % 2 == 0 else args.tools[::-1]
            for target, payload in targets:
                for tool in order:
                    if not (tool == "git-lfs" and target.kind == "s3"):
                        one_run(results, payload, tool, target, workdir, args.steps)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    with benchlib.work_folder(args.workdir, "gitmodel-bench-many-") as workdir:
        env = benchlib.clean_env(path_first=SCRIPTS_DIR)
        meta = {**benchlib.start_meta(args), "versions": versions(env, args.tools)}
        benchlib.compile_bytecode()  # as pip installs it: every hook and filter starts
        # the sources, and per run: the author's files and store, the remote, the clone's
        # files and store; small files take a 4 KiB block each at least
        each = max(args.size, 4096) * args.count
        benchlib.check_disk(workdir, 6 * each + (1 << 30), "--count")
        ram = benchlib.proc_field("/proc/meminfo", "MemTotal")
        meta["machine"] = benchlib.machine_info(ram, {})
        results = Results()
        try:
            benchmark(args, workdir, results)
        except BenchError as exc:  # a tool or server missing or failing: said, not traced
            print(f"error: {exc}", file=sys.stderr)
            return 2
    rows = [build_row(results, step, kind) for kind in args.targets for step in args.steps]
    print_report(rows, results, meta)
    if args.json is not None:
        document = results.document(meta, rows, tail={"requests": results.requests})
        benchlib.write_json(args.json, document)
    return 1 if results.failures else 0


if __name__ == "__main__":
    sys.exit(main())
