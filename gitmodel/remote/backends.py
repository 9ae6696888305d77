"""What each fsspec backend needs so that a remote fails fast, clearly and quietly.

The remote store retries on its own (``RemoteStore.retry``, bounded by tries and by
``model.retryTimeout``), so the backends are opened with their own retry loops off
and with a bound on each request: otherwise their retries multiply ours (botocore's 5
under s3fs's 5 under our 8) and an unreachable endpoint holds a clone for many
minutes. Their loggers are silenced: gitmodel prints one error of its own instead of
the tracebacks gcsfs logs at every retry.

Backends also differ in what they get wrong. sshfs ignores the range of ``cat_file``
and returns the whole file, so ranged reads are checked (:class:`RangeCheckedFileSystem`);
OpenSSH's SFTP server drops the session on a write request over 256 KiB, so SFTP files
are opened with the block size the server announces (:func:`block_size`); and sshfs
turns host key checking off unless asked, so it is asked (``known_hosts=()``: the
user's ``~/.ssh/known_hosts`` and ``~/.ssh/config``). adlfs passes its timeouts to reads
and writes only, leaves the Azure SDK's retries on and ignores ``ls(refresh=True)``, so
its client is built again (:func:`_bounded_azure_client`) and its listings cache is off.

Failures are sorted here too: a refused credential or a missing bucket is the user's
to fix, never worth a retry, and gets a hint that names what to check for that backend.
"""

from __future__ import annotations

import importlib
import os
import socket
import types
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from gitmodel import arenas
from gitmodel.errors import UserError
from gitmodel.urls import redact, scrub

# How often a remote call is tried, and the first pause between tries (it doubles).
RETRY_TRIES = 8
RETRY_FIRST_DELAY = 0.25
RETRY_TIMEOUT = 60.0  # no retry starts later than this after a request first failed
REQUEST_TIMEOUT = 30.0  # seconds without a byte before a request is abandoned
CONNECT_TIMEOUT = 10.0  # at most, to open a connection
S3_READ_PIECE = 1 << 20  # the most one read of an S3 response asks for
OBJECT_STORES = frozenset({"s3", "s3a", "gs", "gcs", "az", "abfs", "abfss", "adl"})
SFTP = frozenset({"sftp", "ssh"})
_S3 = frozenset({"s3", "s3a"})
_GCS = frozenset({"gs", "gcs"})
_AZURE = frozenset({"az", "abfs", "abfss", "adl"})
# gcsfs >= 2025 asks a gRPC control plane for every bucket's type first (60 s per try
# against an endpoint that does not speak it); the JSON API alone serves gitmodel.
_GCSFS_GRPC_ENV = "GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT"
_QUIET_LOGGERS = ("gcsfs", "s3fs", "botocore", "aiobotocore", "fsspec", "adlfs", "azure",
                  "asyncssh", "sshfs", "google", "urllib3", "aiohttp", "asyncio")  # fmt: skip
_QUIET_WARNINGS = r"(asyncssh|sshfs|gcsfs|s3fs|adlfs|azure|botocore|aiobotocore|google)(\.|$)"


def protocol_of(url: str) -> str:
    """The scheme of ``url`` (the last of a chain such as ``simplecache::s3://``)."""
    last = url.rsplit("::", 1)[-1]
    return last.split("://", 1)[0].lower() if "://" in last else "file"


def open_filesystem(url: str, options: dict[str, Any], timeout: float) -> tuple[Any, str]:
    """The fsspec filesystem and root path of ``url``, with each request bounded by
    ``timeout`` seconds (connecting by at most :data:`CONNECT_TIMEOUT`) and the backend's
    own retries off. SSH connects here, so this can fail like any remote call."""
    protocol = protocol_of(url)
    quiet_backend_loggers()
    arenas.settle()  # before the backend starts its event loop's thread
    if protocol in _GCS:
        os.environ.setdefault(_GCSFS_GRPC_ENV, "false")  # read when gcsfs is imported
    import fsspec.core  # ~0.15 s: only commands that reach a remote pay for it

    bounded = with_timeouts(protocol, with_needs(protocol, options, url), timeout)
    try:
        fs, root = fsspec.core.url_to_fs(url, **bounded)
    except ValueError as exc:  # adlfs: no account, or no way to reach it
        if protocol not in _AZURE:
            raise
        raise UserError(f"cannot use {redact(url)}: Azure needs a storage account and a way "
                        f"to sign in ({describe(exc)})", hint=NEEDS["az"]) from None  # fmt: skip
    _single_try(fs, protocol, timeout)
    return fs, root


def reopen_filesystem(url: str, options: dict[str, Any], timeout: float) -> Any:
    """A new connection for ``url`` (fsspec would hand back its cached, closed one)."""
    import fsspec.core

    bounded = with_timeouts(protocol_of(url), with_needs(protocol_of(url), options, url), timeout)
    fs, _ = fsspec.core.url_to_fs(url, skip_instance_cache=True, **bounded)
    _single_try(fs, protocol_of(url), timeout)
    return fs


def with_timeouts(protocol: str, options: dict[str, Any], timeout: float) -> dict[str, Any]:
    """``options`` plus the backend's names for a connect and a read timeout, and for no
    retries of its own. What the user set is kept."""
    out = dict(options)
    connect = min(timeout, CONNECT_TIMEOUT)
    if protocol in _S3:
        config = {"connect_timeout": connect, "read_timeout": timeout,
                  "retries": {"total_max_attempts": 1}}  # fmt: skip
        out["config_kwargs"] = config | dict(out.get("config_kwargs") or {})
    elif protocol in _GCS:
        import aiohttp

        out.setdefault("requests_timeout", aiohttp.ClientTimeout(sock_connect=connect,
                                                                 sock_read=timeout))  # fmt: skip
    elif protocol in _AZURE:  # (adlfs bounds only some calls: see _bounded_azure_client)
        out.setdefault("connection_timeout", connect)
        out.setdefault("read_timeout", timeout)
        out.setdefault("use_listings_cache", False)  # adlfs ignores ls(refresh=True)
    elif protocol in SFTP:
        out.setdefault("known_hosts", ())  # sshfs's default, None, trusts any host key
        out.setdefault("connect_timeout", connect)
        out.setdefault("keepalive_interval", timeout)  # a silent server is dropped
        out.setdefault("keepalive_count_max", 1)
    return out


def _single_try(fs: Any, protocol: str, timeout: float) -> None:
    """Turn the backend's own retry loop off: ours is bounded in time, theirs is not
    (gcsfs sleeps about 31 s over its 6 tries, s3fs retries 5 times, Azure's SDK 3
    times from 15 s apart)."""
    if protocol in _S3 and hasattr(fs, "retries"):
        fs.retries = 1
    request = getattr(type(fs), "_request", None)
    if protocol in _GCS and hasattr(request, "__wrapped__"):
        retry_request = importlib.import_module("gcsfs.retry").retry_request
        once = retry_request(retries=1)(request.__wrapped__)  # type: ignore[union-attr]
        fs._request = types.MethodType(once, fs)
    bounded = getattr(fs, "_gitmodel_bounded", False)
    if protocol in _AZURE and hasattr(fs, "service_client") and not bounded:
        fs.service_client = _bounded_azure_client(fs.service_client, timeout)
        fs._gitmodel_bounded = True  # fsspec hands the same instance out again


def _bounded_azure_client(client: Any, timeout: float) -> Any:
    """adlfs passes its ``read_timeout`` to reads and writes only, not to listings,
    ``exists`` or ``info``, and builds its client with the SDK's retries on: the same
    client, built again with every request bounded and no retries of its own."""
    return type(client)(client.url, credential=client.credential, retry_total=0,
                        connection_timeout=min(timeout, CONNECT_TIMEOUT),
                        read_timeout=timeout)  # fmt: skip


def quiet_backend_loggers() -> None:
    """Keep backends' log records (tracebacks at every retry) and their warnings (e.g.
    asyncssh's about DSA on import, under cryptography 51) off stderr: the failure
    reaches the user once, as gitmodel's own one-line error."""
    import logging  # here: only a remote that loads a backend needs it

    warnings.filterwarnings("ignore", module=_QUIET_WARNINGS)
    for name in _QUIET_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(h, logging.NullHandler) for h in logger.handlers):
            logger.addHandler(logging.NullHandler())  # stops the last-resort stderr handler
        logger.propagate = False


def block_size(protocols: set[str], wanted: int) -> int | None:
    """The block size to open a remote file with: ``wanted``, or the server's own
    limit on SFTP (a larger write request makes OpenSSH drop the session)."""
    return None if protocols & SFTP else wanted


class RangeCheckedFileSystem:
    """Wraps an fsspec filesystem: a ranged ``cat_file`` never returns more than the
    range. A backend that answered with more (sshfs returns the whole file) is read
    with ``open``/``seek``/``read`` from then on; SFTP is, from the start, so that a
    huge file on the server is never read whole into memory. On S3 a range is read into
    one buffer of its size (:func:`_s3_range`). Fewer bytes than asked pass through:
    the caller retries a short read."""

    def __init__(self, fs: Any, seek_reads: bool = False) -> None:
        self._fs = fs
        self.seek_reads = seek_reads

    def __getattr__(self, name: str) -> Any:
        return getattr(self._fs, name)

    def cat_file(self, path: str, start: int | None = None, end: int | None = None,
                 **kwargs: Any) -> bytes | bytearray:  # fmt: skip
        if start is None or end is None or not 0 <= start <= end:
            return bytes(self._fs.cat_file(path, start=start, end=end, **kwargs))
        if not kwargs and start < end and _is_s3fs(self._fs) and not self.seek_reads:
            ranged = _s3_range(self._fs, path, start, end)
            if ranged is not None:
                return ranged
            self.seek_reads = True  # it ignored the range: never ask it for one again
        if not self.seek_reads:
            data = bytes(self._fs.cat_file(path, start=start, end=end, **kwargs))
            if len(data) <= end - start:
                return data
            self.seek_reads = True  # it ignored the range: never ask it for one again
        return self._read_range(path, start, end)

    def _read_range(self, path: str, start: int, end: int) -> bytes:
        with self._fs.open(path, "rb") as f:
            f.seek(start)
            return bytes(f.read(end - start))


def _is_s3fs(fs: Any) -> bool:
    return type(fs).__module__.startswith("s3fs.") and hasattr(fs, "_call_s3")


def _s3_range(fs: Any, path: str, start: int, end: int) -> bytearray | None:
    """Bytes ``start:end`` of an S3 object, read as they arrive into one buffer of the
    size the answer announces (a bound past the object's end is clipped there). s3fs's
    ``cat_file`` gathers the response's pieces and then joins them, so each ranged read
    of a clone (8 MiB) held twice its size at its end. Never more than the range, nor
    than the answer announced, is read; fewer bytes pass through, for the caller to
    retry. None, with nothing read, when the answer is not that range (a server that
    ignores ranges)."""
    from fsspec.asyn import sync

    bucket, key, version = fs.split_path(path)
    version_kw = {"VersionId": version} if version else {}

    async def read() -> bytearray | None:
        response = await fs._call_s3("get_object", Bucket=bucket, Key=key,
                                     Range=f"bytes={start}-{end - 1}", **version_kw)  # fmt: skip
        body = response["Body"]
        length = response.get("ContentLength")  # the range as the object clips it
        try:
            if not str(response.get("ContentRange", "")).startswith(f"bytes {start}-"):
                return None
            data = bytearray(end - start if not isinstance(length, int) or length < 0
                             else min(length, end - start))  # fmt: skip
            view = memoryview(data)
            got = 0
            while got < len(data):
                piece = await body.read(min(S3_READ_PIECE, len(data) - got))
                if not piece:
                    break
                view[got : got + len(piece)] = piece
                got += len(piece)
            view.release()
            del data[got:]
            return data
        finally:
            body.close()

    result: bytearray | None = sync(fs.loop, read)
    return result


# -- failures the user must fix


class AccessDenied(UserError):
    """The backend refused the credentials, or the host: no retry can help."""


class BucketMissing(UserError):
    """The bucket (or container) the remote URL names does not exist."""


_DENIED_NAMES = frozenset({
    "NoCredentialsError", "PartialCredentialsError", "CredentialRetrievalError",
    "DefaultCredentialsError", "RefreshError", "ClientAuthenticationError", "PermissionDenied",
})  # fmt: skip
_DENIED_CODES = frozenset({
    "AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "ExpiredToken",
    "InvalidToken", "AuthorizationHeaderMalformed", "AllAccessDisabled", "AuthenticationFailed",
    "AuthorizationFailure", "AuthorizationPermissionMismatch",
})  # fmt: skip
_MISSING_CODES = frozenset({"NoSuchBucket", "ContainerNotFound"})


def _chain(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def _names(exc: BaseException) -> set[str]:
    return {cls.__name__ for cls in type(exc).__mro__}


def _code(exc: BaseException) -> str:
    """The service's error code: botocore's ``response``, Azure's ``error_code``."""
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        return str(response.get("Error", {}).get("Code", ""))
    code = getattr(exc, "error_code", "") or ""
    return str(getattr(code, "value", code))  # Azure's may be an enum member


def is_denied(exc: BaseException) -> bool:
    """Whether ``exc`` says the credentials were refused (or missing)."""
    for link in _chain(exc):
        if isinstance(link, PermissionError) or _names(link) & _DENIED_NAMES:
            return True
        if _code(link) in _DENIED_CODES or getattr(link, "code", None) in (401, 403):
            return True
        if getattr(link, "status_code", None) in (401, 403):  # Azure's HttpResponseError
            return True
        if isinstance(link, OSError) and str(link).startswith("Forbidden:"):  # gcsfs's 403
            return True
    return False


def is_unresolvable(exc: BaseException) -> bool:
    """Whether ``exc`` says a host name does not exist (the resolver's answer, not its
    temporary failure): no retry will find it."""
    for link in _chain(exc):
        found = getattr(link, "os_error", link)  # aiohttp's DNS error holds the resolver's
        if isinstance(found, socket.gaierror) and found.errno in _NO_SUCH_NAME:
            return True
    return False


_NO_SUCH_NAME = {socket.EAI_NONAME, getattr(socket, "EAI_NODATA", socket.EAI_NONAME)}


def is_host_key_unknown(exc: BaseException) -> bool:
    return any("HostKeyNotVerifiable" in _names(link) for link in _chain(exc))


def names_missing_bucket(exc: BaseException) -> bool:
    """Whether ``exc`` says the bucket itself is missing (S3 and Azure say so; GCS does not)."""
    return any(_code(link) in _MISSING_CODES for link in _chain(exc))


def is_connection_closed(exc: BaseException) -> bool:
    """Whether an SSH connection is gone (sshfs never opens a new one by itself)."""
    return any(_names(link) & {"SFTPConnectionLost", "SFTPNoConnection", "ConnectionLost"}
               for link in _chain(exc))  # fmt: skip


def bucket_of(protocol: str, root: str) -> str:
    return root.strip("/").split("/", 1)[0] if protocol in OBJECT_STORES else ""


def bucket_missing(display: str, protocol: str, bucket: str) -> BucketMissing:
    create = {"s3": f"aws s3 mb s3://{bucket}", "gs": f"gcloud storage buckets create gs://{bucket}",
              "az": f"az storage container create --name {bucket}"}  # fmt: skip
    family = "s3" if protocol in _S3 else "gs" if protocol in _GCS else "az"
    what = "container" if family == "az" else "bucket"
    return BucketMissing(f"{display}: {what} {bucket!r} does not exist",
                         hint=f"create it ({create[family]}), or point the remote elsewhere: "
                         "git model remote set [NAME] URL")  # fmt: skip


def access_denied(display: str, protocol: str, reason: str) -> AccessDenied:
    return AccessDenied(f"{display}: access denied ({reason})", hint=_DENIED_HINTS.get(
        _family(protocol), "check that you may read and write the remote's folder"))  # fmt: skip


def host_key_unknown(display: str, reason: str) -> AccessDenied:
    return AccessDenied(f"{display}: the server's SSH host key is not trusted ({reason})",
                        hint="check it, then add it to ~/.ssh/known_hosts "
                        "(connect once with ssh)")  # fmt: skip


def config_file_missing(display: str, protocol: str, exc: OSError) -> UserError:
    """A file the backend's configuration names is missing (say, SSH's known_hosts)."""
    hint = "create it, or fix the setting that names it"
    if protocol in SFTP:
        hint = "SSH host keys come from ~/.ssh/known_hosts (or UserKnownHostsFile in " \
               "~/.ssh/config): connect once with ssh to add the host's"  # fmt: skip
    return UserError(f"cannot open {display}: no file {exc.filename or exc}", hint=hint)


_DENIED_HINTS = {
    "s3": "check the AWS credentials (AWS_PROFILE, ~/.aws/credentials or "
    "remote.NAME.modelprofile) and that they may read and write this bucket",
    "gs": "check the Google credentials (GOOGLE_APPLICATION_CREDENTIALS or "
    "`gcloud auth application-default login`) and the bucket's permissions",
    "az": "check the Azure credentials (AZURE_STORAGE_CONNECTION_STRING, or "
    "AZURE_STORAGE_ACCOUNT_NAME with a key or SAS token, or `az login`) and the container's "
    "permissions",
    "sftp": "check the SSH user and key for this host (User and IdentityFile in ~/.ssh/config) "
    "and the folder's permissions",
}


def _family(protocol: str) -> str:
    for family, members in (("s3", _S3), ("gs", _GCS), ("az", _AZURE), ("sftp", SFTP)):
        if protocol in members:
            return family
    return protocol


def describe(exc: Exception) -> str:
    """One line about a backend failure (its own wording can span lines)."""
    text = str(exc).strip().splitlines()
    if text:
        return scrub(text[0])
    return "timed out" if isinstance(exc, TimeoutError) else type(exc).__name__


# -- what each backend needs, said in errors and by `git model doctor`

NEEDS = {
    "s3": "S3 needs credentials: AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, a profile "
    "(AWS_PROFILE, ~/.aws/credentials, remote.NAME.modelprofile) or an instance role; "
    "remote.NAME.modelendpoint for an S3-compatible store, modelregion for the region",
    "gs": "GCS needs credentials: GOOGLE_APPLICATION_CREDENTIALS (a key file), "
    "`gcloud auth application-default login`, or a Google Cloud VM's; GOOGLE_CLOUD_PROJECT "
    "names the project where they do not. Without any, buckets are read anonymously",
    "az": "Azure needs AZURE_STORAGE_CONNECTION_STRING, or AZURE_STORAGE_ACCOUNT_NAME (or "
    "remote.NAME.modelendpoint https://ACCOUNT.blob.core.windows.net) with "
    "AZURE_STORAGE_ACCOUNT_KEY, AZURE_STORAGE_SAS_TOKEN, a service principal "
    "(AZURE_STORAGE_CLIENT_ID, _CLIENT_SECRET, _TENANT_ID) or `az login`",
    "sftp": "SFTP needs the host in ~/.ssh/known_hosts and a user and key that ssh HOST "
    "uses (~/.ssh/config)",
}
_GCS_ADC = "application_default_credentials.json"  # what gcloud auth application-default writes
_GCE_PRODUCT = Path("/sys/class/dmi/id/product_name")  # "Google Compute Engine" on GCE


def credential_sources(protocol: str, options: dict[str, Any] | None = None) -> list[str]:
    """Where credentials for ``protocol`` would come from here, found without asking any
    server (environment variables, files, machine kind); empty when none is."""
    env = os.environ
    options = options or {}
    family = _family(protocol)
    found = [name for name in _CREDENTIAL_ENV.get(family, ()) if env.get(name)]
    if family == "s3":
        found += ["remote.NAME.modelprofile"] if "profile" in options else []
        found += [str(f) for f in (Path.home() / ".aws" / "credentials",
                                   Path.home() / ".aws" / "config") if f.is_file()]  # fmt: skip
    elif family == "gs":
        adc = _gcloud_config() / _GCS_ADC
        found += [str(adc)] if adc.is_file() else []
        found += ["a Google Cloud VM"] if _on_gce() else []
    elif family == "az":  # an account first (a connection string names its own)
        found += ["remote.NAME.modelendpoint"] if "endpoint_url" in options else []
        if not found:
            return []
        found += [name for name in _AZURE_SIGN_IN if env.get(name)]
        found += ["az login"] if (Path.home() / ".azure" / "azureProfile.json").is_file() else []
    return found


_CREDENTIAL_ENV = {
    "s3": ("AWS_ACCESS_KEY_ID", "AWS_PROFILE", "AWS_WEB_IDENTITY_TOKEN_FILE",
           "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "AWS_CONTAINER_CREDENTIALS_FULL_URI"),
    "gs": ("GOOGLE_APPLICATION_CREDENTIALS", "FSSPEC_GS_TOKEN", "STORAGE_EMULATOR_HOST",
           "GCE_METADATA_HOST", "K_SERVICE"),
    "az": ("AZURE_STORAGE_CONNECTION_STRING", "AZURE_STORAGE_ACCOUNT_NAME"),
}  # fmt: skip
_AZURE_SIGN_IN = ("AZURE_STORAGE_ACCOUNT_KEY", "AZURE_STORAGE_SAS_TOKEN", "AZURE_STORAGE_CLIENT_ID",
                  "AZURE_CLIENT_ID")  # fmt: skip


def _gcloud_config() -> Path:
    return Path(os.environ.get("CLOUDSDK_CONFIG") or Path.home() / ".config" / "gcloud")


def _on_gce() -> bool:
    try:
        return _GCE_PRODUCT.read_text().startswith("Google")
    except OSError:
        return False


def with_needs(protocol: str, options: dict[str, Any], url: str = "") -> dict[str, Any]:
    """``options`` adjusted to what the backend needs to work here:

    - GCS without any credentials here reads anonymously (``token="anon"``), as gcsfs
      would in the end, instead of first asking a metadata server that only Google Cloud
      VMs have (15 s of silence, then the same anonymous reads);
    - Azure takes ``modelendpoint`` (an https account endpoint) as adlfs's account host
      and name, and refuses one adlfs cannot use instead of ignoring it."""
    out = dict(options)
    if protocol in _GCS and "token" not in out and not credential_sources(protocol):
        out["token"] = "anon"
    if protocol in _AZURE and "endpoint_url" in out:
        out.update(azure_endpoint(out.pop("endpoint_url"), redact(url)))
    return out


def azure_endpoint(endpoint: str, display: str = "") -> dict[str, str]:
    """adlfs's options for ``modelendpoint`` on an ``az://`` remote: it reaches an account
    by its blob host over https (``account_host``), or an emulator's http:// endpoint only
    through a connection string, which names its own endpoint."""
    from urllib.parse import urlsplit

    parts = urlsplit(endpoint)
    where = f"{display}: " if display else ""
    if os.environ.get("AZURE_STORAGE_CONNECTION_STRING"):
        raise UserError(f"{where}remote.NAME.modelendpoint ({endpoint}) and "
                        "AZURE_STORAGE_CONNECTION_STRING both name the Azure endpoint",
                        hint="keep one: the connection string's BlobEndpoint, or unset it "
                        "and keep modelendpoint with the account's credentials")  # fmt: skip
    if parts.scheme != "https" or not parts.hostname or parts.path.strip("/"):
        raise UserError(f"{where}an az:// remote's modelendpoint must be an account's https "
                        f"endpoint (https://ACCOUNT.blob.core.windows.net), not {endpoint}",
                        hint="an emulator (Azurite) is reached through "
                        "AZURE_STORAGE_CONNECTION_STRING (…;BlobEndpoint=http://…); unset "
                        "remote.NAME.modelendpoint")  # fmt: skip
    host = parts.netloc
    account = os.environ.get("AZURE_STORAGE_ACCOUNT_NAME") or host.split(".", 1)[0]
    return {"account_host": host, "account_name": account}


def family(protocol: str) -> str:
    """The backend a protocol belongs to: ``s3``, ``gs``, ``az``, ``sftp``, or itself."""
    return _family(protocol)
