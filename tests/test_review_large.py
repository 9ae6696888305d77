"""``review`` of two 2 GiB versions differing in one tensor reads only that tensor, as
``git model diff`` does: bounded bytes read and peak memory."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import git_model, need_disk, run_git
from test_diff_large import CHANGED, MEASURE, TENSORS, sparse_model

READ_LIMIT = 200_000_000  # the bound: headers, indexes, one tensor's two versions
RSS_LIMIT = 150_000_000
POLICY = {"production": {"metrics": {"accuracy": ">= 0.9"}}}
REGISTRY = {"models": {"big": {"paths": ["big.safetensors"], "policy": POLICY}}}


@pytest.mark.slow
def test_review_of_two_gib_versions_reads_only_what_differs(repo: Path) -> None:
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
    assert read < READ_LIMIT, f"read {read / 1e6:.0f} MB"
    assert rss < RSS_LIMIT, f"peak RSS {rss / 1e6:.0f} MB"
    for obj in (repo / ".git" / "model" / "objects").glob("*/*/*"):
        os.chmod(obj, 0o644)
        obj.unlink()
