#!/usr/bin/env python3
"""Remote benchmark: ``git push`` and ``git clone`` of model objects over S3, against s3fs.

A private S3-compatible server (moto, on 127.0.0.1) receives the objects. Three
scenarios: pushing a few large files (against raw s3fs uploads of the same files),
cloning them as a second user (against raw s3fs downloads of the same objects), and
cloning many small files one at a time versus in parallel. Every Git command runs with
an isolated HOME; results are medians over ``--repeat`` runs. See ``benchmarks/README.md``.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import platform
import re
import resource
import shlex
import shutil
import socket
import statistics
import subprocess
import sys
import sysconfig
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import partial
from importlib import metadata
from pathlib import Path
from typing import Any

import benchlib
from benchlib import (
    BenchError,
    checkout_problems,
    file_digest,
    first_line,
    limited,
    parse_size,
    place_files,
    proc_field,
    secs,
    wait_or_kill,
    write_random,
)

REPO_ROOT = Path(__file__).resolve().parent.parent
SCRIPTS_DIR = sysconfig.get_path("scripts")
BRANCH = "main"
COMMAND_TIMEOUT = 3600.0
SERVER_START_TIMEOUT = 60.0
TARGET_RATIO = 1.3
META_HOME = "meta-home"  # in the work folder: for metadata commands and the s3fs workers
WORKER_FLAG = "--s3fs-worker"  # internal: one timed s3fs transfer in a fresh process
AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_EC2_METADATA_DISABLED": "true",
}
AWS_DROPPED = (
    "AWS_PROFILE",
    "AWS_SESSION_TOKEN",
    "AWS_ENDPOINT_URL",
    "AWS_CONFIG_FILE",
    "AWS_SHARED_CREDENTIALS_FILE",
)

# Git's own lines on a non-terminal stderr, and gitmodel's upload summary: anything else a
# timed command prints is listed under "unexpected output".
EXPECTED_OUTPUT = (
    "To ",
    " * [new branch]",
    "Cloning into",
    "done.",
    "Filtering content:",  # Git's progress while delayed (parallel) downloads finish
    "gitmodel: uploaded ",
)

GITMODEL = "gitmodel"
GITMODEL_JOBS1 = "gitmodel jobs=1"
S3FS_SEQ = "s3fs sequential"
S3FS_BATCH = "s3fs batch"


@dataclass(frozen=True)
class Payload:
    """Random files generated once, laid out as in the repository under ``source``."""

    label: str
    source: Path
    sizes: dict[str, int]  # relative path -> size
    digests: dict[str, str]  # relative path -> sha256 (the gitmodel oid)

    @property
    def total(self) -> int:
        return sum(self.sizes.values())


@dataclass(frozen=True)
class Measurement:
    seconds: float  # the timed command or transfer
    max_rss_kib: int  # the largest single process
    wall_seconds: float | None = None  # s3fs only: process start to exit (start-up included)


@dataclass
class Recorder(benchlib.Recorder[Measurement]):
    """Everything measured or noticed during the run."""

    server_rss_mib: list[tuple[str, float, float]] = field(default_factory=list)

    def fail(self, scenario: str, variant: str, message: str) -> None:
        text = f"{variant} / {scenario}: {message}"
        self.add_failure(scenario, variant, text, text)

    def median(self, scenario: str, variant: str) -> float | None:
        runs = self.runs.get(scenario, {}).get(variant, [])
        return statistics.median(m.seconds for m in runs) if runs else None

    def median_rss(self, scenario: str, variant: str) -> float | None:
        runs = self.runs.get(scenario, {}).get(variant, [])
        return statistics.median(m.max_rss_kib for m in runs) if runs else None


@dataclass(frozen=True)
class Context:
    """What every step needs: where to work, the server, and the run's bookkeeping."""

    workdir: Path
    endpoint: str
    bucket: str
    recorder: Recorder
    admin: Any  # an s3fs.S3FileSystem for setup, checks and clean-up (never timed)
    server_pid: int


@dataclass(frozen=True)
class Row:
    scenario: str
    label: str
    gitmodel_seconds: float | None
    seq_seconds: float | None
    batch_seconds: float | None
    ratio_seq: float | None
    ratio_batch: float | None
    gitmodel_rss_kib: float | None
    mib_per_second: float | None
    target: str
    result: str


Step = tuple[str, Callable[[], Measurement]]


# -- sizes and formatting ------------------------------------------------------------


def human(size: float) -> str:
    for unit, scale in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if size >= scale:
            value = size / scale
            return f"{value:.0f} {unit}" if value == int(value) else f"{value:.1f} {unit}"
    return f"{size:.0f} B"


def ratio_text(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


# -- environment ---------------------------------------------------------------------


def base_env() -> dict[str, str]:
    """The caller's environment without Git or AWS settings, plus the test credentials."""
    return benchlib.clean_env(AWS_DROPPED, SCRIPTS_DIR, **AWS_ENV)


def make_home(home: Path, install: bool = False) -> dict[str, str]:
    """A fresh HOME with a Git identity and ``init.defaultBranch``; optionally with
    ``git model install`` (global filter configuration) done in it."""
    env = benchlib.make_home(home, base_env(), BRANCH, "[advice]\n\tdetachedHead = false\n")
    if install:
        run(["git", "model", "install"], home, env)
    return env


# -- running commands ----------------------------------------------------------------


def run(cmd: Sequence[str], cwd: Path, env: dict[str, str]) -> str:
    """Run an untimed command (at most COMMAND_TIMEOUT); its standard output."""
    return benchlib.run(cmd, cwd, env, COMMAND_TIMEOUT)


def timed(cmd: Sequence[str], cwd: Path, env: dict[str, str]) -> tuple[Measurement, str]:
    """Run ``cmd`` through the wrapper (at most COMMAND_TIMEOUT); its measurement and output."""
    measurement, output = benchlib.timed(cmd, cwd, env, timeout=COMMAND_TIMEOUT)
    return Measurement(measurement.seconds, measurement.max_rss_kib), output


def note_output(recorder: Recorder, where: str, output: str) -> None:
    for line in benchlib.unexpected_lines(output, EXPECTED_OUTPUT):
        recorder.warnings.append(f"{where}: {line}")


# -- the S3 server and raw s3fs ------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def moto_server(workdir: Path) -> Iterator[tuple[str, int]]:
    """``python -m moto.server`` on a free loopback port; its endpoint URL and pid."""
    port = free_port()
    log = workdir / "moto.log"
    spill = workdir / "moto-tmp"  # where the server spools large objects
    spill.mkdir()
    env = {**base_env(), "TMPDIR": str(spill)}
    cmd = [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)]
    with open(log, "wb") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=workdir)
    try:
        deadline = time.monotonic() + SERVER_START_TIMEOUT
        while True:
            if proc.poll() is not None:
                raise BenchError(f"moto server exited {proc.returncode}: {tail(log)}")
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise BenchError(f"moto server did not start: {tail(log)}") from None
                time.sleep(0.1)
        yield f"http://127.0.0.1:{port}", proc.pid
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def tail(path: Path, lines: int = 20) -> str:
    with contextlib.suppress(OSError):
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    return ""


def rss_mib(pid: int) -> float:
    """The current resident memory of process ``pid`` in MiB (0 when unknown)."""
    with contextlib.suppress(OSError, ValueError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def s3fs_worker(spec_file: str) -> int:
    """In a fresh process: one timed s3fs transfer, as described by the JSON ``spec_file``."""
    import s3fs

    spec = json.loads(Path(spec_file).read_text())
    fs = s3fs.S3FileSystem(endpoint_url=spec["endpoint"], skip_instance_cache=True)
    fs.connect()  # the client session is set up before timing
    pairs: list[tuple[str, str]] = [(local, remote) for local, remote in spec["pairs"]]
    locals_, remotes = [p[0] for p in pairs], [p[1] for p in pairs]
    start = time.perf_counter()
    if spec["op"] == "put_file":
        for local, remote in pairs:
            fs.put_file(local, remote)
    elif spec["op"] == "put":
        fs.put(locals_, remotes)
    elif spec["op"] == "get_file":
        for local, remote in pairs:
            fs.get_file(remote, local)
    elif spec["op"] == "get":
        fs.get(remotes, locals_)
    else:
        raise ValueError(f"unknown operation {spec['op']!r}")
    seconds = time.perf_counter() - start
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    Path(spec["result"]).write_text(json.dumps({"seconds": seconds, "max_rss_kib": rss}))
    return 0


def s3fs_timed(ctx: Context, op: str, pairs: list[tuple[Path, str]], tmp: Path) -> Measurement:
    """Run ``op`` (put_file, put, get_file, get) over (local, bucket/key) pairs in a worker."""
    tmp.mkdir(parents=True, exist_ok=True)
    spec_file, result_file = tmp / f"{op}-spec.json", tmp / f"{op}-result.json"
    spec = {
        "endpoint": ctx.endpoint,
        "op": op,
        "pairs": [(str(local), remote) for local, remote in pairs],
        "result": str(result_file),
    }
    spec_file.write_text(json.dumps(spec))
    cmd = [sys.executable, str(Path(__file__).resolve()), WORKER_FLAG, str(spec_file)]
    env = {**base_env(), "HOME": str(ctx.workdir / META_HOME)}
    os.sync()
    start, started = time.perf_counter(), time.monotonic()
    with tempfile.TemporaryFile() as out:
        proc = subprocess.Popen(
            cmd, cwd=tmp, env=env, stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
        wait_or_kill(proc, f"s3fs {op}", COMMAND_TIMEOUT, started)
        wall = time.perf_counter() - start
        out.seek(0)
        output = out.read().decode(errors="replace").strip()
    if proc.returncode != 0 or not result_file.exists():
        raise BenchError(f"s3fs {op} worker exited {proc.returncode}:\n{output}")
    result = json.loads(result_file.read_text())
    spec_file.unlink()
    result_file.unlink()
    return Measurement(result["seconds"], result["max_rss_kib"], wall)


def remove_prefix(ctx: Context, prefix: str) -> None:
    """Delete everything under ``bucket/prefix`` so the in-memory server does not grow."""
    with contextlib.suppress(FileNotFoundError):
        ctx.admin.rm(f"{ctx.bucket}/{prefix}", recursive=True)
    ctx.admin.invalidate_cache()


# -- data ------------------------------------------------------------------------------


def make_payload(source: Path, folder: str, count: int, total: int, label: str) -> Payload:
    """``count`` random files in ``folder``, ``total`` bytes together (as even as possible)."""
    sizes = {
        f"{folder}/f{i:05d}.bin": total // count + (1 if i < total % count else 0)
        for i in range(count)
    }
    digests = {rel: write_random(source / rel, size) for rel, size in sizes.items()}
    return Payload(label, source, sizes, digests)


def data_key(ctx: Context, prefix: str, oid: str) -> str:
    """Where gitmodel's remote layout version 1 keeps an object's bytes (a chunked
    object, layout 2, has its bytes in packs and only a manifest of its own)."""
    return f"{ctx.bucket}/{prefix}/data/{oid[0:2]}/{oid[2:4]}/{oid}"


def manifest_key(ctx: Context, prefix: str, oid: str) -> str:
    return f"{ctx.bucket}/{prefix}/manifests/{oid[0:2]}/{oid}"


# -- checks ----------------------------------------------------------------------------


def remote_problems(ctx: Context, payload: Payload, prefix: str) -> list[str]:
    """Objects of ``payload`` missing (or of the wrong size) under gitmodel's ``prefix``."""
    ctx.admin.invalidate_cache()
    try:
        found = ctx.admin.find(f"{ctx.bucket}/{prefix}", detail=True)
    except FileNotFoundError:
        found = {}
    problems = []
    for rel, oid in payload.digests.items():
        info = found.get(data_key(ctx, prefix, oid))
        if info is not None and int(info["size"]) != payload.sizes[rel]:
            problems.append(
                f"{rel}: remote object has {info['size']} bytes, not {payload.sizes[rel]}"
            )
        if manifest_key(ctx, prefix, oid) not in found:
            problems.append(f"{rel}: no manifest for {oid} on the remote")
    return problems


def download_problems(payload: Payload, folder: Path) -> list[str]:
    """Objects fetched by s3fs into ``folder/<oid>`` whose bytes are not the originals."""
    problems = []
    for rel, oid in payload.digests.items():
        actual, size = file_digest(folder / oid)
        if actual != oid:
            problems.append(f"{rel}: downloaded sha256 {actual} (size {size}) != {oid}")
    return problems


# -- steps -------------------------------------------------------------------------------


def model_url(ctx: Context, prefix: str) -> str:
    return f"s3://{ctx.bucket}/{prefix}"


def clone_config(ctx: Context, prefix: str) -> list[str]:
    return [
        "-c", f"remote.origin.modelurl={model_url(ctx, prefix)}",
        "-c", f"remote.origin.modelendpoint={ctx.endpoint}",
    ]  # fmt: skip


def prepare_author(
    ctx: Context, payload: Payload, folder: Path, prefix: str
) -> tuple[Path, dict[str, str]]:
    """A bare origin and an author's clone that has ``payload`` committed, its model store
    set to ``s3://bucket/prefix`` on the server (not timed)."""
    env = make_home(folder / "home-author")
    origin, author = folder / "origin.git", folder / "author"
    run(["git", "init", "-q", "--bare", str(origin)], folder, env)
    run(["git", "clone", "-q", str(origin), str(author)], folder, env)
    run(["git", "model", "install", "--local"], author, env)
    run(["git", "model", "track", "*.bin"], author, env)
    run(["git", "model", "remote", "set", "origin", model_url(ctx, prefix)], author, env)
    run(["git", "config", "remote.origin.modelendpoint", ctx.endpoint], author, env)
    place_files(payload.source, payload.sizes, author)
    run(
        ["git", "add", ".gitattributes", *sorted({rel.split("/")[0] for rel in payload.sizes})],
        author,
        env,
    )
    run(["git", "commit", "-q", "-m", f"add {payload.label}"], author, env)
    return author, env


@dataclass(frozen=True)
class Stage:
    """The fixed inputs of one scenario's steps."""

    ctx: Context
    scenario: str  # "push", "clone" or "small"
    payload: Payload
    prefix: str  # gitmodel's store in the bucket
    scratch: Path  # where a step works; emptied after each step
    raw_prefix: str = ""  # where s3fs put the same files as they are, for s3fs downloads


def gitmodel_push(stage: Stage, author: Path, env: dict[str, str]) -> Measurement:
    measurement, output = timed(["git", "push", "origin", BRANCH], author, env)
    note_output(stage.ctx.recorder, f"{GITMODEL} / {stage.scenario}", output)
    return measurement


def gitmodel_clone(
    stage: Stage, variant: str, origin: Path, extra: Sequence[str] = ()
) -> Measurement:
    """A second user (own HOME, global install, empty store) clones; then every file is
    checked. Correctness failures are recorded; the measurement is kept either way."""
    stage.scratch.mkdir(parents=True)
    env = make_home(stage.scratch / "home", install=True)
    clone = stage.scratch / "clone"
    config = clone_config(stage.ctx, stage.prefix)
    cmd = ["git", "clone", *config, *extra, str(origin), str(clone)]
    measurement, output = timed(cmd, stage.scratch, env)
    note_output(stage.ctx.recorder, f"{variant} / {stage.scenario}", output)
    for problem in limited(checkout_problems(stage.payload.digests, clone, env)):
        stage.ctx.recorder.fail(stage.scenario, variant, problem)
    return measurement


def s3fs_upload(stage: Stage, op: str, prefix: str) -> Measurement:
    """Upload the payload's files with s3fs to ``bucket/prefix/<path>``."""
    bucket, payload = stage.ctx.bucket, stage.payload
    pairs = [(payload.source / rel, f"{bucket}/{prefix}/{rel}") for rel in payload.sizes]
    return s3fs_timed(stage.ctx, op, pairs, stage.scratch)


def s3fs_download(stage: Stage, op: str, variant: str) -> Measurement:
    """Download the same files with s3fs into ``scratch/<oid>``, then check their bytes."""
    bucket, digests = stage.ctx.bucket, stage.payload.digests
    pairs = [
        (stage.scratch / oid, f"{bucket}/{stage.raw_prefix}/{rel}") for rel, oid in digests.items()
    ]
    measurement = s3fs_timed(stage.ctx, op, pairs, stage.scratch)
    for problem in limited(download_problems(stage.payload, stage.scratch)):
        stage.ctx.recorder.fail(stage.scenario, variant, problem)
    return measurement


def download_steps(stage: Stage) -> list[Step]:
    return [
        (S3FS_SEQ, partial(s3fs_download, stage, "get_file", S3FS_SEQ)),
        (S3FS_BATCH, partial(s3fs_download, stage, "get", S3FS_BATCH)),
    ]


def run_steps(stage: Stage, steps: list[Step], index: int) -> str:
    """Each step in turn (reversed on odd runs, so no variant always goes first), with
    the scratch folder emptied after each; a one-line summary."""
    notes = []
    for variant, step in steps if index % 2 == 0 else steps[::-1]:
        try:
            measurement = step()
        except BenchError as exc:
            stage.ctx.recorder.fail(stage.scenario, variant, f"aborted: {exc}")
            notes.append(f"{variant} FAILED")
        else:
            stage.ctx.recorder.record(stage.scenario, variant, measurement)
            notes.append(f"{variant} {secs(measurement.seconds)}")
        shutil.rmtree(stage.scratch, ignore_errors=True)
    return ", ".join(notes)


def pushed_ok(stage: Stage) -> bool:
    """Whether every object of the payload is in gitmodel's store; problems are recorded."""
    problems = remote_problems(stage.ctx, stage.payload, stage.prefix)
    for problem in limited(problems):
        stage.ctx.recorder.fail(stage.scenario, GITMODEL, f"after the push: {problem}")
    return not problems


def big_run(ctx: Context, payload: Payload, index: int, repeat: int) -> None:
    """One run of the push and clone scenarios, each against raw s3fs, on fresh prefixes."""
    folder = ctx.workdir / f"big-{index}"
    run_prefix = f"run-{index}"
    push = Stage(ctx, "push", payload, f"{run_prefix}/gitmodel", folder / "scratch")
    tag = f"[{payload.label} {index + 1}/{repeat}]"
    try:
        author, env = prepare_author(ctx, payload, folder, push.prefix)
        steps: list[Step] = [
            (GITMODEL, partial(gitmodel_push, push, author, env)),
            (S3FS_SEQ, partial(s3fs_upload, push, "put_file", f"{run_prefix}/s3fs-seq")),
            (S3FS_BATCH, partial(s3fs_upload, push, "put", f"{run_prefix}/s3fs-batch")),
        ]
        print(f"{tag} push: {run_steps(push, steps, index)}", flush=True)
        if not pushed_ok(push):
            print(f"{tag} clone skipped: not every object is on the remote", flush=True)
            return
        remove_prefix(ctx, f"{run_prefix}/s3fs-batch")  # s3fs-seq: what s3fs downloads
        shutil.rmtree(author, ignore_errors=True)  # frees its work tree and store
        clone = Stage(ctx, "clone", payload, push.prefix, push.scratch, f"{run_prefix}/s3fs-seq")
        origin = folder / "origin.git"
        steps = [(GITMODEL, partial(gitmodel_clone, clone, GITMODEL, origin))]
        steps += download_steps(clone)
        print(f"{tag} clone: {run_steps(clone, steps, index)}", flush=True)
    except BenchError as exc:
        ctx.recorder.fail("push", GITMODEL, f"set-up failed: {exc}")
    finally:
        server_cleanup(ctx, run_prefix, folder, f"run {index + 1}")


def small_runs(ctx: Context, payload: Payload, repeat: int) -> None:
    """Push the small files once; each run clones them with ``model.jobs=1`` and with the
    default, and downloads the same objects with raw s3fs."""
    folder = ctx.workdir / "small"
    stage = Stage(ctx, "small", payload, "small/gitmodel", folder / "scratch", "small/raw")
    try:
        raw = [(payload.source / rel, f"{ctx.bucket}/small/raw/{rel}") for rel in payload.sizes]
        ctx.admin.put([str(src) for src, _ in raw], [dst for _, dst in raw])  # not timed
        author, env = prepare_author(ctx, payload, folder, stage.prefix)
        run(["git", "push", "-q", "origin", BRANCH], author, env)
        if not pushed_ok(stage):
            print(f"[{payload.label}] skipped: not every object is on the remote", flush=True)
            return
        shutil.rmtree(author, ignore_errors=True)
        origin = folder / "origin.git"
        one = ("-c", "model.jobs=1")
        steps: list[Step] = [
            (GITMODEL_JOBS1, partial(gitmodel_clone, stage, GITMODEL_JOBS1, origin, one)),
            (GITMODEL, partial(gitmodel_clone, stage, GITMODEL, origin)),
            *download_steps(stage),
        ]
        for index in range(repeat):
            notes = run_steps(stage, steps, index)
            print(f"[{payload.label} {index + 1}/{repeat}] clone: {notes}", flush=True)
    except BenchError as exc:
        ctx.recorder.fail("small", GITMODEL, f"set-up failed: {exc}")
    finally:
        server_cleanup(ctx, "small", folder, "small files")


def server_cleanup(ctx: Context, prefix: str, folder: Path, label: str) -> None:
    """Empty the run's prefix and folder, noting the server's memory before and after."""
    before = rss_mib(ctx.server_pid)
    remove_prefix(ctx, prefix)
    shutil.rmtree(folder, ignore_errors=True)
    after = rss_mib(ctx.server_pid)
    ctx.recorder.server_rss_mib.append((label, before, after))
    print(f"  moto server RSS: {before:.0f} MiB before clean-up, {after:.0f} MiB after", flush=True)


# -- summary -------------------------------------------------------------------------


def judge(ratio_seq: float | None, ratio_batch: float | None) -> str:
    parts = []
    for name, ratio in (("seq", ratio_seq), ("batch", ratio_batch)):
        if ratio is None:
            parts.append(f"{name} -")
        else:
            parts.append(f"{name} {'met' if ratio <= TARGET_RATIO else 'NOT MET'}")
    return ", ".join(parts)


def make_row(
    recorder: Recorder, scenario: str, variant: str, label: str, total: int, target: bool
) -> Row:
    model = recorder.median(scenario, variant)
    seq, batch = recorder.median(scenario, S3FS_SEQ), recorder.median(scenario, S3FS_BATCH)
    ratio_seq = model / seq if model is not None and seq else None
    ratio_batch = model / batch if model is not None and batch else None
    if (scenario, variant) in recorder.failed:
        result = "FAILED (see below)"
    elif target:
        result = judge(ratio_seq, ratio_batch)
    else:
        result = ""
    return Row(
        scenario=scenario,
        label=label,
        gitmodel_seconds=model,
        seq_seconds=seq,
        batch_seconds=batch,
        ratio_seq=ratio_seq,
        ratio_batch=ratio_batch,
        gitmodel_rss_kib=recorder.median_rss(scenario, variant),
        mib_per_second=total / (1 << 20) / model if model else None,
        target=f"<= {TARGET_RATIO}" if target else "-",
        result=result,
    )


def build_rows(recorder: Recorder, big: Payload, small: Payload, jobs: str) -> list[Row]:
    one, default = f"clone {small.label}, model.jobs=1", f"clone {small.label}, jobs={jobs}"
    return [
        make_row(recorder, "push", GITMODEL, f"push {big.label}", big.total, True),
        make_row(recorder, "clone", GITMODEL, f"clone {big.label}", big.total, True),
        make_row(recorder, "small", GITMODEL_JOBS1, one, small.total, False),
        make_row(recorder, "small", GITMODEL, default, small.total, False),
    ]


def speedup(recorder: Recorder) -> float | None:
    one, default = recorder.median("small", GITMODEL_JOBS1), recorder.median("small", GITMODEL)
    return one / default if one is not None and default else None


def table_lines(rows: list[Row]) -> list[str]:
    header = ("scenario", GITMODEL, S3FS_SEQ, S3FS_BATCH, "/seq", "/batch", "MiB/s",
              "RSS gitmodel", "target", "result")  # fmt: skip
    cells: list[tuple[str, ...]] = [header]
    for row in rows:
        rss = "-" if row.gitmodel_rss_kib is None else human(row.gitmodel_rss_kib * 1024)
        speed = "-" if row.mib_per_second is None else f"{row.mib_per_second:.0f}"
        cells.append((
            row.label, secs(row.gitmodel_seconds), secs(row.seq_seconds),
            secs(row.batch_seconds), ratio_text(row.ratio_seq), ratio_text(row.ratio_batch),
            speed, rss, row.target, row.result,
        ))  # fmt: skip
    return benchlib.aligned(cells)


def startup_note(recorder: Recorder) -> str | None:
    """The median cost of an s3fs worker's start (Python, imports, session), not timed."""
    extra = [
        m.wall_seconds - m.seconds
        for by_variant in recorder.runs.values()
        for variant, runs in by_variant.items()
        if variant in (S3FS_SEQ, S3FS_BATCH)
        for m in runs
        if m.wall_seconds is not None
    ]
    if not extra:
        return None
    return (
        f"s3fs times are the transfers alone; each ran in a fresh Python process whose start-up "
        f"(interpreter, imports, client session) took a further {statistics.median(extra):.3f} s"
        " (median), not counted. gitmodel times are the whole Git command."
    )


def print_report(rows: list[Row], recorder: Recorder, meta: dict[str, Any]) -> None:
    benchlib.print_header(meta, 22)
    source = meta["gitmodel_source"]
    print(f"{'gitmodel source:':22} {source['start']}")
    if source["end"] != source["start"]:
        print(f"WARNING: gitmodel's source changed during the run (now {source['end']}): "
              "the runs may have measured different code")  # fmt: skip
    print(f"\nmedians of {meta['args']['repeat']} run(s); /seq and /batch = gitmodel time divided "
          "by the raw s3fs time; RSS = peak of the largest single process\n")  # fmt: skip
    print("\n".join(table_lines(rows)))
    ratio = meta["parallel_speedup"]
    value = "-" if ratio is None else f"{ratio:.2f}x"
    print(f"\nparallel checkout speed-up (model.jobs=1 time / default jobs time): {value}")
    note = startup_note(recorder)
    if note:
        print(note)
    if recorder.server_rss_mib:
        peak = max(before for _, before, _ in recorder.server_rss_mib)
        print(f"moto server RSS: at most {peak:.0f} MiB before a clean-up")
    recorder.print_problems()


# -- metadata and output -----------------------------------------------------------------


def package_version(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "not installed"


def gitmodel_commit(env: dict[str, str]) -> str:
    """The commit of the gitmodel checkout and, when its package folder has uncommitted
    changes, a short hash of that diff (which tells apart runs of different changes)."""
    commit = first_line(["git", "-C", str(REPO_ROOT), "rev-parse", "--short", "HEAD"], env)
    diff_cmd = ["git", "-C", str(REPO_ROOT), "diff", "HEAD", "--", "gitmodel"]
    diff = subprocess.run(diff_cmd, env=env, capture_output=True, check=False).stdout
    if not diff:
        return commit
    digest = hashlib.sha256(diff).hexdigest()[:12]
    return f"{commit} + uncommitted changes in gitmodel/ (diff {digest})"


def gitmodel_source(env: dict[str, str]) -> str:
    """A fingerprint of the package source as it is now: its committed tree and any
    uncommitted diff. With an editable install this is the code the commands run."""
    tree = first_line(["git", "-C", str(REPO_ROOT), "rev-parse", "HEAD:gitmodel"], env)
    diff_cmd = ["git", "-C", str(REPO_ROOT), "diff", "HEAD", "--", "gitmodel"]
    diff = subprocess.run(diff_cmd, env=env, capture_output=True, check=False).stdout
    return f"tree {tree[:12]}, diff {hashlib.sha256(diff).hexdigest()[:12] if diff else 'none'}"


def default_jobs() -> str:
    try:
        from gitmodel.remote.transfer import default_jobs as jobs
    except ImportError:
        return "default"
    return str(jobs())


def tool_versions(env: dict[str, str]) -> dict[str, str]:
    return {
        "gitmodel commit": gitmodel_commit(env),
        "git-model": first_line(["git", "model", "--version"], env),
        "git-model path": shutil.which("git-model", path=env["PATH"]) or "not found",
        "git": first_line(["git", "--version"], env),
        "python": platform.python_version(),
        "s3fs": package_version("s3fs"),
        "fsspec": package_version("fsspec"),
        "botocore": package_version("botocore"),
        "moto": package_version("moto"),
    }


def ram() -> str:
    text = proc_field("/proc/meminfo", "MemTotal")
    match = re.fullmatch(r"(\d+) kB", text)
    return f"{int(match.group(1)) / (1 << 20):.1f} GiB" if match else text


def machine_info(jobs: str) -> dict[str, Any]:
    return benchlib.machine_info(ram(), {"default model.jobs": jobs}, "load average (start)")


def write_json(path: Path, rows: list[Row], recorder: Recorder, meta: dict[str, Any]) -> None:
    server_rss = [
        {"when": when, "before_cleanup": before, "after_cleanup": after}
        for when, before, after in recorder.server_rss_mib
    ]
    head, tail = {"target_ratio": TARGET_RATIO}, {"server_rss_mib": server_rss}
    benchlib.write_json(path, recorder.document(meta, rows, head, tail))


# -- main ------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--total-size", default="1GiB", help="total size of the large files")
    parser.add_argument("--files", type=int, default=8, help="number of large files (8)")
    parser.add_argument("--missing", type=int, default=200,
                        help="number of small files for the parallel checkout (200)")  # fmt: skip
    parser.add_argument("--missing-size", default="64KiB", help="size of each small file")
    benchlib.add_common_options(parser, "remote")
    args = parser.parse_args(argv)
    args.total_size_text, args.missing_size_text = args.total_size, args.missing_size
    args.total_size = parse_size(args.total_size)
    args.missing_size = parse_size(args.missing_size)
    if min(args.repeat, args.files, args.missing, args.missing_size) < 1:
        parser.error("sizes, counts and --repeat must be positive")
    if args.total_size < args.files:
        parser.error("--total-size must give every file at least one byte")
    return args


def check_disk(workdir: Path, args: argparse.Namespace) -> None:
    """Sources, the author's store, a clone (work tree and store) and the server's spool."""
    need = 6 * args.total_size + 4 * args.missing * max(args.missing_size, 4096) + (512 << 20)
    benchlib.check_disk(workdir, need, "--total-size")


def check_prerequisites(env: dict[str, str]) -> None:
    """Stop early when gitmodel, s3fs or moto cannot run."""
    for cmd in (["git", "model", "--version"], [sys.executable, "-c", "import s3fs, moto.server"]):
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            sys.exit(f"error: `{shlex.join(cmd)}` failed:\n{(proc.stdout + proc.stderr).strip()}")


def make_payloads(workdir: Path, args: argparse.Namespace) -> tuple[Payload, Payload]:
    each = human(args.total_size / args.files)
    big_label = f"{args.files} x {each} ({args.total_size_text})"
    small_label = f"{args.missing} x {args.missing_size_text}"
    print(f"generating {big_label} and {small_label} of random data ...", flush=True)
    big = make_payload(workdir / "source-big", "models", args.files, args.total_size, big_label)
    total_small = args.missing * args.missing_size
    small = make_payload(workdir / "source-small", "shards", args.missing, total_small, small_label)
    return big, small


def benchmark(
    args: argparse.Namespace, workdir: Path, recorder: Recorder
) -> tuple[Payload, Payload]:
    import s3fs

    big, small = make_payloads(workdir, args)
    with moto_server(workdir) as (endpoint, pid):
        print(f"moto server on {endpoint} (pid {pid})", flush=True)
        for name in AWS_DROPPED:  # this process talks to the server too, with the same settings
            os.environ.pop(name, None)
        os.environ.update(AWS_ENV)
        admin = s3fs.S3FileSystem(endpoint_url=endpoint, skip_instance_cache=True)
        bucket = f"gitmodel-bench-{uuid.uuid4().hex[:12]}"
        admin.mkdir(bucket)
        ctx = Context(workdir, endpoint, bucket, recorder, admin, pid)
        try:
            for index in range(args.repeat):
                big_run(ctx, big, index, args.repeat)
            small_runs(ctx, small, args.repeat)
        finally:
            with contextlib.suppress(OSError):
                admin.rm(bucket, recursive=True)
    return big, small


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == [WORKER_FLAG] and len(argv) == 2:
        return s3fs_worker(argv[1])
    args = parse_args(argv)
    recorder = Recorder()
    with benchlib.work_folder(args.workdir, "gitmodel-bench-remote-") as workdir:
        env = make_home(workdir / META_HOME)
        versions = tool_versions(env)
        check_prerequisites(env)
        check_disk(workdir, args)
        jobs = default_jobs()
        meta: dict[str, Any] = {
            **benchlib.start_meta(args),
            "versions": versions,
            "machine": machine_info(jobs),
        }
        source_before = gitmodel_source(env)
        big, small = benchmark(args, workdir, recorder)
        source_after = gitmodel_source(env)
        meta["gitmodel_source"] = {"start": source_before, "end": source_after}
    rows = build_rows(recorder, big, small, jobs)
    meta["parallel_speedup"] = speedup(recorder)
    meta["machine"]["load average (end)"] = benchlib.load_average()
    print_report(rows, recorder, meta)
    if args.json is not None:
        write_json(args.json, rows, recorder, meta)
    return 1 if recorder.failures else 0


if __name__ == "__main__":
    sys.exit(main())
