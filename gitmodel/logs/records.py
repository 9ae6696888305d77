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
``check_record(record)`` and ``check_state(state)`` raise ``ValueError`` (with the reason)
unless the record or state has the shape the kind's readers rely on;
``check_subject(message, record)`` unless the commit's message says what its readers,
which skip records by it unread, may take it to say of the record.

A log is other people's input once it is fetched: a teammate can commit anything on it.
So what comes from a remote is verified before it is taken (:func:`verify`, by
:mod:`gitmodel.logs.sync`): every new commit must hold a readable record and state, and
its state must be its parent's state folded with its record. A state read later (one blob,
not a replay) is then one this process could have computed. ``audit`` and ``fsck`` verify
the whole log (:func:`damaged`), since a log can also be edited by hand. A commit that fails
raises :class:`DamagedLogError`, naming it, never a traceback.
"""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Callable, Container, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gitmodel import git
from gitmodel.errors import GitModelError, UserError
from gitmodel.logs import encoding

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
    """What a log holds: its name (the ref's last component), how records fold, and
    what shape its records and state must have (see the module docstring)."""

    name: str
    reduce: Reducer = count_records
    commutes: bool = False
    check_record: Callable[[Json], None] | None = None
    check_state: Callable[[Json], None] | None = None
    check_subject: Callable[[str, Json], None] | None = None  # (commit message, record)

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


class DamagedLogError(UserError):
    """A log commit whose record or state cannot be read or has the wrong shape, or whose
    state does not follow from its parent's state and its record."""

    def __init__(self, log: str, commit: str, what: str, where: str = "",
                 hint: str | None = None) -> None:  # fmt: skip
        ref = LOG_PREFIX + log
        super().__init__(
            f"the {log} log{where} is damaged at commit {commit[:12]}: {what}",
            hint=hint
            or f"find its last good commit with `git log {ref}`, then put the log "
            f"back there: git update-ref {ref} COMMIT",
        )
        self.log, self.commit, self.what = log, commit, what


_SHAPE_ERRORS = (TypeError, KeyError, AttributeError, ValueError, IndexError)


def fold(kind: LogKind, state: Json, record: Json, commit: str) -> Json:
    """``kind.reduce(state, record)``, checked: a record whose shape the reducer cannot
    take (a teammate's hand-made commit) is :class:`DamagedLogError` at ``commit``, the
    commit holding it. The state is not checked again: it is a sound one, folded with
    checked records (a check of each would cost the whole state per record)."""
    try:
        if kind.check_record is not None:
            kind.check_record(record)
        return kind.reduce(state, record)
    except _SHAPE_ERRORS as exc:
        raise DamagedLogError(kind.name, commit, "its record does not fit the log") from exc


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
        return _read_json(self.repo, self.kind, tip, STATE_FILE)

    def records(
        self, tip: str | None = None, wanted: Callable[[git.Commit], bool] | None = None,
        unreadable: Container[str] = (),
    ) -> Iterator[Entry]:  # fmt: skip
        """Every entry from ``tip`` (default: the current tip) back to the first, newest first.

        ``wanted``, given each commit of the walk (its id and message), may skip records
        without reading them.
        A commit in ``unreadable`` (known damaged, see :func:`damaged`) whose record does
        not read gives an empty record instead of stopping the walk.
        """
        tip = self.tip() if tip is None else tip
        commit = git.read_commit(self.repo, tip) if tip else None
        while commit is not None:
            if wanted is None or wanted(commit):
                yield _entry(self.repo, self.kind, commit, commit.id in unreadable)
            parents = commit.parent_ids
            commit = git.read_commit(self.repo, parents[0]) if parents else None

    def append(self, record: Json, expected_tip: str | None = None, message: str = "",
               check: Callable[[str], None] | None = None) -> Entry:  # fmt: skip
        """Append ``record`` as a new commit and move the ref there, atomically.

        With ``expected_tip`` (a commit id, or ``""`` for "the log must be empty"), the
        append fails unless the log is still there; either way a concurrent append between
        our read and our write raises :class:`ConflictError` and writes nothing.
        ``check``, given the new commit before the ref moves, may refuse it (raising).
        """
        current = self.tip()
        if expected_tip is not None and (expected_tip or None) != current:
            raise ConflictError(self.kind.name)
        commit = write_commit(self.repo, self.kind, record, current, message)
        if check is not None:
            check(commit)
        update_ref(self.repo, self.ref, commit, current, self.kind.name)
        return _entry(self.repo, self.kind, git.read_commit(self.repo, commit))


def write_commit(
    repo: git.Repo,
    kind: LogKind,
    record: Json,
    parent: str | None,
    message: str = "",
    author_env: dict[str, str] | None = None,
) -> str:
    """Write the commit appending ``record`` on ``parent`` (no ref moves); its id."""
    body = _record_bytes(kind, valid_record(record))
    _read_json(repo, kind, parent, RECORD_FILE)  # a tip edited by hand is not built on
    state = _read_json(repo, kind, parent, STATE_FILE) if parent else {}
    try:
        state = kind.reduce(state, json.loads(body))
    except _SHAPE_ERRORS as exc:  # our own record is sound: the state it folds into is not
        raise DamagedLogError(kind.name, parent or "", "its state does not fit the log") from exc
    tree = git.write_tree(repo, {RECORD_FILE: body, STATE_FILE: encode(state)})
    summary = message or str(record.get("type") or record.get("event") or "record")
    args = ["commit-tree", tree, "-m", f"{kind.name}: {summary}"]
    if parent:
        args += ["-p", parent]
    if signs_commits(repo):
        args.append("-S")
    return _commit_tree(repo, args, author_env)


def _record_bytes(kind: LogKind, record: Json) -> bytes:
    """``record`` encoded; a user error naming the field it cannot hold (text that is
    not UTF-8, a number that is not finite), before anything is written."""
    try:
        return encode(record)
    except ValueError as exc:  # UnicodeEncodeError, or allow_nan=False refusing a number
        found = encoding.problem(record) or encoding.Problem(f"the record ({exc})", "fix it")
        raise UserError(f"cannot write to the {kind.name} log: {found.what}",
                        hint=f"{found.hint}; nothing was written") from None  # fmt: skip


def update_ref(repo: git.Repo, ref: str, new: str, old: str | None, log: str) -> None:
    """Move ``ref`` to ``new`` only if it is still at ``old`` (None: must not exist)."""
    try:
        git.update_ref(repo, ref, new, old, f"gitmodel: {log}")
    except git.RefMoved as exc:
        if exc.lock is not None and _left(repo.cwd / exc.lock):  # Git names it absolute
            raise UserError(f"the {log} log is locked: {exc.lock} exists",
                            hint="a command that was killed may have left it; if no git or "
                            "git model command runs here, remove that file and run the "
                            "command again") from None  # fmt: skip
        raise ConflictError(log) from None


def _left(lock: Path, wait: float = 1.0) -> bool:
    """Whether ``lock`` is still there after ``wait`` seconds: a writer holds a ref's lock
    for milliseconds, so one still there was left by a command that was killed."""
    deadline = time.monotonic() + wait
    while lock.exists():
        if time.monotonic() > deadline:
            return True
        time.sleep(0.05)
    return False


def read_state(repo: git.Repo, kind: LogKind) -> Json:
    """The state at the tip of ``kind``'s log ({} when empty), without loading pygit2:
    for reads where start-up time is most of the cost."""
    body = git.show_file(repo, kind.ref, STATE_FILE)
    if body is None:
        return {}
    return _parse(kind, body, STATE_FILE, lambda: git.read_ref(repo, kind.ref) or kind.ref)


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


def _read_json(repo: git.Repo, kind: LogKind, commit: str | None, name: str) -> Json:
    """``name`` (the record or the state) of log commit ``commit``, read and checked."""
    if not commit:
        return {}
    try:
        body = git.tree_file(repo, commit, name)
    except _SHAPE_ERRORS as exc:  # absent, or not a file
        raise DamagedLogError(kind.name, commit, f"it has no {name}") from exc
    return _parse(kind, body, name, lambda: commit)


def _parse(kind: LogKind, body: bytes, name: str, commit: Callable[[], str]) -> Json:
    """``body`` of file ``name`` as a JSON object of the shape ``kind`` checks;
    :class:`DamagedLogError` at ``commit()`` if it is not."""
    check = kind.check_record if name == RECORD_FILE else kind.check_state
    try:
        value = json.loads(body, parse_constant=_not_a_number)
        if not isinstance(value, dict):
            raise ValueError("not a JSON object")
        _check_encodable(body, value)
        if check is not None:
            check(value)
    except _SHAPE_ERRORS as exc:  # its text may quote the hostile file: one clean line
        why = "".join(ch if ch.isprintable() else "?" for ch in str(exc)[:200])
        raise DamagedLogError(kind.name, commit(), f"its {name} is not valid ({why})") from exc
    return value


def _not_a_number(name: str) -> None:
    raise ValueError(f"{name} is not a JSON number")


_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89abcdefABCDEF]")


def _check_encodable(body: bytes, value: Json) -> None:
    """A ``ValueError`` when ``value`` holds text that no record can hold: a ``\\uD800``
    escape spells a lone surrogate, which JSON reads but UTF-8 cannot write, so a state
    holding one could never be written again (checked only when such an escape is there)."""
    if _SURROGATE_ESCAPE.search(body):
        found = encoding.problem(value)
        if found is not None:
            raise ValueError(found.what)


def _entry(repo: git.Repo, kind: LogKind, commit: git.Commit, lenient: bool = False) -> Entry:
    try:
        record = _read_json(repo, kind, commit.id, RECORD_FILE)
    except DamagedLogError:
        if not lenient:
            raise
        record = {}
    return Entry(commit.id, record, commit.author_name, commit.author_email,
                 commit.author_time, commit.author_offset)  # fmt: skip


def _first_parent_chain(repo: git.Repo, tip: str, since: str | None) -> list[list[str]]:
    """The commits from ``tip`` back to ``since`` (excluded) along first parents, oldest
    first, each as ``[commit, first parent]`` (no parent for the first commit of a log)."""
    args = ["rev-list", "--first-parent", "--reverse", "--parents", tip]
    out = repo.run([*args, "--not", since] if since else args).stdout.decode()
    return [line.split()[:2] for line in out.splitlines()]


def verify(repo: git.Repo, kind: LogKind, tip: str, since: str | None) -> None:
    """Check ``kind``'s log from ``since`` (excluded: its commits are trusted) up to
    ``tip``: every record there is readable and of the kind's shape, and the state at
    ``tip`` is the state before them folded with them, in order. Linear in the records
    (only the tip's state is compared: a reader reads no other). :class:`DamagedLogError`
    at the first commit that fails."""
    chain = _first_parent_chain(repo, tip, since)
    if not chain:
        return
    base = chain[0][1] if len(chain[0]) > 1 else None
    state = _read_json(repo, kind, base, STATE_FILE)
    for commit, *_ in chain:
        record = _read_json(repo, kind, commit, RECORD_FILE)
        _check_subject(repo, kind, commit, record)
        state = fold(kind, state, record, commit)
    if encode(state) != encode(_read_json(repo, kind, tip, STATE_FILE)):
        raise DamagedLogError(kind.name, tip, "its state does not follow from the records")


def damaged(repo: git.Repo, kind: LogKind) -> dict[str, DamagedLogError]:
    """Every commit of ``kind``'s log whose record or state is unreadable, or whose state
    is not its first parent's folded with its record, by commit id. Each commit's state is
    compared, for audits that must name the commit edited by hand: this costs the whole
    state per record, so it is for logs with a small state (the registry's)."""
    tip = git.read_ref(repo, kind.ref)
    found: dict[str, DamagedLogError] = {}
    before: Json = {}
    for commit, *_ in _first_parent_chain(repo, tip, None) if tip else []:
        try:
            record = _read_json(repo, kind, commit, RECORD_FILE)
            state = _read_json(repo, kind, commit, STATE_FILE)
            _check_subject(repo, kind, commit, record)
            if encode(fold(kind, before, record, commit)) != encode(state):
                raise DamagedLogError(kind.name, commit, "its state does not follow from "
                                      "its record and the state before it")  # fmt: skip
        except DamagedLogError as exc:
            found[commit] = exc
            state = _read_json_or_empty(repo, kind, commit)
        before = state
    return found


def _check_subject(repo: git.Repo, kind: LogKind, commit: str, record: Json) -> None:
    """:class:`DamagedLogError` at ``commit`` unless its message fits ``record``."""
    if kind.check_subject is None:
        return
    try:
        kind.check_subject(git.read_commit(repo, commit).message, record)
    except ValueError as exc:
        raise DamagedLogError(kind.name, commit, str(exc)) from exc


def _read_json_or_empty(repo: git.Repo, kind: LogKind, commit: str) -> Json:
    """The state of a damaged commit, as far as it reads (else empty), to judge the next."""
    try:
        return _read_json(repo, kind, commit, STATE_FILE)
    except DamagedLogError:
        return {}
