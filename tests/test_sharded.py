"""Sharded checkpoints (``model.safetensors.index.json`` plus shards) as one model:
``diff``, ``inspect`` and ``review`` follow each tensor to the shard that holds it."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import numpy as np
import pytest
from conftest import git_model, run_git, store_oids

from gitmodel.formats import FormatError
from gitmodel.formats.shards import parse_index

INDEX = "m/model.safetensors.index.json"


def write_sharded(repo: Path, shards: dict[str, dict[str, np.ndarray]], step: int) -> None:
    """Shards written by the safetensors library, and the index transformers writes."""
    from safetensors.numpy import save_file

    folder = repo / "m"
    folder.mkdir(exist_ok=True)
    for old in folder.glob("*.safetensors"):
        old.unlink()
    weight_map = {}
    for shard, tensors in shards.items():
        save_file(tensors, str(folder / shard), {"format": "np"})
        weight_map.update(dict.fromkeys(tensors, shard))
    total = sum(a.nbytes for tensors in shards.values() for a in tensors.values())
    index = {"metadata": {"total_size": total, "step": step}, "weight_map": weight_map}
    (repo / INDEX).write_text(json.dumps(index, indent=2))


def tensors() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(3)
    return {name: rng.standard_normal((8, 4)).astype(np.float32) for name in "abc"}


@pytest.fixture
def sharded(repo: Path) -> Path:
    """v1: a, b in shard 1 of 2, c in shard 2; v2: b moved to shard 2 unchanged, one
    element of c changed, d added."""
    git_model("track", "*.safetensors", cwd=repo)
    t = tensors()
    s1, s2 = "model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"
    write_sharded(repo, {s1: {"a": t["a"], "b": t["b"]}, s2: {"c": t["c"]}}, 1)
    run_git("add", ".", cwd=repo)
    run_git("commit", "-qm", "v1", cwd=repo)
    c = t["c"].copy()
    c[2, 3] += 1.0
    d = np.ones((2, 2), np.float32)
    write_sharded(repo, {s1: {"a": t["a"]}, s2: {"b": t["b"], "c": c, "d": d}}, 2)
    return repo


def check_model_diff(file: dict[str, object]) -> None:
    assert file["path"] == INDEX and file["format"] == "safetensors, 2 shards"
    assert [t["name"] for t in file["added"]] == ["d"]  # type: ignore[attr-defined]
    [changed] = file["changed"]  # type: ignore[misc]
    assert (changed["name"], changed["changed"], changed["max_abs_change"]) == ("c", 1, 1.0)
    assert file["unchanged"] == 2 and file["note"] == "1 tensors moved to another shard"
    assert file["metadata"]["step"] == {"old": 1, "new": 2}  # type: ignore[index]


def test_diff_follows_tensors_across_shards(sharded: Path) -> None:
    [file] = json.loads(git_model("diff", "--json", cwd=sharded).stdout)["files"]  # worktree
    check_model_diff(file)
    run_git("add", ".", cwd=sharded)
    [file] = json.loads(git_model("diff", "--json", "--cached", cwd=sharded).stdout)["files"]
    check_model_diff(file)
    run_git("commit", "-qm", "v2", cwd=sharded)
    for revs in (["HEAD~1", "HEAD"], ["HEAD~1..HEAD"], ["HEAD~1"]):
        [file] = json.loads(git_model("diff", "--json", *revs, cwd=sharded).stdout)["files"]
        check_model_diff(file)
    text = git_model("diff", "HEAD~1", cwd=sharded).stdout.decode()
    assert f"model diff {INDEX} (safetensors, 2 shards)" in text
    index_oids = [hashlib.sha256(run_git("show", f"{rev}:{INDEX}", cwd=sharded).stdout)
                  .hexdigest()[:12] for rev in ("HEAD~1", "HEAD")]  # fmt: skip
    assert f"  oid  {index_oids[0]} -> {index_oids[1]}\n" in text  # not "(worktree)"
    assert "tensors 3 -> 4: 1 added, 0 removed, 1 changed, 2 unchanged" in text
    assert "~ c  F32 [8, 4]  changed 3.12% of elements" in text


def test_only_one_shard_changed_is_still_a_model_diff(sharded: Path) -> None:
    run_git("add", ".", cwd=sharded)
    run_git("commit", "-qm", "v2", cwd=sharded)
    shard = sharded / "m" / "model-00001-of-00002.safetensors"
    from safetensors.numpy import save_file

    save_file({"a": np.zeros((8, 4), np.float32)}, str(shard))
    [file] = json.loads(git_model("diff", "--json", cwd=sharded).stdout)["files"]
    assert file["path"] == INDEX and [c["name"] for c in file["changed"]] == ["a"]
    assert file["unchanged"] == 3 and file["new"]["tensors"] == 4


def test_inspect_a_sharded_model(sharded: Path) -> None:
    out = git_model("inspect", INDEX, cwd=sharded).stdout.decode().splitlines()
    assert out[:3] == ["format safetensors, 2 shards", out[1], "tensors 4"]
    assert "shards 2" in out and "  b  F32 [8, 4]  (model-00002-of-00002.safetensors)" in out
    data = json.loads(git_model("inspect", INDEX + "@HEAD", "--json", cwd=sharded).stdout)
    assert {t["name"]: t["shard"] for t in data["tensors"]} == {
        "a": "m/model-00001-of-00002.safetensors", "b": "m/model-00001-of-00002.safetensors",
        "c": "m/model-00002-of-00002.safetensors",
    }  # fmt: skip
    assert data["parameters"] == 96 and data["metadata"]["step"] == 1


def test_inspect_at_a_revision_needs_no_worktree(sharded: Path, tmp_path: Path) -> None:
    """In a bare clone, PATH@REV reads the blob at REV and the object (fetched into the
    clone's own store), paths named from the top; a worktree file is a clear error."""
    bare = tmp_path / "bare.git"
    run_git("clone", "-q", "--bare", str(sharded), str(bare), cwd=tmp_path)
    data = json.loads(git_model("inspect", INDEX + "@HEAD", "--json", cwd=bare).stdout)
    assert data["parameters"] == 96 and data["metadata"]["step"] == 1
    shard = "m/model-00002-of-00002.safetensors"
    out = git_model("inspect", f"./{shard}@main", cwd=bare / "refs").stdout.decode()
    assert out.splitlines()[:3] == ["format safetensors", out.splitlines()[1], "tensors 1"]
    assert store_oids(bare)  # read from the bare clone's own store
    for spec, lines in (
        (shard, [f"gitmodel: error: {shard}: a bare repository has no worktree file to read",
                 f"hint: name a revision, as in git model inspect {shard}@HEAD"]),
        (f"../{shard}@HEAD", [f"gitmodel: error: ../{shard} is not a path inside the repository",
                              "hint: in a bare repository, name a file from the top of the "
                              "tree, as in git model inspect models/model.safetensors@HEAD"]),
    ):  # fmt: skip
        proc = git_model("inspect", spec, cwd=bare, check=False)
        assert proc.returncode == 1 and proc.stderr.decode().splitlines() == lines


def test_inspect_a_sharded_model_not_yet_added(repo: Path) -> None:
    t = tensors()
    write_sharded(repo, {"one.safetensors": {"a": t["a"]}, "two.safetensors": {"b": t["b"]}}, 1)
    out = git_model("inspect", "model.safetensors.index.json", cwd=repo / "m").stdout.decode()
    assert "shards 2" in out and "  b  F32 [8, 4]  (two.safetensors)" in out


@pytest.mark.parametrize(
    ("index", "message"),
    [
        (b"[]", "no weight_map"),
        (b"{not json", "not JSON"),
        (b'{"weight_map": {"a": "../x.safetensors"}}', "outside its folder"),
        (b'{"weight_map": {"a": "/etc/passwd"}}', "outside its folder"),
        (b'{"weight_map": {"a": "sub/./x"}}', "outside its folder"),
        (b'{"weight_map": {"a": "x\\\\y"}}', "outside its folder"),
        (b'{"weight_map": {"a": 3}}', "outside its folder"),
        (b'{"weight_map": {"": "x.safetensors"}}', "names a tensor"),
        (b"[" * 100_000 + b"]" * 100_000, "not JSON"),
    ],
    ids=["list", "json", "dotdot", "absolute", "dot", "backslash", "number", "empty", "deep"],
)  # fmt: skip
def test_hostile_indexes_are_refused(index: bytes, message: str) -> None:
    with pytest.raises(FormatError, match=message):
        parse_index(index)


def test_a_bad_index_or_a_symlinked_shard_is_a_note_and_shards_diff_alone(sharded: Path) -> None:
    (sharded / INDEX).write_text(json.dumps({"weight_map": {"a": "../../outside.safetensors"}}))
    files = json.loads(git_model("diff", "--json", cwd=sharded).stdout)["files"]
    notes = {f["path"]: f["note"] for f in files}
    assert "outside its folder" in notes[INDEX]
    assert {"m/model-00001-of-00002.safetensors", "m/model-00002-of-00002.safetensors"} <= set(
        notes
    )  # each shard diffed alone
    outside = sharded.parent / "outside.safetensors"
    weight_map = {"a": "model-00001-of-00002.safetensors", "z": "model-00002-of-00002.safetensors"}
    (sharded / INDEX).write_text(json.dumps({"weight_map": weight_map}))
    files = json.loads(git_model("diff", "--json", cwd=sharded).stdout)["files"]
    [note] = [f["note"] for f in files if f["path"] == INDEX]
    assert note == f"{INDEX} puts 'z' in model-00002-of-00002.safetensors, which lacks it"
    os.replace(sharded / "m" / "model-00002-of-00002.safetensors", outside)
    os.symlink(outside, sharded / "m" / "model-00002-of-00002.safetensors")
    weight_map = {"a": "model-00001-of-00002.safetensors", "c": weight_map.pop("z")}
    (sharded / INDEX).write_text(json.dumps({"weight_map": weight_map}))
    files = json.loads(git_model("diff", "--json", cwd=sharded).stdout)["files"]
    [note] = [f["note"] for f in files if f["path"] == INDEX]
    assert note.startswith("shard m/model-00002-of-00002.safetensors named in")
    assert note.endswith("is missing")


def test_review_compares_the_sharded_model(sharded: Path) -> None:
    run_git("add", ".", cwd=sharded)
    run_git("commit", "-qm", "v2", cwd=sharded)
    registry = {"models": {"lm": {"paths": ["m"]}}}
    (sharded / ".gitmodel-registry.json").write_text(json.dumps(registry))
    run_git("add", ".gitmodel-registry.json", cwd=sharded)
    run_git("commit", "-qm", "registry", cwd=sharded)
    found = json.loads(git_model("review", "lm@v2", "--json", cwd=sharded).stdout)
    files = {f["path"]: f for f in found["files"]}
    model = files[INDEX]
    assert model["kind"] == "sharded model" and model["status"] == "changed"
    check_model_diff(model["diff"])
    for shard in ("m/model-00001-of-00002.safetensors", "m/model-00002-of-00002.safetensors"):
        assert files[shard]["shard_of"] == INDEX and files[shard]["diff"] is None
    assert found["summary"]["tensors"] == {"added": 1, "removed": 0, "changed": 1,
                                           "unchanged": 2}  # fmt: skip
    text = git_model("review", "lm@v2", cwd=sharded).stdout.decode()
    assert f"m/model-00001-of-00002.safetensors (shard of {INDEX}," in text


def test_a_checkpoint_sharded_by_transformers(repo: Path) -> None:
    """save_pretrained's shards and index; v2 changes one tensor and shards smaller, so
    most tensors move to another shard unchanged."""
    torch = pytest.importorskip("torch", reason="transformers needs torch to save a model")
    transformers = pytest.importorskip("transformers")
    config = transformers.GPT2Config(n_layer=2, n_embd=32, n_head=2, vocab_size=100,
                                     n_positions=16, bos_token_id=0, eos_token_id=0)  # fmt: skip
    torch.manual_seed(0)
    model = transformers.GPT2LMHeadModel(config)
    git_model("track", "*.safetensors", cwd=repo)
    model.save_pretrained(repo / "hf", max_shard_size="40KB")
    run_git("add", ".", cwd=repo)
    run_git("commit", "-qm", "v1", cwd=repo)
    with torch.no_grad():
        model.transformer.h[1].mlp.c_fc.weight[0, 0] += 1.0
    for old in (repo / "hf").glob("model-*.safetensors"):
        old.unlink()
    model.save_pretrained(repo / "hf", max_shard_size="20KB")
    run_git("add", "-A", ".", cwd=repo)
    run_git("commit", "-qm", "v2", cwd=repo)
    [file] = json.loads(git_model("diff", "--json", "HEAD~1", "HEAD", cwd=repo).stdout)["files"]
    saved = json.loads((repo / "hf" / "model.safetensors.index.json").read_text())["weight_map"]
    assert file["path"] == "hf/model.safetensors.index.json"
    assert [c["name"] for c in file["changed"]] == ["transformer.h.1.mlp.c_fc.weight"]
    assert file["changed"][0]["changed"] == 1
    assert file["changed"][0]["max_abs_change"] == pytest.approx(1.0, rel=1e-6)
    assert file["unchanged"] == len(saved) - 1 and not file["added"] and not file["removed"]
    assert "moved to another shard" in file["note"]
