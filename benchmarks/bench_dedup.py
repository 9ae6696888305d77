#!/usr/bin/env python3
"""Dedup benchmark: what chunked remotes store and move, side by side with git-lfs.

Four scenarios, all through real ``git add/commit/push/pull/clone``:

1. ten versions of a safetensors model, each changing 10% of the tensors, one inserting
   a tensor early (every later offset shifts): remote bytes against git-lfs, bytes
   uploaded per push and downloaded per new version against the changed tensors;
2. ten versions of a CSV data set, each appending 5% rows and editing a few: remote bytes;
3. all-new random data: push and pull throughput of the chunked path against the
   whole-object path (``model.chunking=false``), to a local directory and to S3 (moto);
4. storage requests per GB uploaded, counted with ``GIT_MODEL_TEST_COUNT_FILE`` and,
   on S3, from the server's request log.

See ``benchmarks/README.md``.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import statistics
import sys
import sysconfig
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import benchlib
from benchlib import BenchError, checkout_problems, parse_size, place_files
from dedup_data import Version, csv_versions, model_versions

SCRIPTS_DIR = sysconfig.get_path("scripts")
BRANCH = "main"
TIMEOUT = 3600.0
COUNT_ENV = "GIT_MODEL_TEST_COUNT_FILE"
GB = 10**9
MIB = 1 << 20
QUICK = {  # a check of the whole pipeline, not the figures: the targets need 10 versions
    "model_size": "16MiB",
    "tensors": 30,
    "csv_size": "4MB",
    "new_size": "16MiB",
    "new_files": 2,
    "versions": 3,
    "repeat": 1,
}


# -- what is measured ------------------------------------------------------------------


@dataclass
class Traffic:
    """Storage calls and bytes, from a count file (gitmodel) or folder growth (git-lfs)."""

    calls: int = 0  # storage requests made through fsspec (folder creation not counted)
    sent: int = 0
    received: int = 0
    http: int | None = None  # requests the S3 server logged, when on S3

    @classmethod
    def read(cls, log: Path) -> Traffic:
        traffic = cls()
        with contextlib.suppress(FileNotFoundError):
            for line in log.read_text().splitlines():
                name, sent, received = line.split()
                traffic.calls += name != "makedirs"  # a local folder, not a storage request
                traffic.sent += int(sent)
                traffic.received += int(received)
            log.unlink()
        return traffic


@dataclass
class VersionRow:
    """One version of a versioned scenario, for both tools."""

    number: int
    note: str
    size: int
    changed: int
    up: dict[str, int] = field(default_factory=dict)  # tool -> bytes the remote grew
    down: dict[str, int] = field(default_factory=dict)  # tool -> bytes a reader fetched
    push_seconds: dict[str, float] = field(default_factory=dict)
    push_calls: int = 0


@dataclass
class Results:
    model: list[VersionRow] = field(default_factory=list)
    csv: list[VersionRow] = field(default_factory=list)
    remote_bytes: dict[str, dict[str, int]] = field(default_factory=dict)  # scenario -> tool
    # (backend, mode, "push"|"pull") -> seconds of each run; (backend, mode) -> push traffic
    seconds: dict[str, list[float]] = field(default_factory=dict)
    traffic: dict[str, list[Traffic]] = field(default_factory=dict)
    new_bytes: int = 0
    failures: list[str] = field(default_factory=list)

    def fail(self, message: str) -> None:
        self.failures.append(message)
        print(f"  FAILED: {message}", file=sys.stderr, flush=True)


# -- environment and commands ------------------------------------------------------------


def tool_env(workdir: Path, name: str, extra: dict[str, str] | None = None) -> dict[str, str]:
    """A fresh HOME for ``name`` with its filter installed globally."""
    base = benchlib.clean_env((), SCRIPTS_DIR, **(extra or {}))
    env = benchlib.make_home(workdir / f"home-{name}", base, BRANCH)
    install = ["git", "lfs", "install"] if name == "git-lfs" else ["git", "model", "install"]
    benchlib.run(install, workdir, env, TIMEOUT)
    return env


def run(cmd: Sequence[str], cwd: Path, env: dict[str, str]) -> str:
    return benchlib.run(cmd, cwd, env, TIMEOUT)


def timed(cmd: Sequence[str], cwd: Path, env: dict[str, str]) -> float:
    measurement, _ = benchlib.timed(cmd, cwd, env, timeout=TIMEOUT)
    return measurement.seconds


def folder_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) if path.exists() else 0


def counted(env: dict[str, str], log: Path) -> dict[str, str]:
    return {**env, COUNT_ENV: str(log)}


# -- scenarios 1 and 2: versions pushed one after the other ----------------------------


@dataclass
class Side:
    """One tool's repositories in a versioned scenario."""

    tool: str
    env: dict[str, str]
    origin: Path
    author: Path
    reader: Path
    remote: Path  # where the tool's remote objects live

    def reader_objects(self) -> Path:
        return self.reader / ".git" / "lfs" / "objects"


def make_side(workdir: Path, tool: str, env: dict[str, str], pattern: str) -> Side:
    folder = workdir / tool
    origin, author = folder / "origin.git", folder / "author"
    folder.mkdir(parents=True)
    run(["git", "init", "-q", "--bare", str(origin)], folder, env)
    run(["git", "clone", "-q", str(origin), str(author)], folder, env)
    if tool == "git-lfs":
        run(["git", "lfs", "track", pattern], author, env)
        remote = origin / "lfs" / "objects"
    else:
        run(["git", "model", "track", pattern], author, env)
        remote = folder / "model-remote"
        run(["git", "model", "remote", "set", "origin", f"file://{remote}"], author, env)
    return Side(tool, env, origin, author, folder / "reader", remote)


def push_version(side: Side, version: Version, name: str, row: VersionRow, log: Path) -> None:
    """Commit ``version`` as ``name`` and push it; record the remote's growth."""
    target = side.author / name
    target.unlink(missing_ok=True)
    place_files(version.path.parent, [version.path.name], side.author)
    (side.author / version.path.name).rename(target)
    run(["git", "add", "-A"], side.author, side.env)
    run(["git", "commit", "-q", "-m", f"v{version.number}"], side.author, side.env)
    before = folder_bytes(side.remote)
    env = counted(side.env, log) if side.tool == "gitmodel" else side.env
    row.push_seconds[side.tool] = timed(["git", "push", "origin", BRANCH], side.author, env)
    row.up[side.tool] = folder_bytes(side.remote) - before
    if side.tool == "gitmodel":
        traffic = Traffic.read(log)
        row.push_calls = traffic.calls
        if traffic.sent != row.up[side.tool]:
            raise BenchError(
                f"v{version.number}: sent {traffic.sent} bytes, remote grew {row.up[side.tool]}"
            )


def pull_version(
    side: Side, version: Version, name: str, row: VersionRow, log: Path, results: Results
) -> None:
    """The reader, who has the previous version, pulls this one; record what it fetched."""
    if version.number == 1:
        clone = ["git", "clone", "-q", str(side.origin), str(side.reader)]
        if side.tool == "gitmodel":
            clone[2:2] = ["-c", f"remote.origin.modelurl=file://{side.remote}"]
        run(clone, side.origin.parent, counted(side.env, log))
        Traffic.read(log)
        row.down[side.tool] = version.size
    else:
        before = folder_bytes(side.reader_objects())
        run(["git", "pull", "-q", "origin", BRANCH], side.reader, counted(side.env, log))
        fetched = Traffic.read(log).received
        if side.tool == "git-lfs":
            fetched = folder_bytes(side.reader_objects()) - before
        row.down[side.tool] = fetched
    problems = checkout_problems({name: version.sha256}, side.reader, side.env)
    for problem in problems:
        results.fail(f"{side.tool} reader, v{version.number}: {problem}")


def versioned(
    workdir: Path, versions: list[Version], name: str, pull: bool, results: Results
) -> list[VersionRow]:
    """Push every version with each tool in turn (and pull it as a reader, with
    ``pull``); one row per version."""
    rows = [VersionRow(v.number, v.note, v.size, v.changed) for v in versions]
    scenario = workdir / name.replace(".", "-")
    log = workdir / "count.log"
    for tool in ("gitmodel", "git-lfs"):
        side = make_side(scenario, tool, tool_env(scenario, tool), f"*{Path(name).suffix}")
        for version, row in zip(versions, rows, strict=True):
            push_version(side, version, name, row, log)
            if pull:
                pull_version(side, version, name, row, log, results)
            print(
                f"  {tool} v{version.number}: uploaded {row.up[tool] / MIB:.1f} MiB"
                + (f", fetched {row.down[tool] / MIB:.1f} MiB" if pull else ""),
                flush=True,
            )
        results.remote_bytes.setdefault(name, {})[tool] = folder_bytes(side.remote)
        shutil.rmtree(scenario / tool)  # the next tool gets the disk space back
    return rows


# -- scenario 3 and 4: all-new data, chunked against whole objects ---------------------


@dataclass(frozen=True)
class Backend:
    name: str  # "local" or "s3"
    url: str  # the model URL of a run is url + "/" + the run's name
    config: tuple[tuple[str, str], ...] = ()  # extra Git settings (the S3 endpoint)
    admin: Any = None  # s3fs for sizes and clean-up
    log: Path | None = None  # the S3 server's request log

    def stored(self, run_url: str) -> int:
        if self.admin is None:
            return folder_bytes(Path(run_url.removeprefix("file://")))
        self.admin.invalidate_cache()
        return int(self.admin.du(run_url.removeprefix("s3://")))

    def remove(self, run_url: str) -> None:
        if self.admin is None:
            shutil.rmtree(run_url.removeprefix("file://"), ignore_errors=True)
            return
        with contextlib.suppress(FileNotFoundError):
            self.admin.rm(run_url.removeprefix("s3://"), recursive=True)

    def http_lines(self) -> int:
        if self.log is None:
            return 0
        return benchlib.logged_requests(self.log)


def new_data(workdir: Path, total: int, files: int) -> dict[str, str]:
    """Random files under ``source-new/data/``; their sha256 by path."""
    source = workdir / "source-new"
    return {
        f"data/part-{i}.bin": benchlib.write_random(source / f"data/part-{i}.bin", total // files)
        for i in range(files)
    }


def new_data_runs(
    workdir: Path, digests: dict[str, str], backends: list[Backend], repeat: int, results: Results
) -> None:
    env = tool_env(workdir, "gitmodel")
    author = workdir / "new-author"
    run(["git", "init", "-q", str(author)], workdir, env)
    run(["git", "model", "track", "*.bin"], author, env)
    place_files(workdir / "source-new", digests, author)
    run(["git", "add", "-A"], author, env)
    run(["git", "commit", "-q", "-m", "new data"], author, env)
    results.new_bytes = sum((author / rel).stat().st_size for rel in digests)
    for index in range(repeat):
        for backend in backends:
            modes = ["chunked", "whole"] if index % 2 == 0 else ["whole", "chunked"]
            for mode in modes:
                one_run(workdir, env, author, digests, backend, mode, index, results)


def one_run(
    workdir: Path,
    env: dict[str, str],
    author: Path,
    digests: dict[str, str],
    backend: Backend,
    mode: str,
    index: int,
    results: Results,
) -> None:
    """Push the data to a fresh origin and model store, then clone it as a new user."""
    name = f"{backend.name}-{mode}-{index}"
    origin, url = workdir / f"origin-{name}.git", f"{backend.url}/{name}"
    log = workdir / "count.log"
    run(["git", "init", "-q", "--bare", str(origin)], workdir, env)
    chunking = "true" if mode == "chunked" else "false"
    for key, value in [
        ("remote.origin.url", str(origin)),
        ("remote.origin.modelurl", url),
        ("model.chunking", chunking),
        *backend.config,
    ]:
        run(["git", "config", key, value], author, env)
    shutil.rmtree(author / ".git" / "model" / "chunks", ignore_errors=True)  # no cut cached
    http_before = backend.http_lines()
    push = timed(["git", "push", "origin", BRANCH], author, counted(env, log))
    traffic = Traffic.read(log)
    if backend.log is not None:
        traffic.http = backend.http_lines() - http_before
    stored = backend.stored(url)
    clone = workdir / f"clone-{name}"
    config = [f"remote.origin.modelurl={url}", *(f"{k}={v}" for k, v in backend.config)]
    cmd = ["git", "clone", *(arg for c in config for arg in ("-c", c)), str(origin), str(clone)]
    reader = tool_env(workdir / f"reader-{name}", "gitmodel")
    pull = timed(cmd, workdir, reader)
    for problem in checkout_problems(digests, clone, reader):
        results.fail(f"{name} clone: {problem}")
    results.seconds.setdefault(f"{backend.name} {mode} push", []).append(push)
    results.seconds.setdefault(f"{backend.name} {mode} pull", []).append(pull)
    results.traffic.setdefault(f"{backend.name} {mode}", []).append(traffic)
    print(
        f"  {name}: push {push:.2f} s ({stored / MIB:.0f} MiB stored, {traffic.calls} calls"
        + (f", {traffic.http} HTTP requests" if traffic.http is not None else "")
        + f"), clone {pull:.2f} s",
        flush=True,
    )
    for path in (clone, origin, workdir / f"reader-{name}"):
        shutil.rmtree(path, ignore_errors=True)
    backend.remove(url)


@contextlib.contextmanager
def s3_backend(workdir: Path) -> Iterator[Backend]:
    """The moto server of ``bench_remote.py`` and a bucket on it."""
    import s3fs
    from bench_remote import AWS_DROPPED, AWS_ENV, moto_server

    with moto_server(workdir) as (endpoint, _pid):
        for name in AWS_DROPPED:
            os.environ.pop(name, None)
        os.environ.update(AWS_ENV)
        admin = s3fs.S3FileSystem(endpoint_url=endpoint, skip_instance_cache=True)
        bucket = f"gitmodel-dedup-{uuid.uuid4().hex[:12]}"
        admin.mkdir(bucket)
        config = (("remote.origin.modelendpoint", endpoint),)
        yield Backend("s3", f"s3://{bucket}", config, admin, workdir / "moto.log")


# -- the report --------------------------------------------------------------------------


@dataclass(frozen=True)
class Row:
    scenario: str
    gitmodel: str
    other: str  # git-lfs, or the whole-object path
    ratio: float | None
    target: str
    met: bool | None

    def cells(self) -> list[str]:
        ratio = "-" if self.ratio is None else f"{self.ratio:.3f}"
        result = "-" if self.met is None else ("met" if self.met else "NOT MET")
        return [self.scenario, self.gitmodel, self.other, ratio, self.target, result]


def mib(size: float) -> str:
    return f"{size / MIB:.1f} MiB"


def worst(rows: list[VersionRow], kind: str) -> tuple[float, float]:
    """The largest and the median ratio of bytes moved to bytes changed, versions 2 on."""
    ratios = [getattr(r, kind)["gitmodel"] / r.changed for r in rows[1:]]
    return (max(ratios), statistics.median(ratios)) if ratios else (0.0, 0.0)


def versioned_rows(results: Results) -> list[Row]:
    rows = []
    for name, limit in (("model.safetensors", 0.22), ("data.csv", 0.15)):
        stored = results.remote_bytes.get(name)
        if stored:
            ratio = stored["gitmodel"] / stored["git-lfs"]
            count = len(results.model if name.endswith("safetensors") else results.csv)
            rows.append(
                Row(
                    f"{name}: remote bytes, {count} versions",
                    mib(stored["gitmodel"]),
                    mib(stored["git-lfs"]),
                    ratio,
                    f"<= {limit}",
                    ratio <= limit,
                )
            )
    for kind, what in (("up", "uploaded per push"), ("down", "downloaded per new version")):
        later = results.model[1:]
        if not later or not all("gitmodel" in r.__dict__[kind] for r in later):
            continue
        high, middle = worst(results.model, kind)
        gm = statistics.median(r.__dict__[kind]["gitmodel"] for r in later)
        lfs = statistics.median(r.__dict__[kind]["git-lfs"] for r in later)
        rows.append(
            Row(
                f"model: {what} / changed tensors (worst; median {middle:.3f})",
                mib(gm),
                mib(lfs),
                high,
                "<= 1.2",
                high <= 1.2,
            )
        )
    return rows


def throughput_rows(results: Results) -> list[Row]:
    rows = []
    backends = sorted({key.split()[0] for key in results.seconds})
    for backend in backends:
        for step in ("push", "pull"):
            chunked = results.seconds.get(f"{backend} chunked {step}")
            whole = results.seconds.get(f"{backend} whole {step}")
            if not chunked or not whole:
                continue
            fast = results.new_bytes / statistics.median(chunked) / MIB
            slow = results.new_bytes / statistics.median(whole) / MIB
            label = f"new data, {backend}: {step} throughput (chunked vs whole)"
            rows.append(
                Row(
                    label,
                    f"{fast:.0f} MiB/s",
                    f"{slow:.0f} MiB/s",
                    fast / slow,
                    ">= 0.8",
                    fast / slow >= 0.8,
                )
            )
    for backend in backends:
        chunked_t = results.traffic.get(f"{backend} chunked")
        whole_t = results.traffic.get(f"{backend} whole")
        if not chunked_t or not whole_t:
            continue
        gb = results.new_bytes / GB
        for what, pick in (("storage requests", "calls"), ("HTTP requests", "http")):
            values = [getattr(t, pick) for t in chunked_t]
            others = [getattr(t, pick) for t in whole_t]
            if None in values or None in others:
                continue
            per_gb = statistics.median(values) / gb
            other = statistics.median(others) / gb
            rows.append(
                Row(
                    f"new data, {backend}: {what} per GB pushed (chunked vs whole)",
                    f"{per_gb:.0f}",
                    f"{other:.0f}",
                    None,
                    "<= 100",
                    per_gb <= 100,
                )
            )
    return rows


def version_table(rows: list[VersionRow], pull: bool) -> list[str]:
    head = ["version", "size", "changed", "gitmodel up", "up/changed"]
    head += ["gitmodel down", "down/changed"] if pull else []
    head += ["git-lfs up", "calls", "push s gitmodel / git-lfs", "what changed"]
    cells = [head]
    for r in rows:
        line = [
            f"v{r.number}",
            mib(r.size),
            mib(r.changed),
            mib(r.up["gitmodel"]),
            f"{r.up['gitmodel'] / r.changed:.3f}",
        ]
        if pull:
            line += [mib(r.down["gitmodel"]), f"{r.down['gitmodel'] / r.changed:.3f}"]
        line += [
            mib(r.up["git-lfs"]),
            str(r.push_calls),
            f"{r.push_seconds['gitmodel']:.2f} / {r.push_seconds['git-lfs']:.2f}",
            r.note,
        ]
        cells.append(line)
    return benchlib.aligned(cells)


def print_report(results: Results, meta: dict[str, Any]) -> list[Row]:
    benchlib.print_header(meta, 28)
    if results.model:
        print("\nmodel.safetensors, per version (up: remote growth; down: what a reader who")
        print("has the previous version fetched to check this one out):")
        print("\n".join(f"  {line}" for line in version_table(results.model, True)))
    if results.csv:
        print("\ndata.csv, per version:")
        print("\n".join(f"  {line}" for line in version_table(results.csv, False)))
    rows = versioned_rows(results) + throughput_rows(results)
    head = ["scenario", "gitmodel", "git-lfs / whole", "ratio", "target", "result"]
    print()
    print("\n".join(benchlib.aligned([head, *(row.cells() for row in rows)])))
    if results.seconds:
        print(
            "\nnew data: medians of",
            max(len(v) for v in results.seconds.values()),
            "runs; seconds:",
            {k: [round(s, 2) for s in v] for k, v in results.seconds.items()},
        )
    if results.failures:
        print("\n*** CORRECTNESS FAILURES ***", file=sys.stderr)
        print("\n".join(f"  {f}" for f in results.failures), file=sys.stderr)
    return rows


# -- main ----------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument(
        "--quick",
        action="store_true",
        help="small sizes, 3 versions, one run, no S3: a check in well under a minute",
    )
    parser.add_argument("--model-size", help="size of the model (500MB)")
    parser.add_argument("--tensors", type=int, help="number of tensors in the model (100)")
    parser.add_argument("--csv-size", help="size of the first CSV version (120MB)")
    parser.add_argument("--versions", type=int, help="versions of each file (10)")
    parser.add_argument("--new-size", help="all-new data pushed and cloned (1GiB)")
    parser.add_argument("--new-files", type=int, help="files the new data is split into (4)")
    parser.add_argument("--no-s3", action="store_true", help="skip the S3 (moto) runs")
    parser.add_argument(
        "--only",
        choices=("model", "csv", "new"),
        action="append",
        help="run only these scenarios (repeatable)",
    )
    benchlib.add_common_options(parser, "dedup")
    args = parser.parse_args(argv)
    defaults = {
        "model_size": "500MB",
        "tensors": 100,
        "csv_size": "120MB",
        "versions": 10,
        "new_size": "1GiB",
        "new_files": 4,
        "repeat": 3,
    }
    for key, value in (QUICK if args.quick else defaults).items():
        if getattr(args, key) is None or (key == "repeat" and args.quick):
            setattr(args, key, value)
    for key in ("model_size", "csv_size", "new_size"):
        setattr(args, key, parse_size(getattr(args, key)))
    if min(args.tensors, args.versions, args.new_files, args.repeat) < 1:
        parser.error("counts and --repeat must be positive")
    args.no_s3 = args.no_s3 or args.quick
    args.only = sorted(set(args.only or ("model", "csv", "new")))
    return args


def benchmark(args: argparse.Namespace, workdir: Path, results: Results) -> None:
    started = time.monotonic()
    shift_at = min(4, args.versions)
    if "model" in args.only:
        print(
            f"model: {args.versions} versions of {mib(args.model_size)}, "
            f"{args.tensors} tensors ...",
            flush=True,
        )
        versions = model_versions(
            workdir / "source-model", args.model_size, args.tensors, args.versions, shift_at
        )
        results.model = versioned(workdir, versions, "model.safetensors", True, results)
        shutil.rmtree(workdir / "source-model")
        print(f"  ({time.monotonic() - started:.0f} s so far)", flush=True)
    if "csv" in args.only:
        print(f"csv: {args.versions} versions from {mib(args.csv_size)} ...", flush=True)
        versions = csv_versions(workdir / "source-csv", args.csv_size, args.versions)
        results.csv = versioned(workdir, versions, "data.csv", False, results)
        shutil.rmtree(workdir / "source-csv")
        print(f"  ({time.monotonic() - started:.0f} s so far)", flush=True)
    if "new" in args.only:
        print(
            f"new data: {mib(args.new_size)} in {args.new_files} files, {args.repeat} runs ...",
            flush=True,
        )
        digests = new_data(workdir, args.new_size, args.new_files)
        local = Backend("local", f"file://{workdir / 'stores'}")
        with contextlib.ExitStack() as stack:
            backends = [local]
            if not args.no_s3:
                backends.append(stack.enter_context(s3_backend(workdir)))
            new_data_runs(workdir, digests, backends, args.repeat, results)


def check_disk(workdir: Path, args: argparse.Namespace) -> None:
    need = 4 * args.versions * max(args.model_size, args.csv_size * 2) + 4 * args.new_size
    benchlib.check_disk(workdir, need, "--model-size")


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    results = Results()
    with benchlib.work_folder(args.workdir, "gitmodel-bench-dedup-") as workdir:
        env = benchlib.make_home(workdir / "meta-home", benchlib.clean_env((), SCRIPTS_DIR), BRANCH)
        meta: dict[str, Any] = {
            **benchlib.start_meta(args),
            "versions": {
                "git-model": benchlib.first_line(["git", "model", "--version"], env),
                "git-lfs": benchlib.first_line(["git", "lfs", "version"], env),
                "git": benchlib.first_line(["git", "--version"], env),
            },
            "machine": benchlib.machine_info(benchlib.proc_field("/proc/meminfo", "MemTotal"), {}),
        }
        check_disk(workdir, args)
        try:
            benchmark(args, workdir, results)
        except BenchError as exc:
            results.fail(str(exc))
    rows = print_report(results, meta)
    if args.quick:
        print("\n--quick checks the pipeline; the targets are for the full sizes and 10 versions")
    if args.json is not None:
        benchlib.write_json(
            args.json,
            {
                **meta,
                "rows": [r.__dict__ for r in rows],
                "model": [r.__dict__ for r in results.model],
                "csv": [r.__dict__ for r in results.csv],
                "seconds": results.seconds,
                "traffic": {k: [t.__dict__ for t in v] for k, v in results.traffic.items()},
                "failures": results.failures,
            },
        )
    return 1 if results.failures else 0


if __name__ == "__main__":
    sys.exit(main())
