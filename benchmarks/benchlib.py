"""What the benchmark scripts share: sizes and formatting, an isolated Git environment,
running and timing commands, random payloads and their checks, metadata and output.

The scripts run as ``python benchmarks/NAME.py``, which puts this folder on ``sys.path``,
so they import this module as ``benchlib``.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import platform
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, Generic, TypeVar

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

try:
    import psutil  # type: ignore[import-untyped]
except ImportError:  # whole-tree RSS sampling is optional
    psutil = None

RESULTS_DIR = Path(__file__).resolve().parent / "results"
CHUNK_SIZE = 16 << 20
SAMPLE_INTERVAL = 0.02
MAX_LISTED = 10

# Runs the timed command as its only child, so RUSAGE_CHILDREN's ru_maxrss is the peak
# RSS of the largest single process in that command's tree (git, a filter, a hook).
WRAPPER = """\
import json, resource, subprocess, sys, time
start = time.perf_counter()
code = subprocess.run(sys.argv[2:]).returncode
seconds = time.perf_counter() - start
usage = resource.getrusage(resource.RUSAGE_CHILDREN)
with open(sys.argv[1], "w") as f:
    json.dump({"returncode": code, "seconds": seconds, "max_rss_kib": usage.ru_maxrss,
               "cpu_seconds": usage.ru_utime + usage.ru_stime}, f)
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

M = TypeVar("M", bound="DataclassInstance")  # a script's measurement


class BenchError(Exception):
    """A command of the benchmark failed; the step it belongs to is abandoned."""


@dataclass
class Recorder(Generic[M]):
    """The measurements, failures and warnings of a run; each script extends it."""

    runs: dict[str, dict[str, list[M]]] = field(default_factory=dict)  # scenario -> name -> …
    failures: list[str] = field(default_factory=list)
    failed: set[tuple[str, str]] = field(default_factory=set)  # (scenario, tool or variant)
    warnings: list[str] = field(default_factory=list)

    def record(self, scenario: str, name: str, measurement: M) -> None:
        self.runs.setdefault(scenario, {}).setdefault(name, []).append(measurement)

    def add_failure(self, scenario: str, name: str, listed: str, printed: str) -> None:
        """Mark ``name`` failed in ``scenario``: ``listed`` goes in the final list of
        failures, ``printed`` to standard error now."""
        self.failed.add((scenario, name))
        self.failures.append(listed)
        print(f"  FAILED: {printed}", file=sys.stderr, flush=True)

    def runs_json(self) -> dict[str, dict[str, list[dict[str, Any]]]]:
        """Every measurement, as plain dictionaries."""
        return {
            scenario: {name: [asdict(m) for m in ms] for name, ms in by_name.items()}
            for scenario, by_name in self.runs.items()
        }

    def document(
        self,
        meta: Mapping[str, Any],
        rows: Iterable[DataclassInstance],
        head: Mapping[str, Any] | None = None,
        tail: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        """The JSON document of the run: ``meta`` and ``head``, the rows and every run,
        ``tail``, then the failures and warnings."""
        return {
            **meta,
            **(head or {}),
            "rows": [asdict(row) for row in rows],
            "runs": self.runs_json(),
            **(tail or {}),
            "failures": self.failures,
            "warnings": sorted(set(self.warnings)),
        }

    def print_problems(self) -> None:
        """The unexpected output of timed commands, then any correctness failures."""
        if self.warnings:
            print("\nunexpected output from timed commands:")
            print("\n".join(f"  {w}" for w in limited(sorted(set(self.warnings)))))
        if self.failures:
            print("\n*** CORRECTNESS FAILURES ***", file=sys.stderr)
            print("\n".join(f"  {f}" for f in self.failures), file=sys.stderr)


# -- sizes and formatting ----------------------------------------------------------------


# a request's line in a werkzeug server's log (moto's): some, a ranged GET's 206 among
# them, come coloured with ANSI codes
HTTP_LINE = re.compile(r'"(?:\x1b\[[0-9;]*m)*(GET|PUT|POST|HEAD|DELETE) ')


def logged_requests(log: Path) -> int:
    """The HTTP requests a server's log holds so far."""
    with open(log, errors="replace") as lines:
        return sum(1 for line in lines if HTTP_LINE.search(line))


def parse_size(text: str) -> int:
    """``2GiB``, ``64MiB``, ``100KB`` (KB/MB/GB are decimal; K, KiB… binary)."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*", text)
    unit = match.group(2).lower() if match else None
    if match is None or unit not in UNITS:
        raise argparse.ArgumentTypeError(f"not a size: {text!r} (try 2GiB, 64MiB, 100KB)")
    return int(float(match.group(1)) * UNITS[unit])


def secs(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f} s"


def limited(items: list[str]) -> list[str]:
    extra = len(items) - MAX_LISTED
    return items[:MAX_LISTED] + ([f"... and {extra} more"] if extra > 0 else [])


def aligned(cells: Sequence[Sequence[str]]) -> list[str]:
    """The rows of a table, each column padded to its widest cell."""
    widths = [max(len(line[i]) for line in cells) for i in range(len(cells[0]))]
    return [
        "  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)).rstrip() for line in cells
    ]


# -- environment -------------------------------------------------------------------------


def compile_bytecode() -> None:
    """Write the bytecode of the gitmodel measured, as ``pip install`` does: an editable
    install has none, and under ``PYTHONDONTWRITEBYTECODE`` every hook and filter
    process would compile the package again (about 0.1 s of CPU per start)."""
    import compileall
    import importlib.util

    spec = importlib.util.find_spec("gitmodel")
    if spec is not None and spec.origin is not None:  # else git-model is someone else's
        compileall.compile_dir(Path(spec.origin).parent, quiet=1)


def clean_env(
    drop: Collection[str] = (), path_first: str | Path | None = None, **extra: str
) -> dict[str, str]:
    """The caller's environment without Git settings or the ``drop`` variables, with
    ``path_first`` put first on PATH and ``extra`` set; no system Git config, C locale."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("GIT_", "XDG_CONFIG")) and k not in drop
    }
    if path_first is not None:
        env["PATH"] = f"{path_first}{os.pathsep}{env.get('PATH', '')}"
    env.update(extra, GIT_CONFIG_NOSYSTEM="1", LC_ALL="C")
    return env


def make_home(
    home: Path, base_env: Mapping[str, str], branch: str, extra_config: str = ""
) -> dict[str, str]:
    """A fresh HOME with only a Git identity, ``init.defaultBranch`` and ``extra_config``;
    ``base_env`` with HOME (and XDG_CONFIG_HOME) pointing there."""
    home.mkdir(parents=True)
    (home / ".gitconfig").write_text(
        "[user]\n\tname = Benchmark\n\temail = benchmark@example.invalid\n"
        f"[init]\n\tdefaultBranch = {branch}\n{extra_config}"
    )
    return {**base_env, "HOME": str(home), "XDG_CONFIG_HOME": str(home / ".config")}


# -- running commands --------------------------------------------------------------------


def run(cmd: Sequence[str], cwd: Path, env: dict[str, str], timeout: float | None = None) -> str:
    """Run an untimed command; its standard output, or BenchError with all output."""
    proc = subprocess.run(
        cmd, cwd=cwd, env=env, capture_output=True, text=True, check=False, timeout=timeout
    )
    if proc.returncode != 0:
        output = (proc.stdout + proc.stderr).strip()
        raise BenchError(f"`{shlex.join(cmd)}` exited {proc.returncode}:\n{output}")
    return proc.stdout


@dataclass(frozen=True)
class Measurement:
    """What :func:`timed` measured."""

    seconds: float
    max_rss_kib: int  # the largest single process
    tree_rss_kib: int | None  # the sampled peak of the whole tree (when sampled, psutil only)
    cpu_seconds: float | None = None  # user + system, every process of the tree waited for


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


def sample_tree(proc: subprocess.Popen[bytes], deadline: float | None) -> int | None:
    """Until ``proc`` ends (or the deadline), the peak whole-tree RSS in KiB; None
    without psutil."""
    if psutil is None:
        return None
    try:
        wrapper = psutil.Process(proc.pid)
    except psutil.Error:
        return 0
    peak = 0
    while proc.poll() is None and (deadline is None or time.monotonic() < deadline):
        peak = max(peak, tree_rss(wrapper))
        time.sleep(SAMPLE_INTERVAL)
    return peak // 1024


def wait_or_kill(
    proc: subprocess.Popen[bytes], what: str, timeout: float | None, started: float
) -> None:
    """Wait for ``proc``, started at ``started`` (``time.monotonic()``); with a timeout it
    must run in its own session, whose process group is killed when the time is up."""
    if timeout is None:
        proc.wait()
        return
    try:
        proc.wait(timeout=max(0.0, started + timeout - time.monotonic()))
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        raise BenchError(f"{what} did not finish within {timeout:.0f} s") from None


def timed(
    cmd: Sequence[str],
    cwd: Path,
    env: dict[str, str],
    *,
    sample: bool = False,
    timeout: float | None = None,
) -> tuple[Measurement, str]:
    """Run ``cmd`` in ``cwd`` through the wrapper, after an ``os.sync()``; with ``sample``,
    also sample its tree's RSS; with ``timeout``, kill it (and BenchError) after that long.
    The wrapper's files live beside ``cwd``, never in it. Returns the measurement and
    what the command printed (standard output and error, interleaved)."""
    os.sync()  # start without earlier writes still being flushed
    with tempfile.TemporaryDirectory(prefix="timed-", dir=cwd.parent) as tmp:
        result_file, out_file = Path(tmp) / "result.json", Path(tmp) / "output"
        with open(out_file, "wb") as out:
            wrapped = [sys.executable, "-c", WRAPPER, str(result_file), *cmd]
            proc = subprocess.Popen(
                wrapped, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT,
                start_new_session=timeout is not None,
            )  # fmt: skip
            started = time.monotonic()
            deadline = None if timeout is None else started + timeout
            tree_peak = sample_tree(proc, deadline) if sample else None
            wait_or_kill(proc, f"`{shlex.join(cmd)}`", timeout, started)
        output = out_file.read_bytes().decode(errors="replace")
        result = json.loads(result_file.read_text()) if result_file.exists() else {}
    if proc.returncode != 0 or result.get("returncode") != 0:
        code = result.get("returncode", proc.returncode)
        raise BenchError(f"`{shlex.join(cmd)}` exited {code}:\n{output.strip()}")
    measurement = Measurement(result["seconds"], result["max_rss_kib"], tree_peak,
                              result.get("cpu_seconds"))  # fmt: skip
    return measurement, output


def unexpected_lines(output: str, expected: tuple[str, ...]) -> list[str]:
    """The non-blank lines of ``output`` that start with none of ``expected``."""
    return [line for line in output.splitlines() if line.strip() and not line.startswith(expected)]


# -- data --------------------------------------------------------------------------------


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


def place_files(source: Path, rels: Iterable[str], repo: Path) -> None:
    """Hard-link (or copy) ``source/rel`` to ``repo/rel``; generation is never timed."""
    for rel in rels:
        dest = repo / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.link(source / rel, dest)
        except OSError:
            shutil.copyfile(source / rel, dest)


def checkout_problems(
    digests: Mapping[str, str], repo: Path, env: dict[str, str], git: Sequence[str] = ("git",)
) -> list[str]:
    """Files whose sha256 differs from ``digests``, and a dirty ``git status``."""
    problems = []
    for rel, expected in digests.items():
        actual, size = file_digest(repo / rel)
        if actual != expected:
            problems.append(f"{rel}: sha256 {actual} (size {size}) != expected {expected}")
    status = run([*git, "status", "--porcelain"], repo, env)
    if status.strip():
        lines = limited(status.splitlines())
        problems.append("`git status --porcelain` is not empty:\n    " + "\n    ".join(lines))
    return problems


# -- work folder, arguments and checks ---------------------------------------------------


@contextlib.contextmanager
def work_folder(parent: Path | None, prefix: str) -> Iterator[Path]:
    """A temporary folder that is removed however the run ends."""
    workdir = Path(tempfile.mkdtemp(prefix=prefix, dir=parent)).resolve()
    try:
        yield workdir
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def add_common_options(parser: argparse.ArgumentParser, kind: str) -> None:
    """``--repeat`` (or ``--runs``), ``--workdir`` and ``--json`` (default
    ``results/<kind>-<time>.json``)."""
    parser.add_argument("--repeat", "--runs", type=int, default=3,
                        help="runs per measurement (median)")  # fmt: skip
    parser.add_argument("--workdir", type=Path, help="where to make the temporary folder")
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    parser.add_argument(
        "--json",
        nargs="?",
        type=Path,
        const=RESULTS_DIR / f"{kind}-{stamp}.json",
        help=f"write results as JSON (default path: {RESULTS_DIR.name}/{kind}-<timestamp>.json)",
    )


def check_disk(workdir: Path, need: int, size_option: str) -> None:
    """Stop unless ``need`` bytes are free in the work folder."""
    free = shutil.disk_usage(workdir).free
    print(f"workdir {workdir}: {free / 2**30:.1f} GiB free, about {need / 2**30:.1f} GiB needed")
    if free < need:
        sys.exit(f"error: not enough free disk space; pass --workdir or a smaller {size_option}")


# -- metadata and output -----------------------------------------------------------------


def first_line(cmd: Sequence[str], env: dict[str, str]) -> str:
    """The first line a command prints, ``exit N`` when it prints nothing."""
    try:
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    except FileNotFoundError:
        return "not installed"
    text = (proc.stdout or proc.stderr).strip()
    return text.splitlines()[0] if text else f"exit {proc.returncode}"


def proc_field(path: str, name: str) -> str:
    """The value of ``name:`` in a /proc file such as /proc/cpuinfo."""
    with contextlib.suppress(OSError):
        for line in Path(path).read_text().splitlines():
            key, _, value = line.partition(":")
            if key.strip() == name:
                return value.strip()
    return "unknown"


def psutil_version() -> str:
    return getattr(psutil, "__version__", "not installed")


def load_average() -> str:
    return " ".join(f"{load:.2f}" for load in os.getloadavg())


def machine_info(
    ram: str, extra: Mapping[str, Any], load_key: str = "load average"
) -> dict[str, Any]:
    """CPUs, memory and platform, then ``extra``, then the load average now."""
    return {
        "nproc": len(os.sched_getaffinity(0)),
        "cpu": proc_field("/proc/cpuinfo", "model name"),
        "ram": ram,
        "platform": platform.platform(),
        **extra,
        load_key: load_average(),
    }


def start_meta(args: argparse.Namespace) -> dict[str, Any]:
    """The date and the arguments of the run, for the JSON output."""
    return {
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "args": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
    }


def print_header(meta: Mapping[str, Any], width: int) -> None:
    """The versions and machine facts, one ``key: value`` line each."""
    print()
    for key, value in {**meta["versions"], **meta["machine"]}.items():
        print(f"{key + ':':{width}} {value}")


def write_json(path: Path, document: Mapping[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=2) + "\n")
    print(f"\nresults written to {path}")
