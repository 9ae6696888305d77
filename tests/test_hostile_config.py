"""A cloned repository's committed ``.gitmodel`` is hostile: it can never run a
command, pass an option to Git, or point gitmodel at a store the user did not choose."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import copy_of_template, git_model, run_git

from gitmodel import git, urls


def _hostile_origin(tmp_path: Path, gitmodel_text: str) -> tuple[Path, Path]:
    """A bare origin whose history commits ``.gitmodel`` with ``gitmodel_text``,
    and the marker file that a successful attack would create. The history before that
    commit is a copy of one pushed once per process, the attacker's clone pointed at the
    copy's origin."""
    marker = tmp_path / "pwned"
    copy_of_template("hostile-origin", _pushed_weights, tmp_path)
    author, origin = tmp_path / "author", tmp_path / "origin.git"
    run_git("remote", "set-url", "origin", str(origin), cwd=author)
    run_git("config", "remote.origin.modelurl", f"file://{origin}/model/remote", cwd=author)
    (author / ".gitmodel").write_text(gitmodel_text.replace("MARKER", str(marker)))
    run_git("add", ".gitmodel", cwd=author)
    run_git("commit", "-qm", "hostile", cwd=author)
    run_git("push", "-q", "--no-verify", "origin", "HEAD:main", cwd=author)
    return origin, marker


def _pushed_weights(tmp_path: Path) -> None:
    """The attacker's clone ``author``, whose model files are pushed to ``origin.git``."""
    author = tmp_path / "author"
    author.mkdir(parents=True)
    run_git("init", "-q", cwd=author)
    git_model("install", "--local", cwd=author)
    git_model("track", "*.bin", cwd=author)
    (author / "w.bin").write_bytes(b"weights" * 1000)
    origin = tmp_path / "origin.git"
    run_git("init", "-q", "--bare", str(origin), cwd=tmp_path)
    run_git("remote", "add", "origin", str(origin), cwd=author)
    # the attacker's own clone overrides what it commits, so its push works
    run_git("config", "model.remote", "origin", cwd=author)
    run_git("config", "remote.origin.modelurl", f"file://{origin}/model/remote", cwd=author)
    run_git("add", ".", cwd=author)
    run_git("commit", "-qm", "weights", cwd=author)
    run_git("push", "-q", "origin", "HEAD:main", cwd=author)


UPLOAD_PACK = '[model]\n\tremote = "--upload-pack=touch MARKER; false"\n'


def test_clone_never_passes_model_remote_to_git_as_an_option(tmp_path: Path) -> None:
    origin, marker = _hostile_origin(tmp_path, UPLOAD_PACK)
    git_model("install", cwd=tmp_path)  # global: every clone runs our filter and hooks
    clone = run_git("clone", "-q", str(origin), "victim", cwd=tmp_path)
    assert not marker.exists()
    assert b"model.remote" in clone.stderr  # said, not silently ignored
    victim = tmp_path / "victim"
    for args in (("fetch",), ("pull",), ("push",), ("remote",)):
        proc = git_model(*args, cwd=victim, check=False)
        assert not marker.exists(), args
        assert proc.returncode != 0, args
        err = proc.stderr.decode()
        assert "Traceback" not in err
        assert "error: .gitmodel: model.remote" in err and "hint:" in err, err


def test_local_config_overrides_a_hostile_shared_value(tmp_path: Path) -> None:
    origin, marker = _hostile_origin(tmp_path, UPLOAD_PACK)
    run_git("clone", "-q", "--no-checkout", str(origin), "victim", cwd=tmp_path)
    victim = tmp_path / "victim"
    git_model("install", "--local", cwd=victim)
    run_git("config", "model.remote", "origin", cwd=victim)
    run_git("checkout", "-q", "main", cwd=victim)
    git_model("fetch", cwd=victim)
    assert not marker.exists()
    assert (victim / "w.bin").read_bytes() == b"weights" * 1000


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ('[model]\n\tremote = "-oProxyCommand=x"\n', "model.remote"),
        ("[model]\n\tremote = elsewhere\n", "model.remote"),  # no such Git remote here
        ('[remote "origin"]\n\tmodelurl = "ext::sh -c touch% MARKER"\n', "modelurl"),
        ('[remote "origin"]\n\tmodelurl = "--help"\n', "modelurl"),
        ('[remote "origin"]\n\tmodelurl = "memory://x"\n', "modelurl"),
        ('[remote "origin"]\n\tmodelurl = "file://relative/path"\n', "modelurl"),
        ('[remote "origin"]\n\tmodelurl = "file:///srv/../etc"\n', "modelurl"),
        ('[remote "origin"]\n\tmodelurl = "s3://bucket\\nx"\n', "modelurl"),
        ('[remote "origin"]\n\tmodelendpoint = "file:///etc/passwd"\n', "modelendpoint"),
        ('[remote "origin"]\n\tmodelendpoint = "http://user:secret@h/"\n', "modelendpoint"),
        ('[remote "origin"]\n\tmodelregion = "us-east-1; rm -rf"\n', "modelregion"),
        ('[remote "-x"]\n\tmodelurl = "s3://bucket/p"\n', "remote.'-x'"),
    ],
)
def test_hostile_shared_values_are_refused_with_the_key_named(
    tmp_path: Path, text: str, why: str
) -> None:
    origin, marker = _hostile_origin(tmp_path, text)
    run_git("clone", "-q", "--no-checkout", str(origin), "victim", cwd=tmp_path)
    victim = tmp_path / "victim"
    run_git("checkout", "-q", "main", "--", ".gitmodel", cwd=victim)
    proc = git_model("remote", cwd=victim, check=False)
    err = proc.stderr.decode()
    assert proc.returncode != 0 and "Traceback" not in err
    assert "error: .gitmodel: " in err and why in err.splitlines()[0] and "hint:" in err, err
    assert "secret" not in err
    assert not marker.exists()


def test_good_shared_values_are_used(tmp_path: Path) -> None:
    store = tmp_path / "team-store"
    text = f'[remote "origin"]\n\tmodelurl = "file://{store}"\n[model]\n\tremote = origin\n'
    origin, _ = _hostile_origin(tmp_path, text)
    run_git("clone", "-q", str(origin), "victim", cwd=tmp_path)
    out = git_model("remote", cwd=tmp_path / "victim").stdout.decode()
    assert str(store) in out


@pytest.mark.parametrize(
    "name",
    ["origin", "upstream", "team/models", "a.b", "x_1", "UP-stream"],
)
def test_valid_remote_names(name: str) -> None:
    assert git.valid_remote_name(name)


@pytest.mark.parametrize(
    "name",
    ["", "-x", "--upload-pack=x", ".hidden", "a..b", "a/", "/a", "a//b", "a b", "a:b",
     "a.lock", "a.", "a\nb", "a@{1}", "a*", "a?", "a[", "a\\b", "a~1", "a^"],
)  # fmt: skip
def test_invalid_remote_names(name: str) -> None:
    assert not git.valid_remote_name(name)


@pytest.mark.parametrize(
    "url",
    ["s3://bucket/prefix", "gs://b", "gcs://b/p", "az://c/p", "abfs://c/p", "abfss://c/p",
     "sftp://host/srv/models", "file:///srv/models", "https://host/x"],
)  # fmt: skip
def test_shareable_store_urls(url: str) -> None:
    assert urls.shareable_store_url(url) is None


@pytest.mark.parametrize(
    "url",
    ["-x", "ext::sh", "memory://x", "file://rel", "file:///a/../b", "s3://b\nx", "s3:// b",
     "http://u:p@h/x", "s3://", "S3", "/srv/models", "s3://b/p?x=\x00"],
)  # fmt: skip
def test_unshareable_store_urls(url: str) -> None:
    assert urls.shareable_store_url(url) is not None
