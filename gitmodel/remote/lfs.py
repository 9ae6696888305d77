"""A Git LFS host as a model remote: the Batch API and ``basic`` transfers.

GitHub, GitLab, Gitea, Bitbucket, Hugging Face and servers such as giftless all
speak it (``docs/api/batch.md`` in git-lfs). One ``POST <endpoint>/objects/batch``
per 100 objects says, for each, where to ``PUT`` or ``GET`` its bytes and with which
headers; objects travel whole (an LFS host has no chunks to share), and an upload
the host asks to be verified is confirmed with a ``POST`` to its ``verify`` action.

Everything the host says is checked before it is used: the answer is JSON of a
bounded size, names only objects that were asked about, at their sizes; an action's
URL is http(s) and its headers are plain values (a header with a line break would
smuggle another). A download is read no further than one byte past the pointer's
size and enters the store only once its sha256 matches. Credentials come from
``git credential fill`` when the host answers 401, go only to the host that asked
for them (never to an action URL on another host, such as a signed storage URL),
and are approved or rejected so that the user's helper learns; they are never
stored, printed or logged here.

Failures are retried like the other remotes' (``model.retries``,
``model.retryDelay``, ``model.retryTimeout``, ``model.timeout``): a dropped
connection, a 5xx or a 429 (after its ``Retry-After``), never a 4xx.
"""

from __future__ import annotations

import base64
import functools
import http.client
import io
import json
import re
import socket
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeGuard, TypeVar
from urllib.parse import SplitResult, urlsplit, urlunsplit

from gitmodel import trace as tracing
from gitmodel.errors import ChecksumError, GitModelError, UserError
from gitmodel.git.ssh import Target
from gitmodel.pointer import Pointer
from gitmodel.progress import Attempt, ByteCount
from gitmodel.remote import backends
from gitmodel.remote.errors import (
    HOST_DAMAGED_HINT,
    RemoteError,
    RemoteObjectDamaged,
    RemoteObjectMissing,
)
from gitmodel.remote.retry import Retrier, Verdict
from gitmodel.store.local import LocalStore
from gitmodel.trace import trace
from gitmodel.urls import redact, scrub

MEDIA_TYPE = "application/vnd.git-lfs+json"
BATCH_SIZE = 100  # objects per batch request, as git-lfs sends them
BATCH_RESPONSE_MAX = 8 << 20  # an answer about 100 objects is a few tens of KiB
ERROR_BODY_MAX = 64 << 10
READ_SIZE = 1 << 20
RETRY_AFTER_MAX = 60.0
REDIRECTS_MAX = 3
_HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
_HEADER_VALUE = re.compile(r"[\t\x20-\x7e\x80-\xff]*")
T = TypeVar("T")
_Key = tuple[str, str | None, int | None]  # scheme, host, port of a connection
FSCK_HINT = "`git model fsck` checks the local store"
SEND_SIZE = 256 << 10  # the upload buffer (see Upload)
# An upload of this size or more whose verify goes to the host that took the body closes
# the body's connection: such a host may still be busy with the body there (waitress
# deletes its 1 GiB spool file before it reads the next request on it: a verify there
# waited 0.12 s, on a new connection 3 ms), and an idle connection kept instead costs a
# host reading bodies in Python CPU during the next one (benchmarks/README.md). A new
# connection's handshake is nothing against a body this large.
FRESH_VERIFY_SIZE = 64 << 20
_RETRY_STATUS = frozenset({429, 500, 502, 503, 504})
ANSWER_HINT = (
    "the host answered what no LFS host should: check that the LFS URL (lfs.url, "
    "remote.NAME.lfsurl) is the host's, or tell its administrators"
)
_AUTH_HINT = (
    "configure a credential helper for it (e.g. `git config --global credential.helper "
    "store`, then run the command again and enter a token), or check the one you have"
)


class LfsError(RemoteError):
    """The LFS host refused a request or answered something we cannot use."""


@dataclass(frozen=True)
class Action:
    """Where to send or fetch one object's bytes, and the headers to send with it."""

    href: str
    header: dict[str, str] = field(repr=False)


@dataclass(frozen=True)
class Plan:
    """The host's answer about one object: actions to take (none: nothing to do), or
    an error with its HTTP-like code."""

    actions: dict[str, Action]
    error: tuple[int, str] | None = None


class Response:
    def __init__(self, status: int, headers: http.client.HTTPMessage, body: bytes) -> None:
        self.status = status
        self.headers = headers
        self.body = body


@dataclass(frozen=True)
class Upload:
    """An object's bytes sent as a request body: read into one buffer of
    :data:`SEND_SIZE` and sent from it, as git-lfs and curl do. Not ``sendfile(2)``: on
    TLS (every public host) Python's ``socket.sendfile`` falls back to reading and
    sending 8 KiB at a time, and on plain HTTP to a server on the same machine the
    server's receive then copies from page-cache pages that no CPU cache holds, which
    costs a server reading the body in Python (waitress) about a fifth more CPU per byte
    (benchmarks/README.md, ``bench_lfs.py``). ``count`` is told of each send; a send
    waits at most the connection's timeout for room, so a stalled host fails and a slow
    one does not."""

    oid: str
    file: io.RawIOBase
    size: int
    count: ByteCount

    def send(self, sock: socket.socket) -> None:
        buffer = memoryview(bytearray(min(SEND_SIZE, self.size)))
        offset = 0
        while offset < self.size:
            got = self.file.readinto(buffer[: self.size - offset])
            if not got:
                raise LfsError(f"the stored object {self.oid} ended after {offset} of "
                               f"{self.size} bytes", hint=FSCK_HINT)  # fmt: skip
            block = buffer[:got]
            while block:
                sent = sock.send(block)
                block = block[sent:]
                self.count(sent)
            offset += got


Body = bytes | Upload


class _Retry(Exception):
    """A failure another try may not meet (a dropped connection, a 5xx, a 429, an
    object cut short, which is that object's and leaves the remote up)."""

    def __init__(self, reason: str, after: float | None = None, short: bool = False) -> None:
        super().__init__(reason)
        self.after = after
        self.short = short


class LfsRemote:
    """Objects on a Git LFS host, reached through its Batch API at ``endpoint``."""

    chunked = False  # objects go whole: an LFS host stores files, not chunks
    lfs_host = True  # see layouts.on_host

    def __init__(self, endpoint: str, cwd: Path | str | None = None,
                 tries: int = backends.RETRY_TRIES,
                 first_delay: float = backends.RETRY_FIRST_DELAY,
                 retry_timeout: float = backends.RETRY_TIMEOUT,
                 timeout: float = backends.REQUEST_TIMEOUT,
                 sleep: Callable[[float], None] = time.sleep, ssh: Target | None = None,
                 settings: dict[str, str] | None = None) -> None:  # fmt: skip
        parts = urlsplit(endpoint)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise UserError(f"{redact(endpoint)} is not an http(s) LFS endpoint",
                            hint="set lfs.url (or remote.NAME.lfsurl) to the host's "
                            "LFS URL, e.g. https://host/org/repo.git/info/lfs")  # fmt: skip
        self._credential: Any = None
        self._userinfo = _userinfo(parts.username, parts.password)
        netloc = parts.hostname + (f":{parts.port}" if parts.port is not None else "")
        self.url = urlunsplit((parts.scheme, netloc, parts.path.rstrip("/"), "", ""))
        self.display = redact(self.url)
        self.cwd = cwd
        self.retrier = Retrier(tries, first_delay, retry_timeout, sleep)
        self.timeout = timeout
        self._origin = _origin(self.url)
        self._plans: dict[tuple[str, str], Plan] = {}
        self._coming: dict[tuple[str, str], threading.Event] = {}  # see plan_ahead
        self._lock = threading.Lock()
        self._auth_lock = threading.Lock()
        self._approved = False
        self._auth_refused = False
        self._idle: dict[_Key, list[http.client.HTTPConnection]] = {}  # see _connect
        self._idle_lock = threading.Lock()
        self._ssh = ssh
        self._settings = settings or {}
        self._ssh_auth: dict[str, tuple[float, str, dict[str, str]]] = {}

    # -- the Batch API

    def plan(self, operation: str, pointers: Iterable[Pointer]) -> dict[str, Plan]:
        """What the host says to do for each object (``upload`` or ``download``), one
        request per :data:`BATCH_SIZE` objects; kept for :meth:`upload`/:meth:`download`."""
        wanted = list({p.oid: p for p in pointers}.values())
        plans: dict[str, Plan] = {}
        for start in range(0, len(wanted), BATCH_SIZE):
            group = wanted[start : start + BATCH_SIZE]
            plans.update(self._batch(operation, group))
        with self._lock:
            self._plans.update({(operation, oid): plan for oid, plan in plans.items()})
        return plans

    def plan_ahead(
        self, operation: str, pointers: Iterable[Pointer],
        on_plans: Callable[[dict[str, Plan]], object] | None = None,
    ) -> None:  # fmt: skip
        """:meth:`plan`: the first :data:`BATCH_SIZE` objects now (a host that wants
        credentials asks for them once, here), the others on a thread of their own, a
        request at a time, so that the transfers of the first objects run while the host
        answers about the next, as git-lfs overlaps them. ``on_plans`` is told of each
        answer. A transfer whose plan is still coming waits for it; a request that fails
        leaves its objects to be asked about one at a time, as when no plan was made."""
        wanted = list({p.oid: p for p in pointers}.values())
        told = on_plans or (lambda plans: None)
        told(self.plan(operation, wanted[:BATCH_SIZE]))
        groups = [wanted[i : i + BATCH_SIZE] for i in range(BATCH_SIZE, len(wanted), BATCH_SIZE)]
        if not groups:
            return
        events = [threading.Event() for _ in groups]
        with self._lock:
            for group, event in zip(groups, events, strict=True):
                self._coming.update({(operation, p.oid): event for p in group})

        def ask() -> None:
            for group, event in zip(groups, events, strict=True):
                try:
                    told(self.plan(operation, group))
                except (GitModelError, OSError) as exc:
                    trace(
                        f"lfs: batch request for {len(group)} object(s) failed: {scrub(str(exc))}"
                    )
                finally:
                    with self._lock:
                        for p in group:
                            self._coming.pop((operation, p.oid), None)
                    event.set()

        threading.Thread(target=ask, name="lfs-batches", daemon=True).start()

    def _batch(self, operation: str, pointers: list[Pointer]) -> dict[str, Plan]:
        body = json.dumps({
            "operation": operation,
            "transfers": ["basic"],
            "objects": [{"oid": p.oid, "size": p.size} for p in pointers],
            "hash_algo": "sha256",
        }).encode()  # fmt: skip
        url, extra = self.endpoint(operation)
        headers = {**extra, "Accept": MEDIA_TYPE, "Content-Type": MEDIA_TYPE}
        response = self.request("POST", f"{url}/objects/batch", headers, body,
                                limit=BATCH_RESPONSE_MAX)  # fmt: skip
        if response.status == 404 and operation == "download":
            # giftless (and others) answer a batch whose objects are all unknown with 404
            message = server_message(response.body) or "not found"
            return {p.oid: Plan({}, (404, message)) for p in pointers}
        if response.status != 200:
            raise self.refused("batch request", response)
        return _parse_batch(response.body, {p.oid: p for p in pointers}, self.display)

    def endpoint(self, operation: str) -> tuple[str, dict[str, str]]:
        """The URL to send ``operation``'s requests to, and headers to send with them:
        for an SSH remote, what ``git-lfs-authenticate`` on the host answers (kept until
        it expires), else the configured endpoint."""
        if self._ssh is None:
            return self.url, {}
        with self._auth_lock:
            cached = self._ssh_auth.get(operation)
            if cached is not None and cached[0] > time.monotonic():
                return cached[1], cached[2]
            from gitmodel.git.ssh import run_ssh

            out = run_ssh(self._ssh, ["git-lfs-authenticate", self._ssh.path, operation],
                          self._settings)  # fmt: skip
            href, header, expires = _authenticated(out, self.display)
            self._ssh_auth[operation] = (time.monotonic() + expires, href, header)
            return href, header

    def lacking(self, pointers: Iterable[Pointer]) -> list[Pointer]:
        """The objects the host does not have: those it gives an upload action."""
        unique = list({p.oid: p for p in pointers}.values())
        plans = self.plan("upload", unique)
        failed = {oid: plan.error for oid, plan in plans.items() if plan.error is not None}
        if failed:
            oid, (code, message) = next(iter(failed.items()))
            raise LfsError(f"{self.display} refused to take object {oid}: {message} ({code})")
        return [p for p in unique if "upload" in plans[p.oid].actions]

    def _planned(self, operation: str, pointer: Pointer) -> Plan:
        key = (operation, pointer.oid)
        with self._lock:
            plan = self._plans.get(key)
            coming = self._coming.get(key) if plan is None else None
        if coming is not None:  # its batch request is on its way (plan_ahead)
            coming.wait()
            with self._lock:
                plan = self._plans.get(key)
        if plan is None:
            plan = self.plan(operation, [pointer])[pointer.oid]
        return plan

    # -- transfers

    def upload(self, store: LocalStore, pointer: Pointer,
               on_bytes: ByteCount | None = None) -> bool:  # fmt: skip
        """Send one object as the host asked (nothing when it has it), then verify it;
        whether it was sent. ``on_bytes`` is told of each block as it is sent (and takes
        back a failed try's)."""
        store.check_size(pointer)  # the host files it under the pointer's size
        plan = self._planned("upload", pointer)
        if plan.error is not None:
            raise LfsError(f"{self.display} refused object {pointer.oid}: "
                           f"{plan.error[1]} ({plan.error[0]})")  # fmt: skip
        action = plan.actions.get("upload")
        if action is None:
            return False  # the host has it
        headers = {**action.header, "Content-Type": "application/octet-stream",
                   "Content-Length": str(pointer.size)}  # fmt: skip
        verify = plan.actions.get("verify")
        # the host that took a large body verifies it: the body's connection is closed, so
        # that the verify goes on another (see FRESH_VERIFY_SIZE)
        keep = (verify is None or pointer.size < FRESH_VERIFY_SIZE
                or _origin(verify.href) != _origin(action.href))  # fmt: skip

        def send() -> Response:
            with Attempt(on_bytes) as count, store.open(pointer.oid) as source:
                body = Upload(pointer.oid, source, pointer.size, count)
                return self._send(action, "PUT", headers, body, keep)

        response = self._retry(send)
        if response.status not in (200, 201):
            raise self.refused(f"upload of {pointer.oid}", response)
        if verify is not None:
            body = json.dumps({"oid": pointer.oid, "size": pointer.size}).encode()
            checked = self._retry(lambda: self._send(
                verify, "POST", {**verify.header, "Accept": MEDIA_TYPE,
                                 "Content-Type": MEDIA_TYPE}, body))  # fmt: skip
            if checked.status != 200:
                raise self.refused(f"verify of {pointer.oid}", checked)
        return True

    def download(self, store: LocalStore, pointer: Pointer,
                 on_bytes: ByteCount | None = None) -> int:  # fmt: skip
        """Fetch one object into ``store``: read no further than its size plus one byte,
        and kept only once its sha256 matches. Returns the bytes read. ``on_bytes`` is
        told of each block as it arrives (and takes back a failed try's)."""
        plan = self._planned("download", pointer)
        if plan.error is not None:
            code, message = plan.error
            kind = RemoteObjectMissing if code in (404, 410) else RemoteObjectDamaged
            raise kind(f"{self.display} cannot give object {pointer.oid}: {message} ({code})")
        action = plan.actions.get("download")
        if action is None:
            raise RemoteObjectDamaged(f"{self.display} gave no download action for {pointer.oid}",
                                      HOST_DAMAGED_HINT)  # fmt: skip
        return self._retry(lambda: self._receive(action, store, pointer, on_bytes))

    def verify(self, pointer: Pointer) -> bool:
        """True when the host has ``pointer`` and its bytes hash to the oid (streamed)."""
        import hashlib

        plan = self.plan("download", [pointer])[pointer.oid]
        action = plan.actions.get("download")
        if plan.error is not None or action is None:
            return False
        digest = hashlib.sha256()
        try:
            size = self._stream(action, pointer.size, digest.update)
        except (_Retry, RemoteError):
            return False
        return (digest.hexdigest(), size) == (pointer.oid, pointer.size)

    def _receive(self, action: Action, store: LocalStore, pointer: Pointer,
                 on_bytes: ByteCount | None) -> int:  # fmt: skip
        with Attempt(on_bytes) as count, store.writer() as writer:

            def take(data: bytes) -> None:
                writer.write(data)
                count(len(data))

            received = self._stream(action, pointer.size, take)
            if received > pointer.size:
                raise RemoteObjectDamaged(
                    f"{self.display}: object {pointer.oid} is longer than the "
                    f"{pointer.size} bytes its pointer says; not read further",
                    HOST_DAMAGED_HINT,
                )
            try:
                writer.commit(pointer)
            except ChecksumError as exc:
                if received < pointer.size:
                    raise _Retry(
                        f"{received} of {pointer.size} bytes arrived", short=True
                    ) from None
                error = ChecksumError(f"object {pointer.oid} from {self.display}",
                                      exc.expected, exc.actual)  # fmt: skip
                error.hint = HOST_DAMAGED_HINT
                raise error from None
        return received

    def _stream(self, action: Action, size: int, take: Callable[[bytes], object]) -> int:
        """GET ``action``, handing its body to ``take``: at most ``size`` + 1 bytes."""
        connection, path = self._connect(action.href)
        headers = self._headers_for(action.href, action.header)
        try:
            connection.request("GET", path, headers=headers)
            response = connection.getresponse()
        except (OSError, http.client.HTTPException) as exc:
            connection.close()
            raise _Retry(backends.describe(exc)) from exc
        if response.status != 200:
            body = response.read(ERROR_BODY_MAX)
            self._finish(action.href, connection, response)
            if response.status in _RETRY_STATUS:  # such as a storage service's SlowDown
                raise _Retry(f"HTTP {response.status}", _retry_after(response.headers))
            raise self._status_error("download", response.status, response.headers, body)
        received = 0
        try:
            while received <= size:
                data = response.read(min(READ_SIZE, size + 1 - received))
                if not data:
                    break
                take(data)
                received += len(data)
        except (OSError, http.client.HTTPException) as exc:
            connection.close()
            raise _Retry(backends.describe(exc)) from exc
        if received > size:
            connection.close()  # the rest of an overlong body is never read
        else:
            self._finish(action.href, connection, response)
        return received

    def _send(self, action: Action, method: str, headers: dict[str, str],
              body: Body, keep: bool = True) -> Response:  # fmt: skip
        return self._request_once(method, action.href, self._headers_for(action.href, headers),
                                  body, ERROR_BODY_MAX, keep)  # fmt: skip

    # -- HTTP

    def request(self, method: str, url: str, headers: dict[str, str], body: bytes | None = None,
                limit: int = ERROR_BODY_MAX) -> Response:  # fmt: skip
        """One request to the host itself, retried, with credentials once it asks."""
        for _ in range(REDIRECTS_MAX + 2):
            used = self._credential  # what this try sends, to tell a refusal of it apart
            sent = self._headers_for(url, headers, used)
            once = functools.partial(self._request_once, method, url, sent, body, limit)
            response = self._retry(once)
            if response.status == 401 and self._same_origin(url):
                if self._authenticate(url, used):
                    continue
                raise self._auth_error(url)
            if response.status in (301, 302, 307, 308):
                target = self._redirect(url, response)
                if _origin(target) != _origin(url):  # git-lfs-authenticate's are this host's
                    headers = {k: v for k, v in headers.items() if k.lower() != "authorization"}
                url = target
                continue
            if response.status < 300 and self._credential is not None and not self._approved:
                self._approve()
            return response
        raise LfsError(f"{self.display}: too many redirects")

    def _request_once(self, method: str, url: str, headers: dict[str, str],
                      body: Body | None, limit: int, keep: bool = True) -> Response:  # fmt: skip
        """One try of one request; its connection is kept for the next (unless not
        ``keep``) once the whole answer is read."""
        connection, path = self._connect(url)
        started = time.monotonic()
        try:
            if isinstance(body, Upload):
                _send_headers(connection, method, path, headers)
                body.send(connection.sock)
            else:
                connection.request(method, path, body=body, headers=headers)
            response = connection.getresponse()
            data = response.read(limit + 1)
        except socket.gaierror as exc:  # a name that does not resolve will not next time
            connection.close()
            host = urlsplit(url).hostname
            raise LfsError(
                f"{self.display}: cannot resolve {host} ({exc.strerror})",
                hint="check the network and the LFS URL (lfs.url), or give the remote an "
                "object store: git model remote set NAME URL",
            ) from None
        except (OSError, http.client.HTTPException) as exc:
            connection.close()
            raise _Retry(backends.describe(exc)) from exc
        except LfsError:  # a request cut short: its connection is unusable
            connection.close()
            raise
        if len(data) > limit:
            connection.close()
            raise LfsError(
                f"{self.display}: an answer longer than {limit} bytes; not read", hint=ANSWER_HINT
            )
        if keep:
            self._finish(url, connection, response)
        else:
            connection.close()
        if tracing.ENABLED:
            trace(f"lfs: {method} {redact(url)}: {response.status} in "
                  f"{time.monotonic() - started:.3f} s")  # fmt: skip
        if response.status in _RETRY_STATUS:
            raise _Retry(f"HTTP {response.status}", _retry_after(response.headers))
        return Response(response.status, response.headers, data)

    def _connect(self, url: str) -> tuple[http.client.HTTPConnection, str]:
        """A connection to ``url``'s host, this caller's until :meth:`_finish` gives it
        back, and the path to request. Idle connections are shared by all threads and
        the one used last is taken first, as Go's and urllib3's pools do: a transfer
        worker goes on with the connection the batch request left open, where a
        connection per thread would open another (one more TLS handshake on a real
        host, one more idle connection for the host to keep)."""
        parts = urlsplit(url)
        with self._idle_lock:
            idle = self._idle.get(_key(parts))
            connection = idle.pop() if idle else None
        if connection is None:
            kind = (http.client.HTTPSConnection if parts.scheme == "https"
                    else http.client.HTTPConnection)  # fmt: skip
            connection = kind(parts.hostname or "", parts.port, timeout=self.timeout,
                              blocksize=READ_SIZE)  # fmt: skip
        path = parts.path or "/"
        return connection, path + (f"?{parts.query}" if parts.query else "")

    def _finish(self, url: str, connection: http.client.HTTPConnection,
                response: http.client.HTTPResponse) -> None:  # fmt: skip
        """``connection`` back among the idle ones once ``response`` is read to its end
        and the host keeps the connection open; else closed."""
        if response.will_close or not response.isclosed():
            connection.close()
            return
        with self._idle_lock:
            self._idle.setdefault(_key(urlsplit(url)), []).append(connection)

    def _headers_for(
        self, url: str, headers: dict[str, str], credential: Any = None
    ) -> dict[str, str]:
        """``headers`` plus our credentials, for the host that asked for them only."""
        out = {"User-Agent": "git-model", **headers}
        credential = credential or self._credential or self._userinfo
        if credential is not None and self._same_origin(url) and "Authorization" not in out:
            token = base64.b64encode(f"{credential[0]}:{credential[1]}".encode()).decode()
            out["Authorization"] = f"Basic {token}"
        return out

    def _same_origin(self, url: str) -> bool:
        return _origin(url) == self._origin

    def _redirect(self, url: str, response: Response) -> str:
        target = response.headers.get("Location", "")
        parts = urlsplit(target)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise LfsError(f"{self.display}: a redirect to an unusable URL")
        if urlsplit(url).scheme == "https" and parts.scheme != "https":
            raise LfsError(f"{self.display}: a redirect from https to http; not followed")
        return target

    # -- credentials

    def _authenticate(self, url: str, used: Any) -> bool:
        """After a 401 to a request that sent ``used``: True to try again with the
        credential now current. Git's helpers are asked once per remote; a credential
        the host refuses is rejected (the helper forgets it) and not asked for again.
        Parallel transfers meet the 401 together: only a refusal of the credential
        current at the time counts, the others just try again with it."""
        from gitmodel.git import credential

        with self._auth_lock:
            if self._auth_refused:
                return False
            if self._credential is not used:
                return True  # another transfer asked meanwhile: use what it got
            if used is not None:
                self._credential = None
                self._auth_refused = True
                if used[2] is not None:
                    credential.reject(used[2], self.cwd)
                return False
            filled = credential.fill(url, self.cwd)
            if filled is None:
                return False
            self._credential = (filled.username, filled.password, filled)
            return True

    def _approve(self) -> None:
        from gitmodel.git import credential

        with self._auth_lock:
            if self._credential is not None and not self._approved:
                self._approved = True
                credential.approve(self._credential[2], self.cwd)

    def _auth_error(self, url: str) -> UserError:
        host = urlsplit(url).hostname
        return UserError(f"{self.display}: the LFS host refused the credentials for {host}",
                         hint=_AUTH_HINT)  # fmt: skip

    # -- failures

    def refused(self, what: str, response: Response) -> RemoteError:
        return self._status_error(what, response.status, response.headers, response.body)

    def _status_error(self, what: str, status: int, headers: Any, body: bytes) -> RemoteError:
        message = server_message(body) or f"HTTP {status}"
        text = f"{self.display}: {what} failed: {message} (HTTP {status})"
        if status == 404:
            return LfsError(text, hint="check the LFS URL (lfs.url, remote.NAME.lfsurl) and "
                            "that the repository exists on the host")  # fmt: skip
        if status == 403:
            return LfsError(text, hint="the credentials may read but not write, or the "
                            "repository does not allow LFS; check your access")  # fmt: skip
        if status == 413:
            return LfsError(text, hint="the host refuses files this large")
        return LfsError(text, hint="`git model doctor` checks the remote")

    def _retry(self, call: Callable[[], T]) -> T:
        """``call()``, retried as :mod:`retry` says when it met a dropped connection, a
        5xx or a 429; anything else fails at once."""
        return self.retrier.run(call, self._judge)

    def _judge(self, exc: Exception) -> Verdict | None:
        if not isinstance(exc, _Retry):
            return None

        def give_up(tries: int, spent: float) -> RemoteError:
            return RemoteError(
                f"{self.display}: {exc} (gave up after {tries} tries, {spent:.0f} s)",
                hint="check the network and the LFS host; model.retries, "
                "model.retryTimeout and model.timeout bound the wait",
            )

        return Verdict(give_up, after=exc.after, marks_down=not exc.short)


def _key(parts: SplitResult) -> _Key:
    """Which idle connections serve a URL: its scheme, host and port."""
    return parts.scheme, parts.hostname, parts.port


def _send_headers(connection: http.client.HTTPConnection, method: str, path: str,
                  headers: dict[str, str]) -> None:  # fmt: skip
    """The request line and ``headers`` (with Host, as ``request`` sends them), leaving
    the body to the caller."""
    connection.putrequest(method, path)
    for name, value in headers.items():
        connection.putheader(name, value)
    connection.endheaders()


def _authenticated(out: bytes, display: str) -> tuple[str, dict[str, str], float]:
    """``git-lfs-authenticate``'s answer, checked: an http(s) href, plain headers, and
    how long they may be used (at most an hour; a little less than the host says)."""
    try:
        document = json.loads(out[:ERROR_BODY_MAX])
    except ValueError:
        document = None
    if not isinstance(document, dict) or len(out) > ERROR_BODY_MAX:
        raise LfsError(
            f"{display}: git-lfs-authenticate answered something other than JSON", hint=ANSWER_HINT
        )
    href = document.get("href")
    header = document.get("header") or {}
    if not isinstance(href, str) or not _usable_href(href):
        raise LfsError(f"{display}: git-lfs-authenticate gave no usable href", hint=ANSWER_HINT)
    if not _plain_headers(header):
        raise LfsError(f"{display}: git-lfs-authenticate gave unusable headers", hint=ANSWER_HINT)
    expires = document.get("expires_in")
    seconds = float(expires) - 5 if isinstance(expires, (int, float)) else 300.0
    return href.rstrip("/"), dict(header), max(0.0, min(seconds, 3600.0))


def _plain_headers(header: object) -> TypeGuard[dict[str, str]]:
    """Whether ``header`` maps header names to values without line breaks."""
    return isinstance(header, dict) and all(
        isinstance(k, str) and isinstance(v, str) and _HEADER_NAME.fullmatch(k)
        and _HEADER_VALUE.fullmatch(v) for k, v in header.items()
    )  # fmt: skip


def _parse_batch(body: bytes, asked: dict[str, Pointer], display: str) -> dict[str, Plan]:
    """The host's answer, checked: JSON naming only the objects asked about, each at
    its size, with http(s) actions and plain headers, or an error."""
    try:
        document = json.loads(body)
    except ValueError:
        raise LfsError(f"{display}: the batch answer is not JSON", hint=ANSWER_HINT) from None
    objects = document.get("objects") if isinstance(document, dict) else None
    transfer = document.get("transfer", "basic") if isinstance(document, dict) else None
    if not isinstance(objects, list) or transfer not in ("basic", None):
        raise LfsError(
            f"{display}: the batch answer is not a basic-transfer object list", hint=ANSWER_HINT
        )
    plans: dict[str, Plan] = {}
    for item in objects:
        oid = item.get("oid") if isinstance(item, dict) else None
        if not isinstance(oid, str) or oid not in asked or not isinstance(item, dict):
            raise LfsError(
                f"{display}: the batch answer names an object not asked for", hint=ANSWER_HINT
            )
        plans[oid] = _plan(item, asked[oid], display)
    unanswered = set(asked) - set(plans)
    if unanswered:
        raise LfsError(
            f"{display}: the batch answer leaves out {min(unanswered)}", hint=ANSWER_HINT
        )
    return plans


def _plan(item: dict[str, Any], pointer: Pointer, display: str) -> Plan:
    error = item.get("error")
    if error is not None:
        code = error.get("code") if isinstance(error, dict) else None
        message = error.get("message") if isinstance(error, dict) else None
        return Plan({}, (code if isinstance(code, int) else 0, _clean(message)))
    if item.get("size") != pointer.size:
        return Plan({}, (422, f"the host has it at another size than {pointer.size}"))
    actions = item.get("actions") or {}
    if not isinstance(actions, dict):
        raise LfsError(f"{display}: bad actions for {pointer.oid}", hint=ANSWER_HINT)
    checked: dict[str, Action] = {}
    for name, action in actions.items():
        if name not in ("upload", "download", "verify"):
            continue
        href = action.get("href") if isinstance(action, dict) else None
        header = action.get("header") or {} if isinstance(action, dict) else None
        if not isinstance(href, str) or not _usable_href(href):
            raise LfsError(f"{display}: an unusable {name} URL for {pointer.oid}", hint=ANSWER_HINT)
        if not _plain_headers(header):
            raise LfsError(f"{display}: bad {name} headers for {pointer.oid}", hint=ANSWER_HINT)
        checked[name] = Action(href, dict(header))
    return Plan(checked)


def _usable_href(href: str) -> bool:
    if any(ch in href for ch in "\0\r\n\t "):
        return False
    try:
        parts = urlsplit(href)
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.hostname)


def server_message(body: bytes) -> str:
    """The ``message`` of an LFS error answer, cleaned for one line, or ""."""
    try:
        document = json.loads(body[:ERROR_BODY_MAX])
    except ValueError:
        return ""
    message = document.get("message") if isinstance(document, dict) else None
    return _clean(message)


def _clean(message: object) -> str:
    """A host's message as one short printable line without secrets."""
    if not isinstance(message, str):
        return "no reason given"
    text = "".join(ch if ch.isprintable() else " " for ch in message[:300]).strip()
    return scrub(text) or "no reason given"


def _retry_after(headers: http.client.HTTPMessage) -> float | None:
    value = headers.get("Retry-After")
    try:
        return min(max(float(value), 0.0), RETRY_AFTER_MAX) if value is not None else None
    except ValueError:
        return None


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return parts.scheme, (parts.hostname or "").lower(), port


def _userinfo(user: str | None, password: str | None) -> tuple[str, str, None] | None:
    if user is None or password is None:
        return None
    from urllib.parse import unquote

    return unquote(user), unquote(password), None
