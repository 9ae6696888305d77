"""Credentials never show: not in output, errors, traces, pointers or anything committed."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from conftest import free_port, git_model, run_git
from test_remotes import author, commit_versions, new_user, origin, s3_remote, versions

from gitmodel.urls import redact, scrub

__all__ = ["author", "origin", "s3_remote"]  # fixtures shared with test_remotes

KEY_ID = "AKIAMARKERKEY0000001"
SECRET = "marker/Secret+Access+Key/0123456789abcdef"
ENDPOINT_PASSWORD = "endpoint-password-marker"
MARKERS = (KEY_ID, SECRET, ENDPOINT_PASSWORD)


def assert_no_secret(*outputs: bytes) -> None:
    for output in outputs:
        for marker in MARKERS:
            assert marker.encode() not in output, output.decode(errors="replace")[-2000:]


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("s3://AKIA:secretkey@bucket/p", "s3://***@bucket/p"),
        ("see https://u:p@host:1/x and ftp://a@b", "see https://***@host:1/x and ftp://***@b"),
        ("GET /k?X-Amz-Signature=abc&X-Amz-Credential=def&part=1",
         "GET /k?X-Amz-Signature=***&X-Amz-Credential=***&part=1"),
        ("plain text, no urls", "plain text, no urls"),
        ("bad DefaultEndpointsProtocol=https;AccountName=a;AccountKey=k3y+/x==;EndpointSuffix=s",
         "bad DefaultEndpointsProtocol=https;AccountName=a;AccountKey=***;EndpointSuffix=s"),
        ("BlobEndpoint=https://a.example/;SharedAccessSignature=sv=1&sig=abc",
         "BlobEndpoint=https://a.example/;SharedAccessSignature=***"),
    ],
)  # fmt: skip
def test_scrub_removes_credentials_from_text(text: str, shown: str) -> None:
    assert scrub(text, {}) == shown
    assert scrub(f"token {SECRET} leaked", {"AWS_SECRET_ACCESS_KEY": SECRET}) == "token *** leaked"
    assert redact("https://user:pw@host/repo?sig=1") == "https://***@host/repo?sig=***"


def test_scrub_removes_the_key_of_a_connection_string_in_the_environment() -> None:
    connection = f"DefaultEndpointsProtocol=https;AccountName=a;AccountKey={SECRET};"
    environ = {"AZURE_STORAGE_CONNECTION_STRING": connection}
    assert scrub(f"signing with {SECRET} failed", environ) == "signing with *** failed"
    assert SECRET not in scrub(f"cannot parse {connection}", environ)


def test_credentials_never_appear_anywhere(
    author: Path, tmp_path: Path, s3_remote: tuple[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", KEY_ID)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET)
    monkeypatch.setenv("GIT_MODEL_TRACE", "1")
    url, endpoint = s3_remote
    git_model("remote", "set", url, cwd=author)
    run_git("config", "remote.origin.modelendpoint", endpoint, cwd=author)
    commit_versions(author, versions()[:2])
    outputs = [run_git("push", "origin", "main", cwd=author)]
    outputs.append(git_model("push", "--all", cwd=author))
    outputs.append(git_model("env", cwd=author))
    outputs.append(git_model("remote", cwd=author))

    env = {**new_user(tmp_path, "s"), "GIT_MODEL_TRACE": "1"}
    clone = tmp_path / "s"
    args = ["-c", f"remote.origin.modelurl={url}", "-c", f"remote.origin.modelendpoint={endpoint}"]
    outputs.append(run_git("clone", *args, str(tmp_path / "origin.git"), str(clone),
                           cwd=tmp_path, env=env))  # fmt: skip

    # an endpoint that carries a password and cannot be reached: the failure is explained…
    dead = f"http://leaky:{ENDPOINT_PASSWORD}@127.0.0.1:{free_port()}"
    run_git("config", "remote.origin.modelendpoint", dead, cwd=clone, env=env)
    run_git("config", "model.retries", "1", cwd=clone, env=env)
    run_git("checkout", "-q", "HEAD~1", cwd=clone, env={**env, "GIT_MODEL_SKIP_SMUDGE": "1"})
    failed = git_model("pull", cwd=clone, env={**env, "AWS_MAX_ATTEMPTS": "1"}, check=False)
    assert failed.returncode == 1 and b"Traceback" not in failed.stderr
    assert b"could not download" in failed.stderr  # …without the password
    outputs.append(failed)

    assert_no_secret(*(p.stdout + p.stderr for p in outputs))
    for repo in (author, clone):  # nothing committed or stored carries them
        objects = run_git("cat-file", "--batch-all-objects", "--batch", cwd=repo).stdout
        assert_no_secret(objects)
        for path in (repo / ".git" / "model").rglob("*"):
            if path.is_file():
                assert_no_secret(path.read_bytes())
    assert os.environ["AWS_SECRET_ACCESS_KEY"] == SECRET  # the markers really were in use
