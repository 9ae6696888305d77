"""Remote URLs and messages: what may be shown of them. No I/O."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from urllib.parse import SplitResult, urlsplit, urlunsplit

_SECRET_QUERY_KEYS = ("sig", "signature", "token", "key", "secret", "password", "credential")
SECRET_ENV = (
    "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AZURE_STORAGE_KEY",
    "AZURE_STORAGE_ACCOUNT_KEY", "AZURE_STORAGE_SAS_TOKEN", "AZURE_STORAGE_CONNECTION_STRING",
    "AZURE_CLIENT_SECRET", "GOOGLE_OAUTH_ACCESS_TOKEN",
)  # fmt: skip
_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^\s/@]+@")
_SECRET_PARAM = re.compile(
    r"(?i)([?&][^=&\s]*(?:" + "|".join(_SECRET_QUERY_KEYS) + r")[^=&\s]*=)[^&\s]+"
)
# the secret parts of an Azure connection string (``…;AccountKey=…;…``)
_CONNECTION_SECRET = re.compile(r"(?i)\b(AccountKey|SharedAccessSignature)=([^;\s]+)")


def redact(url: str) -> str:
    """``url`` without credentials: user info and secret-looking query values become ``***``."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<invalid url>"
    netloc = parts.netloc
    if "@" in netloc:
        netloc = "***@" + netloc.rsplit("@", 1)[1]
    query = "&".join(_redact_pair(pair) for pair in parts.query.split("&")) if parts.query else ""
    shown = urlunsplit(SplitResult(parts.scheme, netloc, parts.path, query, ""))
    if parts.scheme and not netloc and url[len(parts.scheme) :].startswith("://"):
        shown = f"{parts.scheme}://{shown[len(parts.scheme) + 1 :].removeprefix('//')}"
    return shown  # ``s3://`` and ``s3:///x`` shown as given, not as ``s3:`` and ``s3:/x``


def _redact_pair(pair: str) -> str:
    key, sep, _ = pair.partition("=")
    if sep and any(word in key.lower() for word in _SECRET_QUERY_KEYS):
        return f"{key}=***"
    return pair


def scrub(text: str, environ: Mapping[str, str] | None = None) -> str:
    """``text`` (say, a backend's error message) without credentials: user info in
    URLs, secret-looking query values, the key or SAS token of a connection string, and
    the values of credential variables (and the key alone of a connection string's)."""
    text = _SECRET_PARAM.sub(r"\1***", _USERINFO.sub(r"\1***@", text))
    text = _CONNECTION_SECRET.sub(r"\1=***", text)
    env = os.environ if environ is None else environ
    for name in SECRET_ENV:
        value = env.get(name, "")
        parts = [match[2] for match in _CONNECTION_SECRET.finditer(value)]
        for secret in (value, *parts):  # a connection string, and the key alone
            if len(secret) >= 8 and secret in text:
                text = text.replace(secret, "***")
    return text


# stores a model remote may be: object storage, SSH, or an absolute local folder (a
# team's network mount); never ``memory`` (gone when the command ends), ``ext::`` or
# anything else fsspec could resolve to code, to another process or to a path relative
# to wherever a command runs
SHAREABLE_SCHEMES = frozenset({"s3", "gs", "gcs", "az", "abfs", "abfss", "sftp", "file",
                               "http", "https"})  # fmt: skip
_UNSAFE_CHARS = re.compile(r"[\x00-\x20\x7f\\]")
STORE_URL_FORMS = "s3://BUCKET/PREFIX, gs://BUCKET/PREFIX, az://CONTAINER/PREFIX, " \
                  "sftp://HOST/PATH or file:///ABSOLUTE/PATH"  # fmt: skip


def shareable_store_url(url: str) -> str | None:
    """Why a store URL from a committed file is refused, or None when it is fine."""
    return store_url_problem(url, shared=True)


def store_url_problem(url: str, shared: bool = False) -> str | None:
    """Why ``url`` cannot be a repository's model store, or None when it is fine: a known
    scheme with a bucket or host, or an absolute local folder (``file:///srv/models``;
    in your own config also ``/srv/models``). ``shared``: from a committed file."""
    if not url:
        return "the store URL is empty"
    if _UNSAFE_CHARS.search(url):
        return "a URL may not hold spaces, control characters or backslashes"
    if url.startswith("/") and not shared:
        url = "file://" + url
    scheme, sep, rest = url.partition("://")
    if sep and scheme == "memory":
        return "memory:// holds objects only until the command ends: a model store must keep them"
    if not sep or scheme not in SHAREABLE_SCHEMES:
        path = "" if shared else " or be an absolute path"
        return f"a store URL must start with one of {', '.join(sorted(SHAREABLE_SCHEMES))}://{path}"
    try:
        parts = urlsplit(url)
    except ValueError:
        return "not a URL"
    if parts.username is not None or parts.password is not None:
        return "a URL may not carry credentials"
    if scheme == "file":
        if parts.netloc or not rest.startswith("/"):
            return "a file:// URL must name an absolute path (file:///srv/models)"
        if ".." in rest.split("/"):
            return "a store path may not contain '..'"
    elif not parts.netloc:
        return f"a {scheme}:// URL must name a bucket or host"
    return None


def shown_url(url: str) -> str:
    """``url`` as a message shows it: redacted, and an empty one said to be empty."""
    return redact(url) if url else "(empty)"


def valid_endpoint(url: str) -> str | None:
    """Why an endpoint URL (``modelendpoint``) from a committed file is refused, or None."""
    if _UNSAFE_CHARS.search(url):
        return "a URL may not hold spaces, control characters or backslashes"
    try:
        parts = urlsplit(url)
    except ValueError:
        return "not a URL"
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return "an endpoint must be an http:// or https:// URL"
    if parts.username is not None or parts.password is not None:
        return "a URL may not carry credentials"
    return None
