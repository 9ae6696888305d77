"""git model diff / inspect, the Git diff driver, and the Python API, through real Git."""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import struct
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from conftest import git_model, git_out, run, run_git
from helpers.model_files import (
    torch_dict,
    torch_view,
    write_gguf,
    write_safetensors,
    write_torch_storages,
    write_torch_zip,
)

import gitmodel
from gitmodel.pointer import Pointer, try_parse
from gitmodel.store.local import LocalStore

# torch.save before 1.6: a pickle (protocol 2) of this magic number first
LEGACY_TORCH_MAGIC = pickle.dumps(0x1950A86A20F9469CFC6C, protocol=2)[:-1]
CHANGED = ("layer.3.weight", "layer.17.bias", "layer.30.weight")


def pointer_oid(repo: Path, blob: str) -> str:
    pointer = try_parse(run_git("cat-file", "blob", blob, cwd=repo).stdout)
    assert pointer is not None
    return pointer.oid


def forty_tensors() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(7)
    tensors = {}
    for i in range(20):
        tensors[f"layer.{i}.weight"] = rng.standard_normal((16, 8 + i)).astype(np.float32)
        tensors[f"layer.{i}.bias"] = rng.standard_normal(8 + i).astype(np.float32)
    for i in range(20, 31, 10):
        tensors[f"layer.{i}.weight"] = tensors.pop(f"layer.{i - 10}.weight") * 2
    return tensors


@pytest.fixture
def model_repo(repo: Path) -> tuple[Path, dict[str, np.ndarray], dict[str, np.ndarray]]:
    git_model("track", "*.safetensors", "*.gguf", "*.npz", cwd=repo)
    old = forty_tensors()
    assert len(old) == 40
    new = {name: array.copy() for name, array in old.items()}
    new["layer.3.weight"] += np.float32(0.01)  # every element
    new["layer.17.bias"][5] = 42.0  # one element
    new["layer.30.weight"][:4] *= np.float32(1.5)  # a quarter of the rows
    new["head.weight"] = np.ones((4, 8), np.float32)  # added
    write_safetensors(repo / "m.safetensors", old, {"step": "1"})
    run_git("add", ".", cwd=repo)
    run_git("commit", "-qm", "v1", cwd=repo)
    write_safetensors(repo / "m.safetensors", new, {"step": "2"})
    return repo, old, new


def check_norms(changes: list[dict[str, object]], old: dict[str, np.ndarray],
                new: dict[str, np.ndarray]) -> None:  # fmt: skip
    for change in changes:
        name = str(change["name"])
        a, b = old[name].astype(np.float64), new[name].astype(np.float64)
        delta = b - a
        assert change["changed"] == np.count_nonzero(delta)
        assert change["fraction_changed"] == pytest.approx(np.count_nonzero(delta) / a.size)
        assert change["delta_l2"] == pytest.approx(np.linalg.norm(delta), rel=1e-9)
        expected = np.linalg.norm(delta) / np.linalg.norm(a)
        assert change["relative_l2"] == pytest.approx(expected, rel=1e-9)
        assert change["max_abs_change"] == pytest.approx(np.abs(delta).max(), rel=1e-12)


def test_forty_tensors_three_changed_one_added(model_repo: tuple[Path, dict, dict]) -> None:
    repo, old, new = model_repo
    worktree = json.loads(git_model("diff", "--json", cwd=repo).stdout)
    run_git("add", ".", cwd=repo)
    run_git("commit", "-qm", "v2", cwd=repo)
    committed = json.loads(
        git_model("diff", "HEAD~1", "HEAD", "--json", "--", "m.safetensors", cwd=repo).stdout
    )
    for report in (worktree, committed):
        [file] = report["files"]
        assert file["path"] == "m.safetensors" and file["format"] == "safetensors"
        assert [t["name"] for t in file["added"]] == ["head.weight"]
        assert file["removed"] == []
        assert sorted(c["name"] for c in file["changed"]) == sorted(CHANGED)
        assert file["unchanged"] == 37
        assert file["metadata"] == {"step": {"old": "1", "new": "2"}}
        assert file["old"]["parameters"] == sum(a.size for a in old.values())
        assert file["new"]["parameters"] == sum(a.size for a in new.values())
        check_norms(file["changed"], old, new)
    assert committed["files"][0]["old"]["oid"] != committed["files"][0]["new"]["oid"]
    # clean wrote tensor digests beside each object; lost ones are rebuilt on use
    sidecars = sorted((repo / ".git" / "model" / "digests").glob("*/*/*.json"))
    assert sorted(p.name.removesuffix(".json") for p in sidecars) == sorted(
        pointer_oid(repo, f"{rev}:m.safetensors") for rev in ("HEAD~1", "HEAD")
    )
    for sidecar in sidecars:
        sidecar.unlink()
    again = json.loads(git_model("diff", "HEAD~1", "HEAD", "--json", cwd=repo).stdout)
    assert again == committed
    assert len(list((repo / ".git" / "model" / "digests").glob("*/*/*.json"))) == 2


def test_git_diff_show_and_log_print_the_tensor_summary(model_repo: tuple[Path, dict, dict]
                                                        ) -> None:  # fmt: skip
    repo, _, _ = model_repo
    text = git_out("diff", cwd=repo)
    assert "tensors 40 -> 41: 1 added, 0 removed, 3 changed, 37 unchanged" in text
    assert "+ head.weight  F32 [4, 8]" in text
    assert "~ layer.17.bias  F32 [25]  changed 4.00% of elements" in text
    run_git("add", ".", cwd=repo)
    run_git("commit", "-qm", "v2", cwd=repo)
    for command in (["show"], ["log", "-p", "-1"]):
        shown = git_out(*command, cwd=repo)
        assert "+  head.weight  F32 [4, 8]  xxh3:" in shown
        changed = {line.split()[1] for line in shown.splitlines() if line.startswith("+  layer")}
        assert changed == set(CHANGED)
        assert "Binary files" not in shown


@pytest.mark.parametrize("kind", ["legacy", "other-objects"])
def test_git_show_of_a_refused_checkpoint_shows_size_and_oid(repo: Path, kind: str) -> None:
    git_model("track", "*.pt", cwd=repo)
    oids = []
    for step in range(2):
        if kind == "legacy":  # torch.save before 1.6: a bare pickle, never loaded
            data = LEGACY_TORCH_MAGIC + pickle.dumps({"step": step}, protocol=2)
        else:  # a zip checkpoint whose pickle holds an object torch refuses too
            state = torch_dict({"w": torch_view("0", "float32", 8, 0, (2,), (1,)),
                                "f": b"c__builtin__\nfrozenset\n)R"})  # fmt: skip
            write_torch_storages(repo / "m.pt", state, {"0": struct.pack("<2f", step, 1)})
            data = (repo / "m.pt").read_bytes()
        (repo / "m.pt").write_bytes(data)
        oids.append(hashlib.sha256(data).hexdigest())
        run_git("add", ".", cwd=repo)
        run_git("commit", "-qm", f"v{step}", cwd=repo)
    for command in (["show"], ["log", "-p", "-1"]):
        shown = git_out(*command, cwd=repo)
        assert f"-oid sha256:{oids[0]}" in shown and f"+oid sha256:{oids[1]}" in shown
        assert " note: " in shown  # why it is not read, on both sides
    assert "oid sha256:" in git_out("show", "HEAD~1", cwd=repo)


def write_gguf_with_arrays(path: Path, scores: list[float], tokens: list[str]) -> None:
    """A GGUF file written by gguf-py (llama.cpp's writer), with array metadata."""
    gguf = pytest.importorskip("gguf")
    writer = gguf.GGUFWriter(str(path), "llama")
    writer.add_array("tokenizer.ggml.scores", scores)
    writer.add_array("tokenizer.ggml.tokens", tokens)
    writer.add_tensor("w", np.ones((2, 3), np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


def test_gguf_arrays_are_compared_whole_and_emitted_as_arrays(repo: Path) -> None:
    git_model("track", "*.gguf", cwd=repo)
    scores, tokens = [float(i) for i in range(100)], [f"t{i}" for i in range(20)]
    write_gguf_with_arrays(repo / "m.gguf", scores, tokens)
    run_git("add", ".", cwd=repo)
    run_git("commit", "-qm", "v1", cwd=repo)
    tokens[15] = "changed"
    scores[15] = -1.0
    write_gguf_with_arrays(repo / "m.gguf", scores, tokens)
    run_git("add", ".", cwd=repo)
    run_git("commit", "-qm", "v2", cwd=repo)
    [file] = json.loads(git_model("diff", "--json", "HEAD~1", "HEAD", cwd=repo).stdout)["files"]
    meta = file["metadata"]
    assert meta["tokenizer.ggml.tokens"]["new"] == tokens  # short: the whole array
    assert meta["tokenizer.ggml.tokens"]["old"][15] == "t15"
    long = meta["tokenizer.ggml.scores"]  # long: length and digest, and where they differ
    assert long["old"]["items"] == 100 and long["old"]["xxh3"] != long["new"]["xxh3"]
    assert (long["items_differing"], long["first_difference"]) == (1, 15)
    text = git_model("diff", "HEAD~1", "HEAD", cwd=repo).stdout.decode()
    assert "metadata tokenizer.ggml.tokens: array of 20 -> 20 items, 1 differ, the first [15]:" \
        " t15 -> changed" in text  # fmt: skip
    shown = git_out("show", cwd=repo)  # the textconv: a line per key shows the change
    assert "-  tokenizer.ggml.tokens = (20 items, xxh3:" in shown
    assert "+  tokenizer.ggml.scores = (100 items, xxh3:" in shown
    inspected = json.loads(git_model("inspect", "m.gguf", "--json", cwd=repo).stdout)
    assert inspected["metadata"]["tokenizer.ggml.scores"] == scores


def test_unknown_format_gets_byte_ranges(repo: Path) -> None:
    data = bytearray(b"\x01" * 10_000)
    (repo / "w.bin").write_bytes(data)
    run_git("add", ".", cwd=repo)
    run_git("commit", "-qm", "v1", cwd=repo)
    data[100:110] = b"\x02" * 10
    data[5000] = 9
    (repo / "w.bin").write_bytes(bytes(data) + b"tail")
    [file] = json.loads(git_model("diff", "--json", cwd=repo).stdout)["files"]
    assert file["format"] is None
    assert file["byte_ranges"] == [[100, 110], [5000, 5001], [10_000, 10_004]]
    assert file["bytes_differing"] == 15
    assert "@ bytes 100-109 (10 B)" in git_model("diff", cwd=repo).stdout.decode()


def test_an_empty_model_file_is_shown_empty_not_as_the_worktree(repo: Path) -> None:
    """An empty model file has no pointer, so no oid: its committed or staged side is
    "(empty)", where it was shown as "(worktree)" even on the index's side."""
    (repo / "e.bin").write_bytes(b"")
    run_git("add", ".", cwd=repo)
    run_git("commit", "-qm", "empty", cwd=repo)
    (repo / "e.bin").write_bytes(b"now data")
    assert "  oid  (empty) -> (worktree)\n" in git_model("diff", cwd=repo).stdout.decode()
    run_git("commit", "-qam", "filled", cwd=repo)
    out = git_model("diff", "HEAD~1", "HEAD", cwd=repo).stdout.decode()
    oid = hashlib.sha256(b"now data").hexdigest()
    assert f"  oid  (empty) -> {oid[:12]}\n" in out, out


def test_inspect_safetensors_gguf_npz_and_history(model_repo: tuple[Path, dict, dict]) -> None:
    repo, _, _ = model_repo
    out = git_model("inspect", "m.safetensors@HEAD", cwd=repo).stdout.decode().splitlines()
    assert out[:4] == ["format safetensors", out[1], "tensors 40", f"parameters {out[3][11:]}"]
    assert "  step = 1" in out and "  layer.0.weight  F32 [16, 8]" in out
    now = json.loads(git_model("inspect", "m.safetensors", "--json", cwd=repo).stdout)
    assert now["metadata"] == {"step": "2"} and len(now["tensors"]) == 41
    write_gguf(repo / "m.gguf", {"general.architecture": "llama"},
               {"tok": np.ones((3, 4), np.float32), "h": np.ones(4, np.float16)})  # fmt: skip
    np.savez_compressed(repo / "d.npz", x=np.arange(10), y=np.ones((2, 2)))
    gguf = json.loads(git_model("inspect", "m.gguf", "--json", cwd=repo).stdout)
    assert gguf["format"] == "gguf" and gguf["metadata"]["general.architecture"] == "llama"
    assert gguf["parameters_by_dtype"] == {"F16": 4, "F32": 12}
    npz = json.loads(git_model("inspect", "d.npz", "--json", cwd=repo).stdout)
    assert [(t["name"], t["dtype"], t["shape"]) for t in npz["tensors"]] == [
        ("x", "I64", [10]), ("y", "F64", [2, 2])
    ]  # fmt: skip


BAD_INPUT = [
    (["inspect", "nothere.safetensors"], "nothere.safetensors is not a file"),
    (["inspect", "m.safetensors@nosuchrev"], "hint: 'nosuchrev' names no commit"),
    (["inspect", "gone.bin@HEAD"], "gone.bin is not in HEAD"),
    (["inspect", "bad.safetensors"], "safetensors header is not JSON"),
    (["inspect", "evil.pt"], "unsupported PyTorch checkpoint"),
    (["diff", "nosuchrev"], "unknown revision 'nosuchrev'"),
    (["diff", "--output=/tmp/x"], "No such option"),
    (["diff", "HEAD", "HEAD", "HEAD"], "too many revisions"),
    (["diff", "--", "../x"], "'../x' is outside the repository"),
    (["diff", "--cached", "HEAD", "--", "../x"], "'../x' is outside the repository"),
]


def test_bad_input_gets_one_line_and_a_hint(repo: Path) -> None:
    write_safetensors(repo / "m.safetensors", {"a": np.ones(2, np.float32)})
    run_git("add", ".", cwd=repo)
    run_git("commit", "-qm", "v1", cwd=repo)
    (repo / "bad.safetensors").write_bytes(b"\x08" + b"\0" * 7 + b"{garbage")
    write_torch_zip(repo / "evil.pt", {}, b"\x80\x02cposix\nsystem\nX\x04\x00\x00\x00trueR.")
    for args, message in BAD_INPUT:
        proc = git_model(*args, cwd=repo, check=False)
        err = proc.stderr.decode()
        assert proc.returncode in (1, 2) and message in err, (args, err)
        assert "Traceback" not in err
        if proc.returncode == 1:
            assert err.splitlines()[1].startswith("hint: "), err


def test_hostile_model_files_are_added_and_diffed_as_notes(repo: Path) -> None:
    """A header no reader accepts is still a file to commit; its diff is a note (saying
    which side), the other files' diffs still show, and names print escaped."""
    git_model("track", "*.safetensors", "*.npz", cwd=repo)
    write_safetensors(repo / "m.safetensors", {"a": np.ones(2, np.float32)})
    write_safetensors(repo / "x.safetensors", {"a": np.ones(2, np.float32)})
    rng = np.random.default_rng(3)
    big = rng.standard_normal(100_000).astype(np.float32)
    np.savez_compressed(repo / "c.npz", x=big)
    run_git("add", ".", cwd=repo)
    run_git("commit", "-qm", "v1", cwd=repo)
    text = b'{"a": {"dtype": "F32", "shape": [Infinity], "data_offsets": [0, 4]}}'
    (repo / "m.safetensors").write_bytes(struct.pack("<Q", len(text)) + text + bytes(4))
    write_safetensors(repo / "x.safetensors", {"a\x1b[2J\n": np.zeros(2, np.float32)})
    big[5] = 7
    np.savez_compressed(repo / "c.npz", x=big)
    damaged = bytearray((repo / "c.npz").read_bytes())
    damaged[len(damaged) // 2] ^= 0x55  # inside x's compressed data, past its header
    (repo / "c.npz").write_bytes(damaged)
    run_git("add", ".", cwd=repo)  # the clean filter takes what it cannot read as it is
    for command in (["git-model", "diff", "--cached"], ["git", "diff", "--cached"]):
        proc = run(command, repo)
        out, err = proc.stdout.decode(), proc.stderr.decode()
        assert "Traceback" not in out + err and "\x1b" not in out, (command, out, err)
        assert "note: new version: tensor 'a' has a malformed shape" in out, out
        assert "+ a\\x1b[2J\\n  F32 [2]" in out  # escaped, on one line
        assert "note: tensor 'x' is damaged: Bad CRC-32" in out
    run_git("commit", "-qm", "v2", cwd=repo)
    shown = git_out("show", cwd=repo)  # line by line, through the textconv
    assert "\x1b" not in shown and "+  a\\x1b[2J\\n  F32 [2]  xxh3:" in shown


def test_diff_cached_before_the_first_commit_shows_all_as_added(tmp_path: Path) -> None:
    run_git("init", "-q", str(tmp_path), cwd=tmp_path)
    git_model("install", "--local", cwd=tmp_path)
    git_model("track", "*.safetensors", cwd=tmp_path)
    write_safetensors(tmp_path / "m.safetensors", {"a": np.ones(2, np.float32)})
    run_git("add", ".", cwd=tmp_path)
    shown = git_model("diff", "--cached", cwd=tmp_path).stdout.decode()
    assert "model diff m.safetensors (safetensors)" in shown and "+ a  F32 [2]" in shown


def test_a_rename_names_both_paths(repo: Path) -> None:
    git_model("track", "*.safetensors", cwd=repo)
    write_safetensors(repo / "old.safetensors", {"a": np.ones(2, np.float32)})
    run_git("add", ".", cwd=repo)
    run_git("commit", "-qm", "v1", cwd=repo)
    run_git("mv", "old.safetensors", "new.safetensors", cwd=repo)
    shown = git_out("diff", "--cached", "-M", cwd=repo)
    assert shown.startswith("diff --git a/old.safetensors b/new.safetensors\n"), shown
    assert "rename from old.safetensors\nrename to new.safetensors\n" in shown
    assert "model diff old.safetensors -> new.safetensors (safetensors)" in shown
    assert "1 unchanged" in shown
    ours = git_model("diff", "--cached", cwd=repo).stdout.decode()  # one file, not two
    assert ours.startswith("model diff old.safetensors -> new.safetensors (safetensors)\n")
    assert ours.count("model diff") == 1 and "1 unchanged" in ours
    [file] = json.loads(git_model("diff", "--cached", "--json", cwd=repo).stdout)["files"]
    assert (file["old_path"], file["path"], file["unchanged"]) == (
        "old.safetensors", "new.safetensors", 1)  # fmt: skip


def test_install_configures_and_uninstall_removes_the_driver(repo: Path) -> None:
    assert git_out("config", "diff.model.command", cwd=repo).strip() == "git-model diff-driver"
    assert git_out("config", "diff.model.textconv", cwd=repo).strip() == "git-model textconv"
    git_model("uninstall", "--local", cwd=repo)
    assert run_git("config", "--get-regexp", "^diff\\.model", cwd=repo, check=False).stdout == b""


def test_api_never_reads_an_object_longer_than_its_pointer(repo: Path, tmp_path: Path) -> None:
    """A store object grown by hand (bytes appended) is set aside and fetched again: the
    reader gets the pointer's bytes, never the extra ones."""
    origin = tmp_path / "origin.git"
    run_git("init", "-q", "--bare", str(origin), cwd=tmp_path)
    run_git("remote", "add", "origin", str(origin), cwd=repo)
    data = os.urandom(3 << 20)  # a loose object: the path a reader gets is the store's own
    (repo / "m.bin").write_bytes(data)
    run_git("add", "m.bin", cwd=repo)
    run_git("commit", "-qm", "m", cwd=repo)
    run_git("push", "-q", "origin", "HEAD", cwd=repo)
    store = LocalStore(repo / ".git" / "model")
    held = store.object_path(hashlib.sha256(data).hexdigest())
    held.chmod(0o644)
    with held.open("ab") as f:
        f.write(b"appended by hand")
    with gitmodel.open("m.bin", rev="HEAD", repo=repo) as f:
        assert f.read() == data
    assert gitmodel.path("m.bin", rev="HEAD", repo=repo).read_bytes() == data
    assert len(list(store.bad_dir.iterdir())) == 1


def test_api_reads_old_versions_from_a_fresh_clone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    origin = tmp_path / "origin.git"
    run_git("init", "-q", "--bare", str(origin), cwd=tmp_path)
    git_model("install", cwd=tmp_path)
    author = tmp_path / "author"
    run_git("clone", "-q", str(origin), str(author), cwd=tmp_path)
    git_model("track", "*.safetensors", cwd=author)
    versions = []
    for step in range(3):
        tensors = {"w": np.full((64, 64), step, np.float32), "b": np.arange(step + 1.0)}
        write_safetensors(author / "m.safetensors", tensors)
        (author / "notes.txt").write_text(f"note {step}\n")
        versions.append((author / "m.safetensors").read_bytes())
        run_git("add", ".", cwd=author)
        run_git("commit", "-qm", f"v{step}", cwd=author)
    run_git("push", "-q", "origin", "main", cwd=author)
    clone = tmp_path / "clone"
    run_git("clone", "-q", str(origin), str(clone), cwd=tmp_path)
    old = pointer_oid(clone, "HEAD~2:m.safetensors")
    assert not LocalStore(clone / ".git" / "model").has(old)  # only HEAD was checked out
    monkeypatch.chdir(clone)
    with gitmodel.open("m.safetensors", rev="HEAD~2") as f:
        assert f.read() == versions[0]
    assert gitmodel.path("m.safetensors", rev="HEAD~1", repo=clone).read_bytes() == versions[1]
    assert gitmodel.path("m.safetensors", repo=clone).read_bytes() == versions[2]
    with gitmodel.open(clone / "m.safetensors", repo=clone) as f:
        assert f.read() == versions[2]
    with gitmodel.open("notes.txt", rev="HEAD~2", repo=clone) as f:
        assert f.read() == b"note 0\n"
    with pytest.raises(FileNotFoundError):
        gitmodel.open("missing.safetensors", rev="HEAD", repo=clone)
    with pytest.raises(gitmodel.errors.UserError, match="not a model file"):
        gitmodel.path("notes.txt", rev="HEAD", repo=clone)
    with pytest.raises(gitmodel.errors.UserError, match="outside the repository"):
        gitmodel.open("../author/m.safetensors", repo=clone)
    with pytest.raises(gitmodel.errors.UserError, match="missing is not a folder"):
        gitmodel.open("m.safetensors", repo=tmp_path / "missing")
    with pytest.raises(gitmodel.errors.UserError, match="not in a Git repository"):
        gitmodel.resolve("clf", "production", repo=tmp_path)


def test_missing_object_is_an_error_for_diff_and_a_note_for_git(repo: Path) -> None:
    git_model("track", "*.safetensors", cwd=repo)
    for step in range(2):
        # over 1 MiB, so that the store keeps it as a file of its own
        write_safetensors(repo / "m.safetensors", {"w": np.full(300_000, step, np.float32)})
        run_git("add", ".", cwd=repo)
        run_git("commit", "-qm", f"v{step}", cwd=repo)
    oid = pointer_oid(repo, "HEAD~1:m.safetensors")
    LocalStore(repo / ".git" / "model").object_path(oid).unlink()
    proc = git_model("diff", "HEAD~1", "HEAD", cwd=repo, check=False)
    assert proc.returncode == 1
    assert proc.stderr.decode().splitlines()[0] == (
        f"gitmodel: error: object {oid} is not in the local store for m.safetensors"
    )
    # Git smudges both sides before it runs a diff driver (and so stops at a missing
    # object as checkout would); with smudge skipped, the driver gets the pointers,
    # reads the store itself and notes what is missing
    env = {**os.environ, "GIT_MODEL_SKIP_SMUDGE": "1"}
    shown = run_git("show", "HEAD", cwd=repo, env=env).stdout.decode()
    assert f"-note: object {oid} is not in the local store" in shown
    assert "+  w  F32 [300000]  xxh3:" in shown
    assert "3 changed" not in run_git("diff", "HEAD~1", "HEAD", cwd=repo, env=env).stdout.decode()


def test_objects_kept_in_no_file_of_their_own_are_exported(tmp_path: Path) -> None:
    """A store may keep small objects in packs: readers then get a verified copy."""
    from gitmodel.resolver import Resolver
    from gitmodel.workspace import open_repo

    class PackedStore(LocalStore):
        """Holds objects somewhere other than objects/ab/cd/<oid>."""

        packed: dict[str, bytes]

        def has(self, oid: str) -> bool:
            return oid in self.packed

        def read(self, pointer: Pointer, path: str | None = None, hint: str | None = None
                 ) -> Iterator[bytes]:  # fmt: skip
            return iter([self.packed[pointer.oid]])

    run_git("init", "-q", "r", cwd=tmp_path)
    git_repo, _ = open_repo(tmp_path / "r")
    store = PackedStore(git_repo.model_dir)
    data = b"packed bytes"
    pointer = Pointer(hashlib.sha256(data).hexdigest(), len(data))
    store.packed = {pointer.oid: data}
    exported = Resolver(git_repo, store, tmp_path).object(pointer)
    assert exported == git_repo.model_dir / "export" / pointer.oid
    assert exported.read_bytes() == data
    assert not store.object_path(pointer.oid).exists()
