"""kill -9 in the middle of add, push and pull: nothing half-visible, reruns complete.

A few trials of ``stress/crash.py`` (which runs 51 by default)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "stress"))
import crash


@pytest.mark.parametrize("operation", crash.OPERATIONS)
@pytest.mark.parametrize("seed", [1, 2])
def test_kill_and_recover(tmp_path: Path, operation: str, seed: int) -> None:
    rng = crash.random.Random(seed)
    crash.trial(tmp_path / "t", operation, rng, max_delay=0.8)
