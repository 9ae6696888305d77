"""``PATH[@REV]`` and ``NAME[@WHAT]``: one reading of each, in every command."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import git_model, git_out, run_git
from helpers.model_files import write_safetensors

from gitmodel.errors import UserError
from gitmodel.specs import ModelSpec, PathSpec, parse_model_spec, parse_path_spec

NAME = "model@v1.safetensors"  # a file whose name reads as PATH@REV


def exists_only(*paths: str) -> Any:
    return lambda path: path in paths


# -- the parsers -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "existing", "expected"),
    [
        ("model.safetensors", (), PathSpec("model.safetensors")),
        ("model.safetensors@HEAD~1", (), PathSpec("model.safetensors", "HEAD~1")),
        (NAME, (NAME,), PathSpec(NAME)),  # exists as written: the path
        (NAME, (), PathSpec("model", "v1.safetensors")),  # does not: the last @ splits
        (f"{NAME}@HEAD", (NAME,), PathSpec(NAME, "HEAD")),  # a revision forces the split
        (f"{NAME}@HEAD~1", (), PathSpec(NAME, "HEAD~1")),
        ("a@@b", (), PathSpec("a@", "b")),
        ("x@", ("x@",), PathSpec("x@")),  # a file called x@ is that file
        ("sub/w.bin@v2.0", (), PathSpec("sub/w.bin", "v2.0")),
    ],
)
def test_path_spec(text: str, existing: tuple[str, ...], expected: PathSpec) -> None:
    assert parse_path_spec(text, exists_only(*existing)) == expected
    assert str(expected) == (text if expected.rev is not None else expected.path)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("x@", "no revision after '@' in 'x@'"),
        ("@HEAD", "no path before '@' in '@HEAD'"),
        ("@", "no path before '@' in '@'"),
        ("", "empty PATH[@REV]"),
    ],
)
def test_bad_path_spec(text: str, message: str) -> None:
    with pytest.raises(UserError) as info:
        parse_path_spec(text, exists_only())
    assert str(info.value) == message
    assert info.value.hint == "write PATH or PATH@REV, e.g. model.safetensors@HEAD~1"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("clf", ModelSpec("clf")),
        ("clf@v3", ModelSpec("clf", "v3")),
        ("clf@production", ModelSpec("clf", "production")),
        ("clf@HEAD@{1}", ModelSpec("clf", "HEAD@{1}")),  # the first @ ends the name
    ],
)
def test_model_spec(text: str, expected: ModelSpec) -> None:
    assert parse_model_spec(text) == expected
    assert str(expected) == text


@pytest.mark.parametrize(
    ("text", "message"),
    [("clf@", "nothing after '@' in 'clf@'"), ("@v1", "no model name in '@v1'"),
     ("", "no model name in ''")],
)  # fmt: skip
def test_bad_model_spec(text: str, message: str) -> None:
    with pytest.raises(UserError, match=f"^{message}$"):
        parse_model_spec(text)


# -- every command reads a PATH[@REV] the same way ---------------------------------


@pytest.fixture
def two_versions(repo: Path) -> Path:
    """``model@v1.safetensors`` committed twice: 4 parameters, then 6."""
    git_model("track", "*.safetensors", cwd=repo)
    for count in (4, 6):
        write_safetensors(repo / NAME, {"w": np.arange(count, dtype=np.float32)})
        run_git("add", ".", cwd=repo)
        run_git("commit", "-qm", f"{count} parameters", cwd=repo)
    return repo


def model_json(repo: Path, *args: str) -> Any:
    return json.loads(git_model(*args, "--json", cwd=repo).stdout)


def oid_at(repo: Path, rev: str) -> str:
    return git_out("cat-file", "blob", f"{rev}:{NAME}", cwd=repo).split("sha256:")[1].split()[0]


def test_a_file_named_like_path_at_rev_is_that_file_everywhere(two_versions: Path) -> None:
    repo, new, old = two_versions, oid_at(two_versions, "HEAD"), oid_at(two_versions, "HEAD~1")
    assert model_json(repo, "inspect", NAME)["parameters"] == 6
    log = model_json(repo, "log", NAME)
    assert log["path"] == NAME and [v["oid"] for v in log["versions"]] == [new, old]
    assert model_json(repo, "show", NAME)["oid"] == new
    nodes = model_json(repo, "lineage", NAME)["nodes"]
    assert [(n["path"], n["oid"]) for n in nodes] == [(NAME, new)]


def test_a_revision_after_the_name_picks_the_older_version(two_versions: Path) -> None:
    repo, old = two_versions, oid_at(two_versions, "HEAD~1")
    spec = f"{NAME}@HEAD~1"
    assert model_json(repo, "inspect", spec)["parameters"] == 4
    assert [v["oid"] for v in model_json(repo, "log", spec)["versions"]] == [old]
    assert model_json(repo, "show", spec)["oid"] == old
    assert [n["oid"] for n in model_json(repo, "lineage", spec)["nodes"]] == [old]
    git_model("annotate", spec, "--metric", "acc=0.5", cwd=repo)
    assert model_json(repo, "show", spec)["metrics"] == {"acc": 0.5}
    assert model_json(repo, "show", NAME)["metrics"] == {}


def test_relative_to_the_current_directory(two_versions: Path) -> None:
    sub = two_versions / "sub"
    sub.mkdir()
    run_git("mv", NAME, f"sub/{NAME}", cwd=two_versions)
    run_git("commit", "-qm", "move", cwd=two_versions)
    assert model_json(sub, "log", NAME)["path"] == f"sub/{NAME}"
    assert model_json(sub, "inspect", NAME)["parameters"] == 6
    assert model_json(sub, "show", f"{NAME}@HEAD")["path"] == f"sub/{NAME}"


def test_without_the_file_the_last_at_splits_in_every_command(two_versions: Path) -> None:
    """Deleted from the worktree, the same text is ``model`` at revision ``v1.safetensors``:
    every command says so alike, and writing the revision still names the file."""
    (two_versions / NAME).unlink()
    for command in ("inspect", "log", "show", "lineage"):
        proc = git_model(command, NAME, cwd=two_versions, check=False)
        assert proc.returncode == 1
        assert proc.stderr.decode().splitlines()[0] == (
            "gitmodel: error: unknown revision 'v1.safetensors'"
        ), command
        assert model_json(two_versions, command, f"{NAME}@HEAD")


BAD_SPECS = [("x@", "no revision after '@' in 'x@'"), ("@HEAD", "no path before '@' in '@HEAD'")]


@pytest.mark.parametrize(("spec", "message"), BAD_SPECS)
@pytest.mark.parametrize(
    "args",
    [["inspect"], ["log"], ["show"], ["lineage"], ["annotate", "--note", "n"],
     ["commit", "-m", "m", "--base"], ["record", "HEAD", "--data"]],
)  # fmt: skip
def test_a_bad_path_spec_is_one_error(
    two_versions: Path, args: list[str], spec: str, message: str
) -> None:
    proc = git_model(*args, spec, cwd=two_versions, check=False)
    assert proc.returncode == 2
    option = f"{args[-1]}: " if args[-1].startswith("--") else ""
    assert proc.stderr.decode().splitlines() == [
        f"gitmodel: error: {option}{message}",
        "hint: write PATH or PATH@REV, e.g. model.safetensors@HEAD~1",
    ]
    assert git_out("log", "--format=%s", "-1", cwd=two_versions) == "6 parameters\n"


@pytest.mark.parametrize(
    ("args", "message"),
    [(["promote", "clf@", "dev"], "nothing after '@' in 'clf@'"),
     (["checkout", "@v1"], "no model name in '@v1'"),
     (["resolve", "clf@"], "nothing after '@' in 'clf@'")],
)  # fmt: skip
def test_a_bad_model_spec_is_one_error(repo: Path, args: list[str], message: str) -> None:
    proc = git_model(*args, cwd=repo, check=False)
    assert proc.returncode == 2
    assert proc.stderr.decode().splitlines() == [
        f"gitmodel: error: {message}",
        "hint: write NAME, NAME@v3, NAME@STAGE or NAME@REV, e.g. clf@production",
    ]
