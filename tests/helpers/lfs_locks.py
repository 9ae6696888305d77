"""The Git LFS locking API (``docs/api/locking.md`` in git-lfs) for the loopback LFS host.

At ``<repo>.git/info/lfs``, as the spec adds its suffixes to the LFS endpoint:

- ``POST …/locks`` (``{"path", "ref"}``): 201 with ``{"lock"}``; 409 with the lock that
  holds the path and a ``message``; 422 without a path.
- ``GET …/locks`` (query ``path``, ``id``, ``cursor``, ``limit``, ``refspec``): 200 with
  ``{"locks", "next_cursor"}``, newest first.
- ``POST …/locks/verify`` (``{"cursor", "limit", "ref"}``): 200 with ``{"ours", "theirs",
  "next_cursor"}``, split by whether the requesting user owns each lock.
- ``POST …/locks/:id/unlock`` (``{"force", "ref"}``): 200 with ``{"lock"}``; 403 when the
  lock is someone else's and ``force`` is not true; 404 when there is no such lock.

A lock is ``{"id", "path", "locked_at", "owner": {"name"}}``: ids count up per repository
(``"1"``, ``"2"``, …), and a cursor is the id of the newest lock the next page starts at,
so a page never skips a lock because another was deleted meanwhile. A page holds at most
``page_size`` locks (the server's upper bound on ``limit``). Refs are accepted and not
used: the spec leaves them to authorization, which this host does not scope by ref.

Locks are kept per repository in ``ROOT/locks/<org>/<repo>.json``, read and rewritten
whole (to a temporary file, then renamed) under one lock, so the server's threads agree.
Only repositories that exist under ``ROOT/git`` have locks; other URLs answer 404.
"""

from __future__ import annotations

import json
import os
import re
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import parse_qs

StartResponse = Callable[..., Any]
WSGIApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]
Json = dict[str, Any]

MEDIA_TYPE = "application/vnd.git-lfs+json"
LOCKS_PATH = re.compile(
    r"/(?P<repo>[A-Za-z0-9_-][A-Za-z0-9._-]*(?:/[A-Za-z0-9_-][A-Za-z0-9._-]*)*)\.git"
    r"/info/lfs/locks(?P<action>/verify|/(?P<id>[^/]+)/unlock)?"
)
BODY_MAX = 1 << 20
STATUS = {200: "200 OK", 201: "201 Created", 400: "400 Bad Request", 401: "401 Unauthorized",
          403: "403 Forbidden", 404: "404 Not Found", 405: "405 Method Not Allowed",
          409: "409 Conflict", 422: "422 Unprocessable Entity"}  # fmt: skip


class Answer(Exception):
    """An answer other than success, raised from deep in a request."""

    def __init__(self, status: int, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.status = status
        self.body = {"message": message, **extra}


class LockStore:
    """Each repository's locks, oldest first, in ``ROOT/locks/<repo>.json``."""

    def __init__(self, root: str, page_size: int) -> None:
        self.git = os.path.join(root, "git")
        self.folder = os.path.join(root, "locks")
        self.page_size = page_size
        self.mutex = threading.Lock()

    def create(self, repo: str, path: str, owner: str) -> Json:
        with self.mutex:
            state = self._load(repo)
            held = next((lock for lock in state["locks"] if lock["path"] == path), None)
            if held is not None:
                raise Answer(409, "already created lock", lock=held)
            state["next"] += 1
            lock = {"id": str(state["next"]), "path": path, "owner": {"name": owner},
                    "locked_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}  # fmt: skip
            state["locks"].append(lock)
            self._save(repo, state)
            return lock

    def delete(self, repo: str, lock_id: str, user: str, force: bool) -> Json:
        with self.mutex:
            state = self._load(repo)
            lock = next((lock for lock in state["locks"] if lock["id"] == lock_id), None)
            if lock is None:
                raise Answer(404, f"no lock with id {lock_id}")
            if lock["owner"]["name"] != user and not force:
                raise Answer(403, f"lock {lock_id} is owned by {lock['owner']['name']}; "
                             "only its owner may delete it without force")  # fmt: skip
            state["locks"].remove(lock)
            self._save(repo, state)
            return dict(lock)

    def page(
        self, repo: str, cursor: str | None, limit: int | None,
        keep: Callable[[Json], bool] = lambda lock: True,
    ) -> tuple[list[Json], str | None]:  # fmt: skip
        """One page of the locks ``keep`` chooses, newest first, from ``cursor`` on; and
        the cursor of the next page (None after the last)."""
        if cursor is not None and not cursor.isdigit():
            raise Answer(400, f"bad cursor {cursor!r}")
        size = min(max(limit or self.page_size, 1), self.page_size)
        with self.mutex:
            locks = [lock for lock in reversed(self._load(repo)["locks"]) if keep(lock)]
        if cursor is not None:
            locks = [lock for lock in locks if int(lock["id"]) <= int(cursor)]
        rest = locks[size:]
        return locks[:size], rest[0]["id"] if rest else None

    def _file(self, repo: str) -> str:
        if not os.path.isdir(os.path.join(self.git, f"{repo}.git")):
            raise Answer(404, "Not found")
        return os.path.join(self.folder, f"{repo}.json")

    def _load(self, repo: str) -> Json:
        try:
            with open(self._file(repo), encoding="utf-8") as f:
                state: Json = json.load(f)
        except FileNotFoundError:
            return {"next": 0, "locks": []}
        return state

    def _save(self, repo: str, state: Json) -> None:
        path = self._file(repo)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(f"{path}.tmp", "w", encoding="utf-8") as f:
            json.dump(state, f)
        os.replace(f"{path}.tmp", path)


def locking_api(app: WSGIApp, root: str, page_size: int,
                user_of: Callable[[dict[str, Any]], str | None]) -> WSGIApp:  # fmt: skip
    """Answer the locking API's URLs (see the module's docstring) and pass the rest to
    ``app``. ``user_of`` names the user a request comes from (None: nobody signed in)."""
    store = LockStore(root, page_size)

    def middleware(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        found = LOCKS_PATH.fullmatch(environ.get("PATH_INFO", ""))
        if found is None:
            return app(environ, start_response)
        try:
            user = user_of(environ)
            if user is None:
                raise Answer(401, "Credentials needed")
            status, body = _dispatch(store, environ, found, user)
        except Answer as answer:
            status, body = answer.status, answer.body
        data = json.dumps(body).encode()
        start_response(STATUS[status], [("Content-Type", MEDIA_TYPE),
                                        ("Content-Length", str(len(data)))])  # fmt: skip
        return [data]

    return middleware


def _dispatch(store: LockStore, environ: dict[str, Any], found: re.Match[str],
              user: str) -> tuple[int, Json]:  # fmt: skip
    repo, action, method = found["repo"], found["action"], environ["REQUEST_METHOD"]
    if action is None and method == "GET":
        query = {key: values[-1] for key, values in
                 parse_qs(environ.get("QUERY_STRING", "")).items()}  # fmt: skip
        return 200, _list(store, repo, query)
    if method != "POST":
        raise Answer(405, f"{method} is not allowed here")
    body = _body(environ)
    if action is None:
        path = body.get("path")
        if not isinstance(path, str) or not path:
            raise Answer(422, "a lock needs a path")
        return 201, {"lock": store.create(repo, path, user)}
    if action == "/verify":
        cursor, limit = body.get("cursor"), body.get("limit")
        if cursor is not None and not isinstance(cursor, str):
            raise Answer(422, "the cursor must be a string")
        if limit is not None and not isinstance(limit, int):
            raise Answer(422, "the limit must be a number")
        locks, next_cursor = store.page(repo, cursor or None, limit)
        ours = [lock for lock in locks if lock["owner"]["name"] == user]
        theirs = [lock for lock in locks if lock["owner"]["name"] != user]
        return 200, _with_cursor({"ours": ours, "theirs": theirs}, next_cursor)
    force = body.get("force", False)
    if not isinstance(force, bool):
        raise Answer(422, "force must be true or false")
    return 200, {"lock": store.delete(repo, found["id"], user, force)}


def _list(store: LockStore, repo: str, query: dict[str, str]) -> Json:
    limit = query.get("limit")
    if limit is not None and not limit.isdigit():
        raise Answer(400, f"bad limit {limit!r}")
    path, lock_id = query.get("path"), query.get("id")

    def keep(lock: Json) -> bool:
        return (path is None or lock["path"] == path) and (lock_id is None or lock["id"] == lock_id)

    locks, next_cursor = store.page(repo, query.get("cursor") or None,
                                    int(limit) if limit else None, keep)  # fmt: skip
    return _with_cursor({"locks": locks}, next_cursor)


def _with_cursor(document: Json, next_cursor: str | None) -> Json:
    return {**document, "next_cursor": next_cursor} if next_cursor else document


def _body(environ: dict[str, Any]) -> Json:
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        raise Answer(400, "bad Content-Length") from None
    if length > BODY_MAX:
        raise Answer(400, "the request is too large")
    data = environ["wsgi.input"].read(length) if length else b""
    try:
        body = json.loads(data) if data.strip() else {}
    except ValueError:
        raise Answer(400, "the request is not JSON") from None
    if not isinstance(body, dict):
        raise Answer(422, "the request is not a JSON object")
    ref = body.get("ref")
    if ref is not None and not (isinstance(ref, dict) and isinstance(ref.get("name", ""), str)):
        raise Answer(422, "ref must be an object with a name")
    return body
