"""A repository read without a clone: its cache, its revisions and stages, its files,
and the model remote that holds their bytes.

The Git side lives in a cache under ``$XDG_CACHE_HOME/gitmodel/repos/<hash of the URL>``
(one spelling of it, :func:`cache_key`; a bare repository, see :mod:`gitmodel.git.shallow`),
fetched shallow and blob-filtered: pointers and trees only. A revision is resolved by
fetching it; a full commit id already fetched is not fetched again. A stage
(``NAME@STAGE``) is resolved from the registry log
fetched whole into a repository of its own (``log``) and checked as `git model fetch`
checks a remote's log, then read by the registry's own reading of it.

The model remote is found as a clone would find it (:mod:`gitmodel.remote.config`): a
``.gitmodel`` committed at that version (checked, as any cloned one is), else the
zero-configuration store of a local bare repository (``<git dir>/model/remote``); or
the caller names one.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gitmodel import git
from gitmodel.errors import UserError, os_error_hint
from gitmodel.git import shallow
from gitmodel.git.config import (
    LFS_CONFIG,
    SHARED_CONFIG,
    SharedValueError,
    merge_shared,
    over_shared,
)
from gitmodel.git.repo import local_path
from gitmodel.logs import records
from gitmodel.pointer import Pointer
from gitmodel.registry import serving, stages
from gitmodel.registry.stage_events import Assignment
from gitmodel.remote.config import ModelRemote, remote_for, with_settings
from gitmodel.specs import parse_model_spec
from gitmodel.urls import STORE_URL_FORMS, redact, shown_url, store_url_problem

REGISTRY_REF = "refs/gitmodel/registry"
VERIFIED_REF = "refs/verified/registry"  # the registry log's last tip found sound
_ABBREVIATED = re.compile(r"[0-9a-f]{4,63}")  # a commit id, shortened: no ref Git can fetch
_NAMED_STORE = "model_url=URL (Python) or --model-url URL"
_STORE_HINT = (
    f"commit a .gitmodel naming the store (remote.origin.modelurl), or name it: {_NAMED_STORE}"
)


def cache_root() -> Path:
    """Where reads without a clone keep what they fetched: ``$XDG_CACHE_HOME/gitmodel``."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "gitmodel"


def check_store_url(url: str) -> str:
    """``url`` when it can name a model store (``model_url=``, ``--model-url``); else a
    :class:`UserError` naming what is wrong, checked before anything is fetched."""
    problem = store_url_problem(url)
    if problem is not None:
        raise UserError(f"the model store {shown_url(url)}: {problem}",
                        hint=f"name it as {STORE_URL_FORMS}")  # fmt: skip
    return url


def cache_key(url: str) -> str:
    """The one spelling of ``url`` that names its read cache (and is fetched from).

    A local repository is named by its git directory's real path, found as Git finds it
    (``DIR/.git``, ``DIR``, ``DIR.git/.git``, ``DIR.git``: the first that is one), so
    ``/srv/repo``, ``/srv/repo/``, ``file:///srv/repo`` and, when only ``/srv/repo.git``
    exists, ``/srv/repo`` share one cache. Anything else is kept as written: only the
    server knows whether ``https://host/repo`` and ``https://host/repo.git/`` are the
    same repository, and two URLs that may name different ones never share a cache."""
    if not shallow.is_local(url) or (url.startswith("file://") and "%" in url):
        return url  # a percent sign: Git and Python may decode file:// paths differently
    path = local_path(url)
    if path is None or not path.is_absolute():
        return url
    text = str(path).rstrip("/") or "/"
    for suffix in ("/.git", "", ".git/.git", ".git"):
        candidate = Path(text + suffix)
        if (candidate / "HEAD").is_file() and (candidate / "objects").is_dir():
            return os.path.realpath(candidate)
    return url


def repo_cache(cache_dir: Path, key: str) -> Path:
    """The folder of the repository cache whose :func:`cache_key` is ``key``."""
    return cache_dir / "repos" / hashlib.sha256(key.encode()).hexdigest()[:24]


def cache_of(url: str, cache_dir: Path | None = None) -> tuple[str, Path]:
    """``url`` as shown (credentials redacted) and the folder of its repository cache
    (which may not exist), without making it."""
    absolute = shallow.absolute(shallow.check_url(url))
    return redact(absolute), repo_cache(cache_dir or cache_root(), cache_key(absolute))


@dataclass(frozen=True)
class Entry:
    """A file of one commit: a model file (``pointer``) or a plain Git blob."""

    path: str
    blob: str
    executable: bool
    pointer: Pointer | None
    blob_size: int | None  # None: a plain blob the filter left on the server

    @property
    def size(self) -> int | None:
        return self.pointer.size if self.pointer is not None else self.blob_size


class RemoteRepo:
    """A Git repository at ``url``, read through its cache under ``cache_dir``."""

    def __init__(self, url: str, cache_dir: Path | None = None) -> None:
        self.url = shallow.absolute(shallow.check_url(url))
        self.display = redact(self.url)
        self.cache_dir = cache_dir or cache_root()
        self.key = key = cache_key(self.url)
        self.root = repo_cache(self.cache_dir, key)
        try:
            self.git = shallow.open_cache(self.root / "git", key)
        except OSError as exc:
            hint = os_error_hint(exc) or "set XDG_CACHE_HOME to a folder of yours (or cache_dir=)"
            raise UserError(f"cannot make the read cache in {self.cache_dir}: {exc.strerror}",
                            hint=hint) from None  # fmt: skip
        with contextlib.suppress(OSError):  # its last use, which `git model cache prune` reads
            os.close(os.open(self.root / "lock", os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC, 0o644))
            os.utime(self.root / "lock")

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """One fetch at a time into this cache (Git's own locks would fail the others)."""
        import fcntl

        fd = os.open(self.root / "lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)

    # -- versions

    def commit(self, rev: str | None) -> str:
        """The commit ``rev`` (a ref name or a full commit id; None: the remote's HEAD)
        names, fetched (pointers and trees) unless it already was."""
        rev = shallow.check_rev(rev or "HEAD")
        if shallow.has_commit(self.git, rev):
            return rev
        with self.locked():
            try:
                return shallow.fetch_rev(self.git, rev)
            except UserError as exc:
                raise self._no_revision(rev, exc) from None

    def _no_revision(self, rev: str, exc: UserError) -> UserError:
        """A fetch of ``rev`` failed: when the server said it has no such ref or commit,
        an error saying so; else ``exc`` as it was."""
        if "not our ref" in str(exc):
            hint = "check the id: a commit never pushed there cannot be read"
            return UserError(f"{self.display} has no commit {rev}", hint=hint)
        if "couldn't find remote ref" not in str(exc):
            return exc
        hint = f"name a branch, a tag or a full commit id (`git ls-remote {self.display}`)"
        if rev == "HEAD":  # `git init --bare` names a default branch nothing was pushed to
            return UserError(f"the HEAD of {self.display} names a branch that holds no commit",
                             hint=f"read a branch by name: rev=BRANCH (or gitmodel://PATH?"
                             f"repo=URL&rev=BRANCH); `git ls-remote {self.display}` lists "
                             "them")  # fmt: skip
        if _ABBREVIATED.fullmatch(rev):
            hint = "give the commit id in full (40 hex digits) to read it without a clone"
        return UserError(f"{self.display} has no branch or tag named {rev!r}", hint=hint)

    def served_commit(self, commit: str) -> str:
        """A commit a registry log names (hostile until checked: a full commit id only),
        fetched."""
        if not shallow.is_commit_id(commit):
            raise UserError(
                f"the registry log of {self.display} names {commit[:80]!r}, not a commit id",
                hint="it was not written by gitmodel: see `git model history`",
            )
        return self.commit(commit)

    def resolve(self, name: str, stage: str) -> serving.Resolved:
        """What ``stage`` of model ``name`` serves, from the repository's registry log
        (fetched anew each time: stages move; and checked)."""
        with self._registry() as log:
            return serving.resolve(log, name, stage)

    def served_version(self, stage: str, path: str | None = None) -> Assignment:
        """The version a read by ``stage`` reads, its commit fetched: ``stage`` is
        ``NAME@STAGE``, or, with ``path``, a stage name alone (of the model whose version
        in that stage serves ``path``). The model and its version come from one fetch of
        the registry log, checked, and read while no other fetch can move it: a stage
        that moves meanwhile is seen by the next read, never half by this one. A canary
        stage is read at its main version (the larger weight, the first of equals):
        every read of it reads that version, never one drawn by the weights."""
        name: str | None = None
        if path is None or "@" in stage:
            spec = parse_model_spec(stage)
            if spec.what is None:
                raise UserError(f"stage={stage!r} names no stage", hint="stage=NAME@STAGE")
            name, stage = spec.name, spec.what
        with self._registry() as log:
            name = name or self._model_serving(log, str(path), stage)
            primary = serving.resolve(log, name, stage).primary
        self.served_commit(primary.commit)  # after the lock: fetching takes it again
        return primary

    @contextlib.contextmanager
    def _registry(self) -> Iterator[git.Repo]:
        """The registry log, fetched whole into a repository of its own beside the
        cache (``log``: never shallow, never filtered; records and states are small, and
        a fetch brings only the records added since the last), and checked; held under
        the cache's lock, so what is read from it is one state of the log."""
        with self.locked():
            log = shallow.open_cache(self.root / "log", self.key)
            try:
                shallow.fetch(log, [f"+{REGISTRY_REF}:{REGISTRY_REF}"], depth=None,
                              blob_filter=None)  # fmt: skip
            except UserError as exc:
                if "couldn't find remote ref" not in str(exc):
                    raise
                raise UserError(f"{self.display} has no model registry",
                                hint="promote a version there and push it "
                                "(`git model promote`, `git push`)") from None  # fmt: skip
            self._verify_registry(log)
            yield log

    def _verify_registry(self, log: git.Repo) -> None:
        """:func:`records.verify` of the registry log from the last tip found sound
        (``refs/verified/registry``; from its first record the first time), as `git model
        fetch` checks a remote's log: every record readable and of its shape, the tip's
        state their fold. A reader reads only the tip's state, so a state edited by hand
        would otherwise choose what is served. A log that no longer descends from that
        tip (force-pushed) is refused, as `fetch` refuses a diverged log."""
        tip = git.read_ref(log, REGISTRY_REF)
        if tip is None:
            return
        sound = git.read_ref(log, VERIFIED_REF)
        if sound and sound != tip and not git.is_ancestor(log, sound, tip):
            log.run(["update-ref", "--end-of-options", REGISTRY_REF, sound])  # nothing taken
            raise self._rewritten(sound)
        since = sound or None
        try:
            records.verify(log, stages.KIND, tip, since)
        except records.DamagedLogError as exc:
            raise records.DamagedLogError(
                stages.KIND.name, exc.commit, exc.what, where=f" on {self.display}",
                hint="nothing was read from it; whoever made that commit can put the log "
                f"there back on its last good commit (see `git log {REGISTRY_REF}` in a clone)",
            ) from exc  # fmt: skip
        if tip != sound:
            log.run(["update-ref", "--end-of-options", VERIFIED_REF, tip])

    def _rewritten(self, sound: str) -> UserError:
        """The registry log no longer descends from the tip read from it before: its
        history was rewritten (force-pushed), as `git model fetch` refuses a diverged
        log. Taking a new history is the reader's decision, never the server's."""
        url = self.display if self.display == self.url else "URL"  # its credentials unsaid
        return UserError(
            f"the registry log on {self.display} was rewritten: it no longer holds "
            f"{sound[:12]}, the last tip read from it; nothing was read from it",
            hint=f"if its owner rewrote it on purpose, forget what was read from it, then "
            f"read it again: git model cache forget {url}",
        )

    def _model_serving(self, log: git.Repo, path: str, stage: str) -> str:
        """The model whose version in ``stage`` serves the file ``path``."""
        state = stages.current_state(log)
        for name in sorted(state.get("models", {})):
            held = stages.held(state, name, stage)
            if held and any(f.path == path for f in max(held, key=lambda a: a.weight).files):
                return str(name)
        raise UserError(f"no model of {self.display} serves {path} in {stage}",
                        hint="name the model: stage=NAME@STAGE")  # fmt: skip

    # -- files

    def files(self, commit: str) -> dict[str, Entry]:
        """Every regular file of ``commit`` by path; model files with their pointers."""
        entries = shallow.tree(self.git, commit)
        absent = shallow.missing(self.git, commit)
        present = [e.oid for e in entries if e.oid not in absent]
        sizes = {oid: size for oid, (_, size) in git.headers(self.git, present).items()}
        pointers = git.pointers_of(self.git, [o for o in present if sizes.get(o, 0) < 1024])
        executable = 0o100755
        return {e.path: Entry(e.path, e.oid, e.mode == executable, pointers.get(e.oid),
                              sizes.get(e.oid)) for e in entries}  # fmt: skip

    def sizes(self, blobs: list[str]) -> dict[str, int]:
        """The sizes of plain blobs the filter left out (:attr:`Entry.blob_size` None),
        fetched first, all in one request."""
        self.fetch_blobs(blobs)
        return {oid: size for oid, (_, size) in git.headers(self.git, blobs).items()}

    def fetch_blobs(self, blobs: list[str]) -> None:
        """Fetch blobs the filter left out, in one request."""
        if blobs:
            with self.locked():
                shallow.fetch_blobs(self.git, blobs)

    def blob(self, oid: str) -> bytes:
        """The content of a plain Git blob (fetched first if it is not cached)."""
        return shallow.blob(self.git, oid)

    # -- bytes

    def model_remote(self, files: dict[str, Entry], url: str | None = None,
                     options: dict[str, Any] | None = None) -> ModelRemote:  # fmt: skip
        """The model remote of the version whose ``files`` are given: ``url`` when named,
        else as a clone of the repository would find it."""
        config = git.config_list(self.git.cwd)
        if url is not None:
            check_store_url(url)
            return with_settings(ModelRemote(shallow.REMOTE, url, dict(options or {})), config)
        settings = self._shared_settings(files, config)
        try:
            return remote_for(self.git, settings, shallow.REMOTE)
        except UserError as exc:
            raise UserError(f"{self.display}: {exc}", hint=_STORE_HINT) from None

    def _shared_settings(self, files: dict[str, Entry], config: dict[str, str]) -> dict[str, str]:
        """``config`` over the committed ``.lfsconfig`` and ``.gitmodel`` of ``files``,
        checked as a clone checks them; a bad value is an error naming its file and key."""
        layers = []
        for name in (LFS_CONFIG, SHARED_CONFIG):  # as a clone reads them: .gitmodel wins
            entry = files.get(name)
            if entry is not None and entry.pointer is None:
                layers.append((name, *shallow.shared_config(self.git, entry.blob)))
        shared, origins = merge_shared(layers, self.display)
        try:
            return over_shared(shared, config, origins=origins)
        except SharedValueError as exc:
            raise UserError(
                f"{self.display}: the repository's committed {exc.file} sets {exc.key} to "
                f"{redact(exc.value)[:200]!r}: {exc.problem}",
                hint=f"fix it there, or name the store yourself: {_NAMED_STORE}",
            ) from None
