"""A Git LFS host's locking API (``docs/api/locking.md`` in git-lfs), through the
connections, retries and credentials of the host's :class:`~gitmodel.remote.lfs.LfsRemote`.

What the host answers about locks is checked like its batch answers: a lock with an
unusable id, path or field is left out, an answer about another lock than the one asked
about is refused, and a listing ends at a cursor seen before or after
:data:`LOCK_PAGES_MAX` pages.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import quote

from gitmodel import safepath
from gitmodel.errors import UserError
from gitmodel.remote.lfs import (
    BATCH_RESPONSE_MAX,
    MEDIA_TYPE,
    LfsError,
    LfsRemote,
    Response,
    server_message,
)

LOCK_PAGES_MAX = 1000  # pages of a locks listing read at most: one that never ends is cut off
LOCKS_MAX = 100_000
_LOCK_ID = re.compile(r"[A-Za-z0-9._-]{1,200}")
_ANSWER_HINT = "the LFS host answered locks no host should; tell its administrators"


class LockHeld(UserError):
    """The host refused a lock because ``lock`` (None: it did not say which) holds it."""

    def __init__(self, path: str, lock: dict[str, str] | None) -> None:
        holder = f" by {lock['owner'] or 'someone'} since {lock['locked_at']}" if lock else ""
        super().__init__(f"{path} is locked{holder}",
                         hint="ask them to unlock it (`git model locks`)")  # fmt: skip
        self.lock = lock


class LfsLocking:
    """Create, list, verify and delete locks at ``<endpoint>/locks``; for an SSH remote,
    at the endpoint and with the headers ``git-lfs-authenticate`` gives for uploads, as
    git-lfs does."""

    def __init__(self, remote: LfsRemote) -> None:
        self.remote = remote

    def create(self, path: str, ref: str | None) -> dict[str, str]:
        body: dict[str, Any] = {"path": path}
        if ref:
            body["ref"] = {"name": ref}
        response = self._send("POST", "/locks", body)
        if response.status == 409:
            found = _lock_of((_json(response.body) or {}).get("lock"))
            raise LockHeld(path, found if found and found["path"] == path else None)
        if response.status != 201 and response.status != 200:
            raise self.remote.refused(f"lock of {path}", response)
        lock = self._one(response)
        if lock["path"] != path:
            raise LfsError(f"{self.remote.display}: asked to lock {path}, the host answered "
                           f"a lock on {lock['path']}", hint=_ANSWER_HINT)  # fmt: skip
        return lock

    def delete(self, lock_id: str, force: bool, ref: str | None) -> dict[str, str]:
        if not _LOCK_ID.fullmatch(lock_id):
            raise LfsError(f"{self.remote.display}: an unusable lock id")
        body: dict[str, Any] = {"force": force}
        if ref:
            body["ref"] = {"name": ref}
        response = self._send("POST", f"/locks/{lock_id}/unlock", body)
        if response.status == 403:
            reason = server_message(response.body) or "not your lock"
            raise UserError(
                f"{self.remote.display} refused to unlock: {reason}",
                hint="pass --force to break someone else's lock, if allowed",
            )
        if response.status != 200:
            raise self.remote.refused("unlock", response)
        lock = self._one(response)
        if lock["id"] != lock_id:
            raise LfsError(f"{self.remote.display}: asked to unlock lock {lock_id}, the host "
                           f"answered about lock {lock['id']}", hint=_ANSWER_HINT)  # fmt: skip
        return lock

    def listing(self, path: str | None = None) -> list[dict[str, str]]:
        """Every lock (or those on ``path``, which a host may not filter), following the
        host's cursors."""
        found: list[dict[str, str]] = []

        def ask(cursor: str) -> Response:
            query = "?limit=100" + (f"&cursor={quote(cursor, safe='')}" if cursor else "")
            query += f"&path={quote(path, safe='')}" if path else ""
            return self._send("GET", f"/locks{query}")

        for document in self._pages("listing locks", ask):
            self._collect(document, "locks", found)
        return [lock for lock in found if path is None or lock["path"] == path]

    def verify(self, ref: str | None) -> tuple[list[dict[str, str]], list[dict[str, str]]]:
        """The locks that are ours and theirs, as the host sees it."""
        ours: list[dict[str, str]] = []
        theirs: list[dict[str, str]] = []

        def ask(cursor: str) -> Response:
            body: dict[str, Any] = {"limit": 100}
            if cursor:
                body["cursor"] = cursor
            if ref:
                body["ref"] = {"name": ref}
            return self._send("POST", "/locks/verify", body)

        for document in self._pages("verifying locks", ask, absent_ok=True):
            self._collect(document, "ours", ours)
            self._collect(document, "theirs", theirs)
        return ours, theirs

    def _pages(self, what: str, ask: Callable[[str], Response],
               absent_ok: bool = False) -> Iterator[dict[str, Any]]:  # fmt: skip
        """The host's answers, page by page, as ``ask`` gets each from a cursor; with
        ``absent_ok``, none from a host that has no locking API (404 or 501, as git-lfs
        takes them)."""
        cursor = ""
        seen: set[str] = set()
        for _ in range(LOCK_PAGES_MAX):
            response = ask(cursor)
            if absent_ok and not cursor and response.status in (404, 501):
                return
            if response.status != 200:
                raise self.remote.refused(what, response)
            document = _json(response.body)
            if document is None:  # such as a sign-in page: no answer that there are no locks
                raise LfsError(f"{self.remote.display}: {what}: the answer is not JSON",
                               hint=_ANSWER_HINT)  # fmt: skip
            yield document
            cursor = document.get("next_cursor") or ""
            if not isinstance(cursor, str) or not cursor:
                return
            if cursor in seen:
                break
            seen.add(cursor)
        raise LfsError(f"{self.remote.display}: {what}: the host's pages of locks do not end",
                       hint=_ANSWER_HINT)  # fmt: skip

    def _collect(self, document: dict[str, Any], name: str, into: list[dict[str, str]]) -> None:
        items = document.get(name) or []
        if not isinstance(items, list):
            raise LfsError(f"{self.remote.display}: the {name} locks are not a list")
        into.extend(lock for lock in map(_lock_of, items) if lock is not None)
        if len(into) > LOCKS_MAX:
            raise LfsError(f"{self.remote.display}: more than {LOCKS_MAX} locks; not read",
                           hint=_ANSWER_HINT)  # fmt: skip

    def _send(self, method: str, suffix: str, body: dict[str, Any] | None = None) -> Response:
        url, extra = self.remote.endpoint("upload")  # where git-lfs sends locks too
        headers = {**extra, "Accept": MEDIA_TYPE}
        data = None
        if body is not None:
            headers["Content-Type"] = MEDIA_TYPE
            data = json.dumps(body).encode()
        return self.remote.request(method, f"{url}{suffix}", headers, data,
                                   limit=BATCH_RESPONSE_MAX)  # fmt: skip

    def _one(self, response: Response) -> dict[str, str]:
        lock = _lock_of((_json(response.body) or {}).get("lock"))
        if lock is None:
            raise LfsError(f"{self.remote.display}: the answer holds no usable lock")
        return lock


def _json(body: bytes) -> dict[str, Any] | None:
    """``body`` as a JSON object, or None."""
    try:
        document = json.loads(body)
    except ValueError:
        return None
    return document if isinstance(document, dict) else None


def _lock_of(item: object) -> dict[str, str] | None:
    """A lock as the host describes it, checked: id, path, owner's name, time."""
    if not isinstance(item, dict):
        return None
    owner = item.get("owner")
    name = owner.get("name") if isinstance(owner, dict) else None
    fields = {"id": item.get("id"), "path": item.get("path"), "owner": name or "",
              "locked_at": item.get("locked_at") or ""}  # fmt: skip
    if not all(isinstance(v, str) and v.isprintable() and len(v) <= 4096 for v in fields.values()):
        return None
    if not fields["id"] or not safepath.is_valid(str(fields["path"])):
        return None  # a path outside the worktree, or in .git, is no file of ours
    return {key: str(value) for key, value in fields.items()}
