"""Append-only logs of JSON records kept in Git, on refs ``refs/gitmodel/<log>``.

Each append is one commit whose first parent is the previous tip. Its tree holds::

    record.json   the record this commit appended
    state.json    the log's current state: the kind's ``reduce`` folded over every record

so reading the current state is one blob read whatever the length of the log, and reading
history walks the first-parent chain from the tip (newest first, streaming). Commits carry
the user's identity and are signed when ``commit.gpgSign`` is on, like ``git commit``.

Updates are compare-and-swap on the ref (``git update-ref REF NEW OLD``): of two concurrent
appends one lands and the other raises :class:`ConflictError` (hint: retry). Nothing is ever
rewritten in place. Sharing with a Git remote is in :mod:`gitmodel.logs.sync`
(``records_sync.push(repo, remote, kinds)`` / ``records_sync.fetch(repo, remote, kinds)``);
``git push``/``git model push``/``fetch``/``clone`` call it with the kinds listed in
:func:`gitmodel.logsync.kinds` — add a new log kind there.

API::

    kind = LogKind("registry", reduce=apply_event, commutes=False)
    log = Log(repo, kind)
    entry = log.append({"event": "promote", ...}, expected_tip=tip_read_before)
    log.state()      # dict: the materialized state at the tip ({} for an empty log)
    log.tip()        # commit id of the tip, or None
    log.records()    # Iterator[Entry], newest first

A kind's ``reduce(state, record) -> state`` must be deterministic (it is re-run when records
are replayed on top of a remote's, see ``commutes``); it may modify and return ``state``.
``commutes`` says whether records appended on two sides may be replayed in any order (true
for annotations; false for stage assignments, where order is the meaning).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from gitmodel import git
from gitmodel.errors import GitModelError, UserError

LOG_PREFIX = "refs/gitmodel/"
RECORD_FILE = "record.json"
STATE_FILE = "state.json"
_NAME_RE = re.compile(r"[a-z][a-z0-9-]{0,63}")

Json = dict[str, Any]
Reducer = Callable[[Json, Json], Json]


def count_records(state: Json, record: Json) -> Json:
    """The default reducer: the state only counts records."""
    state["records"] = int(state.get("records", 0)) + 1
    return state


def valid_name(name: str) -> bool:
    """True when ``name`` may name a log (and so a ref component): ``[a-z][a-z0-9-]*``."""
    return _NAME_RE.fullmatch(name) is not None


@dataclass(frozen=True)
class LogKind:
    """What a log holds: its name (the ref's last component) and how records fold."""

    name: str
    reduce: Reducer = count_records
    commutes: bool = False

    def __post_init__(self) -> None:
        if not valid_name(self.name):
            raise ValueError(f"log name {self.name!r} is not [a-z][a-z0-9-]*")

    @property
    def ref(self) -> str:
        return LOG_PREFIX + self.name


@dataclass(frozen=True)
class Entry:
    """One appended record and the commit that holds it."""

    commit: str
    record: Json
    author_name: str
    author_email: str
    time: int  # seconds since the epoch
    offset: int  # the author's UTC offset, in minutes


class ConflictError(UserError):
    """The log moved between reading its tip and writing a new one."""

    def __init__(self, log: str) -> None:
        super().__init__(
            f"the {log} log was updated by someone else at the same time",
            hint="nothing was written; run the command again",
        )


def valid_record(record: object) -> Json:
    """``record`` as a JSON object, or a :class:`GitModelError`."""
    if not isinstance(record, dict):
        raise GitModelError("a log record must be a JSON object")
    return record


def encode(value: Json) -> bytes:
    """Canonical JSON bytes: sorted keys, compact, UTF-8, one trailing newline."""
    text = json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    )
    return text.encode() + b"\n"


class Log:
    """One append-only log of JSON records (see the module docstring)."""

    def __init__(self, repo: git.Repo, kind: LogKind) -> None:
        self.repo = repo
        self.kind = kind

    @property
    def ref(self) -> str:
        return self.kind.ref

    def tip(self) -> str | None:
        """The commit at the log's tip, or None when nothing was ever appended."""
        return git.read_ref(self.repo, self.ref)

    def state(self, tip: str | None = None) -> Json:
        """The materialized state at ``tip`` (default: the current tip)."""
        tip = self.tip() if tip is None else tip
        if tip is None:
            return {}
        return _read_json(self.repo, tip, STATE_FILE)

    def records(
        self, tip: str | None = None, wanted: Callable[[str], bool] | None = None
    ) -> Iterator[Entry]:
        """Every entry from ``tip`` (default: the current tip) back to the first, newest first.

        ``wanted``, given a commit's message, may skip records without reading them.
        """
        tip = self.tip() if tip is None else tip
        commit = git.read_commit(self.repo, tip) if tip else None
        while commit is not None:
            if wanted is None or wanted(commit.message):
                yield _entry(self.repo, commit)
            parents = commit.parent_ids
            commit = git.read_commit(self.repo, parents[0]) if parents else None

    def append(self, record: Json, expected_tip: str | None = None, message: str = "") -> Entry:
        """Append ``record`` as a new commit and move the ref there, atomically.

        With ``expected_tip`` (a commit id, or ``""`` for "the log must be empty"), the
        append fails unless the log is still there; either way a concurrent append between
        our read and our write raises :class:`ConflictError` and writes nothing.
        """
        current = self.tip()
        if expected_tip is not None and (expected_tip or None) != current:
            raise ConflictError(self.kind.name)
        commit = write_commit(self.repo, self.kind, record, current, message)
        update_ref(self.repo, self.ref, commit, current, self.kind.name)
        return _entry(self.repo, git.read_commit(self.repo, commit))


def write_commit(
    repo: git.Repo,
    kind: LogKind,
    record: Json,
    parent: str | None,
    message: str = "",
    author_env: dict[str, str] | None = None,
) -> str:
    """Write the commit appending ``record`` on ``parent`` (no ref moves); its id."""
    record = valid_record(record)
    state = _read_json(repo, parent, STATE_FILE) if parent else {}
    state = kind.reduce(state, json.loads(encode(record)))
    tree = git.write_tree(repo, {RECORD_FILE: encode(record), STATE_FILE: encode(state)})
    summary = message or str(record.get("type") or record.get("event") or "record")
    args = ["commit-tree", tree, "-m", f"{kind.name}: {summary}"]
    if parent:
        args += ["-p", parent]
    if signs_commits(repo):
        args.append("-S")
    return _commit_tree(repo, args, author_env)


def update_ref(repo: git.Repo, ref: str, new: str, old: str | None, log: str) -> None:
    """Move ``ref`` to ``new`` only if it is still at ``old`` (None: must not exist)."""
    try:
        git.update_ref(repo, ref, new, old, f"gitmodel: {log}")
    except git.RefMoved:
        raise ConflictError(log) from None


def read_state(repo: git.Repo, kind: LogKind) -> Json:
    """The state at the tip of ``kind``'s log ({} when empty), without loading pygit2:
    for reads where start-up time is most of the cost."""
    body = git.show_file(repo, kind.ref, STATE_FILE)
    if body is None:
        return {}
    try:
        return valid_record(json.loads(body))
    except ValueError as exc:
        raise GitModelError(f"the tip of {kind.ref} has no valid {STATE_FILE}") from exc


def identity(repo: git.Repo) -> tuple[str, str]:
    """The user's Git identity (name, email), as commits would record it."""
    proc = repo.run(["var", "GIT_AUTHOR_IDENT"], check=False)
    ident = proc.stdout.decode("utf-8", "replace").strip()
    if proc.returncode != 0 or "<" not in ident:
        raise _identity_error()
    name, _, rest = ident.partition(" <")
    return name, rest.partition(">")[0]


def _commit_tree(repo: git.Repo, args: list[str], author_env: dict[str, str] | None) -> str:
    env = {**os.environ, **author_env} if author_env else None
    proc = git.run(args, cwd=repo.cwd, check=False, env=env)
    if proc.returncode != 0:
        err = proc.stderr.decode("utf-8", "replace")
        if "identity" in err or "tell me who you are" in err:
            raise _identity_error()
        raise git.GitError(f"cannot write a log commit: {err.strip().splitlines()[-1:]}")
    return proc.stdout.decode().strip()


def _identity_error() -> UserError:
    return UserError(
        "your Git identity is not set",
        hint='git config --global user.name "Your Name"; git config --global user.email you@…',
    )


def signs_commits(repo: git.Repo) -> bool:
    """Whether the user's Git signs commits (``commit.gpgSign``), and so log commits."""
    proc = repo.run(["config", "--type=bool", "commit.gpgsign"], check=False)
    return proc.stdout.strip() == b"true"


def _read_json(repo: git.Repo, commit: str | None, name: str) -> Json:
    if not commit:
        return {}
    try:
        return valid_record(json.loads(git.tree_file(repo, commit, name)))
    except (KeyError, ValueError) as exc:
        raise GitModelError(f"log commit {commit[:12]} has no valid {name}") from exc


def _entry(repo: git.Repo, commit: git.Commit) -> Entry:
    try:
        record = valid_record(json.loads(git.tree_file(repo, commit.id, RECORD_FILE)))
    except (KeyError, ValueError) as exc:
        raise GitModelError(f"log commit {commit.id[:12]} has no valid record") from exc
    return Entry(commit.id, record, commit.author_name, commit.author_email,
                 commit.author_time, commit.author_offset)  # fmt: skip
