"""What `git model remote` takes: a store URL that is one (never a path relative to
where a command runs, never memory), wherever it is read; an unset that says when
there was nothing; committed config files named when they are wrong; and a damaged
remote copy whose hint says how to send it again."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest
from conftest import git_model, git_out, run, run_git
from hygiene_support import commit_file, damage_remote_copy, make_author, model_dir

from gitmodel import urls
from gitmodel.remote.errors import DAMAGED_HINT

SCHEMES = "abfs, abfss, az, file, gcs, gs, http, https, s3, sftp://"
NO_SCHEME = f"a store URL must start with one of {SCHEMES} or be an absolute path"
FORMS = (
    "s3://BUCKET/PREFIX, gs://BUCKET/PREFIX, az://CONTAINER/PREFIX, sftp://HOST/PATH "
    "or file:///ABSOLUTE/PATH"
)
SET_HINT = f"hint: give a store URL: {FORMS}, as in: git model remote set origin s3://BUCKET/PREFIX"
MEMORY = "memory:// holds objects only until the command ends: a model store must keep them"
CONFIG_HINT = (
    f"hint: set it again: git model remote set origin URL ({FORMS}), "
    "or remove it: git model remote unset origin"
)


def lines(proc_stderr: bytes) -> list[str]:
    return proc_stderr.decode().splitlines()


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("", "the store URL is empty"),
        ("relative", NO_SCHEME),
        ("s3:/bucket/x", NO_SCHEME),
        ("s3//bucket/x", NO_SCHEME),
        ("s3:bucket", NO_SCHEME),
        ("-oX", NO_SCHEME),
        ("ext::sh", NO_SCHEME),
        ("file://rel", "a file:// URL must name an absolute path (file:///srv/models)"),
        ("/srv/../etc", "a store path may not contain '..'"),
        ("s3://", "a s3:// URL must name a bucket or host"),
        ("memory://b", MEMORY),
    ],
)
def test_remote_set_refuses_what_is_not_a_store(tmp_path: Path, url: str, problem: str) -> None:
    _, author = make_author(tmp_path)
    proc = git_model("remote", "set", "origin", "--", url, cwd=author, check=False)
    shown = url or "(empty)"
    assert proc.returncode == 1
    assert lines(proc.stderr) == [
        f"gitmodel: error: cannot store origin's model objects in {shown}: {problem}",
        SET_HINT,
    ]
    assert run_git("config", "remote.origin.modelurl", cwd=author, check=False).returncode == 1


def test_remote_set_without_the_url_names_what_is_missing(tmp_path: Path) -> None:
    _, author = make_author(tmp_path)
    proc = git_model("remote", "set", "origin", cwd=author, check=False)
    assert proc.returncode == 1
    assert lines(proc.stderr) == [
        "gitmodel: error: no store URL given for remote origin",
        f"hint: name both: git model remote set origin URL (a store URL: {FORMS})",
    ]
    commit_file(author, "a.bin")
    run_git("push", "-q", "origin", "main", cwd=author)
    assert not (author / "origin").exists()


@pytest.mark.parametrize("where", [".", "sub"])
def test_an_absolute_path_is_a_store(tmp_path: Path, where: str) -> None:
    _, author = make_author(tmp_path)
    (author / where).mkdir(exist_ok=True)
    store = tmp_path / "bucket"
    out = git_model("remote", "set", str(store), cwd=author / where).stdout.decode()
    assert out == f"origin: model objects go to {store}\n"
    data = commit_file(author, "a.bin")
    run_git("push", "-q", "origin", "main", cwd=author / where)
    oid = hashlib.sha256(data).hexdigest()
    assert (store / "manifests" / oid[:2] / oid).is_file()


@pytest.mark.parametrize("url", ["relative", "", "file://rel", "s3:bucket"])
def test_a_bad_url_set_by_hand_never_writes_a_store(tmp_path: Path, url: str) -> None:
    _, author = make_author(tmp_path)
    run_git("config", "remote.origin.modelurl", url, cwd=author)
    commit_file(author, "a.bin")
    (author / "sub").mkdir()
    for cwd in (author, author / "sub"):
        proc = run_git("push", "origin", "main", cwd=cwd, check=False)
        assert proc.returncode != 0
        assert f"gitmodel: error: remote.origin.modelurl is {url or '(empty)'}: ".encode() in (
            proc.stderr
        ), proc.stderr
        assert CONFIG_HINT.encode() in proc.stderr
        assert b"Traceback" not in proc.stderr
    assert git_out("status", "--porcelain", "--untracked-files=all", cwd=author) == ""
    assert not (author / "rel").exists() and not (author / "sub" / "relative").exists()


def test_a_memory_remote_is_refused_and_nothing_is_held(tmp_path: Path) -> None:
    _, author = make_author(tmp_path)
    commit_file(author, "big.bin", os.urandom(300_000))
    proc = git_model("remote", "set", "memory://b", cwd=author, check=False)
    assert proc.returncode == 1 and MEMORY.encode() in proc.stderr, proc.stderr
    run_git("config", "remote.origin.modelurl", "memory://b", cwd=author)  # by hand
    for push in (["git-model", "push"], ["git", "push", "origin", "main"]):
        proc = run(push, author, check=False)
        assert proc.returncode != 0
        assert f"gitmodel: error: remote.origin.modelurl is memory://b: {MEMORY}" in lines(
            proc.stderr
        ), proc.stderr
    assert not (model_dir(author) / "held").exists()


def test_doctor_names_a_bad_store_url_whole(tmp_path: Path) -> None:
    _, author = make_author(tmp_path)
    for url, problem in [
        ("relative", NO_SCHEME),
        ("s3://", "a s3:// URL must name a bucket or host"),
    ]:
        run_git("config", "remote.origin.modelurl", url, cwd=author)
        proc = git_model("doctor", cwd=author, check=False)
        out = proc.stdout.decode().splitlines()
        assert proc.returncode == 1
        assert out[-2:] == [
            f"problem  remote.origin.modelurl is {url}: {problem}",
            "  fix:   " + CONFIG_HINT.removeprefix("hint: "),
        ]
        assert "reachable" not in proc.stdout.decode()


@pytest.mark.parametrize(
    ("url", "shown"),
    [("s3://", "s3://"), ("s3:///x", "s3:///x"), ("s3://u:p@b/x", "s3://***@b/x"),
     ("file:///srv/m", "file:///srv/m"), ("s3:bucket", "s3:bucket")],
)  # fmt: skip
def test_redact_keeps_the_url_whole(url: str, shown: str) -> None:
    assert urls.redact(url) == shown


def test_unset_says_when_there_was_nothing(tmp_path: Path) -> None:
    _, author = make_author(tmp_path)
    run_git("remote", "add", "team", str(tmp_path / "team.git"), cwd=author)
    proc = git_model("remote", "unset", "nosuch", cwd=author, check=False)
    assert proc.returncode == 1
    assert lines(proc.stderr) == [
        "gitmodel: error: nosuch has no model store set",
        "hint: no remote has one set in this repository's git config "
        "(`git model remote` lists each remote's store)",
    ]
    git_model("remote", "set", "team", f"file://{tmp_path / 'b'}", cwd=author)
    proc = git_model("remote", "unset", "origin", cwd=author, check=False)
    assert lines(proc.stderr) == [
        "gitmodel: error: origin has no model store set",
        "hint: remotes with a store set here: team",
    ]
    out = git_model("remote", "unset", "team", cwd=author).stdout.decode()
    assert out == "team: model store setting removed\n"
    proc = git_model("remote", "unset", "team", cwd=author, check=False)
    assert proc.returncode == 1 and lines(proc.stderr)[0] == (
        "gitmodel: error: team has no model store set"
    )


def test_unset_of_a_shared_store_says_where_it_comes_from(tmp_path: Path) -> None:
    _, author = make_author(tmp_path)
    git_model("remote", "set", "--shared", f"file://{tmp_path / 'b'}", cwd=author)
    git_model("remote", "unset", cwd=author)
    proc = git_model("remote", "unset", cwd=author, check=False)
    assert proc.returncode == 1
    assert lines(proc.stderr) == [
        "gitmodel: error: origin's model store comes from the committed .gitmodel",
        "hint: remove it from .gitmodel and commit that, or override it: "
        "git model remote set origin URL",
    ]


def test_a_bad_lfsconfig_value_names_lfsconfig(tmp_path: Path) -> None:
    _, author = make_author(tmp_path)
    run_git("config", "-f", ".lfsconfig", "lfs.url", "https://u:secret@h/x", cwd=author)
    run_git("add", ".lfsconfig", cwd=author)
    run_git("commit", "-qm", "lfs", cwd=author)
    proc = git_model("remote", cwd=author, check=False)
    assert proc.returncode == 1
    assert lines(proc.stderr) == [
        "gitmodel: error: .lfsconfig: lfs.url: a URL may not carry credentials",
        "hint: fix or remove it in .lfsconfig, or override it: git config lfs.url VALUE",
    ]
    run_git("rm", "-q", ".lfsconfig", cwd=author)
    (author / ".gitmodel").write_text('[remote "origin"]\n\tmodelurl = memory://x\n')
    proc = git_model("remote", cwd=author, check=False)
    assert lines(proc.stderr)[0] == f"gitmodel: error: .gitmodel: remote.origin.modelurl: {MEMORY}"


@pytest.mark.parametrize("name", [".gitmodel", ".lfsconfig"])
def test_a_malformed_committed_config_is_a_warning(tmp_path: Path, name: str) -> None:
    origin, author = make_author(tmp_path)
    (author / name).write_text(
        f'[remote "origin"]\n\tlfsurl = https://h/x\n\tmodelurl = file://{tmp_path}/b\n'
        '[remote "origin"\n'
    )
    warning = (
        f"gitmodel: warning: {name} is not valid git-config syntax: its settings are "
        f"ignored (`git config -f {name} --list` shows where)"
    )
    proc = git_model("remote", cwd=author)
    assert lines(proc.stderr) == [warning]  # said once, though read more than once
    assert proc.stdout.decode() == (
        f"origin\tfile://{origin}/model/remote  (default for a local repository)\n"
    )
    run_git("add", name, cwd=author)
    commit_file(author, "a.bin")
    run_git("push", "-q", "origin", "main", cwd=author)
    git_model("install", cwd=tmp_path)
    proc = run_git("clone", "-q", str(origin), str(tmp_path / "c"), cwd=tmp_path)
    assert warning in lines(proc.stderr)  # the filter process says it too


@pytest.mark.parametrize("others", [0, 40], ids=["own-manifest", "batched"])
def test_a_damaged_remote_copy_is_sent_again_as_the_hint_says(tmp_path: Path, others: int) -> None:
    """Followed literally, the hint mends the remote, also where the object's manifest
    is in a batch (a push of 32 files or more), which no hand can edit."""
    origin, author = make_author(tmp_path)
    for n in range(others):
        (author / f"small{n}.bin").write_bytes(os.urandom(1000))
    run_git("add", ".", cwd=author)
    data = commit_file(author, "a.bin", os.urandom(300_000))
    run_git("push", "-q", "origin", "main", cwd=author)
    oid = hashlib.sha256(data).hexdigest()
    remote = origin / "model" / "remote"
    assert (remote / "batches").is_dir() == bool(others)
    damage_remote_copy(remote, oid, len(data))
    mate = tmp_path / "mate"
    run_git("clone", "-q", "--no-checkout", str(origin), str(mate), cwd=tmp_path)
    git_model("install", "--local", cwd=mate)
    proc = git_model("fetch", cwd=mate, check=False)
    assert proc.returncode == 1 and lines(proc.stderr)[-1] == f"hint: {DAMAGED_HINT}"
    # a clone without the object cannot check it, and says so
    unchecked = git_model("push", "origin", "--all", "--repair", cwd=mate).stderr.decode()
    assert "0 damaged" in unchecked and "were not checked" in unchecked
    proc = git_model("push", "origin", "--all", "--repair", cwd=author)
    assert f"{oid}: the remote's copy was damaged; sending it again" in proc.stderr.decode()
    git_model("fetch", cwd=mate)
    run_git("checkout", "-q", "main", cwd=mate)
    assert (mate / "a.bin").read_bytes() == data
    assert len(list(mate.glob("small*.bin"))) == others


def test_a_git_remote_at_a_missing_path_is_named_as_such(repo: Path) -> None:
    """Not "no model store configured": the Git remote itself names nothing."""
    run_git("remote", "add", "ghost", "/no/such.git", cwd=repo)
    proc = git_model("push", "ghost", cwd=repo, check=False)
    assert proc.returncode == 1
    assert lines(proc.stderr) == [
        "gitmodel: error: Git remote 'ghost' is /no/such.git, where there is no repository",
        "hint: check it with `git remote -v` (`git push` finds none there either), or create "
        "it: git init --bare PATH",
    ]


def test_a_push_ref_that_looks_like_an_option_is_a_revision(tmp_path: Path) -> None:
    """`git model push origin -- --output=FILE` once reached rev-list as an option,
    which created FILE; every REF is now turned into its commit first."""
    _, author = make_author(tmp_path)
    commit_file(author, "a.bin", os.urandom(1000))
    proc = git_model("push", "origin", "--", "--output=written", cwd=author, check=False)
    assert proc.returncode == 1 and b"unknown revision '--output=written'" in proc.stderr
    assert not (author / "written").exists()
    git_model("push", "origin", "main", cwd=author)  # a ref still pushes
