#!/usr/bin/env python3
"""Core benchmark: ``git add`` and ``git checkout`` with gitmodel against git-lfs.

Four scenarios, each run for both tools in the same process on the same data:
adding one big random file, checking it out by switching branches, and the same
two steps for many small files. Every timed command runs in a fresh repository
with an isolated HOME; results are medians over ``--repeat`` runs. Then the disk
column: the big file's two versions pushed to a local bare remote, cloned by another
user, and the clone's bytes on disk (every file under it, each block once, as ``du``
counts) after the clone and after checking out the other version, as multiples of
the file's size. Last, the big add's floor on this machine: what any tool that hashes
the file and keeps a copy of it cannot skip, each step timed alone. See
``benchmarks/README.md`` for what is measured and how.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import importlib.util
import mmap
import os
import platform
import shlex
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import benchlib
from benchlib import BenchError, Measurement, limited, parse_size, run, secs, write_random

GIT = ("git", "-c", "core.fsmonitor=false")
BASE_BRANCH = "main"
WITH_BRANCH = "with"
LFS_SPEC = "https://git-lfs.github.com/spec/v1"
EXPECTED_STDERR = ("Switched to branch", "Already on")


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
class Target:
    max_ratio: float
    rss_not_above_lfs: bool = False

    def describe(self) -> str:
        rss = f", {MODEL} RSS <= {LFS}" if self.rss_not_above_lfs else ""
        return f"ratio <= {self.max_ratio}{rss}"


TARGETS = {
    "big-add": Target(0.12),
    "big-checkout": Target(0.3, rss_not_above_lfs=True),
    "small-add": Target(0.5),
    "small-checkout": Target(1.0),
}


@dataclass
class Recorder(benchlib.Recorder[Measurement]):
    """Everything measured or noticed during the run."""

    labels: dict[str, str] = field(default_factory=dict)  # scenario -> label

    def fail(self, scenario: str, tool: str, message: str) -> None:
        label = self.labels.get(scenario, scenario)
        self.add_failure(
            scenario, tool, f"{tool} / {label}: {message}", f"{tool} {scenario}: {message}"
        )


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


# -- formatting and environment -------------------------------------------------------


def mib(kib: float | None) -> str:
    return "-" if kib is None else f"{kib / 1024:.1f} MiB"


def model_bin_dir() -> Path | None:
    """The folder of the ``git-model`` installed next to this Python, if any."""
    folder = Path(sys.executable).parent
    return folder if (folder / "git-model").is_file() else None


def make_home(home: Path) -> dict[str, str]:
    """A fresh HOME with only a name, an email and the default branch configured, in the
    caller's environment without Git settings (this Python's ``git-model`` first on PATH)."""
    return benchlib.make_home(home, benchlib.clean_env(path_first=model_bin_dir()), BASE_BRANCH)


# -- running commands --------------------------------------------------------------


# -- data --------------------------------------------------------------------------


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


def switch_away(payload: Payload, repo: Path, env: dict[str, str]) -> None:
    """Commit the payload on ``with`` and check out the base commit, which lacks it."""
    run([*GIT, "commit", "-q", "-m", f"add {payload.label}"], repo, env)
    run([*GIT, "checkout", "-q", BASE_BRANCH], repo, env)
    left = [rel for rel in payload.digests if (repo / rel).exists()]
    if left:
        raise BenchError(f"still present after checking out {BASE_BRANCH}: {limited(left)}")


def note_output(recorder: Recorder, scenario: str, tool: str, output: str) -> None:
    """Keep any output a timed command printed besides Git's usual branch message."""
    for line in benchlib.unexpected_lines(output, EXPECTED_STDERR):
        recorder.warnings.append(f"{tool} / {recorder.labels[scenario]}: {line}")


def timed_step(
    recorder: Recorder, scenario: str, tool: Tool, cmd: list[str], repo: Path, env: dict[str, str]
) -> Measurement:
    measurement, output = benchlib.timed(cmd, repo, env, sample=True)
    recorder.record(scenario, tool.name, measurement)
    note_output(recorder, scenario, tool.name, output)
    return measurement


def add_phase(
    recorder: Recorder, payload: Payload, tool: Tool, repo: Path, env: dict[str, str]
) -> Measurement:
    """Time ``git add`` of the payload, then check that only pointers were committed."""
    scenario = f"{payload.key}-add"
    benchlib.place_files(payload.source, payload.digests, repo)
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
    for problem in limited(benchlib.checkout_problems(payload.digests, repo, env, GIT)):
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
    return f"add {secs(add.seconds)}, checkout {secs(checkout.seconds)}"


def run_all(recorder: Recorder, payloads: list[Payload], repeat: int, workdir: Path) -> None:
    """Every payload, ``repeat`` times, for each tool; the tool order alternates.

    A run of many files is deleted only after the last run of its payload: ext4 without
    a journal (as on these VMs) will not reuse an inode freed in the last one to five
    minutes and checks each one it passes over (``recently_deleted``), so for minutes
    after thousands of files are deleted every file created costs more. Deleting as we
    went made each run pay for the one before, and git-lfs, which leaves about twice as
    many files, slowed whichever tool came after it.
    """
    for payload in payloads:
        recorder.labels[f"{payload.key}-add"] = f"add {payload.label}"
        recorder.labels[f"{payload.key}-checkout"] = f"checkout {payload.label}"
        kept: list[Path] = []
        for i in range(repeat):
            for tool in TOOLS if i % 2 == 0 else TOOLS[::-1]:
                cycle_dir = workdir / f"{payload.key}-{tool.name}-{i}"
                prefix = f"[{payload.label} {i + 1}/{repeat}] {tool.name}:"
                try:
                    print(prefix, run_cycle(recorder, payload, tool, cycle_dir), flush=True)
                finally:
                    if len(payload.digests) > 1:
                        kept.append(cycle_dir)
                    else:
                        shutil.rmtree(cycle_dir, ignore_errors=True)
        for cycle_dir in kept:
            shutil.rmtree(cycle_dir, ignore_errors=True)


# -- the floor: what no tool's big add can skip ----------------------------------------

DISCARD_FILTER = Path(__file__).resolve().parent / "discard_filter.py"
FLOOR_STEPS = {
    "hash": "sha256 of the file, one core",
    "git": "Git sending it down a filter's pipe",
    "copy": "a kernel copy into a new file",
}


def hash_alone(path: Path) -> tuple[float, float]:
    """Wall and CPU seconds of sha256 over the file, mapped (no copy), on one core."""
    with open(path, "rb") as f, mmap.mmap(f.fileno(), 0, prot=mmap.PROT_READ) as mapped:
        wall, cpu = time.perf_counter(), time.process_time()
        hashlib.sha256(mapped).digest()
        return time.perf_counter() - wall, time.process_time() - cpu


def copy_alone(path: Path, folder: Path) -> tuple[float, float]:
    """Wall and CPU seconds of ``copy_file_range`` of the file into a new file beside
    the repositories (a reflink where the file system makes them), as a store keeps it."""
    dest = folder / "copy.bin"
    os.sync()
    try:
        with open(path, "rb") as src, open(dest, "wb") as out:
            wall, cpu = time.perf_counter(), time.process_time()
            left = os.fstat(src.fileno()).st_size
            while left > 0 and (n := os.copy_file_range(src.fileno(), out.fileno(), left)):
                left -= n
            return time.perf_counter() - wall, time.process_time() - cpu
    finally:
        dest.unlink(missing_ok=True)


def git_alone(payload: Payload, folder: Path) -> tuple[float, float]:
    """Wall and CPU seconds of ``git add`` of the file through a filter that discards
    it (``discard_filter.py``): Git reading the file and writing it to the pipe."""
    env = make_home(folder / "home")
    repo = folder / "repo"
    repo.mkdir()
    run([*GIT, "init", "-q"], repo, env)
    process = f"{shlex.quote(sys.executable)} {shlex.quote(str(DISCARD_FILTER))}"
    run([*GIT, "config", "filter.discard.process", process], repo, env)
    run([*GIT, "config", "filter.discard.required", "true"], repo, env)
    (repo / ".gitattributes").write_text("*.bin filter=discard\n")
    benchlib.place_files(payload.source, payload.digests, repo)
    measurement, _ = benchlib.timed([*GIT, "add", *payload.add_paths], repo, env)
    shutil.rmtree(folder)
    return measurement.seconds, measurement.cpu_seconds or 0.0


def run_floor(payload: Payload, repeat: int, workdir: Path) -> dict[str, list[float]]:
    """Each step of :data:`FLOOR_STEPS` alone, ``repeat`` times: the medians of their
    wall and CPU seconds, as ``{step: [wall, cpu]}``."""
    source = payload.source / "model.bin"
    runs: dict[str, list[tuple[float, float]]] = {step: [] for step in FLOOR_STEPS}
    for i in range(repeat):
        runs["hash"].append(hash_alone(source))
        runs["git"].append(git_alone(payload, workdir / f"floor-{i}"))
        runs["copy"].append(copy_alone(source, workdir))
        done = ", ".join(f"{step} {secs(found[-1][0])}" for step, found in runs.items())
        print(f"[floor {i + 1}/{repeat}] {done}", flush=True)
    return {step: [statistics.median(r[0] for r in found), statistics.median(r[1] for r in found)]
            for step, found in runs.items()}  # fmt: skip


def floor_lines(floor: dict[str, list[float]], size: str, lfs_add: Summary | None) -> list[str]:
    """The floor table, and the least time an add that does all three steps can take:
    the longest step, or all their CPU spread over every CPU, whichever is more."""
    cells: list[tuple[str, ...]] = [(f"what a {size} add cannot skip", "wall", "CPU")]
    for step, label in FLOOR_STEPS.items():
        wall, cpu = floor[step]
        cells.append((label, secs(wall), secs(cpu)))
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    total_cpu = sum(cpu for _, cpu in floor.values())
    bound = max(max(wall for wall, _ in floor.values()), total_cpu / (cpus or 1))
    ratio = f" = {bound / lfs_add.seconds:.3f}x git-lfs's add" if lfs_add else ""
    lines = benchlib.aligned(cells)
    lines.append(f"so at least {secs(bound)} (the longest step, or {secs(total_cpu)} of CPU "
                 f"over {cpus} CPUs){ratio}")  # fmt: skip
    return lines


# -- disk: a clone and a switch, bytes on disk ----------------------------------------

DISK_TARGETS = {"after clone": 1.05, "after switch": 2.1}  # x the big file's size, gitmodel


def disk_usage(root: Path) -> int:
    """Bytes on disk of every file under ``root``, each inode once (as ``du`` counts)."""
    seen: set[tuple[int, int]] = set()
    total = 0
    for folder, dirs, names in os.walk(root):
        for name in [*dirs, *names]:
            st = os.lstat(os.path.join(folder, name))
            if (st.st_dev, st.st_ino) not in seen:
                seen.add((st.st_dev, st.st_ino))
                total += st.st_blocks * 512
    return total


def second_version(payload: Payload, workdir: Path) -> Path:
    """The big file with its first MiB changed: another version, as a fine-tune makes."""
    source = workdir / "source-v2" / "model.bin"
    source.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(payload.source / "model.bin", source)
    with open(source, "r+b") as f:
        f.write(os.urandom(min(1 << 20, payload.file_size)))
    return source


def disk_cycle(tool: Tool, payload: Payload, v2: Path, folder: Path) -> dict[str, float]:
    """Push two versions to a bare remote; another user clones, then switches versions."""
    env = make_home(folder / "home")
    install = [*GIT, tool.subcommand, "install"] + (["--skip-repo"] if tool.name == LFS else [])
    run(install, folder, env)
    origin, author, reader = folder / "origin.git", folder / "author", folder / "reader"
    run([*GIT, "init", "-q", "--bare", str(origin)], folder, env)
    run([*GIT, "clone", "-q", str(origin), str(author)], folder, env)
    run([*GIT, tool.subcommand, "track", "*.bin"], author, env)
    benchlib.place_files(payload.source, ["model.bin"], author)
    run([*GIT, "add", "."], author, env)
    run([*GIT, "commit", "-q", "-m", "v1"], author, env)
    (author / "model.bin").unlink()
    benchlib.place_files(v2.parent, ["model.bin"], author)
    run([*GIT, "commit", "-q", "-am", "v2"], author, env)
    run([*GIT, "push", "-q", "origin", BASE_BRANCH], author, env)
    shutil.rmtree(author)
    run([*GIT, "clone", "-q", str(origin), str(reader)], folder, env)
    after_clone = disk_usage(reader) / payload.file_size
    run([*GIT, "checkout", "-q", "HEAD~1"], reader, env)
    after_switch = disk_usage(reader) / payload.file_size
    return {"after clone": after_clone, "after switch": after_switch}


def run_disk(payload: Payload, workdir: Path) -> dict[str, dict[str, float]]:
    """The disk column, once per tool (bytes on disk do not vary from run to run)."""
    v2 = second_version(payload, workdir)
    found = {}
    for tool in TOOLS:
        folder = workdir / f"disk-{tool.name}"
        folder.mkdir()
        try:
            found[tool.name] = disk_cycle(tool, payload, v2, folder)
            print(f"[disk] {tool.name}: " + ", ".join(
                f"{k} {v:.3f}x" for k, v in found[tool.name].items()), flush=True)  # fmt: skip
        except BenchError as exc:
            print(f"[disk] {tool.name}: aborted: {exc}", flush=True)
        finally:
            shutil.rmtree(folder, ignore_errors=True)
    shutil.rmtree(v2.parent, ignore_errors=True)
    return found


def disk_lines(disk: dict[str, dict[str, float]], size: str) -> list[str]:
    cells: list[tuple[str, ...]] = [(f"on disk, x the {size} file", MODEL, LFS, "target",
                                     "result")]  # fmt: skip
    for step, target in DISK_TARGETS.items():
        ours = disk.get(MODEL, {}).get(step)
        theirs = disk.get(LFS, {}).get(step)
        result = "-" if ours is None else ("met" if ours <= target else "NOT MET")
        shown = ["-" if value is None else f"{value:.3f}" for value in (ours, theirs)]
        cells.append((step, *shown, f"<= {target}", result))
    return benchlib.aligned(cells)


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
    return secs(summary.seconds), mib(summary.max_rss_kib), mib(summary.tree_rss_kib)


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
    return benchlib.aligned(cells)


def print_report(rows: list[Row], recorder: Recorder, meta: dict[str, Any]) -> None:
    benchlib.print_header(meta, 20)
    print(f"medians of {meta['args']['repeat']} run(s); RSS = peak of the largest process,")
    print("tree = sampled peak of the summed RSS of the command's whole process tree\n")
    print("\n".join(table_lines(rows)))
    recorder.print_problems()


# -- metadata and output ---------------------------------------------------------------


def tool_versions(env: dict[str, str]) -> dict[str, str]:
    versions = {"git": benchlib.first_line(["git", "--version"], env)}
    for tool in TOOLS:
        versions[tool.name] = benchlib.first_line(["git", *tool.version_args], env)
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
    extra = {
        "python": platform.python_version(),
        "psutil": benchlib.psutil_version(),
        "workdir filesystem": filesystem(workdir),
    }
    return benchlib.machine_info(benchlib.proc_field("/proc/meminfo", "MemTotal"), extra)


# -- main ------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--big-size", default="2GiB", help="size of the big file (2GiB)")
    parser.add_argument("--small-count", type=int, default=1000, help="number of small files")
    parser.add_argument("--small-size", default="100KB", help="size of each small file (100KB)")
    parser.add_argument("--no-disk", action="store_true", help="skip the disk column")
    parser.add_argument("--no-floor", action="store_true", help="skip the big add's floor")
    benchlib.add_common_options(parser, "core")
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
    """The source files plus one big-file repository (its store and work tree), and every
    small-file repository (kept until the last run, see ``run_all``), must fit."""
    small = args.small_count * max(args.small_size, 4096)
    need = 3 * args.big_size + small + 2 * small * 2 * args.repeat + (512 << 20)
    if not args.no_disk:  # a second version, the remote's two and the clone's (up to 3)
        need = max(need, 7 * args.big_size + small + (512 << 20))
    benchlib.check_disk(workdir, need, "--big-size")


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    with benchlib.work_folder(args.workdir, "gitmodel-bench-") as workdir:
        env = make_home(workdir / "meta-home")
        versions = tool_versions(env)
        check_prerequisites(env, versions)
        check_disk(workdir, args)
        meta = {
            **benchlib.start_meta(args),
            "versions": versions,
            "machine": machine_info(workdir),
        }
        recorder = Recorder()
        payloads = make_payloads(workdir, args)
        run_all(recorder, payloads, args.repeat, workdir)
        floor = {} if args.no_floor else run_floor(payloads[0], args.repeat, workdir)
        disk = {} if args.no_disk else run_disk(payloads[0], workdir)
    rows = build_rows(recorder)
    print_report(rows, recorder, meta)
    if disk:
        print("\n" + "\n".join(disk_lines(disk, args.big_size_text)))
    if floor:
        lfs_add = next(r.summaries[LFS] for r in rows if r.scenario == "big-add")
        print("\n" + "\n".join(floor_lines(floor, args.big_size_text, lfs_add)))
    if args.json is not None:
        tail = {"disk": disk, "floor": floor}
        benchlib.write_json(args.json, recorder.document(meta, rows, tail=tail))
    return 1 if recorder.failures else 0


if __name__ == "__main__":
    sys.exit(main())
