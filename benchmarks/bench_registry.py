#!/usr/bin/env python3
"""Registry benchmark: ``git model stages``, ``resolve`` and ``history`` over a long log.

Builds (with ``git fast-import``, not timed) a repository with ``--versions`` versions of a
model and a registry log of ``--events`` promotions and rollbacks spread over three stages,
each one commit holding its record and the state folded so far, exactly as ``promote``
writes them. Then times ``git model stages``, ``resolve NAME@STAGE --json``,
``history NAME --stage S`` (the whole log walked) and ``history -n 20`` (the first events of
a streaming read), against ``git-model --version`` (Python start-up). Targets: stages and
resolve ≤ 0.3 s at 10,000 events. For comparison, GTO (git tags) takes 6-12 s to show
stages at about 1,500 tags. See ``benchmarks/README.md``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import statistics
import subprocess
import sys
import sysconfig
from collections.abc import Sequence
from pathlib import Path

import benchlib
from benchlib import BenchError, clean_env, make_home, run, secs, timed

from gitmodel.logs.records import encode
from gitmodel.registry import stage_events, stages
from gitmodel.registry.versions import File

TARGET_SECONDS = 0.3
STAGES = ("dev", "staging", "production")
MODEL_PATH = "models/clf/weights.bin"


def data(payload: bytes) -> bytes:
    return b"data %d\n" % len(payload) + payload + b"\n"


def pointer(version: int) -> tuple[str, bytes]:
    oid = hashlib.sha256(f"model version {version}".encode()).hexdigest()
    spec = "version https://git-lfs.github.com/spec/v1"
    return oid, f"{spec}\noid sha256:{oid}\nsize {1000 + version}\n".encode()


def history_stream(versions: int) -> bytes:
    """The main branch: a registry file, then ``versions`` commits of the model file."""
    declared = {"models": {"clf": {"paths": ["models/clf"]}}}
    chunks = []
    for n in range(versions):
        stamp = 1_700_000_000 + n * 60
        chunks += [f"commit refs/heads/main\nmark :{n + 1}\n"
                   f"author Bench <bench@example.invalid> {stamp} +0000\n"
                   f"committer Bench <bench@example.invalid> {stamp} +0000\n".encode(),
                   data(f"clf v{n + 1}".encode())]  # fmt: skip
        if n:
            chunks.append(f"from :{n}\n".encode())
        else:
            chunks += [b"M 100644 inline .gitattributes\n", data(b"*.bin filter=model -text\n"),
                       b"M 100644 inline .gitmodel-registry.json\n",
                       data(json.dumps(declared).encode())]  # fmt: skip
        chunks += [f"M 100644 inline {MODEL_PATH}\n".encode(), data(pointer(n + 1)[1]), b"\n"]
    return b"".join(chunks)


def commit_ids(repo: Path, env: dict[str, str]) -> list[str]:
    out = run(["git", "rev-list", "--reverse", "main"], repo, env)
    return out.split()


def log_stream(commits: list[str], events: int, seed: int = 1) -> bytes:
    """``events`` registry commits on refs/gitmodel/registry, built with the real reducer."""
    rng = random.Random(seed)
    state: stages.Json = {}
    chunks = []
    for n in range(events):
        stage = STAGES[n % len(STAGES)]
        before = stages.held(state, "clf", stage)
        number = rng.randrange(len(commits)) + 1
        oid, blob = pointer(number)
        blob_id = hashlib.sha1(b"blob %d\0" % len(blob) + blob).hexdigest()
        file = File(MODEL_PATH, oid, 1000 + number, blob_id)
        after = [stage_events.Assignment(number, commits[number - 1], 100, (file,))]
        record = stage_events.event("promote", "clf", stage, before, after, f"event {n}")
        state = stages.reduce(state, json.loads(encode(record)))
        stamp = 1_700_000_000 + n
        chunks += [f"commit refs/gitmodel/registry\nmark :{n + 1}\n"
                   f"author Bench <bench@example.invalid> {stamp} +0000\n"
                   f"committer Bench <bench@example.invalid> {stamp} +0000\n".encode(),
                   data(f"registry: {stages.summary(record)}".encode())]  # fmt: skip
        if n:
            chunks.append(f"from :{n}\n".encode())
        chunks += [b"M 100644 inline record.json\n", data(encode(record)),
                   b"M 100644 inline state.json\n", data(encode(state)), b"\n"]  # fmt: skip
    return b"".join(chunks)


def fast_import(repo: Path, env: dict[str, str], stream: bytes) -> None:
    proc = subprocess.run(["git", "fast-import", "--quiet"], cwd=repo, env=env, input=stream,
                          capture_output=True, check=False)  # fmt: skip
    if proc.returncode != 0:
        raise BenchError(f"git fast-import failed: {proc.stderr.decode(errors='replace')}")


def build(repo: Path, env: dict[str, str], versions: int, events: int) -> None:
    run(["git", "init", "-q", str(repo)], repo.parent, env)
    fast_import(repo, env, history_stream(versions))
    run(["git", "reset", "-q", "--hard", "main"], repo, env)
    fast_import(repo, env, log_stream(commit_ids(repo, env), events))


def measure(
    cmd: list[str], repo: Path, env: dict[str, str], repeat: int
) -> tuple[float, float, str]:
    """(median, best) seconds of ``repeat`` runs, and the output of the last."""
    times, output = [], ""
    for _ in range(repeat):
        measurement, output = timed(cmd, repo, env)
        times.append(measurement.seconds)
    return statistics.median(times), min(times), output


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=20000, help="registry events")
    parser.add_argument("--versions", type=int, default=50, help="versions of the model")
    benchlib.add_common_options(parser, "registry")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    scripts = Path(sysconfig.get_path("scripts"))
    path_first = scripts if (scripts / "git-model").exists() else None
    with benchlib.work_folder(args.workdir, "gitmodel-bench-registry-") as workdir:
        env = make_home(workdir / "home", clean_env(path_first=path_first), "main")
        repo = workdir / "repo"
        repo.mkdir()
        build(repo, env, args.versions, args.events)
        gm = ["git", "model"]
        times: dict[str, float] = {}
        best: dict[str, float] = {}
        outputs: dict[str, str] = {}
        commands = {
            "start-up (git-model --version)": ["git-model", "--version"],
            "git model stages": [*gm, "stages"],
            "git model resolve clf@production --json": [*gm, "resolve", "clf@production",
                                                        "--json"],
            "git model history clf -n 20": [*gm, "history", "clf", "-n", "20"],
            "git model history clf --stage production": [*gm, "history", "clf", "--stage",
                                                         "production"],
        }  # fmt: skip
        for label, cmd in commands.items():
            times[label], best[label], outputs[label] = measure(cmd, repo, env, args.repeat)
    listed = len(outputs["git model history clf --stage production"].splitlines())
    expected = len(range(STAGES.index("production"), args.events, len(STAGES)))
    ok = listed == expected and "production" in outputs["git model stages"]
    rows = [("command", "median", "best")]
    rows += [(label, secs(t), secs(best[label])) for label, t in times.items()]
    print(f"\nload average: {benchlib.load_average()}")
    print(f"{args.events} registry events over {len(STAGES)} stages, {args.versions} versions")
    print("\n".join(benchlib.aligned(rows)))
    print(f"history --stage production listed {listed} of {expected} events"
          f"{'' if ok else '  *** WRONG ***'}")  # fmt: skip
    worst = max(times["git model stages"], times["git model resolve clf@production --json"])
    verdict = "met" if worst <= TARGET_SECONDS else "MISSED"
    print(f"target: stages and resolve <= {TARGET_SECONDS:.1f} s: {verdict} "
          "(GTO: 6-12 s at 1,500 tags)")  # fmt: skip
    if args.json is not None:
        document = {**benchlib.start_meta(args), "events": args.events, "seconds": times,
                    "best_seconds": best}  # fmt: skip
        benchlib.write_json(args.json, document)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
