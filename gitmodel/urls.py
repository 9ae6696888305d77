"""Remote URLs: what may be shown of them. Pure."""

from __future__ import annotations

from urllib.parse import SplitResult, urlsplit, urlunsplit

_SECRET_QUERY_KEYS = ("sig", "signature", "token", "key", "secret", "password", "credential")


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
