"""Running ``ssh`` the way Git does, for an LFS host's ``git-lfs-authenticate``.

The command is Git's: ``GIT_SSH_COMMAND`` (a shell command, as Git runs it), else
``core.sshCommand``, else ``GIT_SSH`` (a program), else ``ssh``. The destination and
the path come from a remote URL, so they are checked and passed after ``--``: a host
that starts with ``-`` could otherwise be an option, and the path is sent to a remote
shell, so only plain path characters are allowed in it.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

from gitmodel.errors import UserError

_HOST = re.compile(r"(?:[A-Za-z0-9._-]+@)?(?:[A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])")
_PATH = re.compile(r"[A-Za-z0-9._~/+-]+")
OUTPUT_MAX = 64 << 10


@dataclass(frozen=True)
class Target:
    """Where ``ssh`` connects: ``[user@]host``, a port, and the repository's path."""

    destination: str
    port: int | None
    path: str


def target_of(url: str) -> Target | None:
    """The SSH target of a Git URL (``ssh://[user@]host[:port]/path`` or the scp-like
    ``[user@]host:path``), or None when it is not one, or not a safe one."""
    if "://" in url:
        try:
            parts = urlsplit(url)
            port = parts.port
        except ValueError:
            return None
        if parts.scheme not in ("ssh", "git+ssh", "ssh+git") or not parts.hostname:
            return None
        user = f"{unquote(parts.username)}@" if parts.username else ""
        destination, path = user + parts.hostname, unquote(parts.path)
    else:
        destination, sep, path = url.partition(":")
        if not sep or "/" in destination:
            return None
        port = None
    path = path.lstrip("/") if "://" in url else path
    if not _HOST.fullmatch(destination) or destination.startswith("-"):
        return None
    if not path or not _PATH.fullmatch(path) or path.startswith("-") or ".." in path.split("/"):
        return None
    return Target(destination, port, path)


def run_ssh(target: Target, command: list[str], settings: dict[str, str]) -> bytes:
    """Run ``command`` on ``target`` with the user's SSH command; its standard output
    (at most :data:`OUTPUT_MAX` bytes). A failure is a :class:`UserError`."""
    import subprocess

    args = [*(["-p", str(target.port)] if target.port else []), "--", target.destination,
            *command]  # fmt: skip
    shell = os.environ.get("GIT_SSH_COMMAND") or settings.get("core.sshcommand")
    if shell:
        argv = ["sh", "-c", f'{shell} "$@"', "git-model-ssh", *args]
    else:
        argv = [os.environ.get("GIT_SSH") or "ssh", *args]
    try:
        proc = subprocess.run(argv, capture_output=True, stdin=subprocess.DEVNULL, check=False,
                              timeout=120)  # fmt: skip
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise UserError(
            f"cannot run ssh for {target.destination}: {exc}",
            hint="install OpenSSH's client, or set core.sshCommand",
        ) from None
    if proc.returncode != 0:
        lines = proc.stderr.decode("utf-8", "replace").strip().splitlines()
        reason = lines[-1][:300] if lines else f"exit {proc.returncode}"
        raise UserError(f"ssh {target.destination} {command[0]} failed: {reason}",
                        hint="check that `ssh` reaches the host with your key")  # fmt: skip
    return proc.stdout[: OUTPUT_MAX + 1]
