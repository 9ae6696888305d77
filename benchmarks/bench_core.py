#!/usr/bin/env python3
"""Core benchmark: ``git add`` and ``git checkout`` with gitmodel against git-lfs.

Four scenarios, each run for both tools in the same process on the same data:
adding one big random file, checking it out by switching branches, and the same
two steps for many small files. Every timed command runs in a fresh repository
with an isolated HOME; results are medians over ``--repeat`` runs. See
``benchmarks/README.md`` for what is measured and how.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import importlib.util
import json
import os
import platform
import re
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

try:
    import psutil  # type: ignore[import-untyped]
except ImportError:  # whole-tree RSS sampling is optional
    psutil = None

GIT = ("git", "-c", "core.fsmonitor=false")
BASE_BRANCH = "main"
WITH_BRANCH = "with"
CHUNK_SIZE = 16 << 20
SAMPLE_INTERVAL = 0.02
LFS_SPEC = "https://git-lfs.github.com/spec/v1"
EXPECTED_STDERR = ("Switched to branch", "Already on")
RESULTS_DIR = Path(__file__).resolve().parent / "results"
MAX_LISTED = 10

# Runs the timed command as its only child, so RUSAGE_CHILDREN's ru_maxrss is the
# peak RSS of the largest single process in that command's tree (git, a filter, a hook).
WRAPPER = """\
import json, resource, subprocess, sys, time
start = time.perf_counter()
code = subprocess.run(sys.argv[2:]).returncode
seconds = time.perf_counter() - start
rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
with open(sys.argv[1], "w") as f:
    json.dump({"returncode": code, "seconds": seconds, "max_rss_kib": rss}, f)
"""

UNITS = {
    "": 1,
    "b": 1,
    "k": 1 << 10,
    "kib": 1 << 10,
    "kb": 10**3,
    "m": 1 << 20,
    "mib": 1 << 20,
    "mb": 10**6,
    "g": 1 << 30,
    "gib": 1 << 30,
    "gb": 10**9,
}


class BenchError(Exception):
    """A command of the benchmark failed; the cycle it belongs to is abandoned."""


@dataclass(frozen=True)
class Tool:
    name: str
    subcommand: str  # `git model …` or `git lfs …`
    version_args: tuple[str, ...]

    def setup_commands(self) -> list[list[str]]:
        return [
            [*GIT, self.subcommand, "install", "--local"],
            [*GIT, self.subcommand, "track", "*.bin"],
        ]


TOOLS = (
    Tool("gitmodel", "model", ("model", "--version")),
    Tool("git-lfs", "lfs", ("lfs", "version")),
)
MODEL, LFS = (tool.name for tool in TOOLS)


@dataclass(frozen=True)
class Payload:
    """Files generated once and linked into every repository."""

    key: str  # "big" or "small"
    label: str
    source: Path  # the folder holding the files, laid out as in the repository
    digests: dict[str, str]  # relative path -> sha256
    add_paths: tuple[str, ...]
    file_size: int  # every file of a payload has this size


@dataclass(frozen=True)
class Measurement:
    seconds: float
    max_rss_kib: int  # the largest single process
    tree_rss_kib: int | None  # the sampled peak of the whole tree (psutil only)


@dataclass(frozen=True)
class Target:
    max_ratio: float
    rss_not_above_lfs: bool = False

    def describe(self) -> str:
        rss = f", {MODEL} RSS <= {LFS}" if self.rss_not_above_lfs else ""
        return f"ratio <= {self.max_ratio}{rss}"


TARGETS = {
    "big-add": Target(0.2),
    "big-checkout": Target(0.5, rss_not_above_lfs=True),
    "small-add": Target(0.5),
    "small-checkout": Target(1.0),
}


@dataclass
class Recorder:
    """Everything measured or noticed during the run."""

    labels: dict[str, str] = field(default_factory=dict)  # scenario -> label
    runs: dict[str, dict[str, list[Measurement]]] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)
    failed: set[tuple[str, str]] = field(default_factory=set)  # (scenario, tool)
    warnings: list[str] = field(default_factory=list)

    def record(self, scenario: str, tool: str, measurement: Measurement) -> None:
        self.runs.setdefault(scenario, {}).setdefault(tool, []).append(measurement)

    def fail(self, scenario: str, tool: str, message: str) -> None:
        self.failed.add((scenario, tool))
        self.failures.append(f"{tool} / {self.labels.get(scenario, scenario)}: {message}")
        print(f"  FAILED: {tool} {scenario}: {message}", file=sys.stderr, flush=True)


@dataclass(frozen=True)
class Summary:
    runs: int
    seconds: float
    max_rss_kib: float
    tree_rss_kib: float | None


@dataclass(frozen=True)
class Row:
    scenario: str
    label: str
    summaries: dict[str, Summary | None]
    ratio: float | None
    target: str
    met: bool | None


# -- sizes and formatting ----------------------------------------------------------


def parse_size(text: str) -> int:
    """``2GiB``, ``64MiB``, ``100KB`` (KB/MB/GB are decimal; K, KiB… binary)."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*", text)
    unit = match.group(2).lower() if match else None
    if match is None or unit not in UNITS:
        raise argparse.ArgumentTypeError(f"not a size: {text!r} (try 2GiB, 64MiB, 100KB)")
    return int(float(match.group(1)) * UNITS[unit])


def mib(kib: float | None) -> str:
    return "-" if kib is None else f"{kib / 1024:.1f} MiB"


def seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f} s"


def limited(items: list[str]) -> list[str]:
    extra = len(items) - MAX_LISTED
    return items[:MAX_LISTED] + ([f"... and {extra} more"] if extra > 0 else [])


# -- environment -------------------------------------------------------------------


def model_bin_dir() -> Path | None:
    """The folder of the ``git-model`` installed next to this Python, if any."""
    folder = Path(sys.executable).parent
    return folder if (folder / "git-model").is_file() else None


def isolated_env(home: Path) -> dict[str, str]:
    """The caller's environment without Git settings, with HOME set to ``home``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GIT_", "XDG_CONFIG"))}
    bin_dir = model_bin_dir()
    if bin_dir is not None:
        env["PATH"] = f"{bin_dir}{os.pathsep}{env.get('PATH', '')}"
    env.update(
        HOME=str(home),
        XDG_CONFIG_HOME=str(home / ".config"),
        GIT_CONFIG_NOSYSTEM="1",
        LC_ALL="C",
    )
    return env


def make_home(home: Path) -> dict[str, str]:
    """A fresh HOME with only a name, an email and the default branch configured."""
    home.mkdir(parents=True)
    (home / ".gitconfig").write_text(
        "[user]\n\tname = Benchmark\n\temail = benchmark@example.invalid\n"
        f"[init]\n\tdefaultBranch = {BASE_BRANCH}\n"
    )
    return isolated_env(home)


# -- running commands --------------------------------------------------------------


def run(cmd: Sequence[str], cwd: Path, env: dict[str, str]) -> str:
    """Run an untimed command; its standard output, or BenchError with all output."""
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        output = (proc.stdout + proc.stderr).strip()
        raise BenchError(f"`{shlex.join(cmd)}` exited {proc.returncode}:\n{output}")
    return proc.stdout


def tree_rss(wrapper: Any) -> int:
    """The summed RSS in bytes of every process below the wrapper."""
    try:
        children = wrapper.children(recursive=True)
    except psutil.Error:
        return 0
    total = 0
    for child in children:
        with contextlib.suppress(psutil.Error):
            total += child.memory_info().rss
    return total


def wait_sampling(proc: subprocess.Popen[bytes]) -> int | None:
    """Wait for ``proc``; the peak whole-tree RSS in KiB when psutil is available."""
    if psutil is None:
        proc.wait()
        return None
    try:
        wrapper = psutil.Process(proc.pid)
    except psutil.Error:
        proc.wait()
        return 0
    peak = 0
    while proc.poll() is None:
        peak = max(peak, tree_rss(wrapper))
        time.sleep(SAMPLE_INTERVAL)
    return peak // 1024


def timed(cmd: Sequence[str], cwd: Path, env: dict[str, str]) -> tuple[Measurement, str]:
    """Run ``cmd`` through the wrapper; its measurement and standard error."""
    os.sync()  # start without earlier writes still being flushed
    result_file = cwd.parent / "wrapper-result.json"
    result_file.unlink(missing_ok=True)
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        wrapped = [sys.executable, "-c", WRAPPER, str(result_file), *cmd]
        proc = subprocess.Popen(wrapped, cwd=cwd, env=env, stdout=out, stderr=err)
        tree_peak = wait_sampling(proc)
        out.seek(0)
        err.seek(0)
        output = out.read().decode(errors="replace") + err.read().decode(errors="replace")
    result = json.loads(result_file.read_text()) if result_file.exists() else {}
    if proc.returncode != 0 or result.get("returncode") != 0:
        code = result.get("returncode", proc.returncode)
        raise BenchError(f"`{shlex.join(cmd)}` exited {code}:\n{output.strip()}")
    return Measurement(result["seconds"], result["max_rss_kib"], tree_peak), output


# -- data --------------------------------------------------------------------------


def write_random(path: Path, size: int) -> str:
    """Write ``size`` random bytes to ``path``; their sha256."""
    digest = hashlib.sha256()
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as f:
        remaining = size
        while remaining:
            chunk = os.urandom(min(CHUNK_SIZE, remaining))
            digest.update(chunk)
            f.write(chunk)
            remaining -= len(chunk)
    return digest.hexdigest()


def make_payloads(workdir: Path, args: argparse.Namespace) -> list[Payload]:
    big_dir, small_dir = workdir / "source-big", workdir / "source-small"
    print(f"generating {args.big_size_text} big file and {args.small_count} small files ...")
    big = {"model.bin": write_random(big_dir / "model.bin", args.big_size)}
    small = {
        f"data/f{i:05d}.bin": write_random(small_dir / f"data/f{i:05d}.bin", args.small_size)
        for i in range(args.small_count)
    }
    small_label = f"{args.small_count} x {args.small_size_text} files"
    return [
        Payload("big", f"{args.big_size_text} file", big_dir, big, ("model.bin",), args.big_size),
        Payload("small", small_label, small_dir, small, ("data",), args.small_size),
    ]


def place_files(payload: Payload, repo: Path) -> None:
    """Hard-link (or copy) the payload into the work tree; generation is never timed."""
    for rel in payload.digests:
        dest = repo / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.link(payload.source / rel, dest)
        except OSError:
            shutil.copyfile(payload.source / rel, dest)


def file_digest(path: Path) -> tuple[str, int]:
    """The sha256 and size of ``path``; ``("missing", -1)`` when it is absent."""
    digest = hashlib.sha256()
    size = 0
    try:
        with open(path, "rb", buffering=0) as f:
            while chunk := f.read(CHUNK_SIZE):
                digest.update(chunk)
                size += len(chunk)
    except FileNotFoundError:
        return "missing", -1
    return digest.hexdigest(), size


# -- one cycle: fresh repository, timed add, timed checkout ---------------------------


def init_repo(tool: Tool, repo: Path, env: dict[str, str]) -> None:
    """A repository with the tool installed and ``*.bin`` tracked, on branch ``with``."""
    repo.mkdir()
    run([*GIT, "init", "-q"], repo, env)
    for cmd in tool.setup_commands():
        run(cmd, repo, env)
    run([*GIT, "add", ".gitattributes"], repo, env)
    run([*GIT, "commit", "-q", "-m", "track *.bin"], repo, env)
    run([*GIT, "checkout", "-q", "-b", WITH_BRANCH], repo, env)


def pointer_blob_id(digest: str, size: int, object_format: str) -> str:
    """The Git blob id of the canonical LFS pointer to a file (both tools write it)."""
    text = f"version {LFS_SPEC}\noid sha256:{digest}\nsize {size}\n".encode()
    return hashlib.new(object_format, b"blob %d\0" % len(text) + text).hexdigest()


def pointer_problems(payload: Payload, repo: Path, env: dict[str, str]) -> list[str]:
    """Payload files committed as anything but their exact pointer."""
    object_format = run([*GIT, "rev-parse", "--show-object-format"], repo, env).strip()
    listing = run([*GIT, "ls-tree", "-r", "-l", "-z", WITH_BRANCH], repo, env)
    committed = {}
    for entry in filter(None, listing.split("\0")):
        meta, _, path = entry.partition("\t")
        committed[path] = meta.split()[2:4]  # blob id, size
    problems = []
    for rel, digest in payload.digests.items():
        blob, size = committed.get(rel, ("none", "-"))
        if blob != pointer_blob_id(digest, payload.file_size, object_format):
            problems.append(f"{rel}: committed blob {blob} of {size} bytes is not its pointer")
    return problems


def checkout_problems(payload: Payload, repo: Path, env: dict[str, str]) -> list[str]:
    """Files whose content differs from the original, and a dirty ``git status``."""
    problems = []
    for rel, expected in payload.digests.items():
        actual, size = file_digest(repo / rel)
        if actual != expected:
            problems.append(f"{rel}: sha256 {actual} (size {size}) != expected {expected}")
    status = run([*GIT, "status", "--porcelain"], repo, env)
    if status.strip():
        lines = limited(status.splitlines())
        problems.append("`git status --porcelain` is not empty:\n    " + "\n    ".join(lines))
    return problems


def switch_away(payload: Payload, repo: Path, env: dict[str, str]) -> None:
    """Commit the payload on ``with`` and check out the base commit, which lacks it."""
    run([*GIT, "commit", "-q", "-m", f"add {payload.label}"], repo, env)
    run([*GIT, "checkout", "-q", BASE_BRANCH], repo, env)
    left = [rel for rel in payload.digests if (repo / rel).exists()]
    if left:
        raise BenchError(f"still present after checking out {BASE_BRANCH}: {limited(left)}")


def note_output(recorder: Recorder, scenario: str, tool: str, output: str) -> None:
    """Keep any output a timed command printed besides Git's usual branch message."""
    for line in output.splitlines():
        if line.strip() and not line.startswith(EXPECTED_STDERR):
            recorder.warnings.append(f"{tool} / {recorder.labels[scenario]}: {line}")


def timed_step(
    recorder: Recorder, scenario: str, tool: Tool, cmd: list[str], repo: Path, env: dict[str, str]
) -> Measurement:
    measurement, output = timed(cmd, repo, env)
    recorder.record(scenario, tool.name, measurement)
    note_output(recorder, scenario, tool.name, output)
    return measurement


def add_phase(
    recorder: Recorder, payload: Payload, tool: Tool, repo: Path, env: dict[str, str]
) -> Measurement:
    """Time ``git add`` of the payload, then check that only pointers were committed."""
    scenario = f"{payload.key}-add"
    place_files(payload, repo)
    add = timed_step(recorder, scenario, tool, [*GIT, "add", *payload.add_paths], repo, env)
    switch_away(payload, repo, env)
    for problem in limited(pointer_problems(payload, repo, env)):
        recorder.fail(scenario, tool.name, problem)
    return add


def checkout_phase(
    recorder: Recorder, payload: Payload, tool: Tool, repo: Path, env: dict[str, str]
) -> Measurement:
    """Time ``git checkout with``, then check the files and ``git status``."""
    scenario = f"{payload.key}-checkout"
    cmd = [*GIT, "checkout", WITH_BRANCH]
    checkout = timed_step(recorder, scenario, tool, cmd, repo, env)
    for problem in limited(checkout_problems(payload, repo, env)):
        recorder.fail(scenario, tool.name, problem)
    return checkout


def run_cycle(recorder: Recorder, payload: Payload, tool: Tool, cycle_dir: Path) -> str:
    """One fresh repository and HOME: the add phase, then the checkout phase."""
    env = make_home(cycle_dir / "home")
    repo = cycle_dir / "repo"
    phase = f"{payload.key}-add"
    try:
        init_repo(tool, repo, env)
        add = add_phase(recorder, payload, tool, repo, env)
        phase = f"{payload.key}-checkout"
        checkout = checkout_phase(recorder, payload, tool, repo, env)
    except BenchError as exc:
        recorder.fail(phase, tool.name, f"aborted: {exc}")
        return "aborted"
    return f"add {seconds(add.seconds)}, checkout {seconds(checkout.seconds)}"


def run_all(recorder: Recorder, payloads: list[Payload], repeat: int, workdir: Path) -> None:
    """Every payload, ``repeat`` times, for each tool; the tool order alternates."""
    for payload in payloads:
        recorder.labels[f"{payload.key}-add"] = f"add {payload.label}"
        recorder.labels[f"{payload.key}-checkout"] = f"checkout {payload.label}"
        for i in range(repeat):
            for tool in TOOLS if i % 2 == 0 else TOOLS[::-1]:
                cycle_dir = workdir / f"{payload.key}-{tool.name}-{i}"
                prefix = f"[{payload.label} {i + 1}/{repeat}] {tool.name}:"
                try:
                    print(prefix, run_cycle(recorder, payload, tool, cycle_dir), flush=True)
                finally:
                    shutil.rmtree(cycle_dir, ignore_errors=True)


# -- summary -------------------------------------------------------------------------


def summarize(runs: list[Measurement]) -> Summary | None:
    if not runs:
        return None
    trees = [m.tree_rss_kib for m in runs if m.tree_rss_kib is not None]
    return Summary(
        runs=len(runs),
        seconds=statistics.median(m.seconds for m in runs),
        max_rss_kib=statistics.median(m.max_rss_kib for m in runs),
        tree_rss_kib=statistics.median(trees) if trees else None,
    )


def judge(target: Target, model: Summary | None, lfs: Summary | None) -> tuple[float | None, bool]:
    """The time ratio gitmodel/git-lfs and whether the target is met."""
    if model is None or lfs is None or lfs.seconds <= 0:
        return None, False
    ratio = model.seconds / lfs.seconds
    rss_ok = not target.rss_not_above_lfs or model.max_rss_kib <= lfs.max_rss_kib
    return ratio, ratio <= target.max_ratio and rss_ok


def build_rows(recorder: Recorder) -> list[Row]:
    rows = []
    for scenario, label in recorder.labels.items():
        by_tool = recorder.runs.get(scenario, {})
        summaries = {tool.name: summarize(by_tool.get(tool.name, [])) for tool in TOOLS}
        target = TARGETS[scenario]
        ratio, met = judge(target, summaries[MODEL], summaries[LFS])
        if (scenario, MODEL) in recorder.failed:
            met = False  # a wrong result meets no target
        rows.append(Row(scenario, label, summaries, ratio, target.describe(), met))
    return rows


def summary_cells(summary: Summary | None) -> tuple[str, str, str]:
    if summary is None:
        return "-", "-", "-"
    return seconds(summary.seconds), mib(summary.max_rss_kib), mib(summary.tree_rss_kib)


def table_lines(rows: list[Row]) -> list[str]:
    header = ("scenario", MODEL, LFS, "ratio", f"RSS {MODEL}", f"RSS {LFS}")
    cells: list[tuple[str, ...]] = [(*header, f"tree {MODEL}", f"tree {LFS}", "target", "result")]
    for row in rows:
        model_time, model_rss, model_tree = summary_cells(row.summaries[MODEL])
        lfs_time, lfs_rss, lfs_tree = summary_cells(row.summaries[LFS])
        ratio = "-" if row.ratio is None else f"{row.ratio:.3f}"
        result = "met" if row.met else "NOT MET"
        times = (model_time, lfs_time, ratio)
        memory = (model_rss, lfs_rss, model_tree, lfs_tree)
        cells.append((row.label, *times, *memory, row.target, result))
    widths = [max(len(line[i]) for line in cells) for i in range(len(cells[0]))]
    return [
        "  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)).rstrip() for line in cells
    ]


def print_report(rows: list[Row], recorder: Recorder, meta: dict[str, Any]) -> None:
    print()
    for key, value in {**meta["versions"], **meta["machine"]}.items():
        print(f"{key + ':':20} {value}")
    print(f"medians of {meta['args']['repeat']} run(s); RSS = peak of the largest process,")
    print("tree = sampled peak of the summed RSS of the command's whole process tree\n")
    print("\n".join(table_lines(rows)))
    if recorder.warnings:
        print("\nunexpected output from timed commands:")
        print("\n".join(f"  {w}" for w in limited(sorted(set(recorder.warnings)))))
    if recorder.failures:
        print("\n*** CORRECTNESS FAILURES ***", file=sys.stderr)
        print("\n".join(f"  {f}" for f in recorder.failures), file=sys.stderr)


# -- metadata and output ---------------------------------------------------------------


def first_line(cmd: Sequence[str], env: dict[str, str]) -> str:
    try:
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    except FileNotFoundError:
        return "not installed"
    text = (proc.stdout or proc.stderr).strip()
    return text.splitlines()[0] if text else f"exit {proc.returncode}"


def tool_versions(env: dict[str, str]) -> dict[str, str]:
    versions = {"git": first_line(["git", "--version"], env)}
    for tool in TOOLS:
        versions[tool.name] = first_line(["git", *tool.version_args], env)
    versions["git-model path"] = shutil.which("git-model", path=env["PATH"]) or "not found"
    versions["gitmodel source"] = source_revision(env)
    return versions


def source_revision(env: dict[str, str]) -> str:
    """Where the imported ``gitmodel`` lives and, in a Git checkout, its commit."""
    spec = importlib.util.find_spec("gitmodel")
    if spec is None or spec.origin is None:
        return "not importable"
    folder = Path(spec.origin).parent
    describe = ["git", "-C", str(folder), "describe", "--always", "--dirty"]
    proc = subprocess.run(describe, env=env, capture_output=True, text=True, check=False)
    return f"{folder} ({proc.stdout.strip() or 'not in a Git checkout'})"


def proc_field(path: str, name: str) -> str:
    with contextlib.suppress(OSError):
        for line in Path(path).read_text().splitlines():
            key, _, value = line.partition(":")
            if key.strip() == name:
                return value.strip()
    return "unknown"


def filesystem(path: Path) -> str:
    """The type of the file system that holds ``path`` (from /proc/self/mounts)."""
    best, kind = "", "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/self/mounts").read_text().splitlines():
            _, mount, fstype, *_ = line.split()
            inside = str(path).startswith(mount.rstrip("/") + "/") or str(path) == mount
            if inside and len(mount) >= len(best):
                best, kind = mount, f"{fstype} on {mount}"
    return kind


def machine_info(workdir: Path) -> dict[str, Any]:
    return {
        "nproc": len(os.sched_getaffinity(0)),
        "cpu": proc_field("/proc/cpuinfo", "model name"),
        "ram": proc_field("/proc/meminfo", "MemTotal"),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "psutil": getattr(psutil, "__version__", "not installed"),
        "workdir filesystem": filesystem(workdir),
        "load average": " ".join(f"{load:.2f}" for load in os.getloadavg()),
    }


def write_json(path: Path, rows: list[Row], recorder: Recorder, meta: dict[str, Any]) -> None:
    runs = {
        scenario: {tool: [asdict(m) for m in ms] for tool, ms in by_tool.items()}
        for scenario, by_tool in recorder.runs.items()
    }
    document = {
        **meta,
        "rows": [asdict(row) for row in rows],
        "runs": runs,
        "failures": recorder.failures,
        "warnings": sorted(set(recorder.warnings)),
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=2) + "\n")
    print(f"\nresults written to {path}")


# -- main ------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--big-size", default="2GiB", help="size of the big file (2GiB)")
    parser.add_argument("--small-count", type=int, default=1000, help="number of small files")
    parser.add_argument("--small-size", default="100KB", help="size of each small file (100KB)")
    parser.add_argument("--repeat", type=int, default=3, help="runs per measurement (median)")
    parser.add_argument("--workdir", type=Path, help="where to make the temporary folder")
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    parser.add_argument(
        "--json",
        nargs="?",
        type=Path,
        const=RESULTS_DIR / f"core-{stamp}.json",
        help=f"write results as JSON (default path: {RESULTS_DIR.name}/core-<timestamp>.json)",
    )
    args = parser.parse_args(argv)
    args.big_size_text, args.small_size_text = args.big_size, args.small_size
    args.big_size, args.small_size = parse_size(args.big_size), parse_size(args.small_size)
    if args.repeat < 1 or args.small_count < 1 or args.big_size < 1 or args.small_size < 1:
        parser.error("sizes, counts and --repeat must be positive")
    return args


def check_prerequisites(env: dict[str, str], versions: dict[str, str]) -> None:
    """Stop early when git, git-lfs or gitmodel cannot run."""
    for tool in TOOLS:
        proc = subprocess.run(["git", *tool.version_args], env=env, capture_output=True)
        if proc.returncode != 0:
            sys.exit(f"error: `git {' '.join(tool.version_args)}` failed: {versions[tool.name]}")


def check_disk(workdir: Path, args: argparse.Namespace) -> None:
    """The source files plus one repository (its store and work tree) must fit."""
    need = 3 * (args.big_size + args.small_count * max(args.small_size, 4096)) + (512 << 20)
    free = shutil.disk_usage(workdir).free
    print(f"workdir {workdir}: {free / 2**30:.1f} GiB free, about {need / 2**30:.1f} GiB needed")
    if free < need:
        sys.exit("error: not enough free disk space; pass --workdir or a smaller --big-size")


@contextlib.contextmanager
def work_folder(parent: Path | None) -> Iterator[Path]:
    """A temporary folder that is removed however the run ends."""
    workdir = Path(tempfile.mkdtemp(prefix="gitmodel-bench-", dir=parent)).resolve()
    try:
        yield workdir
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    with work_folder(args.workdir) as workdir:
        env = make_home(workdir / "meta-home")
        versions = tool_versions(env)
        check_prerequisites(env, versions)
        check_disk(workdir, args)
        meta = {
            "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "args": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
            "versions": versions,
            "machine": machine_info(workdir),
        }
        recorder = Recorder()
        run_all(recorder, make_payloads(workdir, args), args.repeat, workdir)
    rows = build_rows(recorder)
    print_report(rows, recorder, meta)
    if args.json is not None:
        write_json(args.json, rows, recorder, meta)
    return 1 if recorder.failures else 0


if __name__ == "__main__":
    sys.exit(main())
