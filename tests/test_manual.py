"""Manual pages: generated from the click commands, installed where man finds them, and
shown by `git model --help` (Git runs `man git-model`), `git model help VERB` and
`git model VERB --help`; `-h` is the short help, and without pages `--help` is too."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from conftest import SCRIPTS_DIR, git_model, run, run_git

from gitmodel.cli import cli, manual_pages
from gitmodel.commands.manual import unseen_by_man
from gitmodel.manpage import roff

needs_man = pytest.mark.skipif(shutil.which("man") is None, reason="man is not installed")


def installed(tmp_path: Path) -> dict[str, str]:
    """Install the pages as install.sh does, for a ``git-model`` in ``PREFIX/bin`` first
    on PATH (a link, like install.sh's in ~/.local/bin); the environment to use them."""
    prefix = tmp_path / "prefix"
    (prefix / "bin").mkdir(parents=True)
    (prefix / "bin" / "git-model").symlink_to(Path(SCRIPTS_DIR) / "git-model")
    env = {key: value for key, value in os.environ.items() if key not in ("MANPATH", "MANPAGER")}
    env |= {"PATH": f"{prefix / 'bin'}:{env['PATH']}", "MANWIDTH": "100", "PAGER": "cat"}
    proc = run(["git-model", "manual"], tmp_path, env=env)
    out = proc.stdout.decode()
    assert f"in {prefix / 'share' / 'man' / 'man1'}" in out and "note:" not in out, out
    return env


@needs_man
def test_git_model_help_shows_the_installed_page_through_git(tmp_path: Path) -> None:
    env = installed(tmp_path)
    page = run_git("model", "--help", cwd=tmp_path, env=env).stdout.decode()
    assert re.search(r"GIT-MODEL\(1\).*NAME\s+git-model - Version large", page, re.S), page
    assert "git-model-push(1)" in page and "GIT_MODEL_PROGRESS" in page
    for args in (["model", "help", "push"], ["model", "push", "--help"]):
        proc = run_git(*args, cwd=tmp_path, env=env)
        assert b"git-model-push - Upload the model objects" in proc.stdout, proc.stdout
        assert b"No manual entry" not in proc.stderr
    page = run(["git-model", "remote", "set", "--help"], tmp_path, env=env).stdout.decode()
    assert "git model remote set [OPTIONS] [REMOTE] URL" in page and "--shared" in page
    short = run_git("model", "push", "-h", cwd=tmp_path, env=env).stdout.decode()
    assert short.startswith("Usage: git-model push [OPTIONS]")  # -h: the short help


def test_without_pages_help_is_the_short_help(tmp_path: Path) -> None:
    env = {**os.environ, "MANPATH": str(tmp_path)}  # no page there: man finds nothing
    for args in (["help", "push"], ["push", "--help"]):
        proc = git_model(*args, cwd=tmp_path, env=env)
        assert proc.stdout.decode().startswith("Usage: git-model push [OPTIONS]"), proc.stdout
        assert proc.stderr == b""
    main = git_model("--help", cwd=tmp_path, env=env).stdout
    assert main.startswith(b"Usage: git-model [OPTIONS] COMMAND"), main
    proc = git_model("help", "frobnicate", cwd=tmp_path, check=False)
    assert proc.returncode == 2 and b"no command 'frobnicate'" in proc.stderr
    proc = git_model("help", "instal", cwd=tmp_path, check=False)
    assert proc.returncode == 2 and b"no command 'instal' (did you mean 'install'" in proc.stderr
    sub = git_model("help", "remote", "set", cwd=tmp_path, env=env).stdout.decode()
    assert sub.startswith("Usage: git-model remote set [OPTIONS] [REMOTE] URL"), sub
    proc = git_model("help", "remote", "sett", cwd=tmp_path, check=False)
    assert b"no command 'remote sett' (did you mean 'set'" in proc.stderr


def test_every_verb_has_a_page_in_roff_and_html(tmp_path: Path) -> None:
    verbs = {name for name, command in cli.commands.items() if not command.hidden}
    pages = {page.name: page for page in manual_pages()}
    assert set(pages) == {"git-model", *(f"git-model-{verb}" for verb in verbs)}
    assert {name for name, _ in pages["git-model"].listing} == set(pages) - {"git-model"}
    remote = pages["git-model-remote"]
    assert [c.words for c in remote.commands] == ["git model remote", "git model remote show",
                                                  "git model remote set", "git model remote unset"]
    git_model("manual", "--man-dir", str(tmp_path / "man1"), "--html-dir", str(tmp_path / "html"),
              cwd=tmp_path)  # fmt: skip
    assert sorted(p.name for p in (tmp_path / "man1").iterdir()) == sorted(f"{n}.1" for n in pages)
    index = (tmp_path / "html" / "git-model.html").read_text()
    assert '<a href="git-model-push.html">git-model-push</a>(1)' in index
    push = (tmp_path / "html" / "git-model-push.html").read_text()
    assert "<b>-j, --jobs INTEGER RANGE</b>" in push and "<!DOCTYPE html>" in push


@pytest.mark.skipif(shutil.which("groff") is None, reason="groff is not installed")
def test_pages_are_well_formed_roff(tmp_path: Path) -> None:
    for page in manual_pages():
        proc = subprocess.run(["groff", "-man", "-Tutf8", "-ww", "-z"], input=roff(page).encode(),
                              capture_output=True, check=False)  # fmt: skip
        assert proc.returncode == 0 and proc.stderr == b"", (page.name, proc.stderr)


def test_roff_text_cannot_start_a_request() -> None:
    from gitmodel.manpage import Command, Page

    command = Command("git model x", "[OPTIONS]", "s", ".so /etc/passwd\n\n'br\nC:\\path")
    page = Page("git-model-x", "a summary.", (command,))
    text = roff(page)
    assert "\n\\&.so /etc/passwd" in text and "\n\\&'br" in text and "C:\\epath" in text
    assert "git\\-model\\-x \\- a summary\n" in text


def test_where_man_looks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    man = tmp_path / "share" / "man"
    monkeypatch.setenv("PATH", f"/usr/bin:{tmp_path / 'bin'}")
    monkeypatch.delenv("MANPATH", raising=False)
    assert unseen_by_man(man) is None
    monkeypatch.setenv("MANPATH", "/usr/share/man")  # replaces man's own search
    assert "export MANPATH=" in (unseen_by_man(man) or "")
    monkeypatch.setenv("MANPATH", "/usr/share/man:")  # keeps it
    assert unseen_by_man(man) is None
    monkeypatch.setenv("MANPATH", f"{man}:/usr/share/man")
    monkeypatch.setenv("PATH", "/usr/bin")
    assert unseen_by_man(man) is None
    monkeypatch.delenv("MANPATH")
    assert f"once {tmp_path / 'bin'} is on PATH" in (unseen_by_man(man) or "")
