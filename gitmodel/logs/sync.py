"""Share the record logs of :mod:`gitmodel.logs.records` with a Git remote.

``fetch(repo, remote)`` copies the remote's ``refs/gitmodel/*`` to the remote-tracking refs
``refs/gitmodel-remotes/<remote>/*`` (like ``refs/remotes/``), then brings each local log up
to date: created or fast-forwarded when it is behind; when both sides appended, the local
records are replayed on top of the remote's tip if the log's kind ``commutes``, otherwise
:class:`DivergedError` (nothing changes; the hint says how to resolve it).

``push(repo, remote)`` pushes the logs that moved since the last sync, never forced: a remote
log that moved on rejects the push, so no one's record is ever lost. It then fetches,
integrates as above and pushes once more; if the remote still refuses, the user is told to
fetch and retry. The nested ``git push`` runs with ``--no-verify``, so it never re-enters
our pre-push hook.

``kinds`` maps a log name to its :class:`~gitmodel.logs.records.LogKind` (how to replay it);
logs of unknown kinds are fast-forwarded only.

What a remote's log adds is verified before it is taken (:func:`records.verify`): a
commit a teammate made by hand, whose record is unreadable or whose state does not follow
from the records, is :class:`RemoteLogDamaged`, and the local log stays as it was. Other
logs are still brought up to date.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Mapping

from gitmodel import git
from gitmodel.errors import UserError
from gitmodel.logs import records
from gitmodel.urls import redact, scrub

REMOTE_PREFIX = "refs/gitmodel-remotes/"
_SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]*")


class DivergedError(UserError):
    """Both sides appended to a log whose records do not commute."""


class RemoteLogDamaged(records.DamagedLogError):
    """A remote's log holds a commit :func:`records.verify` refuses; nothing was taken."""


def namespace(remote: str) -> str:
    """The remote-tracking directory for ``remote``: its name, or a digest of a URL."""
    if _SAFE_NAME.fullmatch(remote):
        return remote
    return "url-" + hashlib.sha256(remote.encode()).hexdigest()[:16]


def tracking_ref(remote: str, log: str) -> str:
    return f"{REMOTE_PREFIX}{namespace(remote)}/{log}"


Kinds = Mapping[str, records.LogKind]


def fetch(
    repo: git.Repo,
    remote: str,
    kinds: Kinds | Callable[[], Kinds] | None = None,
) -> list[str]:
    """Fetch the remote's logs and integrate them; the names of the local logs that changed.
    ``kinds`` may be a function giving them, called only when the remote has a log."""
    prefix = f"{REMOTE_PREFIX}{namespace(remote)}/"
    refspec = f"+{records.LOG_PREFIX}*:{prefix}*"
    proc = repo.run(
        [
            "fetch",
            "--quiet",
            "--no-tags",
            "--no-write-fetch-head",
            "--prune",
            "--end-of-options",
            remote,
            refspec,
        ],
        check=False,
    )
    if proc.returncode != 0:
        raise UserError(
            f"cannot fetch the model logs from {redact(remote)}: {_first_line(proc.stderr)}",
            hint="check the remote with `git remote -v` and `git fetch`",
        )
    changed = []
    fetched = git.list_refs(repo, prefix)
    known = (kinds() if callable(kinds) else kinds or {}) if fetched else {}
    failed: UserError | None = None
    for name, remote_tip in fetched.items():
        if not records.valid_name(name):
            continue  # not a log of ours (e.g. refs/gitmodel/a/b): never a local ref
        kind = known.get(name) or records.LogKind(name)
        try:
            if integrate(repo, kind, remote_tip, remote, checked=name in known):
                changed.append(name)
        except (RemoteLogDamaged, DivergedError) as exc:
            failed = failed or exc  # the other logs still come up to date
    if failed is not None:
        raise failed
    return changed


def integrate(repo: git.Repo, kind: records.LogKind, remote_tip: str, remote: str,
              checked: bool = True) -> bool:  # fmt: skip
    """Bring the local log ``kind`` up to ``remote_tip``; True when the local log moved.
    With ``checked``, what the remote adds is verified first (a log of a kind this
    version does not know cannot be: its reducer is not known)."""
    local = git.read_ref(repo, kind.ref)
    if local == remote_tip or (local and git.is_ancestor(repo, remote_tip, local)):
        return False  # up to date, or only we have new records
    if local is None or git.is_ancestor(repo, local, remote_tip):
        if checked:
            _verify(repo, kind, remote_tip, local, remote)
        records.update_ref(repo, kind.ref, remote_tip, local, kind.name)
        return True
    if checked:
        _verify(repo, kind, remote_tip, _merge_base(repo, local, remote_tip), remote)
    if not kind.commutes:
        raise DivergedError(
            f"the {kind.name} log has new records both here and on {redact(remote)}",
            hint=f"compare with `git log {tracking_ref(remote, kind.name)}`; redo your "
            f"change after `git update-ref {kind.ref} {tracking_ref(remote, kind.name)}`",
        )
    records.update_ref(repo, kind.ref, replay(repo, kind, local, remote_tip), local, kind.name)
    return True


def _verify(
    repo: git.Repo, kind: records.LogKind, tip: str, since: str | None, remote: str
) -> None:
    """:func:`records.verify` of what ``remote``'s log adds after ``since``, its failure
    told as the remote's."""
    try:
        records.verify(repo, kind, tip, since)
    except records.DamagedLogError as exc:
        ref = tracking_ref(remote, kind.name)
        raise RemoteLogDamaged(
            kind.name,
            exc.commit,
            exc.what,
            where=f" on {redact(remote)}",
            hint=f"nothing was taken from it, and your {kind.name} log is as it was; whoever "
            f"made that commit can put the log there back on its last good commit (see "
            f"`git log {ref}`)",
        ) from exc


def _merge_base(repo: git.Repo, local: str, remote_tip: str) -> str | None:
    proc = repo.run(["merge-base", "--end-of-options", local, remote_tip], check=False)
    return proc.stdout.decode().strip() or None


def replay(repo: git.Repo, kind: records.LogKind, local: str, onto: str) -> str:
    """Re-append the records of ``local`` missing from ``onto``, oldest first; the new tip."""
    out = repo.run(["rev-list", "--first-parent", "--reverse", local, "--not", onto]).stdout
    tip = onto
    for commit in out.decode().split():
        entry = next(records.Log(repo, kind).records(commit))
        author = {
            "GIT_AUTHOR_NAME": entry.author_name,
            "GIT_AUTHOR_EMAIL": entry.author_email,
            "GIT_AUTHOR_DATE": f"@{entry.time} {_offset(entry.offset)}",
        }
        message = git.read_commit(repo, commit).message.partition(": ")[2].strip()
        tip = records.write_commit(repo, kind, entry.record, tip, message, author)
    return tip


def push(
    repo: git.Repo, remote: str, kinds: Mapping[str, records.LogKind] | None = None
) -> list[str]:
    """Push the logs that moved since the last sync (non-forced); the names pushed."""
    local = git.list_refs(repo, records.LOG_PREFIX)
    if not local:
        return []
    pending = _unsynced(repo, remote, local)
    if not pending:
        return []
    rejected = _push_refs(repo, remote, pending)
    if rejected:
        failed: UserError | None = None
        try:
            fetch(repo, remote, kinds)  # integrates what it can
        except (RemoteLogDamaged, DivergedError) as exc:
            failed = exc  # raised once the logs that did integrate are pushed
        pending = _unsynced(repo, remote, git.list_refs(repo, records.LOG_PREFIX))
        rejected = _push_refs(repo, remote, pending)
        if failed is not None:
            raise failed
    if rejected:
        raise UserError(
            f"{redact(remote)} refused the {', '.join(rejected)} log: it moved on meanwhile",
            hint="run `git model fetch` and retry the push",
        )
    return sorted(pending)


def _unsynced(repo: git.Repo, remote: str, local: dict[str, str]) -> dict[str, str]:
    tracked = git.list_refs(repo, f"{REMOTE_PREFIX}{namespace(remote)}/")
    return {name: tip for name, tip in local.items() if tracked.get(name) != tip}


def _push_refs(repo: git.Repo, remote: str, pending: dict[str, str]) -> list[str]:
    """Push ``pending`` logs; the names the remote rejected. Tracking refs follow success."""
    if not pending:
        return []
    refspecs = [f"{records.LOG_PREFIX}{name}:{records.LOG_PREFIX}{name}" for name in pending]
    proc = repo.run(
        ["push", "--porcelain", "--no-verify", "--end-of-options", remote, *refspecs], check=False
    )
    rejected = []
    for line in proc.stdout.decode("utf-8", "replace").splitlines():
        flag, _, rest = line.partition("\t")
        ref = rest.partition(":")[0]
        if not ref.startswith(records.LOG_PREFIX):
            continue
        name = ref.removeprefix(records.LOG_PREFIX)
        if flag == "!":
            rejected.append(name)
        elif name in pending:
            repo.run(["update-ref", tracking_ref(remote, name), pending[name]])
    if proc.returncode != 0 and not rejected:
        raise UserError(
            f"cannot push the model logs to {redact(remote)}: {_first_line(proc.stderr)}",
            hint="check the remote with `git remote -v` and `git push`",
        )
    return rejected


def _offset(minutes: int) -> str:
    sign = "-" if minutes < 0 else "+"
    return f"{sign}{abs(minutes) // 60:02d}{abs(minutes) % 60:02d}"


def _first_line(stderr: bytes) -> str:
    lines = [line for line in stderr.decode("utf-8", "replace").splitlines() if line.strip()]
    text = lines[0] if lines else "unknown error"
    return scrub(text.removeprefix("fatal: ").removeprefix("error: "))
