"""``git model fsck``: corrupt objects, bad pointers, missing objects, and repair."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest
from conftest import corrupt_object, git_model, git_out, repo_store, run_git
from hygiene_support import LOOSE, commit_file, make_author, model_dir, object_path

from gitmodel.pointer import Pointer, parse


@pytest.fixture
def pushed(tmp_path: Path) -> tuple[Path, str]:
    """A clone whose ``a.bin`` is committed and pushed; returns it and the oid."""
    _, repo = make_author(tmp_path)
    data = commit_file(repo, "a.bin", os.urandom(LOOSE))
    run_git("push", "-q", "origin", "main", cwd=repo)
    return repo, hashlib.sha256(data).hexdigest()


def append_byte(path: Path) -> None:
    path.chmod(0o644)
    with open(path, "ab") as f:
        f.write(b"x")


def test_appended_byte_is_quarantined_then_repaired(pushed: tuple[Path, str]) -> None:
    repo, oid = pushed
    good = object_path(repo, oid).read_bytes()
    append_byte(object_path(repo, oid))
    proc = git_model("fsck", cwd=repo, check=False)
    assert proc.returncode == 1
    lines = proc.stdout.decode().splitlines()
    head = git_out("rev-parse", "HEAD", cwd=repo)[:12]
    assert lines[0].startswith(f"fsck: corrupt object {oid} ")
    assert lines[0].endswith(f"moved to model/bad/ (a.bin in {head}); run `git model fetch "
                             f"origin {head}` or `git model fsck --repair` to fetch it again")
    assert not object_path(repo, oid).exists()
    assert (model_dir(repo) / "bad" / oid).read_bytes() == good + b"x"
    # still broken until repaired: the object is now missing
    assert git_model("fsck", cwd=repo, check=False).returncode == 1
    proc = git_model("fsck", "--repair", cwd=repo)
    assert f"fsck: repaired object {oid}" in proc.stdout.decode()
    assert object_path(repo, oid).read_bytes() == good
    assert git_model("fsck", cwd=repo).stdout == b"fsck: ok\n"


def test_the_repair_hint_works_for_an_object_this_head_does_not_name(
    pushed: tuple[Path, str],
) -> None:
    """Found corrupt by one run, where only an older commit names it: the next run
    still reports it, and ``--repair`` (as its hint says) fetches it again."""
    repo, oid = pushed
    commit_file(repo, "a.bin", os.urandom(LOOSE))  # HEAD no longer names it
    append_byte(object_path(repo, oid))
    assert git_model("fsck", cwd=repo, check=False).returncode == 1  # quarantined
    proc = git_model("fsck", cwd=repo, check=False)
    assert proc.returncode == 1
    assert proc.stdout.decode().startswith(f"fsck: object {oid} was found corrupt")
    assert "`git model fsck --repair`" in proc.stdout.decode()
    repaired = git_model("fsck", "--repair", cwd=repo).stdout.decode()
    assert f"fsck: repaired object {oid}" in repaired
    assert hashlib.sha256(object_path(repo, oid).read_bytes()).hexdigest() == oid
    assert git_model("fsck", cwd=repo).stdout.decode() == "fsck: ok\n"


def test_repair_in_one_run(pushed: tuple[Path, str]) -> None:
    repo, oid = pushed
    append_byte(object_path(repo, oid))
    proc = git_model("fsck", "--objects", "--repair", cwd=repo)
    out = proc.stdout.decode().splitlines()
    assert out[0].startswith(f"fsck: corrupt object {oid}")
    assert out[1:] == [f"fsck: repaired object {oid}", "fsck: ok"]
    assert hashlib.sha256(object_path(repo, oid).read_bytes()).hexdigest() == oid


def test_corrupt_packed_object_is_quarantined_and_repaired(tmp_path: Path) -> None:
    _, repo = make_author(tmp_path)
    data = commit_file(repo, "small.bin", os.urandom(5000))
    run_git("push", "-q", "origin", "main", cwd=repo)
    oid = hashlib.sha256(data).hexdigest()
    corrupt_object(repo_store(repo), oid)
    proc = git_model("fsck", "--objects", "--repair", cwd=repo)
    out = proc.stdout.decode().splitlines()
    assert out[0].startswith(f"fsck: corrupt object {oid}")
    assert out[1:] == [f"fsck: repaired object {oid}", "fsck: ok"]
    assert b"".join(repo_store(repo).read(Pointer(oid, len(data)))) == data


def test_corrupt_object_not_on_the_remote_stays_a_problem(tmp_path: Path) -> None:
    _, repo = make_author(tmp_path)
    data = commit_file(repo, "a.bin", os.urandom(LOOSE))  # never pushed
    oid = hashlib.sha256(data).hexdigest()
    append_byte(object_path(repo, oid))
    proc = git_model("fsck", "--repair", cwd=repo, check=False)
    assert proc.returncode == 1
    assert f"corrupt object {oid}" in proc.stdout.decode()
    assert "repaired" not in proc.stdout.decode()


def test_missing_object_locally_and_on_the_remote(pushed: tuple[Path, str], tmp_path: Path) -> None:
    repo, oid = pushed
    object_path(repo, oid).unlink()
    proc = git_model("fsck", "--pointers", cwd=repo, check=False)
    assert proc.returncode == 1
    head = git_out("rev-parse", "HEAD", cwd=repo)[:12]
    assert proc.stdout.decode() == (
        f"fsck: object {oid} is missing from the local store (a.bin in {head}); run "
        f"`git model fetch origin {head}` (or `git model fsck --remote` to check the remote)\n"
    )
    # the command it names brings the object back
    git_model("fetch", "origin", head, cwd=repo)
    assert git_model("fsck", cwd=repo).stdout == b"fsck: ok\n"
    object_path(repo, oid).unlink()
    # the remote has it: not fetched yet is not a problem
    proc = git_model("fsck", "--remote", cwd=repo)
    assert b"not fetched yet" in proc.stderr
    # gone from the remote too: exists nowhere
    remote = tmp_path / "origin.git" / "model" / "remote"
    for path in remote.rglob(oid):
        path.unlink()
    proc = git_model("fsck", "--remote", cwd=repo, check=False)
    assert proc.returncode == 1
    assert f"object {oid} exists neither locally nor on file://" in proc.stdout.decode()


def test_full_blob_and_non_canonical_pointer(repo: Path) -> None:
    run_git("config", "--remove-section", "filter.model", cwd=repo)
    (repo / "raw.bin").write_bytes(os.urandom(2000))
    crlf = Pointer("a" * 64, 5).encode().replace(b"\n", b"\r\n")
    (repo / "crlf.txt").write_bytes(crlf)
    run_git("add", "raw.bin", "crlf.txt", cwd=repo)
    run_git("commit", "-qm", "oops", cwd=repo)
    proc = git_model("fsck", "--pointers", cwd=repo, check=False)
    assert proc.returncode == 1
    lines = proc.stdout.decode().splitlines()
    assert lines == [
        "fsck: crlf.txt (HEAD): not a canonical pointer; restore its content and "
        "`git add crlf.txt` (see `git model pointer --check`)",
        "fsck: raw.bin (HEAD): tracked by the model filter but committed as a full Git blob; "
        "run `git model install` then `git add --renormalize -- raw.bin` and commit",
    ]


def test_empty_model_file_is_fine(repo: Path) -> None:
    (repo / "empty.bin").write_bytes(b"")
    run_git("add", "empty.bin", cwd=repo)
    run_git("commit", "-qm", "empty", cwd=repo)
    assert git_model("fsck", cwd=repo).stdout == b"fsck: ok\n"


def test_staged_pointer_without_object(repo: Path) -> None:
    pointer = Pointer("b" * 64, 12)
    blob = run_git("hash-object", "-w", "--stdin", cwd=repo, input=pointer.encode())
    oid = blob.stdout.decode().strip()
    run_git("update-index", "--add", "--cacheinfo", f"100644,{oid},ghost.bin", cwd=repo)
    proc = git_model("fsck", cwd=repo, check=False)
    assert proc.returncode == 1
    assert f"object {'b' * 64} is missing from the local store" in proc.stdout.decode()


def test_a_checkout_of_a_damaged_object_says_how_to_get_it_back(
    pushed: tuple[Path, str],
) -> None:
    repo, oid = pushed
    good = object_path(repo, oid).read_bytes()
    path = object_path(repo, oid)
    path.chmod(0o644)
    path.write_bytes(b"X" + good[1:])  # same size: only the hash tells
    (repo / "a.bin").unlink()
    proc = run_git("checkout", "--", "a.bin", cwd=repo, check=False)
    lines = proc.stderr.decode().splitlines()
    assert proc.returncode != 0
    assert lines[0].startswith(f"gitmodel: smudge a.bin: local object {oid}: expected sha256")
    assert lines[1] == ("hint: the damaged copy was moved to .git/model/bad/: `git model fsck "
                        "--repair` gets the object again from the model remote (one never "
                        "pushed: `git add` the file again from a sound copy)")  # fmt: skip
    git_model("fsck", "--repair", cwd=repo)
    run_git("checkout", "--", "a.bin", cwd=repo)
    assert (repo / "a.bin").read_bytes() == good


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_refs_and_all_find_what_other_commits_name(
    pushed: tuple[Path, str], tmp_path: Path
) -> None:
    """An object HEAD no longer names is checked where a REF, a range, a branch, a tag,
    a stash entry or another worktree's index names it: each problem names the file,
    the commit (short) holding it and the fetch command, which brings it back."""
    repo, first = pushed
    v1 = git_out("rev-parse", "HEAD", cwd=repo)[:12]
    run_git("branch", "old", cwd=repo)
    second = sha(commit_file(repo, "a.bin", os.urandom(LOOSE)))
    run_git("push", "-q", "origin", "main", cwd=repo)
    stashed = os.urandom(LOOSE)
    (repo / "a.bin").write_bytes(stashed)
    run_git("stash", "-q", cwd=repo)
    linked = tmp_path / "linked"
    run_git("worktree", "add", "-q", str(linked), "old", cwd=repo)
    (linked / "b.bin").write_bytes(staged := os.urandom(LOOSE))
    run_git("add", "b.bin", cwd=linked)
    for data in (stashed, staged):
        object_path(repo, sha(data)).unlink()
    object_path(repo, first).unlink()
    missing = "is missing from the local store"
    assert git_model("fsck", cwd=repo).stdout == b"fsck: ok\n"  # HEAD and the index

    proc = git_model("fsck", "old", cwd=repo, check=False)
    assert proc.returncode == 1
    assert proc.stdout.decode() == (
        f"fsck: object {first} {missing} (a.bin in {v1}); run `git model fetch origin {v1}` "
        "(or `git model fsck --remote` to check the remote)\n"
    )
    assert git_model("fsck", "HEAD~1..HEAD", cwd=repo).returncode == 0  # v1 is not in it
    assert first in git_model("fsck", "HEAD~2..", cwd=repo, check=False).stdout.decode()

    proc = git_model("fsck", "--all", cwd=repo, check=False)
    stash = git_out("rev-parse", "stash@{0}", cwd=repo)[:12]
    remote = " (or `git model fsck --remote` to check the remote)"
    assert proc.returncode == 1
    assert sorted(proc.stdout.decode().splitlines()) == sorted([
        f"fsck: object {first} {missing} (a.bin in {v1}); run `git model fetch origin {v1}`"
        + remote,
        f"fsck: object {sha(stashed)} {missing} (a.bin in {stash}); run `git model fetch "
        f"origin {stash}`" + remote,
        f"fsck: object {sha(staged)} {missing} (b.bin in index of {linked}); run `git model "
        "fsck --repair`" + remote,
    ])  # fmt: skip

    git_model("fetch", "origin", v1, cwd=repo)  # the command named brings it back
    assert git_model("fsck", "old", cwd=repo).stdout == b"fsck: ok\n"
    proc = git_model("fsck", "--all", "--remote", cwd=repo, check=False)
    out = proc.stdout.decode()
    assert proc.returncode == 1 and first not in out and second not in out, out
    assert f"fsck: object {sha(stashed)} exists neither locally nor on file://" in out
    assert f"(a.bin in {stash}); push it from a clone that has it" in out


def test_a_ref_is_checked_as_hostile_input(pushed: tuple[Path, str], tmp_path: Path) -> None:
    repo, _ = pushed
    target = tmp_path / "written"
    for ref in (f"--output={target}", "-n1", "main:a.bin", "HEAD..--all", "no\x1b[31mref"):
        proc = git_model("fsck", "--", ref, cwd=repo, check=False)
        err = proc.stderr.decode()
        assert proc.returncode == 1 and err.startswith("gitmodel: error: unknown revision"), err
        assert "hint:" in err and "Traceback" not in err and "\x1b" not in err
    assert not target.exists()
    proc = git_model("fsck", "--all", "main", cwd=repo, check=False)
    assert proc.returncode == 2 and b"give REFs or --all, not both" in proc.stderr


def test_objects_and_repair_with_a_ref(pushed: tuple[Path, str]) -> None:
    """A corrupt object only an older commit names: quarantined, named with that commit,
    and fetched again by --repair."""
    repo, oid = pushed
    v1 = git_out("rev-parse", "HEAD", cwd=repo)[:12]
    commit_file(repo, "a.bin", os.urandom(LOOSE))
    append_byte(object_path(repo, oid))
    proc = git_model("fsck", "--objects", v1, cwd=repo, check=False)
    assert proc.returncode == 1
    assert f"(a.bin in {v1}); run `git model fetch origin {v1}` or `git model fsck --repair`" in (
        proc.stdout.decode())  # fmt: skip
    assert (model_dir(repo) / "bad" / oid).is_file()
    proc = git_model("fsck", "--repair", v1, cwd=repo)
    assert f"fsck: repaired object {oid}" in proc.stdout.decode()
    assert git_model("fsck", v1, cwd=repo).stdout == b"fsck: ok\n"


def test_a_committed_path_is_shown_escaped(repo: Path) -> None:
    """A path is anyone's: an escape sequence or a line break in it cannot forge lines
    or drive the terminal."""
    run_git("config", "--remove-section", "filter.model", cwd=repo)
    name = "e\x1b[2Jx\nfsck: ok.bin"
    (repo / name).write_bytes(os.urandom(2000))
    run_git("add", name, cwd=repo)
    run_git("commit", "-qm", "oops", cwd=repo)
    proc = git_model("fsck", "--pointers", "HEAD", cwd=repo, check=False)
    assert proc.returncode == 1
    assert proc.stdout.decode().splitlines() == [
        "fsck: e\\x1b[2Jx\\nfsck: ok.bin (HEAD): tracked by the model filter but committed as "
        "a full Git blob; run `git model install` then `git add --renormalize -- "
        "e\\x1b[2Jx\\nfsck: ok.bin` and commit",
    ]


def test_files_left_as_their_pointers_are_named_not_failed(pushed: tuple[Path, str]) -> None:
    """A worktree whose model file is still its pointer (a checkout killed before it wrote
    the file, a skipped smudge) damages nothing, so fsck passes, as ``git lfs fsck`` does;
    but a bare "ok" would say the data is there: a hint names the file and the command
    that writes it, and goes once it is written."""
    repo, _ = pushed
    data = (repo / "a.bin").read_bytes()
    (repo / "a.bin").unlink()
    env = {**os.environ, "GIT_MODEL_SKIP_SMUDGE": "1"}
    run_git("checkout", "--", "a.bin", cwd=repo, env=env)
    assert parse((repo / "a.bin").read_bytes()).size == len(data)
    for args in ((), ("--pointers",)):
        proc = git_model("fsck", *args, cwd=repo)
        assert proc.stdout.decode() == "fsck: ok\n"
        err = proc.stderr.decode()
        assert "1 model file(s) in the worktree are their pointers" in err, err
        assert "(a.bin); `git model pull` writes them" in err, err
    assert git_model("fsck", "--objects", cwd=repo).stderr == b""  # the store alone
    assert git_model("fsck", "HEAD", cwd=repo).stderr == b""  # a commit's tree alone

    git_model("pull", cwd=repo)
    assert (repo / "a.bin").read_bytes() == data
    proc = git_model("fsck", cwd=repo)
    assert proc.stdout.decode() == "fsck: ok\n" and proc.stderr == b""


def test_a_lazy_clone_names_twenty_missing_objects_and_counts_the_rest(tmp_path: Path) -> None:
    _, author = make_author(tmp_path)
    for n in range(23):
        (author / f"{n:02}.bin").write_bytes(os.urandom(100))
    run_git("add", ".", cwd=author)
    run_git("commit", "-qm", "data set", cwd=author)
    run_git("push", "-q", "origin", "main", cwd=author)
    lazy = tmp_path / "lazy"
    env = {**os.environ, "GIT_MODEL_SKIP_SMUDGE": "1"}
    run_git("clone", "-q", str(tmp_path / "origin.git"), str(lazy), cwd=tmp_path, env=env)
    proc = git_model("fsck", "--pointers", cwd=lazy, check=False)
    assert proc.returncode == 1  # as when each was named
    lines = proc.stdout.decode().splitlines()
    assert len(lines) == 21
    assert all("is missing from the local store" in line for line in lines[:20])
    assert lines[20] == (
        "fsck: 3 more object(s) are missing from the local store (23 in all); run "
        "`git model fetch` to fetch them, or `git model pull` to fetch them and write the files"
    )
    # the remote has them all: not fetched yet, bounded the same way
    proc = git_model("fsck", "--pointers", "--remote", cwd=lazy)
    said = [line for line in proc.stderr.decode().splitlines() if "not fetched yet" in line]
    assert len(said) == 21
    assert said[20].startswith("fsck: 3 more object(s) are not fetched yet (the remote has them)")
    # --repair fetches every one, not only those named
    git_model("fsck", "--repair", cwd=lazy, check=False)
    assert git_model("fsck", cwd=lazy).stdout == b"fsck: ok\n"
