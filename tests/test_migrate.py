"""``git model migrate``: import rewrites history into pointers, export takes it back."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from conftest import git_model, git_out, run_git

from gitmodel.pointer import try_parse

LINE = "*.bin filter=model diff=model merge=model -text\n"


def write(repo: Path, name: str, data: bytes) -> None:
    (repo / name).parent.mkdir(parents=True, exist_ok=True)
    (repo / name).write_bytes(data)


@pytest.fixture
def history(tmp_path: Path) -> Path:
    """Plain Git history: big files on two branches, a merge, tags, an executable."""
    repo = tmp_path / "plain"
    run_git("init", "-q", str(repo), cwd=tmp_path)
    write(repo, ".gitattributes", b"*.txt text\n")
    write(repo, "run.sh", b"#!/bin/sh\necho hi\n")
    (repo / "run.sh").chmod(0o755)
    for i in range(6):
        write(repo, "model.bin", os.urandom(20_000 + i))
        write(repo, "data/deep/set.bin", os.urandom(5_000) if i % 2 else b"stable" * 900)
        write(repo, "notes.txt", f"version {i}\n".encode())
        write(repo, "empty.bin", b"")
        run_git("add", ".", cwd=repo)
        run_git("commit", "-qm", f"v{i}\n\nbody of {i}", cwd=repo)
        if i == 2:
            run_git("tag", "-a", "v2", "-m", "release two", cwd=repo)
            run_git("tag", "light", cwd=repo)
    run_git("switch", "-qc", "dev", "HEAD~2", cwd=repo)
    write(repo, "dev.bin", os.urandom(7_000))
    run_git("add", ".", cwd=repo)
    run_git("commit", "-qm", "dev work", cwd=repo)
    run_git("switch", "-q", "main", cwd=repo)
    run_git("merge", "-q", "--no-edit", "dev", cwd=repo)
    git_model("install", "--local", cwd=repo)
    return repo


def refs(repo: Path) -> str:
    return git_out("for-each-ref", "--format=%(refname) %(objectname)", cwd=repo)


def metadata(repo: Path) -> str:
    return git_out("log", "--all", "--format=%an %ae %ad %cn %ce %cd %B", cwd=repo)


def files_at(repo: Path, rev: str) -> dict[str, bytes]:
    out = {}
    for line in git_out("ls-tree", "-r", rev, cwd=repo).splitlines():
        meta, path = line.split("\t")
        out[path] = run_git("cat-file", "blob", meta.split()[2], cwd=repo).stdout
    return out


def test_import_everything_then_export_restores_every_commit(history: Path) -> None:
    before_refs, before_meta = refs(history), metadata(history)
    before_v2 = files_at(history, "v2")
    worktree = {p: (history / p).read_bytes() for p in files_at(history, "HEAD")}
    worktree[".gitattributes"] += LINE.encode()
    out = git_model("migrate", "import", "--include", "*.bin", "--everything", cwd=history)
    assert "updated 4 ref(s): refs/heads/dev, refs/heads/main, refs/tags/light, refs/tags/v2" in (
        out.stdout.decode()
    )
    assert metadata(history) == before_meta
    assert git_out("status", "--porcelain", cwd=history) == ""
    assert {p: (history / p).read_bytes() for p in worktree} == worktree
    for rev in git_out("rev-list", "--all", cwd=history).split():
        tree = files_at(history, rev)
        assert tree[".gitattributes"] == b"*.txt text\n" + LINE.encode()
        for path, data in tree.items():
            if path.endswith(".bin") and data:
                assert try_parse(data) is not None, (rev, path)
        assert tree["notes.txt"].startswith(b"version")
    assert git_out("cat-file", "-t", "v2", cwd=history).strip() == "tag"
    assert git_out("tag", "-l", "--format=%(contents)", "v2", cwd=history) == "release two\n\n"
    assert git_out("ls-tree", "HEAD", "run.sh", cwd=history).startswith("100755")
    run_git("checkout", "-q", "v2", cwd=history)
    for path, data in before_v2.items():
        if path != ".gitattributes":
            assert (history / path).read_bytes() == data, path
    run_git("checkout", "-q", "main", cwd=history)

    git_model("migrate", "export", "--include", "*.bin", "--everything", cwd=history)
    assert refs(history) == before_refs  # the very same commits, tags and ids
    assert git_out("status", "--porcelain", cwd=history) == ""


def test_import_current_branch_only(history: Path) -> None:
    dev = git_out("rev-parse", "dev", cwd=history)
    git_model("migrate", "import", "-I", "model.bin", cwd=history)
    assert git_out("rev-parse", "dev", cwd=history) == dev
    head = files_at(history, "HEAD")
    assert try_parse(head["model.bin"]) is not None
    assert try_parse(head["data/deep/set.bin"]) is None
    assert head[".gitattributes"].endswith(b"model.bin filter=model diff=model merge=model -text\n")
    assert git_out("status", "--porcelain", cwd=history) == ""


def test_glob_with_a_slash_matches_like_gitattributes(history: Path) -> None:
    git_model("migrate", "import", "-I", "data/*.bin", "-I", "data/**/*.bin", "main", cwd=history)
    head = files_at(history, "HEAD")
    assert try_parse(head["data/deep/set.bin"]) is not None
    assert try_parse(head["model.bin"]) is None
    assert git_out("status", "--porcelain", cwd=history) == ""


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["import"], "which files?"),
        (["import", "-I", "#x"], "invalid pattern '#x'"),
        (["import", "-I", "*.bin", "--everything", "main"], "--everything takes no ref"),
        (["import", "-I", "*.bin", "HEAD~1"], "'HEAD~1' is not a branch or tag"),
        (["import", "-I", "*.bin", "nope"], "'nope' is not a branch or tag"),
        (["import", "--from-lfs", "-I", "*.bin"], "--from-lfs takes no glob or ref"),
        (["export"], "which files?"),
    ],
)
def test_bad_arguments(history: Path, args: list[str], message: str) -> None:
    before = refs(history)
    proc = git_model("migrate", *args, cwd=history, check=False)
    assert proc.returncode == 1
    assert proc.stderr.decode().splitlines()[0] == f"gitmodel: error: {message}"
    assert refs(history) == before


def test_refuses_a_dirty_worktree_and_a_missing_filter(history: Path) -> None:
    before = refs(history)
    write(history, "notes.txt", b"edited")
    proc = git_model("migrate", "import", "-I", "*.bin", cwd=history, check=False)
    assert proc.stderr.decode().splitlines() == [
        "gitmodel: error: the worktree has uncommitted changes",
        "hint: commit or stash them first",
    ]
    run_git("checkout", "-q", "--", "notes.txt", cwd=history)
    run_git("config", "--remove-section", "filter.model", cwd=history)
    proc = git_model("migrate", "import", "-I", "*.bin", cwd=history, check=False)
    assert proc.stderr.decode().splitlines()[1] == "hint: run `git model install`"
    assert refs(history) == before


@pytest.mark.skipif(shutil.which("git-lfs") is None, reason="git-lfs is not installed")
def test_from_lfs_converts_a_real_git_lfs_repository(tmp_path: Path) -> None:
    repo = tmp_path / "lfs"
    run_git("init", "-q", str(repo), cwd=tmp_path)
    run_git("lfs", "install", "--local", cwd=repo)
    run_git("lfs", "track", "*.bin", cwd=repo)
    versions = [os.urandom(30_000), os.urandom(40_000)]
    for data in versions:
        write(repo, "w.bin", data)
        run_git("add", ".", cwd=repo)
        run_git("commit", "-qm", "weights", cwd=repo)
    lfs_head = git_out("rev-parse", "HEAD", cwd=repo)
    git_model("install", "--local", cwd=repo)
    out = git_model("migrate", "import", "--from-lfs", cwd=repo).stdout.decode()
    assert "migrate: imported 2 git-lfs object(s), 68.4 KiB" in out
    assert "migrate: committed .gitattributes with filter=model" in out
    assert git_out("rev-parse", "HEAD~1", cwd=repo) == lfs_head  # history untouched
    assert (
        repo / ".gitattributes"
    ).read_text() == "*.bin filter=model diff=model merge=model -text\n"
    assert git_out("status", "--porcelain", cwd=repo) == ""
    hooks = repo / ".git" / "hooks"
    assert not any("git lfs" in p.read_text(errors="replace") for p in hooks.iterdir()
                   if p.is_file() and not p.name.endswith(".sample"))  # fmt: skip
    # no git-lfs, no network: old and new commits check out from the model store
    shutil.rmtree(repo / ".git" / "lfs")
    shim = tmp_path / "no-lfs"
    shim.mkdir()
    (shim / "git-lfs").write_text("#!/bin/sh\necho git-lfs was run >&2\nexit 1\n")
    (shim / "git-lfs").chmod(0o755)
    env = {**os.environ, "PATH": f"{shim}{os.pathsep}{os.environ['PATH']}"}
    (repo / "w.bin").unlink()
    run_git("checkout", "-q", "--", "w.bin", cwd=repo, env=env)
    assert (repo / "w.bin").read_bytes() == versions[1]
    run_git("checkout", "-q", "HEAD~2", cwd=repo, env=env)
    assert (repo / "w.bin").read_bytes() == versions[0]
    run_git("checkout", "-q", "main", cwd=repo, env=env)
    clone = tmp_path / "clone"
    git_model("install", cwd=tmp_path)
    run_git("clone", "-q", str(repo), str(clone), cwd=tmp_path, env=env)
    assert (clone / "w.bin").read_bytes() == versions[1]


def test_import_of_a_glob_matching_no_file_rewrites_nothing(history: Path) -> None:
    before = refs(history)
    proc = git_model("migrate", "import", "-I", "*.nomatch", "-I", "data/*.bin", "--everything",
                     cwd=history, check=False)  # fmt: skip
    assert proc.returncode == 1
    assert proc.stderr.decode().splitlines() == [
        'gitmodel: error: no file in the commits to rewrite matches "*.nomatch", "data/*.bin"',
        "hint: nothing was changed; check the pattern, or name more refs "
        "(--everything: every branch and tag)",
    ]
    assert proc.stdout == b""
    assert refs(history) == before


def test_from_lfs_refuses_a_repository_without_git_lfs(tmp_path: Path) -> None:
    repo = tmp_path / "plain"
    run_git("init", "-q", str(repo), cwd=tmp_path)
    write(repo, "a.bin", b"plain")
    run_git("add", ".", cwd=repo)
    run_git("commit", "-qm", "plain", cwd=repo)
    config = git_out("config", "--local", "--list", cwd=repo)
    hooks = sorted(p.name for p in (repo / ".git" / "hooks").iterdir())
    proc = git_model("migrate", "import", "--from-lfs", cwd=repo, check=False)
    assert proc.returncode == 1
    assert proc.stderr.decode().splitlines() == [
        "gitmodel: error: this is not a git-lfs repository: no .gitattributes names "
        "filter=lfs, and it holds no git-lfs object or hook",
        'hint: to move files into gitmodel, rewrite history: '
        '`git model migrate import --include "*.bin"`',
    ]
    assert git_out("config", "--local", "--list", cwd=repo) == config
    assert sorted(p.name for p in (repo / ".git" / "hooks").iterdir()) == hooks
    assert not (repo / ".git" / "model").exists()


def test_from_lfs_needs_the_model_filter(tmp_path: Path) -> None:
    repo = tmp_path / "lfs"
    run_git("init", "-q", str(repo), cwd=tmp_path)
    write(repo, ".gitattributes", b"*.bin filter=lfs diff=lfs merge=lfs -text\n")
    run_git("add", ".", cwd=repo)
    run_git("commit", "-qm", "lfs attributes", cwd=repo)
    proc = git_model("migrate", "import", "--from-lfs", cwd=repo, check=False)
    assert proc.stderr.decode().splitlines() == [
        "gitmodel: error: the model filter is not configured",
        "hint: run `git model install`",
    ]
    assert run_git("config", "filter.lfs.process", cwd=repo, check=False).returncode != 0


def test_from_lfs_keeps_uncommitted_attributes_out_and_finishes_a_stopped_run(
    tmp_path: Path,
) -> None:
    repo = tmp_path / "lfs"
    run_git("init", "-q", str(repo), cwd=tmp_path)
    write(repo, ".gitattributes", b"*.bin filter=lfs diff=lfs merge=lfs -text\n")
    run_git("add", ".", cwd=repo)
    run_git("commit", "-qm", "lfs attributes", cwd=repo)
    git_model("install", "--local", "--no-lfs", cwd=repo)
    head = git_out("rev-parse", "HEAD", cwd=repo)
    with open(repo / ".gitattributes", "a") as attributes:
        attributes.write("*.secret -diff\n")  # the user's edit, not theirs to commit yet
    proc = git_model("migrate", "import", "--from-lfs", cwd=repo, check=False)
    assert proc.returncode == 1
    assert proc.stderr.decode().splitlines() == [
        "gitmodel: error: .gitattributes has changes that are not committed",
        "hint: commit or stash them, then run this again",
    ]
    assert git_out("rev-parse", "HEAD", cwd=repo) == head
    # a run stopped after writing the new attributes, before its commit, is finished
    write(repo, ".gitattributes", b"*.bin filter=model diff=model merge=model -text\n")
    git_model("migrate", "import", "--from-lfs", cwd=repo)
    assert git_out("rev-parse", "HEAD~1", cwd=repo) == head
    assert git_out("show", "HEAD:.gitattributes", cwd=repo) == (
        "*.bin filter=model diff=model merge=model -text\n"
    )
    assert git_out("status", "--porcelain", cwd=repo) == ""
