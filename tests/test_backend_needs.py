"""What each backend needs, said in its errors and by `git model doctor`: Azure an account
and a way to sign in (and an https account endpoint, or a connection string), GCS
credentials (without any, anonymous reads at once, never a wait on a metadata server)."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest
from conftest import git_model, run_git
from hygiene_support import commit_file, make_author

from gitmodel.errors import UserError
from gitmodel.remote import backends

AZURE_VARS = [name for name in os.environ if name.startswith(("AZURE_", "FSSPEC_AZ"))]
GOOGLE_VARS = ["GOOGLE_APPLICATION_CREDENTIALS", "FSSPEC_GS_TOKEN", "STORAGE_EMULATOR_HOST",
               "GCE_METADATA_HOST", "K_SERVICE", "CLOUDSDK_CONFIG"]  # fmt: skip


@pytest.fixture
def no_cloud_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [*AZURE_VARS, *GOOGLE_VARS, "AZURE_STORAGE_CONNECTION_STRING",
                 "AZURE_STORAGE_ACCOUNT_NAME", "AZURE_STORAGE_ACCOUNT_KEY"]:  # fmt: skip
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(backends, "_GCE_PRODUCT", Path("/nonexistent"))


def test_azure_without_an_account_says_what_it_needs(
    tmp_path: Path, no_cloud_credentials: None
) -> None:
    pytest.importorskip("adlfs")
    _, repo = make_author(tmp_path)
    run_git("config", "remote.origin.modelurl", "az://models/team", cwd=repo)
    commit_file(repo, "a.bin")
    proc = git_model("push", cwd=repo, check=False)
    text = proc.stderr.decode()
    assert proc.returncode == 1 and "Traceback" not in text, text
    assert "cannot use az://models/team: Azure needs a storage account and a way to sign in" in text
    assert "hint: Azure needs AZURE_STORAGE_CONNECTION_STRING, or AZURE_STORAGE_ACCOUNT" in text
    assert "check the URL scheme" not in text
    out = git_model("doctor", cwd=repo, check=False).stdout.decode()
    assert "problem  no az:// credentials or account here" in out
    assert "fix:   Azure needs AZURE_STORAGE_CONNECTION_STRING" in out
    assert out.index("local store writable") < out.index("no az:// credentials")  # all checks ran


@pytest.mark.parametrize(
    ("endpoint", "connection", "problem"),
    [("http://127.0.0.1:10000/devstoreaccount1", False, "must be an account's https endpoint"),
     ("https://acct.blob.core.windows.net/extra", False, "must be an account's https endpoint"),
     ("https://acct.blob.core.windows.net", True, "both name the Azure endpoint")],
)  # fmt: skip
def test_an_azure_endpoint_adlfs_cannot_use_is_refused(
    endpoint: str, connection: bool, problem: str, monkeypatch: pytest.MonkeyPatch,
    no_cloud_credentials: None,
) -> None:  # fmt: skip
    if connection:
        monkeypatch.setenv("AZURE_STORAGE_CONNECTION_STRING", "AccountName=a;AccountKey=b")
    with pytest.raises(UserError, match=problem):
        backends.with_needs("az", {"endpoint_url": endpoint}, "az://c/p")


def test_an_azure_account_endpoint_names_the_account_for_adlfs(
    monkeypatch: pytest.MonkeyPatch, no_cloud_credentials: None
) -> None:
    options = backends.with_needs("az", {"endpoint_url": "https://acct.blob.core.windows.net/"})
    assert options == {"account_host": "acct.blob.core.windows.net", "account_name": "acct"}
    monkeypatch.setenv("AZURE_STORAGE_ACCOUNT_NAME", "other")
    options = backends.with_needs("az", {"endpoint_url": "https://models.example.com"})
    assert options == {"account_host": "models.example.com", "account_name": "other"}


def on_google_cloud() -> bool:
    product = Path("/sys/class/dmi/id/product_name")
    return product.is_file() and product.read_text(errors="replace").startswith("Google")


@pytest.mark.skipif(on_google_cloud(), reason="a Google Cloud VM has credentials of its own")
def test_gcs_without_credentials_reads_anonymously_and_doctor_says_so(
    tmp_path: Path, gcs_endpoint: str, no_cloud_credentials: None
) -> None:
    import gcsfs

    bucket = f"b{uuid.uuid4().hex[:12]}"
    gcsfs.GCSFileSystem(endpoint_url=gcs_endpoint, token="anon").mkdir(bucket)
    assert backends.with_needs("gs", {})["token"] == "anon"
    _, repo = make_author(tmp_path)
    for key, value in {"remote.origin.modelurl": f"gs://{bucket}/team",
                       "remote.origin.modelendpoint": gcs_endpoint}.items():  # fmt: skip
        run_git("config", key, value, cwd=repo)
    commit_file(repo, "a.bin")
    proc = run_git("push", "origin", "main", cwd=repo)  # the emulator takes anonymous writes
    assert b"bucket type" not in proc.stderr and b"Traceback" not in proc.stderr, proc.stderr
    assert b"uploaded 1 object(s)" in proc.stderr
    out = git_model("doctor", cwd=repo, check=False).stdout.decode()
    assert "problem  no Google credentials here: reading anonymously, pushing refused" in out
    assert "fix:   GCS needs credentials: GOOGLE_APPLICATION_CREDENTIALS" in out
    assert f"ok       remote origin reachable: gs://{bucket}/team" in out


def test_credentials_found_here_are_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, no_cloud_credentials: None
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    assert backends.credential_sources("gs") == []
    adc = tmp_path / ".config" / "gcloud" / "application_default_credentials.json"
    adc.parent.mkdir(parents=True)
    adc.write_text("{}")
    assert backends.credential_sources("gs") == [str(adc)]
    assert "token" not in backends.with_needs("gs", {})  # gcsfs finds them itself
    monkeypatch.setenv("AZURE_STORAGE_ACCOUNT_NAME", "acct")
    monkeypatch.setenv("AZURE_STORAGE_SAS_TOKEN", "sv=x")
    assert backends.credential_sources("az") == ["AZURE_STORAGE_ACCOUNT_NAME",
                                                 "AZURE_STORAGE_SAS_TOKEN"]  # fmt: skip
    assert backends.credential_sources("sftp") == []
