#!/usr/bin/env python3
"""Lineage benchmark: ``git model log PATH`` over a long history, against ``git log --follow``.

Builds (with ``git fast-import``, not timed) a repository of ``--commits`` commits in which
``--versions`` of them write a new version of a model file, the others change code; half way
the model file is renamed, so ``log`` has to follow it. Then times ``git model log`` (text and
``--json``) and the bare ``git log --follow --raw`` it is built on, and checks that ``log``
found every version. Target: ≤ 1 s for 5,000 commits and 200 versions. See
``benchmarks/README.md``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import statistics
import subprocess
import sys
import sysconfig
from collections.abc import Sequence
from pathlib import Path

import benchlib
from benchlib import BenchError, clean_env, make_home, run, secs, timed

TARGET_SECONDS = 1.0
OLD_PATH, NEW_PATH = "model.safetensors", "models/model.safetensors"


def pointer(version: int) -> bytes:
    oid = hashlib.sha256(f"model version {version}".encode()).hexdigest()
    spec = "version https://git-lfs.github.com/spec/v1"
    return f"{spec}\noid sha256:{oid}\nsize {1000 + version}\n".encode()


def data(payload: bytes) -> bytes:
    return b"data %d\n" % len(payload) + payload + b"\n"


def fast_import_stream(commits: int, versions: int) -> bytes:
    """``commits`` commits on main; every ``commits // versions``-th writes a model version."""
    every = max(1, commits // versions)
    out = [b"M 100644 inline .gitattributes\n", data(b"*.safetensors filter=model -text\n")]
    chunks = []
    written = 0
    for n in range(commits):
        rename_at = commits // 2 + 1  # a commit that writes no version: a pure rename
        path = OLD_PATH if n < rename_at else NEW_PATH
        body = [*out] if n == 0 else []
        if n == rename_at:
            body.append(f'R "{OLD_PATH}" "{NEW_PATH}"\n'.encode())
        if n % every == 0 and n != rename_at and written < versions:
            body += [f"M 100644 inline {path}\n".encode(), data(pointer(written))]
            written += 1
            message = f"model version {written}"
        else:
            body += [f"M 100644 inline src/code{n % 50}.py\n".encode(), data(b"x = %d\n" % n)]
            message = f"code change {n}"
        stamp = 1_700_000_000 + n * 60
        header = (f"commit refs/heads/main\nmark :{n + 1}\n"
                  f"author Bench <bench@example.invalid> {stamp} +0000\n"
                  f"committer Bench <bench@example.invalid> {stamp} +0000\n").encode()  # fmt: skip
        parent = f"from :{n}\n".encode() if n else b""
        chunks += [header, data(message.encode()), parent, *body, b"\n"]
    return b"".join(chunks)


def build(repo: Path, env: dict[str, str], commits: int, versions: int) -> None:
    run(["git", "init", "-q", str(repo)], repo.parent, env)
    stream = fast_import_stream(commits, versions)
    proc = subprocess.run(["git", "fast-import", "--quiet"], cwd=repo, env=env, input=stream,
                          capture_output=True, check=False)  # fmt: skip
    if proc.returncode != 0:
        raise BenchError(f"git fast-import failed: {proc.stderr.decode(errors='replace')}")
    run(["git", "reset", "-q", "--hard", "main"], repo, env)


def measure(cmd: list[str], repo: Path, env: dict[str, str], repeat: int) -> tuple[float, str]:
    times, output = [], ""
    for _ in range(repeat):
        measurement, output = timed(cmd, repo, env)
        times.append(measurement.seconds)
    return statistics.median(times), output


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--commits", type=int, default=5000, help="commits in the history")
    parser.add_argument("--versions", type=int, default=200, help="versions of the model file")
    benchlib.add_common_options(parser, "lineage")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    scripts = Path(sysconfig.get_path("scripts"))
    path_first = scripts if (scripts / "git-model").exists() else None
    with benchlib.work_folder(args.workdir, "gitmodel-bench-lineage-") as workdir:
        env = make_home(workdir / "home", clean_env(path_first=path_first), "main")
        repo = workdir / "repo"
        repo.mkdir()
        build(repo, env, args.commits, args.versions)
        model_log, text = measure(["git", "model", "log", NEW_PATH], repo, env, args.repeat)
        as_json, out = measure(["git", "model", "log", NEW_PATH, "--json"], repo, env, args.repeat)
        git_cmd = ["git", "log", "--follow", "--raw", "--no-abbrev", "--format=%H", "--", NEW_PATH]
        git_log, _ = measure(git_cmd, repo, env, args.repeat)
    found = len(json.loads(out)["versions"])
    rows = [("command", "median", "vs git log --follow"),
            ("git model log", secs(model_log), f"{model_log / git_log:.1f}x"),
            ("git model log --json", secs(as_json), f"{as_json / git_log:.1f}x"),
            ("git log --follow --raw", secs(git_log), "1.0x")]  # fmt: skip
    print(f"\n{args.commits} commits, {args.versions} versions of {NEW_PATH} (renamed half way)")
    print("\n".join(benchlib.aligned(rows)))
    ok = found == args.versions and len(text.splitlines()) == args.versions
    print(f"versions found: {found} of {args.versions}{'' if ok else '  *** WRONG ***'}")
    verdict = "met" if model_log <= TARGET_SECONDS else "MISSED"
    print(f"target: git model log <= {TARGET_SECONDS:.1f} s: {verdict}")
    if args.json is not None:
        seconds = {"log": model_log, "log_json": as_json, "git_log": git_log}
        document = {**benchlib.start_meta(args), "found": found, "seconds": seconds}
        benchlib.write_json(args.json, document)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
