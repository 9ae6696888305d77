"""Shared set-up for the hygiene tests: a clone of a local bare repository (zero config)."""

from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path

from conftest import copy_of_template, git_model, git_out, run_git

from gitmodel.pointer import Pointer
from gitmodel.remote import whole
from gitmodel.remote.store import RemoteStore
from gitmodel.store.local import LocalStore
from gitmodel.store.pack import PACK_MAX_OBJECT


def make_author(tmp_path: Path) -> tuple[Path, Path]:
    """A bare ``origin.git`` and a clone of it with gitmodel installed and ``*.bin`` tracked
    (a copy of the two made once per process, the clone's remote pointed at the copy)."""
    copy_of_template("hygiene-author", build_author, tmp_path)
    origin, repo = tmp_path / "origin.git", tmp_path / "author"
    run_git("remote", "set-url", "origin", str(origin), cwd=repo)
    return origin, repo


def build_author(tmp_path: Path) -> None:
    tmp_path.mkdir()
    origin = tmp_path / "origin.git"
    run_git("init", "-q", "--bare", str(origin), cwd=tmp_path)
    repo = tmp_path / "author"
    run_git("clone", "-q", str(origin), str(repo), cwd=tmp_path)
    git_model("install", "--local", cwd=repo)
    git_model("track", "*.bin", cwd=repo)
    run_git("add", ".gitattributes", cwd=repo)
    run_git("commit", "-qm", "track *.bin", cwd=repo)


def commit_file(repo: Path, name: str, data: bytes | None = None, message: str = "",
                env: dict[str, str] | None = None) -> bytes:  # fmt: skip
    """Write ``name`` (random bytes unless given), add and commit it; returns the bytes."""
    data = os.urandom(3000) if data is None else data
    (repo / name).parent.mkdir(parents=True, exist_ok=True)
    (repo / name).write_bytes(data)
    run_git("add", name, cwd=repo)
    run_git("commit", "-qm", message or f"add {name}", cwd=repo, env=env)
    return data


def model_dir(repo: Path) -> Path:
    common = git_out("rev-parse", "--path-format=absolute", "--git-common-dir", cwd=repo).strip()
    return Path(common) / "model"


LOOSE = PACK_MAX_OBJECT + 3000  # a size whose object is a file of its own, not packed


def object_path(repo: Path, oid: str) -> Path:
    """Where an object that is not packed lives."""
    return model_dir(repo) / "objects" / oid[:2] / oid[2:4] / oid


def stored(repo: Path, oid: str) -> bool:
    """Whether the repository's local store has ``oid`` (loose or packed)."""
    return LocalStore(model_dir(repo)).has(oid)


def old_date_env(days: int) -> dict[str, str]:
    """Commit as if ``days`` ago (author and committer dates)."""
    stamp = f"{int(time.time()) - days * 86400} +0000"
    return {**os.environ, "GIT_AUTHOR_DATE": stamp, "GIT_COMMITTER_DATE": stamp}


def oid_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def upload(repo: Path, origin: Path, data: bytes) -> None:
    """Put an object on the remote without pushing any commit naming it."""
    remote = RemoteStore(f"file://{origin / 'model' / 'remote'}")
    whole.upload(remote, LocalStore(model_dir(repo)), Pointer(oid_of(data), len(data)))


def damage_remote_copy(remote_root: Path, oid: str, size: int) -> None:
    """Flip one byte of an object on a file remote: in its whole file, or in the
    pack holding its first chunk."""
    whole = remote_root / "data" / oid[:2] / oid[2:4] / oid
    if whole.is_file():
        data = bytearray(whole.read_bytes())
        data[len(data) // 2] ^= 0xFF
        whole.write_bytes(bytes(data))
        return
    found = RemoteStore(str(remote_root)).read_manifest(Pointer(oid, size))  # alone or batched
    assert found is not None
    first = found.chunks[0]
    pack = remote_root / "packs" / first.pack[:2] / first.pack
    data = bytearray(pack.read_bytes())
    data[first.offset + first.stored // 2] ^= 0xFF
    pack.chmod(0o644)
    pack.write_bytes(bytes(data))
