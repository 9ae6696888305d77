"""Which object store a Git remote's model objects go to, and how to reach it.

``remote.<name>.modelurl`` names the store: ``s3://bucket/prefix``, ``gs://…``,
``az://…``, ``sftp://host/path``, ``file:///srv/models`` or ``/srv/models``, checked
wherever it is read (:func:`gitmodel.urls.store_url_problem`: never a path relative to
where a command runs, nor ``memory://``, which is gone when the command ends). With none set,
a Git remote that is a local path or ``file://`` URL needs no configuration:
objects go under that repository's git directory (``<git dir>/model/remote``).
``model.retries`` bounds the tries per request (default 8),
``model.retryDelay`` is the first wait in seconds (default 0.25, doubling to 10), and
``model.retryTimeout`` the seconds after a request first fails in which it may be
tried again (default 60); once that is spent the remote counts as down for the rest
of the command. ``model.timeout`` bounds each request: the seconds it may wait for
its next bytes (default 30), and at most 10 of them to connect.
``model.chunking=false`` writes whole objects (remote layout 1) instead of
deduplicated chunks. Encryption at rest takes a 32-byte key, 64 hex digits, from
``GIT_MODEL_ENCRYPTION_KEY`` or the file ``model.encryptionKeyFile`` names (never
from a committed ``.gitmodel``); the key itself is never stored or printed.
Storage options come from ``remote.<name>.modelendpoint`` / ``modelregion`` /
``modelprofile`` and otherwise from the usual environment and config files of
each backend; credentials are never stored by gitmodel. An ``sftp://host/path``
remote takes its port, user, key and known host keys from ``~/.ssh/config`` and
``~/.ssh/known_hosts``, as ``ssh host`` would: nothing in Git config (let alone a
committed ``.gitmodel``) can name a key file or a command.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

from gitmodel import git
from gitmodel.errors import UserError
from gitmodel.remote.backends import (
    REQUEST_TIMEOUT,
    RETRY_FIRST_DELAY,
    RETRY_TIMEOUT,
    RETRY_TRIES,
    SFTP,
    protocol_of,
)
from gitmodel.urls import STORE_URL_FORMS, redact, shown_url, store_url_problem

if TYPE_CHECKING:
    from gitmodel.remote.lfs import LfsRemote
    from gitmodel.remote.store import RemoteStore

_HOSTNAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9.-]*")
OPTION_KEYS = {"modelendpoint": "endpoint_url", "modelregion": "region", "modelprofile": "profile"}


@dataclass(frozen=True)
class ModelRemote:
    name: str
    url: str
    options: dict[str, Any] = field(default_factory=dict)
    configured: bool = True  # False when derived from a local Git remote
    tries: int = RETRY_TRIES
    first_delay: float = RETRY_FIRST_DELAY
    retry_timeout: float = RETRY_TIMEOUT
    timeout: float = REQUEST_TIMEOUT
    chunked: bool = True
    key: bytes | None = field(default=None, repr=False)
    lfs: bool = False  # a Git LFS host's Batch API endpoint, not object storage
    cwd: Path | None = None  # where to ask Git for credentials
    ssh_url: str | None = None  # an SSH Git remote: ask its host for the endpoint
    ssh_command: str | None = field(default=None, repr=False)  # core.sshCommand

    @property
    def display(self) -> str:
        return redact(self.url)

    @property
    def persists(self) -> bool:
        """Whether what is sent outlives this process (``memory://`` does not): only then
        may the local store count on the remote's copy (``store/onecopy.note_held``)."""
        return protocol_of(self.url) != "memory"

    def open(self) -> RemoteStore | LfsRemote:
        """The remote, ready for transfers (``layouts`` knows both kinds)."""
        if self.lfs:
            from gitmodel.git.ssh import target_of
            from gitmodel.remote.lfs import LfsRemote

            ssh = target_of(self.ssh_url) if self.ssh_url else None
            settings = {"core.sshcommand": self.ssh_command} if self.ssh_command else {}
            return LfsRemote(self.url, self.cwd, tries=self.tries, first_delay=self.first_delay,
                             retry_timeout=self.retry_timeout, timeout=self.timeout, ssh=ssh,
                             settings=settings)  # fmt: skip
        return self.open_store()

    def open_store(self, needs: str = "") -> RemoteStore:
        """The remote as object storage, for what only object storage can do (listing,
        deleting, usage); an LFS host is refused with ``needs`` saying what asked."""
        from gitmodel.remote.store import RemoteStore

        if self.lfs:
            raise UserError(
                f"{self.display} is a Git LFS host: {needs or 'this'} works on "
                "object-storage model remotes only",
                hint="set one with `git model remote set NAME URL` to use it",
            )

        return RemoteStore(self.url, self.options, tries=self.tries, first_delay=self.first_delay,
                           chunked=self.chunked, key=self.key, timeout=self.timeout,
                           retry_timeout=self.retry_timeout)  # fmt: skip


def default_remote_name(settings: dict[str, str]) -> str | None:
    names = git.remote_names(settings)
    if "model.remote" in settings:
        return settings["model.remote"]
    if "origin" in names:
        return "origin"
    return names[0] if len(names) == 1 else None


def git_remote(settings: dict[str, str], name: str | None = None,
               without_remote: str = "") -> str:  # fmt: skip
    """The Git remote ``name`` (default: model.remote, origin, or the only one), checked.
    ``without_remote``: what the caller can do with no remote at all, added to that hint."""
    name = name or default_remote_name(settings)
    if name is None:
        names = git.remote_names(settings)
        if names:  # several, none of them origin
            raise UserError(f"which Git remote? There are {len(names)} and none is origin",
                            hint="name it (REMOTE), or choose one for every command: "
                            "git config model.remote NAME")  # fmt: skip
        raise UserError("no Git remote to use", hint="add one (`git remote add origin URL`)"
                        + (f"; {without_remote}" if without_remote else ""))  # fmt: skip
    if not git.valid_remote_name(name):
        raise UserError(f"{name!r} is not a valid remote name", hint="see `git remote -v`")
    return name


def remote_for(repo: git.Repo, settings: dict[str, str], name: str | None = None,
               without_remote: str = "") -> ModelRemote:  # fmt: skip
    """The model store for Git remote ``name`` (default: model.remote, origin, or the only one);
    ``without_remote`` as :func:`git_remote` takes it."""
    name = git_remote(settings, name, without_remote)
    prefix = f"remote.{name}."
    options = {OPTION_KEYS[k[len(prefix):]]: v for k, v in settings.items()
               if k.startswith(prefix) and k[len(prefix):] in OPTION_KEYS}  # fmt: skip
    if f"{prefix}modelurl" in settings:
        url = checked_store_url(name, settings[f"{prefix}modelurl"])
        remote = ModelRemote(name, url, _backend_options(protocol_of(url), options))
        return with_settings(remote, settings)
    git_url = settings.get(f"{prefix}url")
    if git_url is None:
        raise UserError(f"no Git remote named {name!r}", hint="see `git remote -v`")
    found = _lfs_remote(repo, name, settings.get(f"{prefix}lfsurl") or settings.get("lfs.url"))
    found = found or for_local_url(repo, git_url, name)
    derived = _lfs_remote(repo, name, lfs_endpoint(git_url))
    if derived is not None and _is_ssh(git_url):  # git-lfs-authenticate names the endpoint
        derived = replace(derived, ssh_url=git_url, ssh_command=settings.get("core.sshcommand"))
    found = found or derived
    if found is None and git.local_path(git_url) is not None:
        raise UserError(
            f"Git remote {name!r} is {redact(git_url)}, where there is no repository",
            hint="check it with `git remote -v` (`git push` finds none there either), or "
            "create it: git init --bare PATH",
        )
    if found is None:
        raise UserError(
            f"no model store configured for remote {name!r} ({redact(git_url)})",
            hint=f"set one: git model remote set {name} s3://BUCKET/PREFIX; if someone pushed "
            "model objects here, their setting is probably not shared: they can share it "
            "with `git model remote set --shared URL` and commit .gitmodel",
        )
    return with_settings(found, settings)


def checked_store_url(name: str, url: str) -> str:
    """``remote.<name>.modelurl`` as read from Git config, or an error saying how to fix it:
    whoever set it by hand, a push must never write a store relative to where it runs."""
    problem = store_url_problem(url)
    if problem is not None:
        raise UserError(
            f"remote.{name}.modelurl is {shown_url(url)}: {problem}",
            hint=f"set it again: git model remote set {name} URL ({STORE_URL_FORMS}), "
            f"or remove it: git model remote unset {name}",
        )
    return url


def _lfs_remote(repo: git.Repo, name: str, endpoint: str | None) -> ModelRemote | None:
    if endpoint is None:
        return None
    return ModelRemote(name, endpoint, configured=False, lfs=True, cwd=repo.cwd)


def _is_ssh(git_url: str) -> bool:
    scheme = git_url.partition("://")[0] if "://" in git_url else "ssh"
    return scheme in ("ssh", "git+ssh", "ssh+git")


def lfs_endpoint(git_url: str) -> str | None:
    """The LFS endpoint git-lfs derives from a Git remote URL: ``<url>.git/info/lfs``
    over https (for an SSH URL too, whose host serves HTTPS), or None for a local one."""
    if "://" in git_url:
        try:
            parts = urlsplit(git_url)
        except ValueError:
            return None
        if parts.scheme not in ("http", "https", "ssh", "git+ssh", "ssh+git") or not parts.hostname:
            return None
        scheme = parts.scheme if parts.scheme in ("http", "https") else "https"
        port = f":{parts.port}" if parts.port is not None and scheme == parts.scheme else ""
        netloc = (f"{parts.netloc.rsplit('@', 1)[0]}@" if scheme == parts.scheme
                  and "@" in parts.netloc else "") + parts.hostname + port  # fmt: skip
        path = parts.path
    else:  # scp-like [user@]host:path (not Git's <transport>::<address>)
        host, sep, path = git_url.partition(":")
        hostname = host.rsplit("@", 1)[-1]
        if not sep or path.startswith(":") or not _HOSTNAME.fullmatch(hostname):
            return None
        scheme, netloc = "https", hostname
    path = "/" + path.strip("/")
    if not path.endswith(".git"):
        path += ".git"
    return urlunsplit((scheme, netloc, f"{path}/info/lfs", "", ""))


def for_local_url(repo: git.Repo, git_url: str, name: str = "") -> ModelRemote | None:
    """The zero-configuration store of a Git remote that is a local repository."""
    target = git.local_git_dir(git_url, repo.cwd)
    if target is None:
        return None
    url = f"file://{target.resolve() / 'model' / 'remote'}"
    return ModelRemote(name or git_url, url, configured=False)


def with_settings(remote: ModelRemote, settings: dict[str, str]) -> ModelRemote:
    """``remote`` with the retry, timeout, chunking and encryption settings applied."""
    number = git.number_setting
    tries = number(int, settings, "model.retries", RETRY_TRIES, least=1)
    delay = number(float, settings, "model.retryDelay", RETRY_FIRST_DELAY, least=0)
    retry_timeout = number(float, settings, "model.retryTimeout", RETRY_TIMEOUT, least=0)
    timeout = number(float, settings, "model.timeout", REQUEST_TIMEOUT, least=0.001)
    return replace(remote, tries=tries, first_delay=delay, chunked=chunking(settings),
                   key=encryption_key(settings), retry_timeout=retry_timeout,
                   timeout=timeout)  # fmt: skip


def chunking(settings: dict[str, str]) -> bool:
    """Whether pushes write deduplicated chunks (``model.chunking``, default true)."""
    return settings.get("model.chunking", "true").lower() not in ("false", "no", "off", "0")


def encryption_key(settings: dict[str, str]) -> bytes | None:
    """The encryption key from the environment or ``model.encryptionKeyFile``, or None."""
    text = os.environ.get("GIT_MODEL_ENCRYPTION_KEY")
    where = "GIT_MODEL_ENCRYPTION_KEY"
    if not text and "model.encryptionkeyfile" in settings:
        where = "model.encryptionKeyFile"
        path = Path(settings["model.encryptionkeyfile"]).expanduser()
        try:
            text = path.read_text(encoding="ascii", errors="replace")[:200]
        except OSError as exc:
            raise UserError(f"cannot read the encryption key file: {exc.strerror}",
                            hint="check model.encryptionKeyFile") from None  # fmt: skip
    if not text:
        return None
    try:
        key = bytes.fromhex(text.strip())
    except ValueError:
        key = b""
    if len(key) != 32:
        raise UserError(f"{where} must hold 64 hex digits (a 32-byte key)",
                        hint="make one with: openssl rand -hex 32")  # fmt: skip
    return key


def _backend_options(protocol: str, options: dict[str, str]) -> dict[str, Any]:
    """Git-config names to fsspec storage options: S3's names, the endpoint alone for
    other object stores, none for SSH (its settings live in ``~/.ssh/config``)."""
    out: dict[str, Any] = {}
    if protocol in SFTP:
        return out
    if "endpoint_url" in options:
        out["endpoint_url"] = options["endpoint_url"]
    if protocol not in ("s3", "s3a"):
        return out
    if "profile" in options:
        out["profile"] = options["profile"]
    if "region" in options:
        out["client_kwargs"] = {"region_name": options["region"]}
    return out
