#!/usr/bin/env python3
"""PyTorch checkpoints read without torch, side by side with torch itself.

1. The tensor table of a ``torch.save`` checkpoint of many tensors: gitmodel's
   ``read_model`` (the weights-only opcode check, the stand-in unpickler, locating the
   storages) against ``torch.load(weights_only=True, mmap=True)``, which also builds
   tensors on mapped storages but reads no data.
2. Comparing a transposed view (``w.t()``, saved with its storage) with the contiguous
   tensor of the same values against comparing two contiguous tensors: what gathering a
   view's elements costs.

    python benchmarks/bench_torch.py [--tensors 5000] [--side 4096] [--repeat 5]

Needs torch (a CPU wheel is enough): it writes the checkpoints.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any


def median_time(run: Callable[[], Any], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def table(work: Path, count: int, repeat: int) -> None:
    import torch

    from gitmodel.formats import read_model

    path = work / "many.pt"
    state = {f"layers.{i}.weight": torch.ones(4, 4) for i in range(count)}
    state.update({f"layers.{i}.scale": torch.ones(2).to(torch.float8_e4m3fn)
                  for i in range(0, count, 10)})  # fmt: skip
    torch.save(state, path)

    def ours() -> None:
        with open(path, "rb") as f:
            assert read_model(f, path.name) is not None

    ours_s = median_time(ours, repeat)
    torch_s = median_time(lambda: torch.load(path, weights_only=True, mmap=True), repeat)
    print(f"tensor table of {len(state):,} tensors ({path.stat().st_size >> 10:,} KiB):"
          f" gitmodel {ours_s * 1000:.1f} ms, torch.load {torch_s * 1000:.1f} ms,"
          f" ratio {ours_s / torch_s:.2f} (medians of {repeat})")  # fmt: skip


def views(work: Path, side: int, repeat: int) -> None:
    import torch

    from gitmodel.formats import read_model
    from gitmodel.formats.tensors import compare_values

    w = torch.randn(side, side)
    torch.save({"t": w.t()}, work / "view.pt")  # the storage, strides (1, side)
    torch.save({"t": w.t().contiguous()}, work / "contiguous.pt")
    w2 = w.t().contiguous()
    w2[0, 0] += 1
    torch.save({"t": w2}, work / "other.pt")
    tensors = {}
    for name in ("view", "contiguous", "other"):
        with open(work / f"{name}.pt", "rb") as f:
            info = read_model(f, f"{name}.pt")
            assert info is not None
            tensors[name] = info.by_name()["t"]

    def compare(a: str, b: str) -> Callable[[], None]:
        def run() -> None:
            with open(work / f"{a}.pt", "rb") as fa, open(work / f"{b}.pt", "rb") as fb:
                compare_values(fa, tensors[a], fb, tensors[b])

        return run

    view_s = median_time(compare("view", "other"), repeat)
    flat_s = median_time(compare("contiguous", "other"), repeat)
    mib = side * side * 4 >> 20
    print(f"compare {mib} MiB F32: transposed view {view_s:.2f} s, contiguous {flat_s:.2f} s,"
          f" ratio {view_s / flat_s:.2f} (medians of {repeat})")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tensors", type=int, default=5000)
    parser.add_argument("--side", type=int, default=4096)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-torch-") as tmp:
        table(Path(tmp), args.tensors, args.repeat)
        views(Path(tmp), args.side, args.repeat)


if __name__ == "__main__":
    main()
