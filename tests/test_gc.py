"""``git model gc``: local packs merged; ``--remote``: report, mark, sweep after the grace."""

from __future__ import annotations

import hashlib
import time
import types
from pathlib import Path

import pytest
from conftest import git_model, run_git
from hygiene_support import commit_file, make_author, model_dir, oid_of, upload

from gitmodel import git
from gitmodel.commands import gc as gc_module
from gitmodel.pointer import Pointer
from gitmodel.store.local import LocalStore

DAY = 86400


def remote_has(origin: Path, data: bytes) -> bool:
    oid = hashlib.sha256(data).hexdigest()
    return (origin / "model" / "remote" / "manifests" / oid[:2] / oid).is_file()


@pytest.fixture
def garbage(tmp_path: Path) -> tuple[Path, Path, bytes, bytes, bytes]:
    """A remote holding one live object, one of a deleted branch and one never committed."""
    origin, repo = make_author(tmp_path)
    live = commit_file(repo, "live.bin")
    run_git("push", "-q", "origin", "main", cwd=repo)
    run_git("switch", "-qc", "tmp", cwd=repo)
    dropped = commit_file(repo, "tmp.bin")
    run_git("push", "-q", "origin", "tmp", cwd=repo)
    run_git("switch", "-q", "main", cwd=repo)
    run_git("branch", "-qD", "tmp", cwd=repo)
    run_git("push", "-q", "origin", "--delete", "tmp", cwd=repo)
    run_git("reflog", "expire", "--expire=now", "--all", cwd=repo)
    orphan = b"uploaded by a push whose refs were rejected" * 50
    (repo / "orphan.bin").write_bytes(orphan)
    run_git("add", "orphan.bin", cwd=repo)
    upload(repo, origin, orphan)
    run_git("rm", "-q", "--cached", "orphan.bin", cwd=repo)
    return origin, repo, live, dropped, orphan


def run_gc_at(repo: Path, now: float, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(repo)
    monkeypatch.setattr(gc_module, "time", types.SimpleNamespace(time=lambda: now))
    assert gc_module.gc(True, None, dry_run=False) == 0


def test_dry_run_reports_unreferenced_objects(garbage: tuple[Path, Path, bytes, bytes, bytes],
                                              ) -> None:  # fmt: skip
    origin, repo, live, dropped, orphan = garbage
    lines = git_model("gc", "--remote", "--dry-run", cwd=repo).stdout.decode().splitlines()
    expected = sorted(
        f"unreferenced {hashlib.sha256(d).hexdigest()} {s} (not marked yet)"
        for d, s in ((dropped, "2.9 KiB"), (orphan, "2.1 KiB"))
    )
    assert lines[:2] == expected
    assert lines[2].startswith("gc: 2 of 3 object(s) on file://")
    assert lines[2].endswith(" unreferenced, 5.0 KiB")
    assert lines[3:] == ["gc: 0 of 2 pack(s) unused, 0 B"]  # one a push, none unused yet
    assert not (origin / "model" / "remote" / "meta").exists()
    assert all(remote_has(origin, d) for d in (live, dropped, orphan))


def test_mark_then_sweep_after_grace(garbage: tuple[Path, Path, bytes, bytes, bytes],
                                     monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                     capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    origin, repo, live, dropped, orphan = garbage
    out = git_model("gc", "--remote", cwd=repo).stdout.decode()
    assert out.endswith("gc: deleted 0 object(s), 0 B; 2 marked, "
                        "deleted after 14 day(s) if still unreferenced\n"
                        "gc: deleted 0 pack(s), 0 B; 0 marked\n")  # fmt: skip
    assert (origin / "model" / "remote" / "meta" / "gc-marks.json").is_file()
    # the orphan becomes referenced again before the grace period ends
    commit_file(repo, "orphan.bin", orphan)
    run_git("push", "-q", "origin", "main", cwd=repo)
    run_gc_at(repo, time.time() + 13 * DAY, monkeypatch)
    assert "deleted 0 object(s)" in capsys.readouterr().out
    run_gc_at(repo, time.time() + 15 * DAY, monkeypatch)
    assert "gc: deleted 1 object(s), 2.9 KiB; 0 marked" in capsys.readouterr().out
    assert not remote_has(origin, dropped)
    assert remote_has(origin, live) and remote_has(origin, orphan)
    # the dropped object's pack is now unused: marked, then swept after its own grace
    packs = origin / "model" / "remote" / "packs"
    before = {p.name for p in packs.rglob("*") if p.is_file()}
    run_gc_at(repo, time.time() + 16 * DAY, monkeypatch)
    assert "gc: deleted 0 pack(s), 0 B; 1 marked" in capsys.readouterr().out
    run_gc_at(repo, time.time() + 31 * DAY, monkeypatch)
    assert "gc: deleted 1 pack(s)" in capsys.readouterr().out
    after = {p.name for p in packs.rglob("*") if p.is_file()}
    assert len(after) == len(before) - 1
    assert not (origin / "model" / "remote" / "index" / (before - after).pop()).exists()
    clone = tmp_path / "clone"
    git_model("install", cwd=tmp_path)
    run_git("clone", "-q", str(origin), str(clone), cwd=tmp_path)
    assert (clone / "live.bin").read_bytes() == live


def test_refuses_when_remote_refs_are_not_fetched(tmp_path: Path) -> None:
    origin, repo = make_author(tmp_path)
    commit_file(repo, "a.bin")
    run_git("push", "-q", "origin", "main", cwd=repo)
    other = tmp_path / "other"
    run_git("clone", "-q", str(origin), str(other), cwd=tmp_path)
    commit_file(other, "b.bin")
    run_git("push", "-q", "origin", "main", cwd=other)
    proc = git_model("gc", "--remote", "--dry-run", cwd=repo, check=False)
    assert proc.returncode == 1
    assert proc.stderr.decode().splitlines() == [
        "gitmodel: error: remote 'origin' has commits that are not here",
        "hint: run `git fetch origin` first",
    ]
    proc = git_model("gc", cwd=repo)  # without --remote: the local packs only
    assert b"git model gc --remote" in proc.stdout


def test_nothing_is_swept_when_remote_refs_move_during_the_run(
    garbage: tuple[Path, Path, bytes, bytes, bytes], monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    origin, repo, _, dropped, orphan = garbage
    git_model("gc", "--remote", cwd=repo)  # marks both
    real_tips = gc_module.remote_tips
    calls: list[int] = []

    def moving_tips(repo_: git.Repo, name: str) -> list[str]:
        calls.append(1)
        tips = real_tips(repo_, name)
        return tips if len(calls) == 1 else [*tips, "0" * 40]  # a push landed meanwhile

    monkeypatch.setattr(gc_module, "remote_tips", moving_tips)
    run_gc_at(repo, time.time() + 15 * DAY, monkeypatch)
    assert "the remote's refs moved meanwhile; nothing deleted" in capsys.readouterr().err
    assert remote_has(origin, dropped) and remote_has(origin, orphan)


def test_local_gc_merges_packs_and_quarantines_bad_objects(tmp_path: Path) -> None:
    _, repo = make_author(tmp_path)
    small = [commit_file(repo, f"s{i}.bin") for i in range(4)]  # one pack per `git add`
    store = LocalStore(model_dir(repo))
    assert len(list(store.packs.root.glob("*.pack"))) == 4
    bad = small[0]
    location = store.packs.find(oid_of(bad))
    assert location is not None
    pack = store.packs.root / f"{location.pack}.pack"
    pack.chmod(0o644)
    with open(pack, "r+b") as f:
        f.seek(location.offset)
        f.write(bytes([bad[0] ^ 1]))
    assert "4 local pack(s)" in git_model("gc", "--dry-run", cwd=repo).stdout.decode()
    proc = git_model("gc", cwd=repo)
    assert "gc: merged 4 local pack(s)" in proc.stdout.decode()
    assert "moved 1 corrupt object(s)" in proc.stderr.decode()
    fresh = LocalStore(model_dir(repo))
    assert len(list(fresh.packs.root.glob("*.pack"))) == 1
    assert not fresh.has(oid_of(bad)) and (fresh.bad_dir / oid_of(bad)).is_file()
    for data in small[1:]:
        assert fresh.has(oid_of(data))
        assert b"".join(bytes(c) for c in fresh.read(Pointer(oid_of(data), len(data)))) == data
    assert "already compact" in git_model("gc", cwd=repo).stdout.decode()
