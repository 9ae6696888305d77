"""An LFS host on 127.0.0.1 for the tests and the benchmarks: Git over HTTP and giftless.

    python giftless_server.py PORT ROOT [--user NAME]

Like GitHub or GitLab, one server answers both: the bare repositories under ``ROOT/git``
are served by ``git http-backend`` at ``http://127.0.0.1:PORT/<org>/<repo>.git``, and
giftless serves their LFS objects at the URL git-lfs derives from that,
``http://127.0.0.1:PORT/<org>/<repo>.git/info/lfs`` (the Batch API at ``…/objects/batch``;
also at ``http://127.0.0.1:PORT/<org>/<repo>``, giftless's older form), with the ``basic``
transfer adapter streaming through giftless itself into ``ROOT/lfs``. Anyone may read
and write (push included). With ``--user``, every request must carry that user and the
password in ``$LFS_SERVER_PASSWORD`` as HTTP Basic credentials, as on a real host. Either
way the upload, download and verify actions carry the short-lived tokens giftless signs
for them (its pre-authorized actions), which giftless itself checks.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import hmac
import os
import re
import secrets
import subprocess
import warnings
from collections.abc import Callable, Iterable
from typing import Any

StartResponse = Callable[..., Any]
WSGIApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]


USER_KEY = "lfs_server.user"  # set in the WSGI environ by the middleware below


def checked_user(request: Any) -> Any:
    """giftless authenticator: the user the middleware let in, allowed to read and write
    every repository. (giftless's own ``allow_anon:read_write`` refuses per-object
    requests, and its identity has no id, which the action tokens need as subject.)"""
    from giftless.auth.identity import Identity

    class Everything(Identity):
        def is_authorized(self, *args: Any, **kwargs: Any) -> bool:
            return True

    user = request.environ.get(USER_KEY)
    return None if user is None else Everything(name=user, id=user)


def block_storage(**options: Any) -> Any:
    """giftless's local storage, whose downloads are read in 1 MiB blocks: its own hands
    WSGI the open file, which is iterated by lines, of about 256 bytes in random data."""
    from giftless.storage.local_storage import LocalStorage
    from werkzeug.wsgi import FileWrapper

    class BlockStorage(LocalStorage):
        def get(self, prefix: str, oid: str) -> Any:
            return FileWrapper(super().get(prefix, oid), 1 << 20)

    return BlockStorage(**options)


def giftless_app(storage: str, private_key: str) -> WSGIApp:
    from giftless.app import init_app

    config = {
        "AUTH_PROVIDERS": ["__main__:checked_user"],
        "TRANSFER_ADAPTERS": {
            "basic": {
                "factory": "giftless.transfer.basic_streaming:factory",
                "options": {
                    "storage_class": "__main__:block_storage",
                    "storage_options": {"path": storage},
                },
            }
        },
        "PRE_AUTHORIZED_ACTION_PROVIDER": {
            "factory": "giftless.auth.jwt:factory",
            "options": {"algorithm": "HS256", "private_key": private_key, "default_lifetime": 3600},
        },
    }
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # its legacy /<org>/<repo>/ URLs
        return init_app(additional_config=config).wsgi_app  # type: ignore[no-any-return]


def basic_credentials(header: str) -> tuple[str, str] | None:
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        user, sep, password = base64.b64decode(encoded, validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return None
    return (user, password) if sep else None


def anonymous(app: WSGIApp) -> WSGIApp:
    """Let every request in as the user ``anonymous``."""

    def middleware(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        environ[USER_KEY] = "anonymous"
        return app(environ, start_response)

    return middleware


def require_basic_auth(app: WSGIApp, user: str, password: str) -> WSGIApp:
    """Let in requests with the right HTTP Basic credentials as ``user``; pass requests
    with a token (``Authorization: Bearer`` or ``?jwt=``) to giftless, which checks it
    and refuses all else; answer anything else with 401 and a Basic challenge."""
    expected = f"{user}:{password}".encode()

    def middleware(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        header = environ.get("HTTP_AUTHORIZATION", "")
        given = basic_credentials(header)
        if given and hmac.compare_digest(":".join(given).encode(), expected):
            environ[USER_KEY] = user
            return app(environ, start_response)
        if header.lower().startswith("bearer ") or "jwt=" in environ.get("QUERY_STRING", ""):
            return app(environ, start_response)
        body = b'{"message": "Credentials needed"}'
        start_response("401 Unauthorized", [
            ("WWW-Authenticate", 'Basic realm="giftless"'),
            ("Content-Type", "application/vnd.git-lfs+json"),
            ("Content-Length", str(len(body))),
        ])  # fmt: skip
        return [body]

    return middleware


GIT_PATH = re.compile(r"/.+\.git/(info/refs|git-upload-pack|git-receive-pack)")
CGI_HEAD_END = re.compile(rb"\r?\n\r?\n")


def git_http_backend(root: str, giftless: WSGIApp) -> WSGIApp:
    """Send Git's smart HTTP requests to ``git http-backend`` (as CGI, repositories under
    ``root``), and the rest to giftless. Pushing needs a user, which every request that
    got this far has."""

    def app(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        if not GIT_PATH.fullmatch(environ.get("PATH_INFO", "")):
            return giftless(environ, start_response)
        body = environ["wsgi.input"].read()  # a pack of pointers: small
        cgi_env = {
            "PATH": os.environ["PATH"], "HOME": root, "GIT_CONFIG_NOSYSTEM": "1",
            "GIT_PROJECT_ROOT": root, "GIT_HTTP_EXPORT_ALL": "1",
            "REMOTE_USER": environ.get(USER_KEY, ""), "REMOTE_ADDR": "127.0.0.1",
            "CONTENT_LENGTH": str(len(body)),
            **{key: environ[key] for key in ("PATH_INFO", "REQUEST_METHOD", "QUERY_STRING",
               "CONTENT_TYPE", "HTTP_CONTENT_ENCODING", "HTTP_GIT_PROTOCOL") if key in environ},
        }  # fmt: skip
        out = subprocess.run(["git", "http-backend"], input=body, env=cgi_env,
                             capture_output=True, check=False).stdout  # fmt: skip
        head, body = CGI_HEAD_END.split(out, maxsplit=1) if CGI_HEAD_END.search(out) else (b"", out)
        headers = [tuple(h.decode().split(":", 1)) for h in head.splitlines() if b":" in h]
        status = next((v.strip() for k, v in headers if k.lower() == "status"), "200 OK")
        start_response(status, [(k, v.strip()) for k, v in headers if k.lower() != "status"])
        return [body]

    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("port", type=int)
    parser.add_argument("root", help="bare repositories in ROOT/git, LFS objects in ROOT/lfs")
    parser.add_argument("--user", help="require HTTP Basic auth ($LFS_SERVER_PASSWORD)")
    parser.add_argument("--threads", type=int, default=8)
    args = parser.parse_args()
    root = os.path.abspath(args.root)
    giftless = giftless_app(os.path.join(root, "lfs"), secrets.token_hex(32))
    app = git_http_backend(os.path.join(root, "git"), giftless)
    if args.user:
        app = require_basic_auth(app, args.user, os.environ["LFS_SERVER_PASSWORD"])
    else:
        app = anonymous(app)
    import waitress

    waitress.serve(app, host="127.0.0.1", port=args.port, threads=args.threads,
                   max_request_body_size=1 << 40, ident="giftless")  # fmt: skip


if __name__ == "__main__":
    main()
