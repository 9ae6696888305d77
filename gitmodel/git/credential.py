"""Credentials through Git's own helpers: ``git credential fill``, ``approve``, ``reject``.

gitmodel never stores, prints or logs a credential: it asks Git for one when a
server answers 401, tells Git whether it worked, and keeps it in memory only.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from gitmodel.git.process import run

_UNSAFE = frozenset("\0\n\r")  # would end a line of Git's credential protocol early


@dataclass(frozen=True)
class Credential:
    """What ``git credential fill`` answered, to send back on approve or reject."""

    fields: dict[str, str] = field(repr=False)

    @property
    def username(self) -> str:
        return self.fields.get("username", "")

    @property
    def password(self) -> str:
        return self.fields.get("password", "")


def describe(url: str, use_path: bool = False) -> dict[str, str] | None:
    """The protocol, host (with port) and, with ``use_path``, path of ``url`` as Git's
    credential protocol takes them; None when the URL cannot be asked about safely."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    host = parts.hostname + (f":{port}" if port is not None else "")
    fields = {"protocol": parts.scheme, "host": host}
    if use_path and parts.path.strip("/"):
        fields["path"] = parts.path.strip("/")
    if any(ch in _UNSAFE for value in fields.values() for ch in value):
        return None
    return fields


def fill(url: str, cwd: Path | str | None = None, use_path: bool = False) -> Credential | None:
    """A username and password for ``url`` from the user's credential helpers (or a
    prompt, as Git would), or None when there is none to be had."""
    fields = describe(url, use_path)
    if fields is None:
        return None
    proc = run(["credential", "fill"], cwd=cwd, input=_encode(fields), check=False)
    if proc.returncode != 0:
        return None
    answer = dict(fields)
    for line in proc.stdout.decode("utf-8", "replace").splitlines():
        key, sep, value = line.partition("=")
        if sep:
            answer[key] = value
    if "password" not in answer:
        return None
    return Credential(answer)


def approve(credential: Credential, cwd: Path | str | None = None) -> None:
    """Tell the helpers the credential worked (they may store it)."""
    run(["credential", "approve"], cwd=cwd, input=_encode(credential.fields), check=False)


def reject(credential: Credential, cwd: Path | str | None = None) -> None:
    """Tell the helpers the credential was refused (they forget it)."""
    run(["credential", "reject"], cwd=cwd, input=_encode(credential.fields), check=False)


def _encode(fields: dict[str, str]) -> bytes:
    lines = [f"{key}={value}\n" for key, value in fields.items()
             if not any(ch in _UNSAFE for ch in key + value)]  # fmt: skip
    return ("".join(lines) + "\n").encode()
