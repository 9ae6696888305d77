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


def test_push_killed_once_its_first_pack_is_durable_resumes(tmp_path: Path) -> None:
    """The kill lands right after the first pack's index: the re-push sends only the rest."""
    scene = crash.make_scene(tmp_path / "t", crash.random.Random(3), small=5, large=3)
    crash.prepare(scene, "push")
    argv, cwd = crash.command(scene, "push")

    def first_index() -> bool:  # a whole index beside its whole pack: not just its name
        return bool(crash.durable_chunks(scene))

    assert crash.kill_when(argv, cwd, scene.env, first_index)
    crash.clear_git_locks(cwd)
    crash.check_remote(scene)
    crash.check_after_push_kill(scene)
    assert crash.durable_chunks(scene), "the first pack should be durable"
    crash.finish_and_verify(scene, "push")
    assert crash.check_manifests(scene) == len(scene.files)
