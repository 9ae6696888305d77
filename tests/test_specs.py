"""``PATH[@REV]`` and ``NAME[@WHAT]``: one reading of each, in every command."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import build_repo, copy_of_template, git_model, git_out, run_git
from helpers.model_files import write_safetensors

from gitmodel.errors import UserError
from gitmodel.specs import (
    ModelSpec,
    PathSpec,
    parse_model_spec,
    parse_path_spec,
    unknown_rev_hint,
)

NAME = "model@v1.safetensors"  # a file whose name reads as PATH@REV


def exists_only(*paths: str) -> Any:
    return lambda path: path in paths


REVS = ("HEAD", "HEAD~1", "v2.0", "b", "@", "@{1}", "HEAD@{1}", "main@{2.days.ago}", "rel@2")


def parse(text: str, existing: tuple[str, ...] = (), revs: tuple[str, ...] = REVS) -> PathSpec:
    return parse_path_spec(text, exists=exists_only(*existing), is_rev=revs.__contains__)


# -- the parsers -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "existing", "revs", "expected"),
    [
        ("model.safetensors", (), REVS, PathSpec("model.safetensors")),
        ("model.safetensors@HEAD~1", (), REVS, PathSpec("model.safetensors", "HEAD~1")),
        # rule 1: a path that exists as written is that path
        (NAME, (NAME,), (*REVS, "v1.safetensors"), PathSpec(NAME)),
        ("x@", ("x@",), REVS, PathSpec("x@")),
        # rule 2: the last @ followed by a revision splits
        (NAME, (), (*REVS, "v1.safetensors"), PathSpec("model", "v1.safetensors")),
        (f"{NAME}@HEAD", (NAME,), REVS, PathSpec(NAME, "HEAD")),
        (f"{NAME}@HEAD~1", (), REVS, PathSpec(NAME, "HEAD~1")),
        ("sub/w.bin@v2.0", (), REVS, PathSpec("sub/w.bin", "v2.0")),
        ("a@@b", (), REVS, PathSpec("a@", "b")),
        ("w.bin@rel@2", (), REVS, PathSpec("w.bin", "rel@2")),  # a branch with an @
        ("w.bin@@", (), REVS, PathSpec("w.bin", "@")),
        # ... and the @ of a reflog suffix never splits
        ("model.bin@HEAD@{1}", (), REVS, PathSpec("model.bin", "HEAD@{1}")),
        ("model.bin@main@{2.days.ago}", (), REVS, PathSpec("model.bin", "main@{2.days.ago}")),
        ("model.bin@@{1}", (), REVS, PathSpec("model.bin", "@{1}")),
        (f"{NAME}@HEAD@{{1}}", (NAME,), REVS, PathSpec(NAME, "HEAD@{1}")),
        # rule 3: no revision after any @, so a path (that history may hold)
        (NAME, (), REVS, PathSpec(NAME)),
        ("model.bin@HEAD@{9}", (), REVS, PathSpec("model.bin@HEAD@{9}")),
        ("a@b@c", (), (), PathSpec("a@b@c")),
    ],
)
def test_path_spec(
    text: str, existing: tuple[str, ...], revs: tuple[str, ...], expected: PathSpec
) -> None:
    assert parse(text, existing, revs) == expected
    assert str(expected) == (text if expected.rev is not None else expected.path)


def test_git_is_asked_only_what_the_rule_needs() -> None:
    asked: list[str] = []

    def is_rev(rev: str) -> bool:
        asked.append(rev)
        return rev == "b@c"

    assert parse_path_spec("w.bin", exists=exists_only(), is_rev=is_rev) == PathSpec("w.bin")
    assert parse_path_spec("a@b", exists=exists_only("a@b"), is_rev=is_rev) == PathSpec("a@b")
    assert asked == []
    assert parse_path_spec("a@b@c", exists=exists_only(), is_rev=is_rev) == PathSpec("a", "b@c")
    assert asked == ["c", "b@c"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("x@", "no revision after '@' in 'x@'"),
        ("@", "no revision after '@' in '@'"),
        ("@HEAD", "no path before '@' in '@HEAD'"),
        ("@HEAD@{1}", "no path before '@' in '@HEAD@{1}'"),
        ("", "empty PATH[@REV]"),
    ],
)
def test_bad_path_spec(text: str, message: str) -> None:
    with pytest.raises(UserError) as info:
        parse(text)
    assert str(info.value) == message
    assert info.value.hint == "write PATH or PATH@REV, e.g. model.safetensors@HEAD~1"


@pytest.mark.parametrize(
    ("spec", "hint"),
    [
        (PathSpec(NAME), "'v1.safetensors' names no commit, so all of "
                         "'model@v1.safetensors' was read as a path"),
        (PathSpec("w.bin@HEAD@{9}"), "'HEAD@{9}' names no commit, so all of "
                                    "'w.bin@HEAD@{9}' was read as a path"),
        (PathSpec("w.bin"), None),
        (PathSpec(NAME, "HEAD"), None),
    ],
)  # fmt: skip
def test_unknown_rev_hint(spec: PathSpec, hint: str | None) -> None:
    assert unknown_rev_hint(spec) == hint


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


def build_two_versions(repo: Path) -> None:
    build_repo(repo)
    git_model("track", "*.safetensors", cwd=repo)
    for count in (4, 6):
        write_safetensors(repo / NAME, {"w": np.arange(count, dtype=np.float32)})
        run_git("add", ".", cwd=repo)
        run_git("commit", "-qm", f"{count} parameters", cwd=repo)


@pytest.fixture
def two_versions(tmp_path: Path) -> Path:
    """``model@v1.safetensors`` committed twice: 4 parameters, then 6 (a copy of a
    repository built once)."""
    return copy_of_template("two-versions", build_two_versions, tmp_path / "repo")


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


def test_without_the_file_or_such_a_revision_the_text_is_still_the_path(
    two_versions: Path,
) -> None:
    """Deleted from the worktree, ``model@v1.safetensors`` is still that path when no
    ``v1.safetensors`` revision exists: the commands that read history find it there,
    and inspect (the worktree's file) says what it read and why."""
    repo, new, old = two_versions, oid_at(two_versions, "HEAD"), oid_at(two_versions, "HEAD~1")
    (repo / NAME).unlink()
    log = model_json(repo, "log", NAME)
    assert log["path"] == NAME and [v["oid"] for v in log["versions"]] == [new, old]
    assert model_json(repo, "show", NAME)["oid"] == new
    assert [n["oid"] for n in model_json(repo, "lineage", NAME)["nodes"]] == [new]
    proc = git_model("inspect", NAME, cwd=repo, check=False)
    assert proc.returncode == 1
    assert proc.stderr.decode().splitlines() == [
        f"gitmodel: error: {NAME} is not a file",
        f"hint: 'v1.safetensors' names no commit, so all of '{NAME}' was read as a path",
    ]
    assert model_json(repo, "inspect", f"{NAME}@HEAD")["parameters"] == 6


def test_a_revision_named_like_the_suffix_splits_only_without_the_file(
    two_versions: Path,
) -> None:
    """With a tag ``v1.safetensors``, inspect and log read the file while it exists,
    and ``model`` at that tag once it is gone: both commands, the same reading."""
    repo = two_versions
    git_model("track", "model", cwd=repo)
    write_safetensors(repo / "model", {"w": np.arange(3, dtype=np.float32)})
    run_git("add", ".", cwd=repo)
    run_git("commit", "-qm", "a file called model", cwd=repo)
    run_git("tag", "v1.safetensors", cwd=repo)
    assert model_json(repo, "inspect", NAME)["parameters"] == 6
    assert model_json(repo, "log", NAME)["path"] == NAME
    (repo / NAME).unlink()
    assert model_json(repo, "inspect", NAME)["parameters"] == 3
    log = model_json(repo, "log", NAME)
    assert log["path"] == "model" and len(log["versions"]) == 1


def test_reflog_revisions_keep_their_at(two_versions: Path) -> None:
    """``PATH@HEAD@{1}``: the @ of Git's reflog syntax is the revision's, not a split."""
    repo, old = two_versions, oid_at(two_versions, "HEAD~1")
    spec = f"{NAME}@HEAD@{{1}}"
    assert model_json(repo, "inspect", spec)["parameters"] == 4
    log = model_json(repo, "log", spec)
    assert log["path"] == NAME and [v["oid"] for v in log["versions"]] == [old]
    assert model_json(repo, "show", spec)["oid"] == old


def test_reflog_dates_name_the_version_of_that_day(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``model.bin@main@{2.days.ago}``: the version main held two days ago."""
    repo = tmp_path / "dated"
    repo.mkdir()
    run_git("init", "-q", cwd=repo)
    git_model("install", "--local", cwd=repo)
    git_model("track", "*.bin", cwd=repo)
    now = int(time.time())
    for days, count in ((10, 4), (1, 6)):
        write_safetensors(repo / "model.bin", {"w": np.arange(count, dtype=np.float32)})
        run_git("add", ".", cwd=repo)
        monkeypatch.setenv("GIT_COMMITTER_DATE", f"@{now - days * 86400} +0000")
        run_git("commit", "-qm", f"{count} parameters", cwd=repo)
    monkeypatch.delenv("GIT_COMMITTER_DATE")
    spec = "model.bin@main@{2.days.ago}"
    assert model_json(repo, "inspect", spec)["parameters"] == 4
    assert [v["message"] for v in model_json(repo, "log", spec)["versions"]] == ["4 parameters"]
    assert model_json(repo, "inspect", "model.bin")["parameters"] == 6


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
