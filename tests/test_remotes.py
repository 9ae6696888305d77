"""Sharing a model repository: git push uploads objects, git clone/checkout download them."""

from __future__ import annotations

import hashlib
import os
import time
import uuid
from pathlib import Path

import pytest
from conftest import (
    copy_of_template,
    free_port,
    git_model,
    git_out,
    install_globally,
    repo_store,
    run_git,
    store_oids,
)
from hygiene_support import damage_remote_copy

from gitmodel.pointer import try_parse


def versions() -> list[dict[str, bytes]]:
    return [
        {"model.bin": os.urandom(300_000 + i), "data/train.bin": os.urandom(50_000 + i)}
        for i in range(3)
    ]


def commit_versions(repo: Path, all_versions: list[dict[str, bytes]]) -> None:
    for number, files in enumerate(all_versions, 1):
        for name, data in files.items():
            (repo / name).parent.mkdir(parents=True, exist_ok=True)
            (repo / name).write_bytes(data)
        run_git("add", ".", cwd=repo)
        run_git("commit", "-qm", f"v{number}", cwd=repo)


def new_user(tmp_path: Path, name: str) -> dict[str, str]:
    """Another person: their own HOME, global install, and so an empty store."""
    home = tmp_path / f"home-{name}"
    home.mkdir()
    (home / ".gitconfig").write_text("[init]\n\tdefaultBranch = main\n")
    install_globally(home)
    return {**os.environ, "HOME": str(home)}


@pytest.fixture
def origin(tmp_path: Path) -> Path:
    bare = tmp_path / "origin.git"
    run_git("init", "-q", "--bare", str(bare), cwd=tmp_path)
    return bare


def build_author(repo: Path) -> None:
    """A clone of an empty bare repository, ``*.bin`` tracked."""
    bare = repo.parent / "origin.git"
    run_git("init", "-q", "--bare", str(bare), cwd=repo.parent)
    run_git("clone", "-q", str(bare), str(repo), cwd=repo.parent)
    git_model("track", "*.bin", cwd=repo)


@pytest.fixture
def author(tmp_path: Path, origin: Path, isolated_git: Path) -> Path:
    """A clone of ``origin`` (empty), ``*.bin`` tracked, the filter installed globally (a
    copy of the clone made once, its remote then pointed at ``origin``)."""
    install_globally(isolated_git)
    repo = copy_of_template("author", build_author, tmp_path / "author")
    run_git("remote", "set-url", "origin", str(origin), cwd=repo)
    return repo


def assert_version(repo: Path, files: dict[str, bytes]) -> None:
    for name, data in files.items():
        assert (repo / name).read_bytes() == data, name
    assert git_out("status", "--porcelain", cwd=repo) == ""


def test_zero_configuration_push_and_clone(author: Path, origin: Path, tmp_path: Path) -> None:
    history = versions()
    commit_versions(author, history)
    proc = run_git("push", "-q", "origin", "main", cwd=author)
    assert b"uploaded" in proc.stderr
    assert (origin / "model" / "remote" / "gitmodel-remote.json").is_file()
    env = new_user(tmp_path, "b")
    clone = tmp_path / "b"
    run_git("clone", "-q", str(origin), str(clone), cwd=tmp_path, env=env)
    assert_version(clone, history[-1])
    for number in (1, 2):
        run_git("checkout", "-q", f"main~{number}", cwd=clone, env=env)
        assert_version(clone, history[-1 - number])
        run_git("checkout", "-q", "main", cwd=clone, env=env)


def test_push_fails_cleanly_when_objects_cannot_be_sent(author: Path, tmp_path: Path) -> None:
    commit_versions(author, versions()[:1])
    store = repo_store(author)
    store.remove(store.oids())  # nothing to send
    proc = run_git("push", "-q", "origin", "main", cwd=author, check=False)
    assert proc.returncode != 0
    assert b"could not upload" in proc.stderr
    assert b"Traceback" not in proc.stderr
    assert run_git("ls-remote", "origin", cwd=author).stdout == b""  # Git sent no refs


def test_checkout_of_old_commit_fetches_only_what_is_missing(author: Path, origin: Path,
                                                             tmp_path: Path) -> None:  # fmt: skip
    history = versions()
    commit_versions(author, history)
    run_git("push", "-q", "origin", "main", cwd=author)
    env = new_user(tmp_path, "c")
    clone = tmp_path / "c"
    run_git("clone", "-q", str(origin), str(clone), cwd=tmp_path, env=env)
    assert len(store_oids(clone)) == 2
    run_git("checkout", "-q", "HEAD~2", cwd=clone, env=env)
    assert len(store_oids(clone)) == 4
    assert_version(clone, history[0])


@pytest.fixture
def s3_remote(s3_endpoint: str, aws_env: None) -> tuple[str, str]:
    import s3fs

    bucket = f"models-{uuid.uuid4().hex[:12]}"
    s3fs.S3FileSystem(endpoint_url=s3_endpoint).mkdir(bucket)
    return f"s3://{bucket}/team/models", s3_endpoint


def s3_clone_args(url: str, endpoint: str) -> list[str]:
    return ["-c", f"remote.origin.modelurl={url}", "-c", f"remote.origin.modelendpoint={endpoint}"]


def test_s3_three_versions_and_a_fresh_clone(author: Path, origin: Path, tmp_path: Path,
                                             s3_remote: tuple[str, str]) -> None:  # fmt: skip
    url, endpoint = s3_remote
    git_model("remote", "set", url, cwd=author)
    run_git("config", "remote.origin.modelendpoint", endpoint, cwd=author)
    assert url in git_model("remote", cwd=author).stdout.decode()
    history = versions()
    commit_versions(author, history)
    run_git("push", "-q", "origin", "main", cwd=author)
    assert not (origin / "model").exists()  # the objects went to S3
    env = new_user(tmp_path, "d")
    clone = tmp_path / "d"
    run_git("clone", "-q", *s3_clone_args(url, endpoint), str(origin), str(clone),
            cwd=tmp_path, env=env)  # fmt: skip
    assert_version(clone, history[-1])
    for number in (1, 2):
        run_git("checkout", "-q", f"main~{number}", cwd=clone, env=env)
        assert_version(clone, history[-1 - number])


def test_shared_gitmodel_file_names_the_store(author: Path, origin: Path, tmp_path: Path,
                                              s3_remote: tuple[str, str]) -> None:  # fmt: skip
    url, endpoint = s3_remote
    shared = f'[remote "origin"]\n\tmodelurl = {url}\n\tmodelendpoint = {endpoint}\n'
    (author / ".gitmodel").write_text(shared + "[core]\n\thooksPath = /tmp/evil\n")
    history = versions()[:1]
    commit_versions(author, history)
    git_model("push", cwd=author)
    run_git("push", "-q", "origin", "main", cwd=author)
    env = new_user(tmp_path, "e")
    clone = tmp_path / "e"
    run_git("clone", "-q", str(origin), str(clone), cwd=tmp_path, env=env)
    assert_version(clone, history[0])
    hooks_path = run_git("config", "core.hooksPath", cwd=clone, env=env, check=False)
    assert hooks_path.stdout == b""  # only model keys are ever read from .gitmodel


def test_flipped_byte_on_the_remote_is_refused(author: Path, origin: Path, tmp_path: Path) -> None:
    history = versions()[:1]
    commit_versions(author, history)
    run_git("push", "-q", "origin", "main", cwd=author)
    oid = hashlib.sha256(history[0]["model.bin"]).hexdigest()
    damage_remote_copy(origin / "model" / "remote", oid, len(history[0]["model.bin"]))
    env = new_user(tmp_path, "f")
    clone = tmp_path / "f"
    proc = run_git("clone", "-q", str(origin), str(clone), cwd=tmp_path, env=env, check=False)
    assert proc.returncode != 0
    assert oid.encode() in proc.stderr
    assert oid not in store_oids(clone)
    assert not (clone / "model.bin").exists() or try_parse((clone / "model.bin").read_bytes())


def test_unreachable_remote_then_pull(author: Path, origin: Path, tmp_path: Path,
                                      s3_remote: tuple[str, str]) -> None:  # fmt: skip
    url, endpoint = s3_remote
    git_model("remote", "set", url, cwd=author)
    run_git("config", "remote.origin.modelendpoint", endpoint, cwd=author)
    history = versions()[:1]
    commit_versions(author, history)
    run_git("push", "-q", "origin", "main", cwd=author)
    env = new_user(tmp_path, "g")
    clone = tmp_path / "g"
    dead = f"http://127.0.0.1:{free_port()}"
    args = ["-c", f"remote.origin.modelurl={url}", "-c", f"remote.origin.modelendpoint={dead}"]
    env_fast = {**env, "AWS_MAX_ATTEMPTS": "1", "AWS_RETRY_MODE": "standard"}
    proc = run_git("clone", "-q", *args, str(origin), str(clone), cwd=tmp_path,
                   env={**env_fast, "GIT_MODEL_SKIP_SMUDGE": "1"})  # fmt: skip
    assert proc.returncode == 0
    assert try_parse((clone / "model.bin").read_bytes()) is not None
    run_git("config", "remote.origin.modelendpoint", endpoint, cwd=clone, env=env)
    git_model("pull", cwd=clone, env=env)
    assert_version(clone, history[0])


def test_lazy_clone_and_partial_pull(author: Path, origin: Path, tmp_path: Path) -> None:
    history = versions()[:1]
    commit_versions(author, history)
    run_git("push", "-q", "origin", "main", cwd=author)
    env = new_user(tmp_path, "h")
    clone = tmp_path / "h"
    run_git("clone", "-q", str(origin), str(clone), cwd=tmp_path,
            env={**env, "GIT_MODEL_SKIP_SMUDGE": "1"})  # fmt: skip
    git_model("pull", "--include", "data/*", cwd=clone, env=env)
    assert (clone / "data/train.bin").read_bytes() == history[0]["data/train.bin"]
    assert try_parse((clone / "model.bin").read_bytes()) is not None
    assert git_out("status", "--porcelain", cwd=clone) == ""
    (clone / "data/train.bin").unlink()  # a file the index has, missing from the worktree
    git_model("pull", cwd=clone, env=env)
    assert_version(clone, history[0])


def test_a_clone_fetches_its_small_files_in_bulk_as_its_checkout_begins(
    author: Path, origin: Path, tmp_path: Path
) -> None:
    files = {f"m/{i:03d}.bin": os.urandom(2000 + i) for i in range(40)}
    commit_versions(author, [{**files, "big.bin": os.urandom(3 << 20)}])
    run_git("push", "-q", "origin", "main", cwd=author)
    env = {**new_user(tmp_path, "i"), "GIT_MODEL_TRACE": "1"}
    clone = tmp_path / "i"
    trace = run_git("clone", "-q", str(origin), str(clone), cwd=tmp_path, env=env).stderr
    # Git asked for each small file once: none was delayed, to be asked for again
    for name in files:
        assert trace.count(f"smudge {name}\n".encode()) == 1, name
        assert f"delayed {name}:".encode() not in trace
    assert b"delayed big.bin:" in trace  # a large file is fetched apart, as before
    assert_version(clone, files)
    assert (clone / "big.bin").read_bytes() == (author / "big.bin").read_bytes()


def test_a_checkout_in_a_clone_delays_its_missing_objects_and_fetches_them_together(
    author: Path, origin: Path, tmp_path: Path
) -> None:
    commit_versions(author, [{"first.bin": os.urandom(3000)}])
    run_git("push", "-q", "origin", "main", cwd=author)
    env = new_user(tmp_path, "i")
    clone = tmp_path / "i"
    run_git("clone", "-q", str(origin), str(clone), cwd=tmp_path, env=env)
    files = {f"m/{i:03d}.bin": os.urandom(2000 + i) for i in range(40)}
    commit_versions(author, [files])
    run_git("push", "-q", "origin", "main", cwd=author)
    run_git("fetch", "-q", "origin", cwd=clone, env=env)
    # the index is there: only the changed files are checked out, each delayed first
    proc = run_git("merge", "-q", "--ff-only", "origin/main", cwd=clone,
                   env={**env, "GIT_MODEL_TRACE": "1"})  # fmt: skip
    assert proc.stderr.count(b"delayed") == len(files)
    assert_version(clone, files)


def test_a_sparse_clone_fetches_only_what_it_checks_out(
    author: Path, origin: Path, tmp_path: Path
) -> None:
    kept = {f"top{i}.bin": os.urandom(2000 + i) for i in range(3)}
    left = {f"deep/{i}.bin": os.urandom(2000 + i) for i in range(3)}
    commit_versions(author, [{**kept, **left}])
    run_git("push", "-q", "origin", "main", cwd=author)
    env = new_user(tmp_path, "i")
    clone = tmp_path / "i"
    run_git("clone", "-q", "--sparse", str(origin), str(clone), cwd=tmp_path, env=env)
    assert_version(clone, kept)
    assert not (clone / "deep").exists()
    held = set(store_oids(clone))
    assert {hashlib.sha256(d).hexdigest() for d in kept.values()} <= held
    assert not {hashlib.sha256(d).hexdigest() for d in left.values()} & held


def test_a_new_worktree_checks_out_whole_with_objects_fetched_in_bulk(
    author: Path, origin: Path, tmp_path: Path
) -> None:
    files = {f"w/{i}.bin": os.urandom(2000 + i) for i in range(6)}
    commit_versions(author, [files])
    run_git("push", "-q", "origin", "main", cwd=author)
    env = new_user(tmp_path, "i")
    clone = tmp_path / "i"
    run_git("clone", "-q", "--no-checkout", str(origin), str(clone), cwd=tmp_path, env=env)
    worktree = tmp_path / "wt"
    proc = run_git("worktree", "add", "-q", "--detach", str(worktree), "main", cwd=clone,
                   env={**env, "GIT_MODEL_TRACE": "1"})  # fmt: skip
    assert b"delayed" not in proc.stderr
    assert_version(worktree, files)


def test_git_model_push_and_fetch_commands(author: Path, origin: Path, tmp_path: Path) -> None:
    history = versions()
    commit_versions(author, history)
    out = git_model("push", "--all", cwd=author).stderr.decode()
    assert "uploaded 6 object(s)" in out
    again = git_model("push", cwd=author).stderr.decode()
    assert "uploaded" not in again  # nothing is sent twice
    run_git("push", "-q", "origin", "main", cwd=author)
    env = new_user(tmp_path, "j")
    clone = tmp_path / "j"
    run_git("clone", "-q", str(origin), str(clone), cwd=tmp_path,
            env={**env, "GIT_MODEL_SKIP_SMUDGE": "1"})  # fmt: skip
    git_model("fetch", "origin", "HEAD~1", "--exclude", "data/*", cwd=clone, env=env)
    assert len(store_oids(clone)) == 1
    proc = git_model("fetch", "nosuch", cwd=clone, env=env, check=False)
    assert proc.returncode == 1 and b"no Git remote named 'nosuch'" in proc.stderr


def test_remote_set_without_a_remote_name_says_which_to_add_or_name(repo: Path) -> None:
    store = (repo.parent / "models").as_uri()
    proc = git_model("remote", "set", store, cwd=repo, check=False)
    assert proc.returncode == 1
    assert proc.stderr.decode().splitlines() == [
        "gitmodel: error: this repository has no Git remote yet",
        "hint: add it first: git remote add origin URL",
    ]
    for name in ("team", "fork"):
        run_git("remote", "add", name, str(repo.parent / f"{name}.git"), cwd=repo)
    proc = git_model("remote", "set", store, cwd=repo, check=False)
    assert proc.returncode == 1
    assert proc.stderr.decode().splitlines() == [
        "gitmodel: error: which Git remote? There are 2 and none is origin",
        f"hint: name it: git model remote set {git_out('remote', cwd=repo).split()[0]} URL",
    ]
    for command in ("fetch", "push", "pull"):  # the same question, not "add one"
        proc = git_model(command, cwd=repo, check=False)
        assert proc.returncode == 1
        assert proc.stderr.decode().splitlines()[-2:] == [
            "gitmodel: error: which Git remote? There are 2 and none is origin",
            "hint: name it (REMOTE), or choose one for every command: git config model.remote NAME",
        ]
    git_model("remote", "set", "team", store, cwd=repo)
    assert git_out("config", "remote.team.modelurl", cwd=repo).strip() == store


def test_remote_set_refuses_credentials(author: Path) -> None:
    proc = git_model("remote", "set", "s3://AKIA:secret@bucket/x", cwd=author, check=False)
    assert proc.returncode == 1
    assert b"secret" not in proc.stderr
    assert b"credentials" in proc.stderr


def test_push_to_a_path_url_without_a_remote_name(author: Path, origin: Path,
                                                  tmp_path: Path) -> None:  # fmt: skip
    history = versions()[:1]
    commit_versions(author, history)
    other = tmp_path / "other.git"
    run_git("init", "-q", "--bare", str(other), cwd=tmp_path)
    run_git("push", "-q", str(other), "main", cwd=author)
    env = new_user(tmp_path, "k")
    clone = tmp_path / "k"
    run_git("clone", "-q", str(other), str(clone), cwd=tmp_path, env=env)
    assert_version(clone, history[0])


def test_unreachable_remote_fails_the_clone_clearly(
    author: Path, origin: Path, tmp_path: Path, s3_remote: tuple[str, str]
) -> None:
    url, endpoint = s3_remote
    git_model("remote", "set", url, cwd=author)
    run_git("config", "remote.origin.modelendpoint", endpoint, cwd=author)
    commit_versions(author, versions()[:1])
    run_git("push", "-q", "origin", "main", cwd=author)
    env = {**new_user(tmp_path, "l"), "AWS_MAX_ATTEMPTS": "1"}
    dead = f"http://127.0.0.1:{free_port()}"
    args = [*s3_clone_args(url, dead), "-c", "model.retries=2"]
    clone = tmp_path / "l"
    started = time.monotonic()
    proc = run_git("clone", "-q", *args, str(origin), str(clone), cwd=tmp_path, env=env,
                   check=False)  # fmt: skip
    assert proc.returncode != 0
    assert time.monotonic() - started < 60
    assert url.encode() in proc.stderr and b"Traceback" not in proc.stderr
    assert b"hint" in proc.stderr or b"127.0.0.1" in proc.stderr


def test_push_without_model_files_needs_no_store(tmp_path: Path) -> None:
    git_model("install", cwd=tmp_path)
    network = tmp_path / "net.git"
    run_git("init", "-q", "--bare", str(network), cwd=tmp_path)
    repo = tmp_path / "code"
    run_git("init", "-q", str(repo), cwd=tmp_path)
    git_model("install", "--local", cwd=repo)
    (repo / "train.py").write_text("print('hi')\n")
    run_git("add", ".", cwd=repo)
    run_git("commit", "-qm", "code", cwd=repo)
    # a network-looking remote with no model store: fine while no model file is pushed
    run_git("remote", "add", "origin", "https://example.invalid/x.git", cwd=repo)
    stdin = b"refs/heads/main " + git_out("rev-parse", "HEAD", cwd=repo).strip().encode()
    stdin += b" refs/heads/main " + b"0" * 40 + b"\n"
    git_model("hook", "pre-push", "origin", "https://example.invalid/x.git", cwd=repo,
              input=stdin)  # fmt: skip
    git_model("track", "*.bin", cwd=repo)
    (repo / "w.bin").write_bytes(b"weights")
    run_git("add", ".", cwd=repo)
    run_git("commit", "-qm", "weights", cwd=repo)
    stdin = stdin.replace(stdin.split()[1], git_out("rev-parse", "HEAD", cwd=repo).strip().encode())
    proc = git_model("hook", "pre-push", "origin", "https://example.invalid/x.git", cwd=repo,
                     input=stdin, check=False)  # fmt: skip
    assert proc.returncode == 1  # no model URL: its LFS host, as git-lfs derives it
    lines = proc.stderr.decode().splitlines()
    assert lines[0].startswith("gitmodel: error: could not upload 1 object(s)"), lines
    assert "https://example.invalid/x.git/info/lfs" in lines[0]
    assert "cannot resolve" in lines[0] and len(lines) == 2, lines
    assert b"git model remote set" in proc.stderr


@pytest.mark.parametrize(
    ("key", "value"),
    [("model.retries", "abc"), ("model.retries", "0"), ("model.retryDelay", "-1"),
     ("model.timeout", "0"), ("model.timeout", "nan"), ("model.retryTimeout", "1e999")],
)  # fmt: skip
def test_a_bad_number_in_the_remote_settings_is_an_error(author: Path, key: str,
                                                         value: str) -> None:  # fmt: skip
    commit_versions(author, versions()[:1])
    run_git("config", key, value, cwd=author)
    proc = git_model("push", cwd=author, check=False)
    assert proc.returncode == 1, proc.stderr
    lines = proc.stderr.decode().splitlines()
    assert lines[0].startswith(f"gitmodel: error: {key} must be"), lines
    assert lines[1].startswith(f"hint: git config {key} "), lines
    assert not list((author.parent / "origin.git" / "model").glob("remote/*"))  # nothing sent
