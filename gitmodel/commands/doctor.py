"""``git model doctor``: is everything gitmodel relies on in place here?

Checks Git's version, that ``git-model`` is on PATH (Git and the hooks run it by
that name), the filter configuration, the hooks, that the local store is
writable, what the remote's backend needs (credentials, an account) and that the
remote store answers (within a few seconds). Prints one line per check as it is
made, and for each problem the command that fixes it; exit 1 if any. A check that
fails in a way of its own is a problem like the others: the rest still run.
"""

from __future__ import annotations

import os
import platform
import shutil
import tempfile
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace

from gitmodel import __version__, git
from gitmodel.errors import GitModelError, UserError
from gitmodel.installation import filter_config, hook_sources, is_ours
from gitmodel.lfs_import import LFS_HOOK_MARK
from gitmodel.remote import backends, layouts
from gitmodel.remote.config import ModelRemote, remote_for
from gitmodel.store.local import LocalStore

MIN_GIT = (2, 31)
REMOTE_TIMEOUT = 10.0  # seconds


@dataclass(frozen=True)
class Finding:
    ok: bool
    message: str
    fix: str = ""


def doctor(timeout: float = REMOTE_TIMEOUT) -> int:
    """Run every check, printing each as it is made; 1 when any failed."""
    print(f"gitmodel {__version__}, Python {platform.python_version()}", flush=True)
    ok = True
    for finding in _findings(timeout):
        ok = ok and finding.ok
        if finding.ok:
            print(f"ok       {finding.message}", flush=True)
        else:
            print(f"problem  {finding.message}\n  fix:   {finding.fix}", flush=True)
    return 0 if ok else 1


def _findings(timeout: float) -> Iterator[Finding]:
    yield from _guarded("git", lambda: [check_git(), check_on_path()])
    try:
        repo: git.Repo | None = git.Repo.discover()
    except UserError:
        repo = None
    if repo is not None and repo.worktree is None:
        # a bare repository (a shared origin) never checks files out or pushes
        yield Finding(True, "bare repository: filter and hooks not needed here")
    else:
        yield from _guarded("the filter", lambda: check_filter(repo))
    if repo is None:
        yield Finding(True, "not in a repository: hooks, store and remote not checked")
        return
    if repo.worktree is not None:
        yield from _guarded("the hooks", lambda: check_hooks(repo))
    yield from _guarded("the local store", lambda: [check_store(repo)])
    yield from _guarded("the remote", lambda: check_remote(repo, timeout))


def _guarded(what: str, check: Callable[[], list[Finding]]) -> list[Finding]:
    """A check's findings; its own failure (a bad config value, say) is one more."""
    try:
        return check()
    except GitModelError as exc:
        return [Finding(False, f"checking {what}: {exc}", exc.hint or "see the message")]


def check_git() -> Finding:
    try:
        version = git.version()
    except GitModelError:
        return Finding(False, "git is not installed", "install git 2.31 or newer")
    numbers = tuple(int(part) for part in version.split(".")[:2] if part.isdigit())
    if numbers < MIN_GIT:
        return Finding(False, f"git {version} is older than 2.31", "upgrade git")
    return Finding(True, f"git {version}")


def check_on_path() -> Finding:
    found = shutil.which("git-model")
    if found is None:
        return Finding(False, "git-model is not on PATH: Git cannot run the filter or hooks",
                       "install gitmodel (./install.sh) or put its scripts on PATH")  # fmt: skip
    return Finding(True, f"git-model on PATH: {found}")


def check_filter(repo: git.Repo | None) -> list[Finding]:
    settings = repo.settings() if repo is not None else git.config_list()
    skip = settings.get("filter.model.smudge", "").find("--skip") >= 0
    wanted = filter_config(skip)
    missing = [key for key in wanted if key not in settings]
    if missing:
        return [Finding(False, f"the model filter is not configured ({', '.join(missing)} unset)",
                        "run `git model install`")]  # fmt: skip
    findings = []
    for key, value in wanted.items():
        actual = settings[key]
        if actual != value:
            findings.append(Finding(False, f"{key} is {actual!r}, not {value!r}",
                                    "run `git model install` again"))  # fmt: skip
    if not findings:
        findings.append(Finding(True, "filter configured" + (" (smudge skipped)" if skip else "")))
    return findings


def check_hooks(repo: git.Repo) -> list[Finding]:
    findings = []
    for name in sorted(hook_sources()):
        path = repo.hooks_dir / name
        if not is_ours(path):
            findings.append(Finding(False, f"hook {name} is not installed",
                                    "run `git model install`"))  # fmt: skip
        elif not os.access(path, os.X_OK):
            findings.append(Finding(False, f"hook {name} is not executable", f"chmod +x {path}"))
    lfs = sorted(p.name for p in repo.hooks_dir.glob("*") if _is_lfs_hook(p))
    if lfs:
        findings.append(Finding(False, f"git-lfs hooks still run: {', '.join(lfs)}",
                                "run `git model migrate import --from-lfs`"))  # fmt: skip
    if not findings:
        findings.append(Finding(True, f"hooks installed in {repo.hooks_dir}"))
    return findings


def _is_lfs_hook(path: os.PathLike[str]) -> bool:
    try:
        with open(path, errors="replace") as f:
            return LFS_HOOK_MARK in f.read(4096)
    except OSError:
        return False


def check_store(repo: git.Repo) -> Finding:
    store = LocalStore(repo.model_dir)
    # the nearest folder that exists: doctor creates nothing in a repository
    probe = next(d for d in (store.tmp_dir, store.root, repo.common_dir) if d.is_dir())
    try:
        with tempfile.NamedTemporaryFile(dir=probe, prefix=".gitmodel-doctor-"):
            pass
    except OSError as exc:
        return Finding(False, f"local store {store.root} is not writable ({exc.strerror})",
                       f"make {store.root} writable by you")  # fmt: skip
    return Finding(True, f"local store writable: {store.root}")


REMOTE_HINT = "check the URL, credentials and network (`git model remote`)"


def check_remote(repo: git.Repo, timeout: float) -> list[Finding]:
    settings = repo.settings()
    try:
        remote = remote_for(repo, settings)
    except UserError as exc:
        if not git.remote_names(settings):
            return [Finding(True, "no Git remote: nothing to reach")]
        return [Finding(False, str(exc), exc.hint or "see `git model remote`")]
    findings = check_credentials(remote)
    azure = backends.family(backends.protocol_of(remote.url)) == "az"
    if azure and not all(f.ok for f in findings):
        return findings  # no account named: nothing to reach
    probe = replace(remote, tries=1)
    error = _within(timeout, lambda: layouts.probe(probe.open()))  # SSH connects at open
    if error is not None:
        message, hint = error
        findings.append(Finding(False, f"remote {remote.name} ({remote.display}) is not "
                                f"reachable: {message}", hint or REMOTE_HINT))  # fmt: skip
    else:
        findings.append(Finding(True, f"remote {remote.name} reachable: {remote.display}"))
    return findings


def check_credentials(remote: ModelRemote) -> list[Finding]:
    """What the remote's backend needs here, found without asking it (object storage)."""
    protocol = backends.protocol_of(remote.url)
    family = backends.family(protocol)
    if family not in ("s3", "gs", "az"):
        return []
    sources = backends.credential_sources(protocol, remote.options)
    if sources:
        return [Finding(True, f"{family}:// credentials from {', '.join(sources)}")]
    if family == "gs":  # public buckets still read: a push will be refused
        return [Finding(False, "no Google credentials here: reading anonymously, pushing "
                        "refused", backends.NEEDS[family])]  # fmt: skip
    return [Finding(False, f"no {family}:// credentials or account here",
                    backends.NEEDS[family])]  # fmt: skip


def _within(timeout: float, call: Callable[[], None]) -> tuple[str, str | None] | None:
    """Run ``call`` for at most ``timeout`` seconds; its failure and the failure's hint."""
    outcome: list[tuple[str, str | None] | None] = []

    def target() -> None:
        try:
            call()
            outcome.append(None)
        except Exception as exc:  # any backend failure is the finding
            text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            hint = exc.hint if isinstance(exc, UserError) else None  # a bucket, a credential
            outcome.append((text, hint))

    worker = threading.Thread(target=target, daemon=True)
    worker.start()
    worker.join(timeout)
    return outcome[0] if outcome else (f"no answer within {timeout:g} s", None)
