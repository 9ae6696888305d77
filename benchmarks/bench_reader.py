#!/usr/bin/env python3
"""Reads and deploys without a clone: gitmodel:// and ``git model deploy`` against S3.

A private S3 server (moto, on 127.0.0.1) holds a safetensors model of ``--model-size``
in tensors of ``--tensor-size`` (random bytes), pushed through gitmodel from a local bare
repository whose committed ``.gitmodel`` names the bucket. Four scenarios:

1. **one tensor**: a fresh process with an empty cache reads one tensor through
   ``gitmodel://`` (header, then the tensor's range); bytes received are counted with
   ``GIT_MODEL_TEST_COUNT_FILE``. Target: at most 1.1 x the tensor.
2. **cold read against s3fs**: the same read timed from the filesystem's creation to
   the bytes in hand (the Git fetch, the manifest, the ranged reads), against s3fs
   reading the same range of the same file stored as a plain object, each in a fresh
   process with its imports done before the clock starts. Target: at most 2 s more.
3. **incremental deploy**: ``git model deploy`` of version 1 into a fresh folder (not
   counted), then of version 2, which changed ``--changed`` of the tensors, counted.
   Target: at most 1.1 x the bytes of the changed tensors.
4. **rollback**: ``git model deploy --rollback DIR`` timed as a command, and the switch
   alone in process. Target: 50 ms.

Figures are medians of ``--repeat`` runs; targets are reported, never asserted. See
``benchmarks/README.md``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import benchlib
from bench_remote import base_env, moto_server
from benchlib import BenchError, parse_size, run

MIB = 1 << 20
COUNT_ENV = "GIT_MODEL_TEST_COUNT_FILE"
READ_GITMODEL = """
import json, sys, time, fsspec, gitmodel.reader.fs
url, path, name = sys.argv[1:4]
start = time.perf_counter()
fs = fsspec.filesystem("gitmodel", repo=url, rev="main")
n = int.from_bytes(fs.cat_file(path, 0, 8), "little")
entry = json.loads(fs.cat_file(path, 8, 8 + n))[name]
begin, end = entry["data_offsets"]
data = fs.cat_file(path, 8 + n + begin, 8 + n + end)
print(json.dumps({"seconds": time.perf_counter() - start, "bytes": len(data)}))
"""
READ_S3FS = """
import json, sys, time, s3fs
endpoint, key, first, last = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
start = time.perf_counter()
fs = s3fs.S3FileSystem(endpoint_url=endpoint)
data = fs.cat_file(key, start=first, end=last)
print(json.dumps({"seconds": time.perf_counter() - start, "bytes": len(data)}))
"""
SWITCH = """
import json, sys, time
start = time.perf_counter()
from gitmodel.deploy import rollback
from gitmodel.deploy.layout import Folder
imported = time.perf_counter()
rollback(Folder(sys.argv[1]))
print(json.dumps({"seconds": time.perf_counter() - imported}))
"""


def write_model(path: Path, tensors: int, tensor_size: int, seeds: list[int]) -> dict[str, Any]:
    """A safetensors file of ``tensors`` U8 tensors of random bytes (seeded per tensor);
    its header."""
    header: dict[str, Any] = {}
    for i in range(tensors):
        offsets = [i * tensor_size, (i + 1) * tensor_size]
        header[f"layer.{i}"] = {"dtype": "U8", "shape": [tensor_size], "data_offsets": offsets}
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as out:
        out.write(len(text).to_bytes(8, "little") + text)
        for seed in seeds:
            out.write(random_block(seed, tensor_size))
    return header


def random_block(seed: int, size: int) -> bytes:
    import random

    return random.Random(seed).randbytes(size)


def received(count_file: Path) -> int:
    if not count_file.exists():
        return 0
    total = sum(int(line.split()[2]) for line in count_file.read_text().splitlines())
    count_file.unlink()
    return total


def python(code: str, args: list[str], env: dict[str, str], cwd: Path) -> dict[str, Any]:
    out = run([sys.executable, "-c", code, *args], cwd, env)
    result: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    return result


def setup(
    work: Path, endpoint: str, args: argparse.Namespace
) -> tuple[dict[str, str], Path, str]:
    """The author's environment and clone, with version 1 pushed and in production, and
    the key of the same file stored as a plain S3 object."""
    env = benchlib.make_home(work / "home", base_env(), "main")
    bucket = f"bench-{uuid.uuid4().hex[:8]}"
    run([sys.executable, "-c", f"import s3fs; s3fs.S3FileSystem(endpoint_url={endpoint!r})"
         f".mkdir({bucket!r})"], work, env)  # fmt: skip
    origin, author = work / "origin.git", work / "author"
    run(["git", "init", "-q", "--bare", str(origin)], work, env)
    run(["git", "clone", "-q", str(origin), str(author)], work, env)
    (author / ".gitmodel").write_text(f'[remote "origin"]\n\tmodelurl = s3://{bucket}/store\n'
                                      f"\tmodelendpoint = {endpoint}\n")  # fmt: skip
    model = author / "models" / "clf" / "model.safetensors"
    model.parent.mkdir(parents=True)
    write_model(model, args.tensors, args.tensor_size, list(range(args.tensors)))
    for cmd in (["install", "--local"], ["track", "*.safetensors"],
                ["register", "clf", "models/clf"]):  # fmt: skip
        run(["git-model", *cmd], author, env)
    run(["git", "add", "-A"], author, env)
    run(["git", "commit", "-qm", "v1"], author, env)
    run(["git-model", "promote", "clf@v1", "production"], author, env)
    run(["git", "push", "-q", "origin", "main"], author, env)
    return env, author, f"{bucket}/plain/tensor"


def upload_plain(work: Path, env: dict[str, str], endpoint: str, key: str, body: bytes) -> None:
    """``body`` as one plain S3 object (for s3fs to read a range of)."""
    source = work / "plain"
    source.write_bytes(body)
    fs = f"s3fs.S3FileSystem(endpoint_url={endpoint!r})"
    upload = f"{fs}.pipe_file({key!r}, open({str(source)!r}, 'rb').read())"
    run([sys.executable, "-c", f"import s3fs; {upload}"], work, env)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model-size", type=parse_size, default=parse_size("2GiB"))
    parser.add_argument("--tensor-size", type=parse_size, default=parse_size("64MiB"))
    parser.add_argument("--changed", type=float, default=0.1, help="share of tensors changed")
    parser.add_argument("--rollbacks", type=int, default=10, help="rollbacks timed")
    parser.add_argument("--quick", action="store_true", help="256 MiB, 16 MiB tensors, 1 run")
    benchlib.add_common_options(parser, "reader")
    args = parser.parse_args()
    if args.quick:
        args.model_size, args.tensor_size, args.repeat = 256 * MIB, 16 * MIB, 1
    args.tensors = max(1, args.model_size // args.tensor_size)
    with benchlib.work_folder(args.workdir, "gitmodel-bench-reader-") as work:
        benchlib.check_disk(work, 4 * args.model_size, "--model-size")
        with moto_server(work) as (endpoint, _pid):
            results = measure(work, endpoint, args)
    report(results, args)
    if args.json:
        benchlib.write_json(args.json, {"args": {k: str(v) for k, v in vars(args).items()},
                                        "results": results})  # fmt: skip
    return 0


def measure(work: Path, endpoint: str, args: argparse.Namespace) -> dict[str, list[float]]:
    print(f"pushing a {args.model_size / 2**30:.2f} GiB model to S3 (not timed)…", flush=True)
    env, author, plain = setup(work, endpoint, args)
    url, path = f"file://{work / 'origin.git'}", "models/clf/model.safetensors"
    tensor = f"layer.{args.tensors // 2}"
    with open(author / path, "rb") as f:
        length = int.from_bytes(f.read(8), "little")
        begin, end = json.loads(f.read(length))[tensor]["data_offsets"]
        f.seek(8 + length + begin)
        # the same bytes, after as many bytes as precede them in the model, up to 8 MiB
        # (a ranged GET costs the same wherever the range lies; moto stores a 2 GiB
        # object badly): what s3fs reads the tensor from
        prefix = min(8 + length + begin, 8 * MIB)
        upload_plain(work, env, endpoint, plain, random_block(-1, prefix) + f.read(end - begin))
    results: dict[str, list[float]] = {k: [] for k in
                                       ("read_bytes", "read_s", "s3fs_s", "deploy_bytes",
                                        "rollback_cli_s", "rollback_switch_s")}  # fmt: skip
    count = work / "count"
    for i in range(args.repeat):
        cold = {**env, "XDG_CACHE_HOME": str(work / f"cache-{i}"), COUNT_ENV: str(count)}
        got = python(READ_GITMODEL, [url, path, tensor], cold, work)
        results["read_s"].append(got["seconds"])
        results["read_bytes"].append(received(count))
        raw = python(READ_S3FS, [endpoint, plain, str(prefix), str(prefix + end - begin)],
                     env, work)  # fmt: skip
        results["s3fs_s"].append(raw["seconds"])
        print(f"  run {i + 1}: read {got['seconds']:.2f} s, s3fs {raw['seconds']:.2f} s",
              flush=True)  # fmt: skip
    changed = sorted(range(args.tensors), key=lambda t: (t * 7919) % args.tensors)
    changed = changed[: max(1, round(args.changed * args.tensors))]
    seeds = [1000 + t if t in changed else t for t in range(args.tensors)]
    results["changed_bytes"] = [float(len(changed) * args.tensor_size)]
    for i in range(args.repeat):
        target = work / f"serve-{i}"
        denv = {**env, "XDG_CACHE_HOME": str(work / f"dcache-{i}")}
        if i:
            run(["git-model", "promote", "clf@v1", "production"], author, env)
            run(["git", "push", "-q", "origin", "main"], author, env)
        run(["git-model", "deploy", "clf@production", str(target), "--from", url], work, denv)
        if not i:
            write_model(author / path, args.tensors, args.tensor_size, seeds)
            run(["git", "commit", "-qam", "v2: retrained"], author, env)
        run(["git-model", "promote", "clf@v2", "production"], author, env)
        run(["git", "push", "-q", "origin", "main"], author, env)
        run(["git-model", "deploy", "clf@production", str(target), "--from", url], work,
            {**denv, COUNT_ENV: str(count)})  # fmt: skip
        results["deploy_bytes"].append(received(count))
        print(f"  deploy {i + 1}: {results['deploy_bytes'][-1] / MIB:.1f} MiB", flush=True)
    target = work / "serve-0"
    for _ in range(args.rollbacks):
        start = time.perf_counter()
        run(["git-model", "deploy", "--rollback", str(target)], work, env)
        results["rollback_cli_s"].append(time.perf_counter() - start)
        run(["git-model", "deploy", "clf@production", str(target), "--from", url], work, env)
        got = python(SWITCH, [str(target)], env, work)
        results["rollback_switch_s"].append(got["seconds"])
        run(["git-model", "deploy", "clf@production", str(target), "--from", url], work, env)
    return results


def report(results: dict[str, list[float]], args: argparse.Namespace) -> None:
    med = {k: statistics.median(v) for k, v in results.items() if v}
    tensor = args.tensor_size
    rows = [
        ("one tensor: bytes moved / tensor", f"{med['read_bytes'] / MIB:.1f} MiB",
         f"{med['read_bytes'] / tensor:.3f}", "<= 1.1", med["read_bytes"] <= 1.1 * tensor),
        ("cold read: gitmodel:// - s3fs", f"{med['read_s']:.2f} s vs {med['s3fs_s']:.2f} s",
         f"+{med['read_s'] - med['s3fs_s']:.2f} s", "<= +2 s",
         med["read_s"] - med["s3fs_s"] <= 2.0),
        ("incremental deploy: bytes / changed", f"{med['deploy_bytes'] / MIB:.1f} MiB",
         f"{med['deploy_bytes'] / med['changed_bytes']:.3f}", "<= 1.1",
         med["deploy_bytes"] <= 1.1 * med["changed_bytes"]),
        ("rollback (command)", f"{med['rollback_cli_s'] * 1000:.0f} ms", "", "<= 50 ms",
         med["rollback_cli_s"] <= 0.05),
        ("rollback (the switch, in process)", f"{med['rollback_switch_s'] * 1000:.1f} ms", "",
         "<= 50 ms", med["rollback_switch_s"] <= 0.05),
    ]  # fmt: skip
    print(f"\n{args.model_size / 2**30:.2f} GiB model, {args.tensors} tensors of "
          f"{tensor / MIB:.0f} MiB, medians of {args.repeat} (rollbacks: {args.rollbacks})")
    lines = benchlib.aligned([("scenario", "measured", "ratio", "target", ""), *[
        (name, value, ratio, target, "met" if ok else "NOT MET")
        for name, value, ratio, target, ok in rows]])  # fmt: skip
    print("\n".join(lines))


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BenchError as exc:
        sys.exit(f"error: {exc}")
