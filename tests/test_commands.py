from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest
from conftest import git_model, git_out, repo_store, run_git, store_oids

from gitmodel.pointer import Pointer

WHATEVER_POINTER = (
    b"version https://git-lfs.github.com/spec/v1\n"
    b"oid sha256:cd293be6cea034bd45a0352775a219ef5dc7825ce55d1f7dae9762d80ce64411\n"
    b"size 9\n"
)


def test_clean_prints_exactly_the_lfs_pointer(repo: Path) -> None:
    proc = git_model("clean", cwd=repo, input=b"whatever\n")
    assert proc.stdout == WHATEVER_POINTER
    assert proc.stderr == b""
    assert store_oids(repo) == [hashlib.sha256(b"whatever\n").hexdigest()]


def test_clean_with_path_argument_and_smudge(repo: Path) -> None:
    assert git_model("clean", "--", "x.bin", cwd=repo, input=b"whatever\n").stdout == (
        WHATEVER_POINTER
    )
    assert git_model("smudge", "--", "x.bin", cwd=repo, input=WHATEVER_POINTER).stdout == (
        b"whatever\n"
    )
    skipped = git_model("smudge", "--skip", "x.bin", cwd=repo, input=WHATEVER_POINTER)
    assert skipped.stdout == WHATEVER_POINTER
    assert git_model("smudge", cwd=repo, input=b"plain text").stdout == b"plain text"


def test_one_shot_filters_in_git(repo: Path) -> None:
    run_git("config", "--unset", "filter.model.process", cwd=repo)
    (repo / "a.bin").write_bytes(b"whatever\n")
    run_git("add", "a.bin", cwd=repo)
    assert run_git("cat-file", "blob", ":a.bin", cwd=repo).stdout == WHATEVER_POINTER
    (repo / "a.bin").unlink()
    run_git("checkout", "--", "a.bin", cwd=repo)
    assert (repo / "a.bin").read_bytes() == b"whatever\n"


def test_smudge_of_missing_object(repo: Path) -> None:
    data = Pointer("d" * 64, 10).encode()
    proc = git_model("smudge", "--", "m.bin", cwd=repo, input=data, check=False)
    assert proc.returncode == 1
    lines = proc.stderr.decode().splitlines()
    assert lines[0] == f"gitmodel: error: object {'d' * 64} is not in the local store for m.bin"
    assert lines[1].startswith("hint: ")
    assert proc.stdout == b""


def test_outside_a_repository(tmp_path: Path) -> None:
    proc = git_model("ls-files", cwd=tmp_path, check=False)
    assert proc.returncode == 1
    assert proc.stderr.decode().splitlines() == [
        "gitmodel: error: not in a git repository",
        "hint: run this inside a repository, or `git init` one first",
    ]


@pytest.fixture
def committed(repo: Path) -> Path:
    (repo / "a.bin").write_bytes(b"whatever\n")
    (repo / "b.bin").write_bytes(os.urandom(2000))
    (repo / "notes.txt").write_text("not a model")
    run_git("add", ".", cwd=repo)
    run_git("commit", "-qm", "models", cwd=repo)
    return repo


def test_ls_files(committed: Path) -> None:
    out = git_model("ls-files", cwd=committed).stdout.decode().splitlines()
    assert out[0] == "cd293be6ce * a.bin (9 B)"
    assert out[1].endswith(" * b.bin (2.0 KiB)")
    assert len(out) == 2
    data = json.loads(git_model("ls-files", "--json", cwd=committed).stdout)
    assert data["files"][0] == {
        "path": "a.bin",
        "oid": "cd293be6cea034bd45a0352775a219ef5dc7825ce55d1f7dae9762d80ce64411",
        "size": 9,
        "present": True,
    }
    store = repo_store(committed)
    store.remove(store.oids())
    out = git_model("ls-files", "--long", "HEAD", cwd=committed).stdout.decode()
    assert "cd293be6cea034bd45a0352775a219ef5dc7825ce55d1f7dae9762d80ce64411 - a.bin" in out
    proc = git_model("ls-files", "nosuchrev", cwd=committed, check=False)
    assert proc.returncode == 1 and b"unknown revision" in proc.stderr


def test_ls_files_of_a_folder(committed: Path) -> None:
    (committed / "data" / "val").mkdir(parents=True)
    (committed / "data" / "val" / "v.bin").write_bytes(b"val")
    (committed / "data" / "validation.bin").write_bytes(b"not under data/val")
    run_git("add", ".", cwd=committed)
    run_git("commit", "-qm", "data", cwd=committed)
    for args in (["--", "data/val"], ["data/val"], ["HEAD", "--", "data/val"]):
        out = git_model("ls-files", *args, cwd=committed).stdout.decode()
        assert out.endswith(" * data/val/v.bin (3 B)\n") and out.count("\n") == 1, (args, out)
    out = git_model("ls-files", "--", "val", cwd=committed / "data").stdout.decode()
    assert out.endswith(" data/val/v.bin (3 B)\n") and out.count("\n") == 1, out
    proc = git_model("ls-files", "nosuch", cwd=committed, check=False)
    assert proc.returncode == 1 and b"unknown revision" in proc.stderr


def test_ls_files_takes_a_revision_and_paths_without_dashes(committed: Path) -> None:
    """``ls-files v1 data/val`` as ``git log`` and ``git ls-tree`` take them (it was
    click's "unexpected extra argument"), and several paths with no revision."""
    for name in ("data/val/v.bin", "data/test/t.bin", "data/other/o.bin"):
        (committed / name).parent.mkdir(parents=True, exist_ok=True)
        (committed / name).write_bytes(name.encode())
    run_git("add", ".", cwd=committed)
    run_git("commit", "-qm", "data", cwd=committed)
    run_git("tag", "v1", cwd=committed)
    run_git("rm", "-q", "data/val/v.bin", cwd=committed)
    wanted = {"data/test/t.bin", "data/val/v.bin"}
    here = {"data/test/t.bin", "data/other/o.bin"}
    for args, there in ((["v1", "data/val", "data/test"], wanted),
                        (["v1", "data/val", "--", "data/test"], wanted),
                        (["data/test", "data/other"], here)):  # fmt: skip
        lines = git_model("ls-files", *args, cwd=committed).stdout.decode().splitlines()
        assert {line.split(" ")[2] for line in lines} == there, (args, lines)
    proc = git_model("ls-files", "nosuch", "data/val", cwd=committed, check=False)
    assert proc.returncode == 1 and b"unknown revision 'nosuch'" in proc.stderr


@pytest.mark.parametrize("verb", ["fetch", "push"])
def test_a_revision_given_where_the_remote_goes_is_named(
    committed: Path, tmp_path: Path, verb: str
) -> None:
    run_git("init", "-q", "--bare", str(tmp_path / "origin.git"), cwd=tmp_path)
    run_git("remote", "add", "origin", str(tmp_path / "origin.git"), cwd=committed)
    run_git("tag", "v1", cwd=committed)
    proc = git_model(verb, "v1", cwd=committed, check=False)
    lines = proc.stderr.decode().splitlines()
    assert proc.returncode == 1 and lines == [
        "gitmodel: error: no Git remote named 'v1'",
        f"hint: 'v1' is a revision; name the remote first: git model {verb} origin v1",
    ], lines


@pytest.mark.parametrize(
    ("verb", "arg", "hint"),
    [("pull", "data", "`git model pull --include data` writes only those"),
     ("fetch", "data/*.bin", "`git model fetch --include 'data/*.bin'` fetches only those"),
     ("du", "data", "`git model ls-files -- data` lists their sizes"),
     ("push", "data", "`git model push` sends the objects of commits")],
)  # fmt: skip
def test_files_given_where_the_remote_goes_are_named(
    committed: Path, tmp_path: Path, verb: str, arg: str, hint: str
) -> None:
    """``git model pull data/`` (as one would name a data set's folder) took the folder
    for a remote and sent users to ``git remote -v``: the hint says how to name files."""
    run_git("init", "-q", "--bare", str(tmp_path / "origin.git"), cwd=tmp_path)
    run_git("remote", "add", "origin", str(tmp_path / "origin.git"), cwd=committed)
    (committed / "data").mkdir(exist_ok=True)
    proc = git_model(verb, arg, cwd=committed, check=False)
    lines = proc.stderr.decode().splitlines()
    assert proc.returncode == 1 and len(lines) == 2, lines
    assert lines[0].startswith("gitmodel: error: no Git remote named "), lines
    assert "names files, not a remote: " in lines[1] and hint in lines[1], lines


def test_status(committed: Path) -> None:
    (committed / "a.bin").write_bytes(b"changed\n")
    run_git("add", "a.bin", cwd=committed)
    (committed / "b.bin").write_bytes(b"edited")
    (committed / "c.bin").write_bytes(b"new")
    out = git_model("status", cwd=committed).stdout.decode()
    assert "\ta.bin cd293be6ce 9 B -> " in out
    assert "Model files not staged for commit:\n\tb.bin" in out
    assert "Untracked model files:\n\tc.bin" in out
    assert "not on any remote branch: 2" in out
    data = json.loads(git_model("status", "--json", cwd=committed).stdout)
    assert data["staged"][0]["new"]["oid"] == hashlib.sha256(b"changed\n").hexdigest()
    assert data["modified"] == ["b.bin"]
    assert data["untracked"] == ["c.bin"]
    assert len(data["unpushed"]) == 2
    (committed / "b.bin").unlink()  # deleted, not staged: told apart from an edit
    out = git_model("status", cwd=committed).stdout.decode()
    assert "Model files not staged for commit:\n\tb.bin (deleted)\n" in out, out
    data = json.loads(git_model("status", "--json", cwd=committed).stdout)
    assert data["modified"] == data["deleted"] == ["b.bin"]


def test_status_flags_a_model_file_staged_whole_without_the_filter(committed: Path) -> None:
    run_git("config", "--remove-section", "filter.model", cwd=committed)  # no install
    (committed / "b.bin").write_bytes(b"edited, and staged whole")
    (committed / "e.bin").write_bytes(b"")  # empty stays empty: not a file staged whole
    run_git("add", "b.bin", "e.bin", cwd=committed)
    proc = git_model("status", cwd=committed)
    out, err = proc.stdout.decode(), proc.stderr.decode()
    assert "\tb.bin " in out and " -> (whole, not a pointer)\n" in out, out
    assert "\te.bin (none) -> (empty)\n" in out, out
    assert "the model filter is not configured here: 1 model file(s) are staged whole" in err
    assert "hint: run `git model install`" in err, err


def test_status_names_a_committed_empty_model_file_empty_not_a_git_file(repo: Path) -> None:
    """An empty model file is committed empty (no pointer), as the filter keeps it: its
    deletion or rename is of an empty file, not of one "committed as a Git file", which
    is what status says of a file ``git add`` will convert."""
    (repo / "e.bin").write_bytes(b"")
    run_git("add", "e.bin", cwd=repo)
    run_git("commit", "-qm", "empty", cwd=repo)
    run_git("rm", "-q", "e.bin", cwd=repo)
    out = git_model("status", cwd=repo).stdout.decode()
    assert "\te.bin (empty) -> (none)\n" in out, out
    staged = json.loads(git_model("status", "--json", cwd=repo).stdout)["staged"]
    assert staged == [{"path": "e.bin", "old": {"oid": None, "size": 0}, "new": None}]
    run_git("reset", "-q", "--hard", cwd=repo)
    run_git("mv", "e.bin", "g.bin", cwd=repo)
    out = git_model("status", cwd=repo).stdout.decode()
    assert "\tg.bin (renamed from e.bin) (empty)\n" in out, out
    staged = json.loads(git_model("status", "--json", cwd=repo).stdout)["staged"]
    empty = {"oid": None, "size": 0}
    assert staged == [{"path": "g.bin", "from": "e.bin", "old": empty, "new": empty}]


def test_status_json_gives_a_side_held_whole_its_size_and_no_side_null(repo: Path) -> None:
    """A side Git holds whole (committed before `git model track`, or staged with the
    filter off) is ``{"oid": null, "size": N}``, as in `git model diff --json`; null is
    a side with no file."""
    for name, data in (("w.pt", b"raw weights"), ("d.pt", b"doomed"), ("p.bin", b"pointer\n")):
        (repo / name).write_bytes(data)
    run_git("add", ".", cwd=repo)
    run_git("commit", "-qm", "w.pt and d.pt whole, p.bin a pointer", cwd=repo)
    git_model("track", "*.pt", cwd=repo)
    run_git("add", "w.pt", cwd=repo)  # converted to a pointer
    run_git("rm", "-qf", "d.pt", "p.bin", cwd=repo)
    run_git("config", "--remove-section", "filter.model", cwd=repo)
    (repo / "n.bin").write_bytes(b"staged whole")
    run_git("add", "n.bin", cwd=repo)
    out = git_model("status", cwd=repo).stdout.decode()
    weights, pointer = (hashlib.sha256(b).hexdigest() for b in (b"raw weights", b"pointer\n"))
    assert f"\tw.pt (a Git file) -> {weights[:10]} 11 B\n" in out, out
    staged = json.loads(git_model("status", "--json", cwd=repo).stdout)["staged"]
    assert staged == [
        {"path": "d.pt", "old": {"oid": None, "size": 6}, "new": None},
        {"path": "n.bin", "old": None, "new": {"oid": None, "size": 12}},
        {"path": "p.bin", "old": {"oid": pointer, "size": 8}, "new": None},
        {"path": "w.pt", "old": {"oid": None, "size": 11}, "new": {"oid": weights, "size": 11}},
    ]


def test_status_names_a_renamed_model_file_as_renamed(committed: Path) -> None:
    (committed / "data").mkdir()
    run_git("mv", "b.bin", "data/b.bin", cwd=committed)
    oid = hashlib.sha256((committed / "data" / "b.bin").read_bytes()).hexdigest()
    out = git_model("status", cwd=committed).stdout.decode()
    assert f"\tdata/b.bin (renamed from b.bin) {oid[:10]} 2.0 KiB\n" in out, out
    staged = json.loads(git_model("status", "--json", cwd=committed).stdout)["staged"]
    assert staged == [{"path": "data/b.bin", "from": "b.bin", "old": {"oid": oid, "size": 2000},
                       "new": {"oid": oid, "size": 2000}}]  # fmt: skip


def test_status_from_a_subfolder_prints_paths_relative_to_it_as_git_does(repo: Path) -> None:
    for path, data in (("other/x.bin", b"x\n"), ("a/y.bin", b"y\n"), ("a/b/z.bin", b"z\n")):
        (repo / path).parent.mkdir(parents=True, exist_ok=True)
        (repo / path).write_bytes(data)
    run_git("add", ".", cwd=repo)
    run_git("commit", "-qm", "models", cwd=repo)
    run_git("mv", "a/b/z.bin", "other/z.bin", cwd=repo)
    (repo / "other" / "x.bin").write_bytes(b"edited\n")
    (repo / "a" / "b" / "new.bin").write_bytes(b"new\n")
    here = repo / "a" / "b"
    short = git_out("status", "--short", "-uall", cwd=here)  # Git's own view from here
    assert short == " M ../../other/x.bin\nR  z.bin -> ../../other/z.bin\n?? new.bin\n"
    out = git_model("status", cwd=here).stdout.decode()
    assert "\t../../other/z.bin (renamed from z.bin) " in out, out
    assert "Model files not staged for commit:\n\t../../other/x.bin\n" in out, out
    assert "Untracked model files:\n\tnew.bin\n" in out, out
    top = git_out("-c", "status.relativePaths=false", "model", "status", cwd=here)
    assert "\tother/z.bin (renamed from a/b/z.bin) " in top, top
    assert "Model files not staged for commit:\n\tother/x.bin\n" in top, top
    assert "Untracked model files:\n\ta/b/new.bin\n" in top, top
    data = json.loads(git_model("status", "--json", cwd=here).stdout)  # as porcelain: the top's
    assert [(c["path"], c["from"]) for c in data["staged"]] == [("other/z.bin", "a/b/z.bin")]
    assert (data["modified"], data["untracked"]) == (["other/x.bin"], ["a/b/new.bin"])
    # git lfs ls-files and git diff print paths from the top, wherever they run
    assert " * a/y.bin (2 B)\n" in git_out("model", "ls-files", cwd=here)
    assert "model diff other/x.bin " in git_out("model", "diff", cwd=here)


@pytest.mark.parametrize("value", ["maybe", "yes please"])
def test_status_refuses_a_status_relative_paths_that_is_no_boolean(repo: Path, value: str) -> None:
    (repo / "sub").mkdir()
    proc = run_git("-c", f"status.relativePaths={value}", "model", "status", cwd=repo / "sub",
                   check=False)  # fmt: skip
    err = proc.stderr.decode()
    assert proc.returncode == 1 and "Traceback" not in err, err
    assert "hint: set it to true or false" in err, err


def test_status_lists_model_files_a_merge_left_in_conflict(repo: Path) -> None:
    for name, data in (("m.bin", b"base\n"), ("d.bin", b"doomed\n"), ("notes.txt", b"base\n"),
                       ("e.bin", b"base\n")):  # fmt: skip
        (repo / name).write_bytes(data)
    run_git("add", ".", cwd=repo)
    run_git("commit", "-qm", "base", cwd=repo)
    run_git("checkout", "-qb", "side", cwd=repo)
    for name, data in (("m.bin", b"theirs\n"), ("d.bin", b"kept\n"), ("a.bin", b"theirs a\n"),
                       ("notes.txt", b"theirs\n"), ("e.bin", b"theirs\n")):  # fmt: skip
        (repo / name).write_bytes(data)
    run_git("add", ".", cwd=repo)
    run_git("commit", "-qm", "theirs", cwd=repo)
    run_git("checkout", "-q", "-", cwd=repo)
    for name, data in (("m.bin", b"ours\n"), ("a.bin", b"ours a\n"), ("notes.txt", b"ours\n"),
                       ("e.bin", b"")):  # fmt: skip
        (repo / name).write_bytes(data)
    (repo / "d.bin").unlink()
    run_git("add", "-A", ".", cwd=repo)
    run_git("commit", "-qm", "ours", cwd=repo)
    assert run_git("merge", "side", cwd=repo, check=False).returncode == 1
    assert "UU m.bin" in git_out("status", "--short", cwd=repo)

    out = git_model("status", cwd=repo).stdout.decode()
    ours, theirs = (hashlib.sha256(b).hexdigest() for b in (b"ours\n", b"theirs\n"))
    assert "\nUnmerged model files:\n" in out, out
    assert "git checkout --ours -- PATH" in out and "git add -- PATH" in out, out
    assert f"\tboth modified: m.bin (ours {ours[:10]} 5 B, theirs {theirs[:10]} 7 B)\n" in out
    assert "\tboth added: a.bin (ours " in out and "\tdeleted by us: d.bin (ours (none), " in out
    assert f"\tboth modified: e.bin (ours (empty), theirs {theirs[:10]} 7 B)\n" in out, out
    assert "notes.txt" not in out
    data = json.loads(git_model("status", "--json", cwd=repo).stdout)
    unmerged = {u["path"]: u for u in data["unmerged"]}
    assert sorted(unmerged) == ["a.bin", "d.bin", "e.bin", "m.bin"]
    # emptied, not deleted: told apart from a side with no file
    assert unmerged["e.bin"]["ours"] == {"oid": None, "size": 0}
    assert unmerged["m.bin"]["state"] == "both modified"
    assert unmerged["m.bin"]["ours"] == {"oid": ours, "size": 5}
    assert unmerged["m.bin"]["theirs"] == {"oid": theirs, "size": 7}
    assert unmerged["d.bin"]["ours"] is None and unmerged["a.bin"]["base"] is None
    listed = git_model("ls-files", cwd=repo).stdout.decode()
    assert "U m.bin (in conflict: `git model status` shows both sides)\n" in listed, listed
    assert json.loads(git_model("ls-files", "--json", cwd=repo).stdout)["unmerged"] == [
        "a.bin", "d.bin", "e.bin", "m.bin"]  # fmt: skip
    for cached in ([], ["--cached"]):  # no side of a path in conflict to compare, as git diff
        diff = git_model("diff", *cached, cwd=repo, check=False)
        out = diff.stdout.decode()
        assert diff.returncode == 0 and "* Unmerged path m.bin\n" in out, diff
        assert "(worktree)" not in out and "m.bin (" not in out, out
        listed = json.loads(git_model("diff", "--json", *cached, cwd=repo).stdout)
        assert listed["unmerged"] == ["a.bin", "d.bin", "e.bin", "m.bin"], listed
    run_git("checkout", "--theirs", "--", "m.bin", cwd=repo)  # as the hint says
    run_git("add", "--", "m.bin", cwd=repo)
    data = json.loads(git_model("status", "--json", cwd=repo).stdout)
    assert [u["path"] for u in data["unmerged"]] == ["a.bin", "d.bin", "e.bin"]
    assert [c["path"] for c in data["staged"]] == ["m.bin"]


def test_status_shows_a_side_in_conflict_held_whole(repo: Path) -> None:
    """A merge of a branch that converted a file committed whole into one that edited it
    whole: the base and ours are the file whole, not "(none)" or null."""
    (repo / "w.pt").write_bytes(b"raw weights")
    run_git("add", "w.pt", cwd=repo)
    run_git("commit", "-qm", "whole", cwd=repo)
    run_git("checkout", "-qb", "side", cwd=repo)
    git_model("track", "*.pt", cwd=repo)
    run_git("add", ".", cwd=repo)
    run_git("commit", "-qm", "track *.pt, w.pt converted", cwd=repo)
    run_git("checkout", "-q", "-", cwd=repo)
    (repo / "w.pt").write_bytes(b"raw weights v2")
    run_git("commit", "-qam", "edited whole", cwd=repo)
    assert run_git("merge", "side", cwd=repo, check=False).returncode == 1
    theirs = hashlib.sha256(b"raw weights").hexdigest()
    out = git_model("status", cwd=repo).stdout.decode()
    assert (
        f"\tboth modified: w.pt (ours (whole, not a pointer), theirs {theirs[:10]} 11 B)\n" in out
    )
    unmerged = json.loads(git_model("status", "--json", cwd=repo).stdout)["unmerged"]
    assert unmerged == [
        {
            "path": "w.pt",
            "state": "both modified",
            "base": {"oid": None, "size": 11},
            "ours": {"oid": None, "size": 14},
            "theirs": {"oid": theirs, "size": 11},
        }
    ]


def test_status_counts_unpushed_objects_of_every_local_branch(
    committed: Path, tmp_path: Path
) -> None:
    origin = tmp_path / "origin.git"
    run_git("init", "-q", "--bare", str(origin), cwd=tmp_path)
    run_git("remote", "add", "origin", str(origin), cwd=committed)
    run_git("push", "-q", "-u", "origin", "HEAD", cwd=committed)
    assert "not on any remote branch: 0 " in git_model("status", cwd=committed).stdout.decode()
    run_git("checkout", "-qb", "experiment", cwd=committed)
    (committed / "c.bin").write_bytes(b"only on a local branch\n")
    run_git("add", "c.bin", cwd=committed)
    run_git("commit", "-qm", "experiment", cwd=committed)
    run_git("checkout", "-q", "-", cwd=committed)
    out = git_model("status", cwd=committed).stdout.decode()
    assert "not on any remote branch: 1 (23 B)" in out, out
    unpushed = json.loads(git_model("status", "--json", cwd=committed).stdout)["unpushed"]
    oid = hashlib.sha256(b"only on a local branch\n").hexdigest()
    assert unpushed == [{"oid": oid, "size": 23}]
    run_git("checkout", "-q", "--detach", "experiment", cwd=committed)
    run_git("branch", "-qD", "experiment", cwd=committed)  # still HEAD's, detached
    assert "remote branch: 1 (23 B)" in git_model("status", cwd=committed).stdout.decode()


@pytest.mark.parametrize("staged", [True, False], ids=["as-a-clone-leaves-it", "written-since"])
def test_status_names_a_file_left_as_its_pointer_and_pull_writes_it(
    committed: Path, staged: bool
) -> None:
    content = (committed / "b.bin").read_bytes()
    pointer = run_git("cat-file", "blob", "HEAD:b.bin", cwd=committed).stdout
    (committed / "b.bin").write_bytes(pointer)  # as a clone made before `git model install`
    if staged:  # the index notes the pointer's size, as there: Git sees no change
        run_git("add", "b.bin", cwd=committed)
        assert git_out("status", "--porcelain", cwd=committed) == ""
    out = git_model("status", cwd=committed).stdout.decode()
    assert "checked out as their pointers (`git model pull` writes them):\n\tb.bin\n" in out
    assert json.loads(git_model("status", "--json", cwd=committed).stdout)["pointers"] == ["b.bin"]
    git_model("pull", cwd=committed)  # no remote: every object is here, none to fetch
    assert (committed / "b.bin").read_bytes() == content
    assert "pointers" not in git_model("status", cwd=committed).stdout.decode()


def test_pull_with_the_index_locked_fails_and_a_later_pull_writes_the_files(
    committed: Path,
) -> None:
    content = (committed / "b.bin").read_bytes()
    pointer = run_git("cat-file", "blob", "HEAD:b.bin", cwd=committed).stdout
    (committed / "b.bin").write_bytes(pointer)
    run_git("add", "b.bin", cwd=committed)
    lock = committed / ".git" / "index.lock"
    lock.touch()  # as another Git process holds it
    proc = git_model("pull", cwd=committed, check=False)
    err = proc.stderr.decode()
    assert proc.returncode == 1, err
    assert f"the index is locked ({lock} exists)" in err and "1 model file(s)" in err
    assert "hint:" in err and "git model pull" in err and "Traceback" not in err, err
    assert (committed / "b.bin").read_bytes() == pointer and lock.exists()
    lock.unlink()
    git_model("pull", cwd=committed)
    assert (committed / "b.bin").read_bytes() == content


def test_status_and_ls_files_print_a_hostile_name_escaped(repo: Path) -> None:
    (repo / "e\x1b[2Jvil\nx.bin").write_bytes(b"data")
    run_git("add", ".", cwd=repo)
    status = git_model("status", cwd=repo).stdout.decode()
    listed = git_model("ls-files", cwd=repo).stdout.decode()
    for out in (status, listed):
        assert "\x1b" not in out and "e\\x1b[2Jvil\\nx.bin" in out, out


def test_status_and_ls_files_in_a_bare_repository(committed: Path, tmp_path: Path) -> None:
    bare = tmp_path / "bare.git"
    run_git("clone", "-q", "--bare", str(committed), str(bare), cwd=tmp_path)
    for command, hint in (
        (["status"], "hint: run it in a non-bare clone; `git model ls-files REV` lists"),
        (["ls-files"], "hint: name a commit: `git model ls-files HEAD`"),
    ):
        proc = git_model(*command, cwd=bare, check=False)
        lines = proc.stderr.decode().splitlines()
        assert proc.returncode == 1 and len(lines) == 2 and lines[1].startswith(hint), lines
    assert "cd293be6ce - a.bin (9 B)" in git_model("ls-files", "HEAD", cwd=bare).stdout.decode()


def test_status_in_empty_repository(tmp_path: Path) -> None:
    run_git("init", "-q", cwd=tmp_path)
    out = git_model("status", cwd=tmp_path).stdout.decode()
    assert "not on any remote branch: 0" in out


def test_pointer_command(committed: Path) -> None:
    proc = git_model("pointer", "a.bin", cwd=committed)
    assert proc.stdout == WHATEVER_POINTER
    (committed / "p.txt").write_bytes(WHATEVER_POINTER)
    proc = git_model("pointer", "--check", "p.txt", cwd=committed)
    assert proc.stdout == WHATEVER_POINTER
    assert b"present in the local store" in proc.stderr
    (committed / "bad.txt").write_bytes(WHATEVER_POINTER.replace(b"\n", b"\r\n"))
    proc = git_model("pointer", "bad.txt", cwd=committed, check=False)
    assert proc.returncode == 1
    assert b"not a valid pointer" in proc.stderr
    proc = git_model("pointer", "--check", "notes.txt", cwd=committed, check=False)
    assert proc.returncode == 1
    proc = git_model("pointer", "missing.txt", cwd=committed, check=False)
    assert proc.returncode == 1 and b"no such file" in proc.stderr


def test_env(committed: Path) -> None:
    out = git_model("env", cwd=committed).stdout.decode()
    assert "gitmodel 0." in out and "\ngit " in out
    assert f"store {committed / '.git' / 'model'}\n" in out
    assert "local objects 2 (2009 bytes)" in out
    assert "hook post-checkout installed" in out
    assert "filter.model.process=git-model filter-process" in out
    assert "remote format chunked (dedup)\nencryption off\n" in out
    run_git("config", "model.chunking", "false", cwd=committed)
    key = "ab" * 32
    env = {**os.environ, "GIT_MODEL_ENCRYPTION_KEY": key}
    out = git_model("env", cwd=committed, env=env).stdout.decode()
    assert "remote format whole objects\nencryption on (key from GIT_MODEL_ENCRYPTION_KEY)\n" in out
    assert key not in out


def test_version_and_help(tmp_path: Path) -> None:
    assert git_model("--version", cwd=tmp_path).stdout.startswith(b"git-model ")
    assert run_git("model", "--version", cwd=tmp_path).stdout.startswith(b"git-model ")
    helptext = git_model("--help", cwd=tmp_path).stdout.decode()
    for verb in ("install", "track", "ls-files", "status", "pointer", "env"):
        assert verb in helptext
    proc = git_model("frobnicate", cwd=tmp_path, check=False)
    assert proc.returncode == 2


@pytest.mark.parametrize("command", [["log", "x.bin"], ["show", "x.bin"], ["lineage", "x.bin"]])
def test_a_repository_without_a_commit_says_so(tmp_path: Path, command: list[str]) -> None:
    repo = tmp_path / "empty"
    run_git("init", "-q", str(repo), cwd=tmp_path)
    git_model("install", "--local", cwd=repo)
    proc = git_model(*command, cwd=repo, check=False)
    assert proc.returncode == 1
    assert proc.stderr.decode().splitlines() == [
        "gitmodel: error: this repository has no commit yet",
        "hint: commit the model files first: git add FILES && git commit",
    ]
