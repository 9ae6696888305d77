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
    return urlunsplit(SplitResult(parts.scheme, netloc, parts.path, query, ""))


def _redact_pair(pair: str) -> str:
    key, sep, _ = pair.partition("=")
    if sep and any(word in key.lower() for word in _SECRET_QUERY_KEYS):
        return f"{key}=***"
    return pair


def scrub(text: str, environ: Mapping[str, str] | None = None) -> str:
    """``text`` (say, a backend's error message) without credentials: user info in
    URLs, secret-looking query values, and the values of credential variables."""
    text = _SECRET_PARAM.sub(r"\1***", _USERINFO.sub(r"\1***@", text))
    env = os.environ if environ is None else environ
    for name in SECRET_ENV:
        value = env.get(name, "")
        if len(value) >= 8 and value in text:
            text = text.replace(value, "***")
    return text
