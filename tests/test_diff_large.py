"""Two 2 GiB safetensors versions differing in one tensor: ``diff`` reads only that one,
and so does ``review`` of the two as registry versions."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import git_model, need_disk, run_git
from helpers.model_files import SAFETENSORS_DTYPES

TENSORS = 32
ELEMENTS = 16 << 20  # float32: 64 MiB per tensor, 2 GiB in all
CHANGED = 9
RSS_LIMIT = 200 << 20
READ_LIMIT = 400 << 20  # headers, two indexes, two versions of one 64 MiB tensor, modules
REVIEW_READ_LIMIT = 200_000_000  # the bound: headers, indexes, one tensor's two versions
REVIEW_RSS_LIMIT = 150_000_000
POLICY = {"production": {"metrics": {"accuracy": ">= 0.9"}}}
REGISTRY = {"models": {"big": {"paths": ["big.safetensors"], "policy": POLICY}}}

# Peak RSS from VmHWM: ru_maxrss would also count the forked pytest process before exec.
MEASURE = """
import sys
from gitmodel.cli import main
sys.argv = ["git-model", *sys.argv[1:]]
try:
    main()
except SystemExit as exc:
    assert not exc.code, exc.code
io = dict(line.split(": ") for line in open("/proc/self/io").read().splitlines())
status = dict(line.split(":", 1) for line in open("/proc/self/status").read().splitlines())
print(int(io["rchar"]), int(status["VmHWM"].split()[0]) * 1024, file=sys.stderr)
"""


def sparse_model(path: Path) -> int:
    """A 2 GiB safetensors file of zeros (holes on disk) but for one random tensor;
    returns the offset of that tensor's data."""
    header: dict[str, object] = {}
    nbytes = ELEMENTS * 4
    for i in range(TENSORS):
        header[f"layer.{i}.weight"] = {"dtype": SAFETENSORS_DTYPES["float32"],
                                       "shape": [4096, ELEMENTS // 4096],
                                       "data_offsets": [i * nbytes, (i + 1) * nbytes]}  # fmt: skip
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    base = 8 + len(text)
    with open(path, "wb") as f:
        f.write(len(text).to_bytes(8, "little") + text)
        f.truncate(base + TENSORS * nbytes)
        f.seek(base + CHANGED * nbytes)
        f.write(np.random.default_rng(3).standard_normal(ELEMENTS).astype(np.float32).tobytes())
    return base + CHANGED * nbytes


@pytest.mark.slow
def test_diff_and_review_of_two_gib_versions_read_only_what_differs(repo: Path) -> None:
    """``git model diff`` of the two commits, and ``review`` of the two registry versions
    (as ``git model diff`` does: bounded bytes read and peak memory). One test, as building
    the two 2 GiB versions is most of the time either takes."""
    need_disk(repo, 8 << 30)
    git_model("track", "*.safetensors", cwd=repo)
    (repo / ".gitmodel-registry.json").write_text(json.dumps(REGISTRY))
    model = repo / "big.safetensors"
    offset = sparse_model(model)
    run_git("add", ".", cwd=repo)
    run_git("commit", "-qm", "v1", cwd=repo)
    git_model("annotate", "big.safetensors", "--metric", "accuracy=0.91", cwd=repo)
    with open(model, "r+b") as f:  # change the first 1 Mi elements of one tensor
        f.seek(offset)
        old = np.frombuffer(f.read(4 << 20), np.float32).astype(np.float64)
        f.seek(offset)
        f.write((old + 0.5).astype(np.float32).tobytes())
    run_git("add", ".", cwd=repo)
    run_git("commit", "-qm", "v2", cwd=repo)
    git_model("annotate", "big.safetensors", "--metric", "accuracy=0.93", cwd=repo)
    model.unlink()  # the two versions now live in the store only

    check_diff(repo)
    check_review(repo)
    for obj in (repo / ".git" / "model" / "objects").glob("*/*/*"):
        os.chmod(obj, 0o644)
        obj.unlink()


def check_diff(repo: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-c", MEASURE, "diff", "HEAD~1", "HEAD", "--json"],
        cwd=repo, capture_output=True, check=True,
    )  # fmt: skip
    read, rss = map(int, proc.stderr.split())
    [file] = json.loads(proc.stdout)["files"]
    assert file["unchanged"] == TENSORS - 1
    [change] = file["changed"]
    assert change["name"] == f"layer.{CHANGED}.weight"
    assert change["changed"] == 1 << 20
    assert change["max_abs_change"] == pytest.approx(0.5, rel=1e-6)
    assert read < READ_LIMIT, f"read {read >> 20} MiB"
    assert rss < RSS_LIMIT, f"peak RSS {rss >> 20} MiB"
    print(f"diff of 2 x 2 GiB: read {read >> 20} MiB, peak RSS {rss >> 20} MiB")


def check_review(repo: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-c", MEASURE, "review", "big@v2", "--against", "v1", "--stage",
         "production", "--json"],
        cwd=repo, capture_output=True, check=True,
    )  # fmt: skip
    read, rss = map(int, proc.stderr.split()[-2:])
    found = json.loads(proc.stdout)
    [file] = found["files"]
    assert file["diff"]["unchanged"] == TENSORS - 1
    [change] = file["diff"]["changed"]
    assert change["name"] == f"layer.{CHANGED}.weight" and change["changed"] == 1 << 20
    assert found["policy"]["passes"] is True
    assert found["metrics"][0]["delta"] == pytest.approx(0.02)
    print(f"review of 2 x 2 GiB: read {read / 1e6:.0f} MB, peak RSS {rss / 1e6:.0f} MB")
    assert read < REVIEW_READ_LIMIT, f"read {read / 1e6:.0f} MB"
    assert rss < REVIEW_RSS_LIMIT, f"peak RSS {rss / 1e6:.0f} MB"
