"""Encryption at rest: AES-256-GCM chunks, keyed chunk ids, clear errors without the key."""

from __future__ import annotations

import json
import os
from dataclasses import replace
from pathlib import Path

import pytest
from conftest import git_model, run_git
from hygiene_support import make_author, model_dir, oid_of

from gitmodel.manifest import Manifest, decode_manifest, encode_manifest
from gitmodel.remote import transfer
from gitmodel.remote.store import RemoteStore
from gitmodel.store.local import LocalStore

KEY = "5f" * 32
OTHER = "a0" * 32
SECRET = b"patient-record-0042 diagnosis confidential\n" * 3000


def with_key(key: str | None) -> dict[str, str]:
    env = dict(os.environ)
    env.pop("GIT_MODEL_ENCRYPTION_KEY", None)
    if key is not None:
        env["GIT_MODEL_ENCRYPTION_KEY"] = key
    return env


def remote_files(origin: Path) -> list[Path]:
    return [p for p in (origin / "model" / "remote").rglob("*") if p.is_file()]


@pytest.fixture
def pushed(tmp_path: Path) -> tuple[Path, Path, bytes]:
    origin, repo = make_author(tmp_path)
    weights = os.urandom(200_000)
    (repo / "records.bin").write_bytes(SECRET)
    (repo / "weights.bin").write_bytes(weights)
    env = with_key(KEY)
    run_git("add", ".", cwd=repo, env=env)
    run_git("commit", "-qm", "private", cwd=repo, env=env)
    proc = run_git("push", "-q", "origin", "main", cwd=repo, env=env)
    assert KEY not in (proc.stdout + proc.stderr).decode()
    git_model("install", cwd=tmp_path)  # globally, for the clones below
    return origin, repo, weights


def test_remote_holds_no_plaintext_and_a_keyed_clone_reads_it(
    pushed: tuple[Path, Path, bytes], tmp_path: Path
) -> None:
    origin, _, weights = pushed
    layout = json.loads((origin / "model" / "remote" / "gitmodel-remote.json").read_text())
    assert layout["encryption"] == "aes-256-gcm" and KEY not in json.dumps(layout)
    for path in remote_files(origin):
        body = path.read_bytes()
        assert b"patient-record" not in body and weights[1000:1064] not in body
    clone = tmp_path / "clone"
    run_git("clone", "-q", str(origin), str(clone), cwd=tmp_path, env=with_key(KEY))
    assert (clone / "records.bin").read_bytes() == SECRET
    assert (clone / "weights.bin").read_bytes() == weights


@pytest.mark.parametrize(
    ("key", "message"),
    [(None, "is encrypted and no key is set"), (OTHER, "is encrypted with a different key")],
)
def test_missing_or_wrong_key_is_a_clear_error_and_writes_nothing(
    pushed: tuple[Path, Path, bytes], tmp_path: Path, key: str | None, message: str
) -> None:
    origin, _, _ = pushed
    clone = tmp_path / "clone"
    proc = run_git("clone", "-q", str(origin), str(clone), cwd=tmp_path, env=with_key(key),
                   check=False)  # fmt: skip
    assert proc.returncode != 0
    assert message in proc.stderr.decode()
    assert LocalStore(model_dir(clone)).oids() == set()
    for name in ("records.bin", "weights.bin"):
        path = clone / name
        assert not path.exists() or path.read_bytes().startswith(b"version https://git-lfs")


def test_key_from_a_key_file_and_bad_keys(pushed: tuple[Path, Path, bytes], tmp_path: Path) -> None:
    _, repo, _ = pushed
    key_file = tmp_path / "model.key"
    key_file.write_text(KEY + "\n")
    run_git("config", "model.encryptionKeyFile", str(key_file), cwd=repo)
    store = LocalStore(model_dir(repo))
    for oid in store.oids():
        store.remove({oid})
    run_git("rm", "-q", "--cached", "records.bin", cwd=repo)
    proc = git_model("pull", cwd=repo, env=with_key(None))
    assert proc.returncode == 0 and oid_of(SECRET) in store.oids()
    key_file.write_text("not a key")
    proc = git_model("push", cwd=repo, env=with_key(None), check=False)
    assert proc.returncode == 1
    assert "model.encryptionKeyFile must hold 64 hex digits" in proc.stderr.decode()
    proc = git_model("push", cwd=repo, env=with_key("12" * 16), check=False)
    assert "GIT_MODEL_ENCRYPTION_KEY must hold 64 hex digits" in proc.stderr.decode()
    assert "12" * 16 not in proc.stderr.decode()


def test_dedup_works_within_one_key_only(tmp_path: Path) -> None:
    data = os.urandom(300_000)
    store = LocalStore(tmp_path / "store")
    with store.writer() as writer:
        writer.write(data)
        pointer = writer.commit()
    ids = {}
    for name, key in (("plain", None), ("one", KEY), ("two", OTHER)):
        remote = RemoteStore(f"file://{tmp_path / name}", key=bytes.fromhex(key) if key else None)
        transfer.upload(remote, store, [pointer], quiet=True)
        found = remote.read_manifest(pointer)
        assert found is not None
        ids[name] = {chunk.id for chunk in found.chunks}
        again = transfer.upload(remote, store, [pointer], quiet=True)
        assert again.pointers == []  # already there
    assert not ids["plain"] & ids["one"] and not ids["one"] & ids["two"]


def test_swapped_ciphertext_is_refused(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "store")
    with store.writer() as writer:
        writer.write(os.urandom(400_000))
        pointer = writer.commit()
    key = bytes.fromhex(KEY)
    remote = RemoteStore(f"file://{tmp_path / 'remote'}", key=key)
    transfer.upload(remote, store, [pointer], quiet=True)
    path = Path(remote.manifest_key(pointer.oid))
    found = decode_manifest(path.read_bytes(), pointer.oid, pointer.size)
    first, second = found.chunks[0], found.chunks[1]
    # the manifest keeps the first chunk's id but points at the second one's bytes
    swapped = replace(second, id=first.id, raw=first.raw)
    chunks = [swapped, *found.chunks[1:]]
    path.chmod(0o644)
    path.write_bytes(encode_manifest(Manifest(pointer.oid, pointer.size, chunks)))
    mine = LocalStore(tmp_path / "mine")
    with pytest.raises(transfer.TransferError) as info:
        transfer.download(RemoteStore(remote.url, key=key), mine, [pointer], quiet=True)
    assert pointer.oid in str(info.value)
    assert mine.oids() == set()
