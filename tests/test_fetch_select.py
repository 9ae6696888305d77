"""``git model fetch``/``pull`` ``--include``/``--exclude`` in a lazy clone: patterns as
git-lfs reads them (a folder's name matches what is under it), and patterns that match
nothing said so."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest
from conftest import (
    build_repo,
    copy_of_template,
    git_model,
    git_out,
    install_globally,
    run_git,
    store_oids,
)

from gitmodel.pointer import try_parse

FILES = {name: os.urandom(2000 + i) for i, name in enumerate(
    ["models/a.bin", "models/sub/b.bin", "other/sub/c.bin", "top.bin"])}  # fmt: skip


@pytest.fixture
def lazy(tmp_path: Path, isolated_git: Path) -> Path:
    """A clone that checked out pointers only, of a repository holding FILES; its model
    objects are on the origin's model remote. A copy of one made once per process, its
    remote pointed at the copy's origin."""
    install_globally(isolated_git)
    copy_of_template("lazy-clone", build_lazy, tmp_path)
    clone = tmp_path / "clone"
    run_git("remote", "set-url", "origin", str(tmp_path / "origin.git"), cwd=clone)
    return clone


def build_lazy(tmp_path: Path) -> None:
    tmp_path.mkdir()
    repo = copy_of_template("repo", build_repo, tmp_path / "repo")
    origin = tmp_path / "origin.git"
    run_git("init", "-q", "--bare", str(origin), cwd=tmp_path)
    for name, data in FILES.items():
        (repo / name).parent.mkdir(parents=True, exist_ok=True)
        (repo / name).write_bytes(data)
    run_git("add", ".", cwd=repo)
    run_git("commit", "-qm", "files", cwd=repo)
    run_git("push", "-q", str(origin), "HEAD:refs/heads/main", cwd=repo)
    clone = tmp_path / "clone"
    env = {**os.environ, "GIT_MODEL_SKIP_SMUDGE": "1"}
    run_git("clone", "-q", str(origin), str(clone), cwd=tmp_path, env=env)


def held(clone: Path) -> set[str]:
    oids = set(store_oids(clone))
    return {name for name, data in FILES.items() if hashlib.sha256(data).hexdigest() in oids}


def written(clone: Path) -> set[str]:
    return {name for name in FILES if try_parse((clone / name).read_bytes()) is None}


@pytest.mark.parametrize(
    ("args", "wanted"),
    [(["-I", "models"], {"models/a.bin", "models/sub/b.bin"}),
     (["-I", "models/"], {"models/a.bin", "models/sub/b.bin"}),
     (["--include", "models/*.bin"], {"models/a.bin"}),
     (["-I", "sub"], {"models/sub/b.bin", "other/sub/c.bin"}),
     (["-I", "/sub"], None),
     (["-I", "models,top.bin"], {"models/a.bin", "models/sub/b.bin", "top.bin"}),
     (["-I", "*.bin", "-X", "models/sub"], {"models/a.bin", "other/sub/c.bin", "top.bin"}),
     (["-X", "sub/"], {"models/a.bin", "top.bin"})],
)  # fmt: skip
def test_fetch_selects_as_git_lfs_does(
    lazy: Path, args: list[str], wanted: set[str] | None
) -> None:
    proc = git_model("fetch", *args, cwd=lazy, check=False)
    if wanted is None:  # "/sub" is anchored at the top, where there is no sub/
        assert proc.returncode == 1
        assert proc.stderr.decode().splitlines()[0] == (
            'gitmodel: error: --include "/sub" matches no model file'
        )
        wanted = set()
    assert held(lazy) == wanted


def test_a_pattern_matching_nothing_is_named(lazy: Path) -> None:
    proc = git_model("fetch", "-I", "nomatch,models", "-I", "top.bin", "-X", "models/*.pt",
                     cwd=lazy)  # fmt: skip
    assert proc.stderr.decode().splitlines()[:2] == [
        'gitmodel: warning: --include "nomatch" matches no model file',
        'gitmodel: warning: --exclude "models/*.pt" matches no model file',
    ]
    assert held(lazy) == {"models/a.bin", "models/sub/b.bin", "top.bin"}


@pytest.mark.parametrize("verb", ["fetch", "pull"])
def test_an_include_matching_nothing_at_all_is_an_error(lazy: Path, verb: str) -> None:
    proc = git_model(verb, "-I", "model", "-I", "*.pt", cwd=lazy, check=False)
    assert proc.returncode == 1
    assert proc.stderr.decode().splitlines() == [
        'gitmodel: error: --include "model", "*.pt" matches no model file',
        "hint: `git model ls-files` lists them; a folder's name matches every file under it",
    ]
    assert held(lazy) == set()
    assert written(lazy) == set()


@pytest.mark.parametrize("verb", ["fetch", "pull"])
@pytest.mark.parametrize(("option", "value"), [("-I", ""), ("--include", ","), ("-X", " , ")])
def test_an_option_holding_no_pattern_is_an_error_not_every_file(
    lazy: Path, verb: str, option: str, value: str
) -> None:
    """``-I "$PATTERN"`` with the variable unset held no pattern and fetched (and wrote)
    every file, as if no option were given: it is refused, and nothing moves."""
    proc = git_model(verb, option, value, cwd=lazy, check=False)
    name = "--exclude" if option == "-X" else "--include"
    assert proc.returncode == 1
    assert proc.stderr.decode().splitlines()[0] == (
        f'gitmodel: error: {name} "{value}" holds no pattern'
    )
    assert held(lazy) == set()
    assert written(lazy) == set()


def test_a_pattern_is_named_on_one_line_whatever_it_holds(lazy: Path) -> None:
    proc = git_model("fetch", "-I", "zzz\n*", cwd=lazy, check=False)
    err = proc.stderr.decode()
    assert proc.returncode == 1 and err.count("\n") == 2, err
    assert err.startswith('gitmodel: error: --include "zzz\\n*" matches no model file\n'), err
    assert held(lazy) == set()
    err = git_model("fetch", "-I", "top.bin", "-X", "\x1b[2Jq", cwd=lazy).stderr.decode()
    assert "\x1b" not in err and 'warning: --exclude "\\x1b[2Jq" matches no model file' in err


def test_pull_writes_a_folder_it_includes(lazy: Path) -> None:
    proc = git_model("pull", "-I", "models/", "-X", "sub", cwd=lazy)
    assert proc.stderr.decode().splitlines() == [
        "gitmodel: downloaded 1 object(s), 2.0 KiB",
        "gitmodel: wrote 1 file(s) into the worktree",
    ]
    assert held(lazy) == written(lazy) == {"models/a.bin"}
    assert git_out("status", "--porcelain", cwd=lazy) == ""


def test_pull_warns_where_no_model_filter_is_configured(lazy: Path) -> None:
    run_git("config", "--global", "--remove-section", "filter.model", cwd=lazy)
    proc = git_model("pull", "-I", "top.bin", cwd=lazy)
    assert proc.stderr.decode().splitlines()[:2] == [
        "gitmodel: warning: the model filter is not configured here: "
        "`git add` would store these files whole",
        "hint: run `git model install`",
    ]
    assert written(lazy) == {"top.bin"}
