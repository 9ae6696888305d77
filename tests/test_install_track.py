from __future__ import annotations

from pathlib import Path

import pytest
from conftest import git_model, git_out, run_git

from gitmodel import attributes
from gitmodel import installation as install


def config(repo: Path, key: str, scope: str = "--local") -> str:
    return run_git("config", scope, "--get", key, cwd=repo, check=False).stdout.decode().strip()


@pytest.fixture
def plain(tmp_path: Path) -> Path:
    path = tmp_path / "plain"
    path.mkdir()
    run_git("init", "-q", cwd=path)
    return path


def test_hook_names_are_the_shipped_hooks() -> None:
    # the filter checks these names at every start instead of reading the hook files
    assert sorted(install.HOOK_NAMES) == sorted(install.hook_sources())


def test_install_local_is_idempotent(plain: Path) -> None:
    first = git_model("install", "--local", cwd=plain).stdout.decode()
    assert "installed hook post-checkout" in first
    second = git_model("install", "--local", cwd=plain).stdout.decode()
    assert "installed hook" not in second
    assert config(plain, "filter.model.process") == "git-model filter-process"
    assert config(plain, "filter.model.required") == "true"
    listing = run_git("config", "--local", "--get-all", "filter.model.clean", cwd=plain)
    assert listing.stdout.decode() == "git-model clean -- %f\n"


def test_install_global_outside_a_repository(tmp_path: Path, isolated_git: Path) -> None:
    git_model("install", cwd=tmp_path)
    text = (isolated_git / ".gitconfig").read_text()
    assert "git-model filter-process" in text
    git_model("uninstall", cwd=tmp_path)
    assert "filter-process" not in (isolated_git / ".gitconfig").read_text()


def test_install_skip_smudge(plain: Path) -> None:
    git_model("install", "--local", "--skip-smudge", cwd=plain)
    assert config(plain, "filter.model.smudge") == "git-model smudge --skip -- %f"
    assert config(plain, "filter.model.process") == "git-model filter-process --skip"


def test_local_install_outside_repository_fails_with_hint(tmp_path: Path) -> None:
    proc = git_model("install", "--local", cwd=tmp_path, check=False)
    assert proc.returncode == 1
    assert proc.stderr.decode().splitlines() == [
        "gitmodel: error: --local needs a repository",
        "hint: run it inside one, or use --global",
    ]


def test_conflicting_scopes(plain: Path) -> None:
    proc = git_model("install", "--local", "--global", cwd=plain, check=False)
    assert proc.returncode == 2
    assert b"choose one of" in proc.stderr


def test_existing_hook_is_kept_and_restored(plain: Path) -> None:
    hooks = plain / ".git" / "hooks"
    user_hook = hooks / "post-checkout"
    user_hook.write_text("#!/bin/sh\necho mine\n")
    user_hook.chmod(0o755)
    git_model("install", "--local", cwd=plain)
    assert (hooks / "post-checkout.gitmodel-legacy").read_text() == "#!/bin/sh\necho mine\n"
    git_model("install", "--local", cwd=plain)  # idempotent: the legacy hook stays
    assert (hooks / "post-checkout.gitmodel-legacy").exists()
    git_model("uninstall", "--local", cwd=plain)
    assert user_hook.read_text() == "#!/bin/sh\necho mine\n"
    assert not (hooks / "post-checkout.gitmodel-legacy").exists()
    assert config(plain, "filter.model.process") == ""


def test_refuses_to_clobber_two_user_hooks(plain: Path) -> None:
    hooks = plain / ".git" / "hooks"
    (hooks / "post-checkout").write_text("#!/bin/sh\necho new\n")
    (hooks / "post-checkout.gitmodel-legacy").write_text("#!/bin/sh\necho old\n")
    proc = git_model("install", "--local", cwd=plain, check=False)
    assert proc.returncode == 1
    assert b"hint:" in proc.stderr
    assert (hooks / "post-checkout").read_text() == "#!/bin/sh\necho new\n"


def test_a_replaced_hook_runs_as_git_ran_it(plain: Path) -> None:
    """A hook with no #! line runs in sh, and under its own name: hook managers (husky)
    pick what to run by `basename "$0"`, which must not be post-checkout.gitmodel-legacy."""
    husky = plain / ".husky"
    (husky / "_").mkdir(parents=True)
    (husky / "_" / "h").write_text('n=$(basename "$0")\n. "$(dirname "$(dirname "$0")")/$n"\n')
    (husky / "_" / "post-checkout").write_text('. "$(dirname "$0")/h"\n')  # no #! line
    (husky / "_" / "post-checkout").chmod(0o755)
    (husky / "post-checkout").write_text('echo "$(basename "$0") $3" > ran.txt\n')
    run_git("config", "core.hooksPath", ".husky/_", cwd=plain)
    git_model("install", "--local", cwd=plain)
    run_git("commit", "-q", "--allow-empty", "-m", "first", cwd=plain)
    run_git("checkout", "-q", "-b", "topic", cwd=plain)
    assert (plain / "ran.txt").read_text() == "post-checkout 1\n"


def test_hooks_path_is_honoured(plain: Path, tmp_path: Path) -> None:
    custom = tmp_path / "myhooks"
    run_git("config", "core.hooksPath", str(custom), cwd=plain)
    git_model("install", "--local", cwd=plain)
    assert "gitmodel hook" in (custom / "post-checkout").read_text()


def test_track_list_untrack(repo: Path) -> None:
    out = git_model("track", "*.safetensors", "my model.pt", cwd=repo).stdout.decode()
    assert 'Tracking "*.safetensors"' in out and 'Tracking "my model.pt"' in out
    text = (repo / ".gitattributes").read_text()
    assert "*.safetensors filter=model diff=model merge=model -text\n" in text
    assert "my[[:space:]]model.pt filter=model" in text
    assert run_git("check-attr", "filter", "--", "my model.pt", cwd=repo).stdout.endswith(
        b"model\n"
    )
    again = git_model("track", "*.safetensors", cwd=repo).stdout.decode()
    assert "already tracked" in again
    assert (repo / ".gitattributes").read_text() == text
    listing = git_model("track", cwd=repo).stdout.decode()
    assert "*.safetensors (.gitattributes)" in listing and "my model.pt" in listing
    git_model("untrack", "*.safetensors", cwd=repo)
    assert "*.safetensors" not in (repo / ".gitattributes").read_text()
    proc = git_model("untrack", "*.nothing", cwd=repo, check=False)
    assert proc.returncode == 1 and b"hint:" in proc.stderr


def test_track_from_subdirectory(repo: Path) -> None:
    sub = repo / "models"
    sub.mkdir()
    git_model("track", "*.gguf", cwd=sub)
    assert "models/*.gguf filter=model" in (repo / ".gitattributes").read_text()


@pytest.mark.parametrize("pattern", ["", "#x", "!x", "a\nb"])
def test_track_rejects_bad_patterns(repo: Path, pattern: str) -> None:
    proc = git_model("track", pattern, cwd=repo, check=False)
    assert proc.returncode == 1
    assert b"invalid pattern" in proc.stderr


def test_tracking_committed_content_marks_it_for_conversion(repo: Path) -> None:
    (repo / "w.pt").write_bytes(b"raw weights")
    run_git("add", "w.pt", cwd=repo)
    run_git("commit", "-qm", "raw", cwd=repo)
    out = git_model("track", "*.pt", cwd=repo).stdout.decode()
    assert "1 already-committed file(s)" in out
    assert git_out("status", "--porcelain", cwd=repo) == " M .gitattributes\n M w.pt\n"
    run_git("add", ".", cwd=repo)
    blob = run_git("cat-file", "blob", ":w.pt", cwd=repo).stdout
    assert blob.startswith(b"version https://git-lfs.github.com/spec/v1\n")
    status = git_model("status", cwd=repo).stdout.decode()  # converted, not added
    assert "\tw.pt (a Git file) -> " in status, status


def test_attribute_helpers() -> None:
    text, added = attributes.add_patterns("*.txt text\n", ["a b", "*.bin"])
    assert added == ["a b", "*.bin"]
    assert [r.pattern for r in attributes.model_rules(text)] == ["a[[:space:]]b", "*.bin"]
    text2, removed = attributes.remove_patterns(text, ["a b"])
    assert removed == ["a b"]
    assert text2.startswith("*.txt text\n")
    rules = attributes.model_rules("x -filter\n# c\n\n")
    assert rules == [attributes.Rule("x", False)]


def test_untracking_committed_model_files_marks_them_to_go_back_into_git(repo: Path) -> None:
    (repo / "data").mkdir()
    for name in ("a.csv", "b.csv"):
        (repo / "data" / name).write_bytes(name.encode() * 300)
    git_model("track", "data/", cwd=repo)
    run_git("add", ".", cwd=repo)
    run_git("commit", "-qm", "data set", cwd=repo)
    out = git_model("untrack", "data/", cwd=repo).stdout.decode()
    # committed as pointers: without `git add`, a clone would check out pointer text
    assert "2 committed model file(s) no longer match: `git add` them" in out, out
    assert git_out("status", "--porcelain", cwd=repo) == (
        " M .gitattributes\n M data/a.csv\n M data/b.csv\n")  # fmt: skip
    run_git("add", ".", cwd=repo)
    assert run_git("cat-file", "blob", ":data/a.csv", cwd=repo).stdout == b"a.csv" * 300


def test_a_glob_the_shell_expanded_is_named_with_the_quoted_pattern(repo: Path) -> None:
    (repo / "data").mkdir()
    for i in range(3):
        (repo / "data" / f"part{i}.parquet").write_bytes(b"rows")
    # what `git model track data/*.parquet`, unquoted, hands over
    proc = git_model("track", *(f"data/part{i}.parquet" for i in range(3)), cwd=repo)
    err = proc.stderr.decode()
    assert "3 patterns name existing files one by one" in err, err
    assert 'git model untrack' in err and 'git model track "data/*.parquet"' in err, err
    one = git_model("track", "notes.md", cwd=repo)  # one file by name: meant as it is
    assert b"one by one" not in one.stderr


def test_the_filter_turns_on_the_untracked_cache(repo: Path) -> None:
    # data sets are many folders: git status then reads only those changed since it looked
    run_git("config", "--local", "--unset", "core.untrackedCache", cwd=repo, check=False)
    (repo / "data").mkdir()
    (repo / "data" / "a.bin").write_bytes(b"a" * 100)
    run_git("add", "data", cwd=repo)  # the filter starts
    assert config(repo, "core.untrackedCache") == "true"
    run_git("commit", "-qm", "data", cwd=repo)
    assert git_out("status", "--porcelain", cwd=repo) == ""
    index = (repo / ".git" / "index").read_bytes()
    assert b"UNTR" in index  # Git keeps the cache in the index
    (repo / "data" / "new.bin").write_bytes(b"n")  # and still sees a new file
    assert git_out("status", "--porcelain", cwd=repo) == "?? data/new.bin\n"


@pytest.mark.parametrize("key", ["core.untrackedCache", "feature.manyFiles"])
def test_a_choice_made_in_any_scope_is_kept(plain: Path, key: str) -> None:
    value = "false" if key == "core.untrackedCache" else "true"
    run_git("config", "--global", key, value, cwd=plain)
    git_model("install", "--local", cwd=plain)
    git_model("track", "*.bin", cwd=plain)
    (plain / "a.bin").write_bytes(b"a")
    run_git("add", "a.bin", cwd=plain)
    assert config(plain, "core.untrackedCache") == ""
    assert config(plain, key, "--global") == value


def test_install_turns_on_the_untracked_cache(plain: Path) -> None:
    git_model("install", "--local", cwd=plain)
    assert config(plain, "core.untrackedCache") == "true"
