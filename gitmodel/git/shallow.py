"""Shallow, blob-filtered caches of remote repositories: what reading a version without
a clone asks of Git.

A cache is a bare repository whose only remote, ``origin``, is the URL it caches. A
fetch takes one commit per revision (``--depth=1``) with its trees and only the blobs
under 1 KiB (``--filter=blob:limit=1k``): pointers and small files. Larger blobs (plain
Git files) are fetched one batch at a time when something reads them. Nothing here
starts a worktree, a checkout or a filter.

Every value from outside is checked first: the URL (:func:`check_url`: no option, no
``ext::`` transport, no control character), revisions (:func:`check_rev`: a ref name or
a full commit id, which cannot be read as a refspec's ``:`` or ``+``), and they reach Git
after ``--end-of-options``. Git never prompts for credentials here: a process reading
data on a cluster has no terminal to answer on.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Iterable
from pathlib import Path

from gitmodel.errors import UserError
from gitmodel.git.config import config_set
from gitmodel.git.process import GitError, run
from gitmodel.git.repo import FileEntry, Repo, local_path
from gitmodel.text import is_utf8

REMOTE = "origin"
BLOB_FILTER = "blob:limit=1k"  # pointers are under 1024 bytes: every one arrives
# a local repository's upload-pack would refuse filters and object ids by default; this
# command is ours (never from the URL), and used only for local paths and file:// URLs
LOCAL_UPLOAD_PACK = (
    "git -c uploadpack.allowFilter=true -c uploadpack.allowAnySHA1InWant=true upload-pack"
)
_SCHEMES = ("https://", "http://", "ssh://", "git://", "file://")
_SCP_LIKE = re.compile(r"(?:[A-Za-z0-9._-]+@)?[A-Za-z0-9.-]+:(?!//).*")
_UNSAFE = re.compile(r"[\x00-\x1f\x7f]")
_COMMIT_ID = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")
# a ref name Git would take (check-ref-format), minus what could read as anything else
_REF_PART = r"[A-Za-z0-9_][A-Za-z0-9_.-]*"
_REF = re.compile(rf"(?!.*\.\.)(?!.*\.lock(/|$))(?!.*\.$){_REF_PART}(/{_REF_PART})*")
_ENV = {"GIT_TERMINAL_PROMPT": "0", "GIT_ASKPASS": "", "SSH_ASKPASS": ""}


def check_url(url: str) -> str:
    """``url`` when it names a Git repository by a transport gitmodel allows (http(s),
    ssh, git, file, ``host:path``, a local path); else a :class:`UserError`."""
    if not url or url.startswith("-") or _UNSAFE.search(url) or "::" in url:
        problem = "it is empty, starts with '-', or holds control characters or '::'"
    elif not is_utf8(url):  # a path's bytes in another encoding,
        problem = "it is not UTF-8 text"  # which the cache's key and config cannot hold
    elif "://" in url and not url.startswith(_SCHEMES):
        problem = f"Git URLs here use {', '.join(s[:-3] for s in _SCHEMES)}"
    else:
        return url
    from gitmodel.urls import redact

    raise UserError(
        f"not a repository URL: {redact(url)[:200]!r} ({problem})",
        hint="give an https://, ssh:// or file:// URL, host:path, or a local path",
    )


def is_local(url: str) -> bool:
    """Whether ``url`` names a repository on this machine (a path or ``file://``)."""
    if url.startswith("file://"):
        return True
    return "://" not in url and not _SCP_LIKE.fullmatch(url)


def absolute(url: str) -> str:
    """``url``, with a local path made absolute (so it names the same repository from
    any directory and in any worker process)."""
    path = local_path(url)
    if path is None or url.startswith("file://"):
        return url
    return os.path.abspath(path)


def check_rev(rev: str) -> str:
    """``rev`` when it is a ref name (``main``, ``v1.0``, ``refs/heads/x``) or a full
    commit id: what a shallow fetch can ask a server for."""
    if len(rev) <= 255 and (_COMMIT_ID.fullmatch(rev) or _REF.fullmatch(rev)):
        return rev
    raise UserError(f"cannot read revision {rev[:80]!r} without a clone",
                    hint="name a branch, a tag or a full commit id")  # fmt: skip


def open_cache(path: Path, url: str) -> Repo:
    """The cache repository at ``path`` for ``url``, made on first use."""
    if not (path / "HEAD").is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
        run(["init", "-q", "--bare", "--end-of-options", str(tmp)])
        for key, value in _cache_config(url).items():
            config_set(key, value, "local", cwd=tmp)
        try:
            os.rename(tmp, path)
        except OSError:  # made by another process meanwhile: theirs is as good
            import shutil

            shutil.rmtree(tmp, ignore_errors=True)
    return Repo(path, path, None, path / "hooks", path / "index")


def _cache_config(url: str) -> dict[str, str]:
    config = {
        f"remote.{REMOTE}.url": url,
        "gc.auto": "0",
        "maintenance.auto": "false",
        "core.logAllRefUpdates": "false",
        "fetch.writeCommitGraph": "false",
    }
    if is_local(url):
        config[f"remote.{REMOTE}.uploadpack"] = LOCAL_UPLOAD_PACK
    return config


def fetch(cache: Repo, refspecs: Iterable[str], depth: int | None = 1,
          blob_filter: str | None = BLOB_FILTER) -> None:  # fmt: skip
    """Fetch ``refspecs`` (built from checked values) from the cache's remote: shallow
    and blob-filtered by default. A failure is a :class:`UserError` naming the cause."""
    args = ["fetch", "--quiet", "--no-tags", "--no-write-fetch-head", "--recurse-submodules=no"]
    if depth is not None:
        args.append(f"--depth={depth}")
    if blob_filter is not None:
        args.append(f"--filter={blob_filter}")
    _git(cache, [*args, "--end-of-options", REMOTE, *refspecs], "fetch")


def fetch_blobs(cache: Repo, oids: Iterable[str]) -> None:
    """Fetch the blobs ``oids`` (as a partial clone's lazy fetch does, in one batch)."""
    wanted = sorted(oid for oid in set(oids) if _COMMIT_ID.fullmatch(oid))
    if not wanted:
        return
    args = ["-c", "fetch.negotiationAlgorithm=noop", "fetch", "--quiet", "--no-tags",
            "--no-write-fetch-head", "--recurse-submodules=no", "--filter=blob:none",
            "--stdin", "--end-of-options", REMOTE]  # fmt: skip
    _git(cache, args, "fetch", input="".join(f"{oid}\n" for oid in wanted).encode())


def _git(cache: Repo, args: list[str], what: str, input: bytes | None = None) -> None:
    proc = run(args, cwd=cache.git_dir, env={**os.environ, **_ENV}, input=input, check=False)
    if proc.returncode != 0:
        from gitmodel.urls import scrub

        lines = proc.stderr.decode("utf-8", "replace").strip().splitlines()
        first = next((line for line in lines if not line.startswith("warning:")), "")
        raise UserError(
            f"git {what} failed: {scrub(first.removeprefix('fatal: ')) or 'unknown error'}",
            hint="check the repository URL and the revision, and that you can `git ls-remote` it",
        )


def is_commit_id(text: str) -> bool:
    return _COMMIT_ID.fullmatch(text) is not None


def fetch_rev(cache: Repo, rev: str) -> str:
    """Fetch ``rev`` (checked: a ref name or a full commit id), pointers and trees; the
    commit it names, marked as fetched whole (:func:`has_commit`)."""
    ref = "refs/fetched/" + hashlib.sha256(check_rev(rev).encode()).hexdigest()[:16]
    fetch(cache, [f"+{rev}:{ref}"])
    proc = run(["rev-parse", "--verify", "--quiet", "--end-of-options", f"{ref}^{{commit}}"],
               cwd=cache.git_dir, check=False)  # fmt: skip
    if proc.returncode != 0:
        raise GitError(f"{rev} names no commit")
    commit = proc.stdout.decode().strip()
    run(["update-ref", "--end-of-options", f"refs/read/{commit}", commit], cwd=cache.git_dir)
    return commit


def blob(cache: Repo, oid: str) -> bytes:
    """A blob's content (fetched from the remote first when the filter left it out)."""
    if not is_commit_id(oid):  # the same shape: 40 or 64 hex digits
        raise ValueError(f"invalid blob id {oid[:80]!r}")
    return run(["cat-file", "blob", oid], cwd=cache.git_dir).stdout


def shared_config(cache: Repo, oid: str) -> tuple[int, bytes]:
    """The exit code and output of ``git config -z --list`` of a committed config file
    (``.gitmodel``) held in blob ``oid``: a layer of ``config.merge_shared``; its values
    still need checking (``config.over_shared``)."""
    if not is_commit_id(oid):
        raise ValueError(f"invalid blob id {oid[:80]!r}")
    proc = run(["config", "--blob", oid, "-z", "--list"], cwd=cache.git_dir, check=False)
    return proc.returncode, proc.stdout


def has_commit(cache: Repo, commit: str) -> bool:
    """Whether ``commit`` was fetched whole (its tree and small blobs) into the cache."""
    ref = f"refs/read/{commit}"
    return run(["rev-parse", "--verify", "--quiet", "--end-of-options", ref],
               cwd=cache.git_dir, check=False).returncode == 0  # fmt: skip


def tree(cache: Repo, commit: str) -> list[FileEntry]:
    """Every blob of ``commit``'s tree (regular files and executables; never symlinks
    or submodules), without reading any blob."""
    return [e for e in cache.ls_tree(commit) if e.mode in (0o100644, 0o100755)]


def missing(cache: Repo, commit: str) -> set[str]:
    """The blobs of ``commit`` the cache does not hold (left out by the filter)."""
    out = run(["rev-list", "--objects", "--no-walk", "--missing=print", "--end-of-options",
               commit], cwd=cache.git_dir).stdout  # fmt: skip
    return {line[1:].decode() for line in out.splitlines() if line.startswith(b"?")}
