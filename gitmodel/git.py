"""The one module that talks to Git.

Reads that never touch the worktree (objects, trees, the index) go through
pygit2; anything that depends on filters, attributes, hooks or the worktree
runs the ``git`` command, since libgit2 knows nothing of long-running filters.

``subprocess`` is imported where it is used: the filter process, which Git starts
for every add and checkout, asks Git what it needs through :class:`Discovery`
without it (loading it and what it loads costs about 10 ms).
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterable, Iterator, Sequence
from functools import cached_property
from pathlib import Path
from urllib.parse import unquote

from gitmodel.errors import GitModelError, UserError

TYPE_CHECKING = False  # typing's flag without loading typing: the filter process starts often
if TYPE_CHECKING:
    import subprocess

    import pygit2

GIT_MISSING = "git is not installed"
GIT_MISSING_HINT = "install git 2.31 or newer"


class GitError(GitModelError):
    """A git command failed."""


def run(
    args: Sequence[str],
    cwd: Path | str | None = None,
    input: bytes | None = None,
    check: bool = True,
    env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[bytes]:
    """Run ``git args…`` and capture its output; raise :class:`GitError` on failure.

    Without ``input`` its standard input is /dev/null (in the filter process ours is
    Git's protocol pipe)."""
    import subprocess

    try:
        proc = subprocess.run(
            ["git", *args], cwd=cwd, env=env, input=input, capture_output=True, check=False,
            stdin=None if input is not None else subprocess.DEVNULL,
        )  # fmt: skip
    except FileNotFoundError:
        raise UserError(GIT_MISSING, hint=GIT_MISSING_HINT) from None
    if check and proc.returncode != 0:
        message = proc.stderr.decode(errors="replace").strip().splitlines()
        first = message[0] if message else f"exit {proc.returncode}"
        raise GitError(f"git {args[0]} failed: {first.removeprefix('fatal: ')}")
    return proc


def call(args: Sequence[str], cwd: Path | str | None = None) -> int:
    """Run ``git args…`` on our terminal (editor, hooks, signing prompts); its exit status."""
    import subprocess

    try:
        return subprocess.run(["git", *args], cwd=cwd, check=False).returncode
    except FileNotFoundError:
        raise UserError(GIT_MISSING, hint=GIT_MISSING_HINT) from None


def output(args: Sequence[str], cwd: Path | str | None = None) -> str:
    """The stripped standard output of ``git args…``."""
    return run(args, cwd=cwd).stdout.decode("utf-8", "surrogateescape").strip()


def version() -> str:
    return output(["--version"]).removeprefix("git version ")


# -- configuration ---------------------------------------------------------------

CONFIG_SCOPES = ("local", "global", "system", "worktree")


def config_set(key: str, value: str, scope: str, cwd: Path | str | None = None) -> None:
    run(["config", f"--{scope}", "--replace-all", "--end-of-options", key, value], cwd=cwd)


def config_unset(key: str, scope: str, cwd: Path | str | None = None) -> None:
    proc = run(
        ["config", f"--{scope}", "--unset-all", "--end-of-options", key], cwd=cwd, check=False
    )
    if proc.returncode not in (0, 5):  # 5: the key was not set
        raise GitError(f"git config --unset failed: {proc.stderr.decode(errors='replace').strip()}")


def config_list(cwd: Path | str | None = None, file: Path | None = None) -> dict[str, str]:
    """Every effective setting (or those of one ``file``), last one wins as in Git."""
    return _parse_config(run(_config_list_args(file), cwd=cwd, check=False).stdout)


def _config_list_args(file: Path | str | None = None) -> list[str]:
    return ["config", *(["-f", str(file)] if file is not None else []), "-z", "--list"]


def _parse_config(out: bytes) -> dict[str, str]:
    settings: dict[str, str] = {}
    for item in out.split(b"\0"):
        if item:
            key, _, value = item.partition(b"\n")
            settings[key.decode("utf-8", "surrogateescape")] = value.decode(
                "utf-8", "surrogateescape"
            )
    return settings


# -- repositories ----------------------------------------------------------------


def remote_names(settings: dict[str, str]) -> list[str]:
    """The Git remotes that ``settings`` (from :func:`config_list`) configure."""
    return sorted(
        {key[len("remote.") : -len(".url")] for key in settings
         if key.startswith("remote.") and key.endswith(".url")}
    )  # fmt: skip


def local_path(url: str) -> Path | None:
    """The directory a Git remote URL names, when it is a local one."""
    if url.startswith("file://"):
        return Path(unquote(url.removeprefix("file://")))
    if "://" in url or ":" in url.split("/", 1)[0]:
        return None  # a network URL or an scp-like host:path
    return Path(url)


def local_git_dir(url: str, cwd: Path) -> Path | None:
    """The git directory of the local repository a remote URL names (bare or not)."""
    path = local_path(url)
    if path is None:
        return None
    path = cwd / path
    for candidate in (path / ".git", path):
        if (candidate / "HEAD").is_file() and (candidate / "objects").is_dir():
            return candidate
    return None


class IndexLock:
    """Git's lock protocol: create ``index.lock`` exclusively, rename it over ``index``.

    ``held`` is False when another Git process kept the lock for about a second.
    """

    def __init__(self, index_path: Path) -> None:
        self.index_path = index_path
        self.lock_path = index_path.with_name(index_path.name + ".lock")
        self.held = False
        self._fd = -1

    def __enter__(self) -> IndexLock:
        for _ in range(50):
            try:
                self._fd = os.open(self.lock_path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                time.sleep(0.02)
                continue
            except OSError:
                break
            self.held = True
            break
        return self

    def commit(self, data: bytes) -> None:
        """Write the new index and rename it into place."""
        view = memoryview(data)
        while view:
            view = view[os.write(self._fd, view) :]
        os.close(self._fd)
        self._fd = -1
        os.replace(self.lock_path, self.index_path)
        self.held = False

    def __exit__(self, *exc: object) -> None:
        if self._fd >= 0:
            os.close(self._fd)
        if self.held:
            self.lock_path.unlink(missing_ok=True)


class Repo:
    """A repository as Git resolves it from a directory (worktrees included).

    Records on the filter process's path are plain classes: loading ``dataclasses``
    would cost each filter start more than the rest of this module.
    """

    def __init__(
        self,
        git_dir: Path,
        common_dir: Path,
        worktree: Path | None,
        hooks_dir: Path,
        index_path: Path,
        object_format: str = "sha1",
    ) -> None:
        self.git_dir, self.common_dir, self.worktree = git_dir, common_dir, worktree
        self.hooks_dir = hooks_dir  # honours core.hooksPath
        self.index_path = index_path  # honours GIT_INDEX_FILE
        self.object_format = object_format

    @classmethod
    def discover(cls, path: Path | str = ".") -> Repo:
        """Everything about the repository from one ``git rev-parse``."""
        proc = run(_DISCOVER_ARGS, cwd=path, check=False)
        return cls._from_rev_parse(proc.returncode, proc.stdout)

    @classmethod
    def _from_rev_parse(cls, returncode: int, out: bytes) -> Repo:
        lines = out.decode("utf-8", "surrogateescape").splitlines()
        no_worktree = len(lines) == 7 and "true" in lines[5:7]  # bare, or inside .git
        if len(lines) < 7 or (returncode != 0 and not no_worktree):
            raise UserError(
                "not in a git repository",
                hint="run this inside a repository, or `git init` one first",
            )
        worktree = None if no_worktree else Path(lines[7])
        return cls(Path(lines[0]), Path(lines[1]), worktree, Path(lines[2]), Path(lines[3]),
                   lines[4])  # fmt: skip

    @property
    def model_dir(self) -> Path:
        """The local store's root, shared by all worktrees."""
        return self.common_dir / "model"

    @property
    def top(self) -> Path:
        """The worktree root; a user error in a bare repository."""
        if self.worktree is None:
            raise UserError("this command needs a worktree", hint="run it in a non-bare clone")
        return self.worktree

    def settings(self, strict: bool = True) -> dict[str, str]:
        """Git config, over the shareable defaults of a committed ``.gitmodel`` file.

        ``.gitmodel`` (git-config syntax) lets a repository name its model store for
        every clone; only the keys in :data:`SHARED_KEYS` are read from it, so a
        cloned file can never set commands, hooks or credentials.
        """
        shared = self.worktree / SHARED_CONFIG if self.worktree is not None else None
        defaults = config_list(self.cwd, file=shared) if shared and shared.is_file() else {}
        return _over_shared(defaults, config_list(self.cwd), strict)

    @property
    def hash_size(self) -> int:
        """Bytes in an object id: 20 for SHA-1 repositories, 32 for SHA-256."""
        return 32 if self.object_format == "sha256" else 20

    def git_path(self, name: str) -> Path:
        """``git rev-parse --git-path NAME``: where Git keeps NAME for this worktree."""
        out = output(["rev-parse", "--path-format=absolute", "--git-path", name], cwd=self.cwd)
        return Path(out)

    @property
    def cwd(self) -> Path:
        return self.worktree or self.git_dir

    @cached_property
    def pygit(self) -> pygit2.Repository:
        import pygit2  # costs ~0.1 s: only commands that read objects pay for it

        return pygit2.Repository(str(self.git_dir))

    def run(
        self, args: Sequence[str], input: bytes | None = None, check: bool = True
    ) -> subprocess.CompletedProcess[bytes]:
        return run(args, cwd=self.cwd, input=input, check=check)

    # -- reads through pygit2

    def read_blob(self, oid: str, limit: int | None = None) -> bytes | None:
        """A blob's bytes, or None when it is larger than ``limit``."""
        obj_type, size = self.pygit.odb.read_header(oid)
        if obj_type != _BLOB_TYPE or (limit is not None and size > limit):
            return None
        return bytes(self.pygit.odb.read(oid)[1])

    def rev_parse(self, rev: str) -> str:
        proc = self.run(
            ["rev-parse", "--verify", "--quiet", "--end-of-options", f"{rev}^{{commit}}"],
            check=False,
        )
        if proc.returncode != 0:
            raise UserError(f"unknown revision {rev!r}", hint="name a commit, branch or tag")
        return proc.stdout.decode().strip()

    def has_commits(self) -> bool:
        return self.run(["rev-parse", "--verify", "--quiet", "HEAD"], check=False).returncode == 0

    # -- worktree-aware reads through git

    def ls_files(self, pathspecs: Iterable[str] = ()) -> list[IndexEntry]:
        """Index entries (stage 0) with their blob ids."""
        out = self.run(["ls-files", "-s", "-z", "--", *pathspecs]).stdout
        # "<mode> <oid> <stage>\t<path>"
        return [e for e, (_, _, stage) in _parse_listing(out) if stage == b"0"]

    def ls_tree(self, rev: str, pathspecs: Iterable[str] = ()) -> list[IndexEntry]:
        """Blobs of a commit's tree, recursively."""
        # after --end-of-options every argument is literal: ls-tree would take "--" for a path
        out = self.run(
            ["ls-tree", "-r", "-z", "--full-tree", "--end-of-options", rev, *pathspecs]
        ).stdout
        # "<mode> <type> <oid>\t<path>"
        return [
            IndexEntry(e.path, oid.decode(), e.mode)
            for e, (_, kind, oid) in _parse_listing(out)
            if kind == b"blob"
        ]

    def check_attr(self, attr: str, paths: Sequence[str]) -> dict[str, str]:
        """The value of ``attr`` for each path (``unspecified`` when unset)."""
        if not paths:
            return {}
        data = b"".join(os.fsencode(p) + b"\0" for p in paths)
        proc = self.run(["check-attr", "-z", "--stdin", attr], input=data)
        fields = proc.stdout.split(b"\0")
        return {
            os.fsdecode(fields[i]): fields[i + 2].decode() for i in range(0, len(fields) - 2, 3)
        }


_BLOB_TYPE = 3  # GIT_OBJECT_BLOB
_DISCOVER_ARGS = (
    "rev-parse", "--path-format=absolute", "--git-dir", "--git-common-dir",
    "--git-path", "hooks", "--git-path", "index", "--show-object-format",
    "--is-bare-repository", "--is-inside-git-dir", "--show-toplevel",
)  # fmt: skip
SHARED_CONFIG = ".gitmodel"
SHARED_KEYS = re.compile(r"remote\.([^.]+)\.model(url|endpoint|region)|model\.remote")
# a remote name as ``git remote add`` takes it, but stricter: ASCII words joined by
# "/", never an option, never a relative path or a refname Git would refuse
_REMOTE_NAME = re.compile(r"(?!.*\.\.)(?!.*\.lock(/|$))[A-Za-z0-9_][A-Za-z0-9_.-]*"
                          r"(?<!\.)(/[A-Za-z0-9_][A-Za-z0-9_.-]*(?<!\.))*")  # fmt: skip
_REGION = re.compile(r"[a-z0-9][a-z0-9-]{0,62}")


def valid_remote_name(name: str) -> bool:
    """Whether ``name`` can be a Git remote's name (a stricter subset of Git's rules)."""
    return _REMOTE_NAME.fullmatch(name) is not None


def _over_shared(
    shared: dict[str, str], config: dict[str, str], strict: bool = True
) -> dict[str, str]:
    """Git config over the keys of ``.gitmodel`` that a repository may share.

    A committed file is hostile: every shared value that the user's own config does
    not override is checked (:func:`check_shared`) before anything can use it. A bad
    one is an error, or with ``strict`` False (the filter process, which must not fail
    a whole checkout for it) a warning, and the value is left out."""
    settings = {key: value for key, value in shared.items() if SHARED_KEYS.fullmatch(key)}
    for key in config:
        settings.pop(key, None)
    for key, value in list(settings.items()):
        try:
            check_shared(key, value, config)
        except UserError as exc:
            if strict:
                raise
            import sys

            print(f"gitmodel: warning: {exc} (ignored)\nhint: {exc.hint}", file=sys.stderr)
            del settings[key]
    settings.update(config)
    return settings


def check_shared(key: str, value: str, config: dict[str, str]) -> None:
    """Refuse a ``.gitmodel`` value that could act as an option, name a store the
    repository may not choose for its users, or name a Git remote they do not have."""
    from gitmodel.urls import shareable_store_url, valid_endpoint

    match = SHARED_KEYS.fullmatch(key)
    assert match is not None
    remote, kind = match.groups()
    if remote is not None and not valid_remote_name(remote):
        problem: str | None = "not a valid remote name"
    elif key == "model.remote":
        problem = _check_remote_choice(value, config)
    elif kind == "url":
        problem = shareable_store_url(value)
    elif kind == "endpoint":
        problem = valid_endpoint(value)
    else:
        problem = None if _REGION.fullmatch(value) else "not a region name"
    if problem is not None:
        shown = key if remote is None or valid_remote_name(remote) else f"remote.{remote!r}"
        raise UserError(
            f"{SHARED_CONFIG}: {shown}: {problem}",
            hint=f"fix or remove it in {SHARED_CONFIG}, or override it: git config {shown} VALUE",
        )


def _check_remote_choice(value: str, config: dict[str, str]) -> str | None:
    if not valid_remote_name(value):
        return "not a valid remote name"
    if f"remote.{value}.url" not in config:
        return f"names {value!r}, which is not one of your Git remotes (see `git remote -v`)"
    return None


class Discovery:
    """:meth:`Repo.discover` and :meth:`Repo.settings` for the current directory, asked
    of Git at once and collected later. The filter process starts these before it
    loads the rest of itself, so that Git answers meanwhile (on another core)."""

    def __init__(self) -> None:
        self._rev_parse = _Spawned(_DISCOVER_ARGS)
        self._config = _Spawned(_config_list_args())
        shared = os.path.isfile(SHARED_CONFIG)  # Git runs filters at the worktree's top
        self._shared = _Spawned(_config_list_args(SHARED_CONFIG)) if shared else None

    def result(self) -> tuple[Repo, dict[str, str]]:
        repo = Repo._from_rev_parse(*self._rev_parse.wait())
        config = _parse_config(self._config.wait()[1])
        shared = {} if self._shared is None else _parse_config(self._shared.wait()[1])
        if repo.worktree is None:
            return repo, config  # no worktree, no .gitmodel
        if not os.path.samefile(repo.worktree, "."):
            return repo, repo.settings(strict=False)  # not at the top after all: ask again
        return repo, _over_shared(shared, config, strict=False)


class _Spawned:
    """A git started with ``posix_spawn``: its output captured, no input, its messages
    discarded. Each one's output is read to its end in turn, so none can block another."""

    def __init__(self, args: Sequence[str]) -> None:
        self._fd, write_fd = os.pipe()
        null = os.open(os.devnull, os.O_RDWR)
        redirect = [(os.POSIX_SPAWN_DUP2, null, 0), (os.POSIX_SPAWN_DUP2, write_fd, 1),
                    (os.POSIX_SPAWN_DUP2, null, 2)]  # fmt: skip
        try:
            self._pid = os.posix_spawnp("git", ["git", *args], os.environ, file_actions=redirect)
        except FileNotFoundError:
            os.close(self._fd)
            raise UserError(GIT_MISSING, hint=GIT_MISSING_HINT) from None
        finally:
            os.close(write_fd)
            os.close(null)

    def wait(self) -> tuple[int, bytes]:
        """Its exit status and standard output."""
        chunks = []
        while chunk := os.read(self._fd, 1 << 16):
            chunks.append(chunk)
        os.close(self._fd)
        return os.waitstatus_to_exitcode(os.waitpid(self._pid, 0)[1]), b"".join(chunks)


def _parse_listing(out: bytes) -> list[tuple[IndexEntry, list[bytes]]]:
    """``ls-files -s -z`` / ``ls-tree -z`` records: "<3 fields>\t<path>"; the entry
    assumes the second field is the oid, callers pick what the fields mean."""
    records = []
    for item in out.split(b"\0"):
        if item:
            meta, _, path = item.partition(b"\t")
            fields = meta.split(b" ")
            entry = IndexEntry(os.fsdecode(path), fields[1].decode(), int(fields[0], 8))
            records.append((entry, fields))
    return records


class IndexEntry:
    """A blob in the index or a tree: its path, object id and file mode."""

    __slots__ = ("mode", "oid", "path")

    def __init__(self, path: str, oid: str, mode: int) -> None:
        self.path, self.oid, self.mode = path, oid, mode

    def __repr__(self) -> str:
        return f"IndexEntry({self.path!r}, {self.oid!r}, {self.mode:o})"


class BlobStream:
    """Blob contents from one ``git cat-file --batch`` process, in chunks: Git streams
    large blobs, so memory stays bounded whatever their size (libgit2 reads whole objects).
    Consume each :meth:`read` to the end before the next one."""

    def __init__(self, repo: Repo, chunk_size: int = 1 << 20) -> None:
        import subprocess

        self._chunk = chunk_size
        self._proc = subprocess.Popen(
            ["git", "cat-file", "--batch"], cwd=repo.cwd,
            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
        )  # fmt: skip
        if self._proc.stdin is None or self._proc.stdout is None:
            raise GitError("git cat-file: no pipes")
        self._in, self._out = self._proc.stdin, self._proc.stdout

    def read(self, oid: str) -> Iterator[bytes]:
        self._in.write(oid.encode() + b"\n")
        self._in.flush()
        header = self._out.readline().split()
        if len(header) != 3 or header[1] != b"blob":
            raise GitError(f"git cat-file: {oid} is not a blob")
        remaining = int(header[2])
        while remaining:
            chunk = self._out.read(min(self._chunk, remaining))
            if not chunk:
                raise GitError(f"git cat-file stopped inside blob {oid}")
            remaining -= len(chunk)
            yield chunk
        self._out.read(1)  # the newline after the contents

    def close(self) -> None:
        self._in.close()
        self._out.close()
        self._proc.wait()

    def __enter__(self) -> BlobStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# -- diffs (used by ``git model diff``) -------------------------------------------

NULL_OID_RE = re.compile(r"0+")


class DiffEntry:
    """One path of ``git diff --raw``; a blob id of None means absent on that side,
    ``""`` the worktree file."""

    __slots__ = ("new_blob", "old_blob", "path")

    def __init__(self, path: str, old_blob: str | None, new_blob: str | None) -> None:
        self.path, self.old_blob, self.new_blob = path, old_blob, new_blob

    def __repr__(self) -> str:
        return f"DiffEntry({self.path!r}, {self.old_blob!r}, {self.new_blob!r})"


def diff_raw(revs: Sequence[str], paths: Sequence[str] = (), cwd: Path | None = None,
             cached: bool = False) -> list[DiffEntry]:  # fmt: skip
    """Changed paths between ``revs`` (revisions only, never options; pathspecs relative
    to ``cwd``), without renames; paths in the result are relative to the top."""
    out = run(
        ["diff", "--raw", "-z", "--no-renames", "--no-abbrev", "--no-ext-diff", "--no-relative",
         *(["--cached"] if cached else []), "--end-of-options", *revs, "--", *paths],
        cwd=cwd,
    ).stdout  # fmt: skip
    fields = out.split(b"\0")
    entries = []
    for meta, path in zip(fields[0::2], fields[1::2], strict=False):
        if not meta.startswith(b":"):
            continue
        _, _, old, new, status = meta[1:].decode().split(" ")
        entries.append(
            DiffEntry(
                os.fsdecode(path),
                None if status == "A" else old,
                None if status == "D" else ("" if NULL_OID_RE.fullmatch(new) else new),
            )
        )
    return entries
