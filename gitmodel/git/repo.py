"""A repository as Git resolves it, and the reads that need its worktree or index.

Reads that never touch the worktree (objects, trees) go through pygit2 or one
batched ``git cat-file`` (:mod:`gitmodel.git.objects`); anything that depends on
filters, attributes, hooks or the worktree runs the ``git`` command, since libgit2
knows nothing of long-running filters.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Collection, Iterable, Iterator, Sequence
from functools import cached_property
from pathlib import Path
from urllib.parse import unquote

from gitmodel.errors import UserError
from gitmodel.git.config import (
    LFS_CONFIG,
    SHARED_CONFIG,
    config_list,
    config_list_args,
    merge_shared,
    over_shared,
    parse_config,
    readable_shared,
)
from gitmodel.git.process import Spawned, output, run

TYPE_CHECKING = False  # typing's flag without loading typing: the filter process starts often
if TYPE_CHECKING:
    import subprocess
    from collections.abc import Callable

    import pygit2

    from gitmodel.pointer import Pointer


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

    ``held`` is False when another Git process kept the lock for about a second, or
    when the lock could not be made at all (``error`` says why: a read-only disk…).
    """

    def __init__(self, index_path: Path) -> None:
        self.index_path = index_path
        self.lock_path = index_path.with_name(index_path.name + ".lock")
        self.held = False
        self.error: OSError | None = None
        self._fd = -1

    def __enter__(self) -> IndexLock:
        for _ in range(50):
            try:
                self._fd = os.open(self.lock_path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                time.sleep(0.02)
                continue
            except OSError as exc:
                self.error = exc
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
        # pointers likely among this repository's blobs (the local store's objects, set
        # by ``workspace.open_repo``): a blob whose id is that of one's text is that
        # pointer, found without reading it (``objects.pointers_of``)
        self.likely_pointers: Callable[[], Iterable[Pointer]] | None = None
        self.pointer_blobs: dict[str, Pointer] | None = None  # worked out from them once

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
        every clone, and git-lfs's ``.lfsconfig`` its LFS endpoint; only the keys in
        :data:`SHARED_KEYS` are read from them, each checked, so a cloned file can never
        set commands, hooks or credentials.
        """
        layers = []
        for name in (LFS_CONFIG, SHARED_CONFIG):  # .gitmodel's value wins over .lfsconfig's
            shared = self.worktree / name if self.worktree is not None else None
            if shared is not None and readable_shared(shared):
                proc = run(config_list_args(shared), cwd=self.cwd, check=False)
                layers.append((name, proc.returncode, proc.stdout))
        defaults, origins = merge_shared(layers)
        return over_shared(defaults, config_list(self.cwd), strict, origins)

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
        """The commit ``rev`` names; a user error when it names none."""
        commit = self.commit_of(rev)
        if commit is None and rev.startswith("HEAD") and self.pygit.head_is_unborn:
            raise UserError(
                "this repository has no commit yet",
                hint="commit the model files first: git add FILES && git commit",
            )
        if commit is None:
            raise UserError(f"unknown revision {rev!r}", hint="name a commit, branch or tag")
        return commit

    def commit_of(self, rev: str) -> str | None:
        """The commit ``rev`` names, or None."""
        proc = self.run(
            ["rev-parse", "--verify", "--quiet", "--end-of-options", f"{rev}^{{commit}}"],
            check=False,
        )
        return proc.stdout.decode().strip() if proc.returncode == 0 else None

    def status_prefix(self) -> str:
        """The current folder from the worktree's top, as ``git status`` shows paths
        relative to it ("" at the top, else ending in "/"); "" when the user's
        ``status.relativePaths`` is false."""
        proc = run(["config", "--type=bool", "--default=true", "status.relativePaths"],
                   check=False)  # fmt: skip
        if proc.returncode != 0:
            raise UserError("status.relativePaths is not a boolean",
                            hint="set it to true or false: `git config status.relativePaths "
                            "true`")  # fmt: skip
        return "" if proc.stdout.strip() == b"false" else self.cwd_prefix()

    def cwd_prefix(self) -> str:
        """The current folder from the worktree's top ("" at the top, else ending in "/")."""
        rel = Path.cwd().resolve().relative_to(self.top.resolve())
        return "" if rel == Path(".") else rel.as_posix() + "/"

    @property
    def rebasing(self) -> bool:
        """Whether a rebase is under way in this worktree: Git's "ours" is then the
        branch rebased onto, and "theirs" the user's own commit being replayed."""
        return (self.git_dir / "rebase-merge").is_dir() or (
            self.git_dir / "rebase-apply" / "rebasing").exists()  # fmt: skip

    def has_commits(self) -> bool:
        return self.run(["rev-parse", "--verify", "--quiet", "HEAD"], check=False).returncode == 0

    # -- worktree-aware reads through git

    def ls_files(self, pathspecs: Iterable[str] = ()) -> list[FileEntry]:
        """Index entries (stage 0) with their blob ids."""
        out = self.run(["ls-files", "-s", "-z", "--", *pathspecs]).stdout
        # "<mode> <oid> <stage>\t<path>"
        return [FileEntry(path, fields[1].decode(), int(fields[0], 8))
                for path, fields in _parse_listing(out) if fields[2] == b"0"]  # fmt: skip

    def index_changes(self, commit: str) -> list[FileEntry]:
        """Index entries (stage 0) that ``commit``'s tree does not have as they are: added
        or changed. Git compares the two through the index's cached trees, so a large
        index that matches its commit lists nothing."""
        out = self.run(["diff-index", "--cached", "-z", "--no-renames", "--no-abbrev",
                        "--end-of-options", commit, "--"]).stdout  # fmt: skip
        # ":<old mode> <new mode> <old oid> <new oid> <status>" NUL "<path>" NUL
        fields = out.split(b"\0")
        found = []
        for meta, path in zip(fields[::2], fields[1::2], strict=False):
            _, mode, _, oid, status = meta[1:].decode().split(" ")
            if status in ("A", "M", "T"):
                found.append(FileEntry(os.fsdecode(path), oid, int(mode, 8)))
        return found

    def unmerged_paths(self, pathspecs: Iterable[str] = ()) -> list[str]:
        """Paths the index holds in conflict (stages 1 to 3 instead of 0), each once."""
        out = self.run(["ls-files", "-u", "-z", "--", *pathspecs]).stdout
        return list(dict.fromkeys(path for path, _ in _parse_listing(out)))

    def small_index_files(self, below: int, also: Collection[str] = ()) -> list[FileEntry]:
        """Index entries (stage 0, regular files) whose worktree file was shorter than
        ``below`` bytes when Git last looked, and those at the paths ``also``: the stat
        data the index keeps (``git status`` refreshes it), read in one pass instead of an
        ``lstat`` per file. A hint only (Git keeps sizes modulo 2**32, and does not refresh
        a file whose size changed): callers check each file found."""
        out = self.run(["ls-files", "-s", "--debug", "-z"]).stdout
        named = {os.fsencode(path) for path in also}
        return [FileEntry(os.fsdecode(m[3]), m[2].decode(), int(m[1], 8))
                for m in _DEBUG_ENTRY.finditer(out) if m[1].startswith(b"100")
                and not int(m[5], 16) & _SKIP_WORKTREE  # not checked out (sparse)
                and (int(m[4]) < below or m[3] in named)]  # fmt: skip

    def skipped_paths(self) -> set[str]:
        """Index entries outside the worktree: marked skip-worktree, as a sparse checkout
        leaves every path it does not check out."""
        out = self.run(["ls-files", "-t", "-z"]).stdout
        # "<tag> <path>"; S is skip-worktree
        return {os.fsdecode(item[2:]) for item in out.split(b"\0") if item.startswith(b"S ")}

    def ls_tree(self, rev: str, pathspecs: Iterable[str] = ()) -> list[FileEntry]:
        """Blobs of a commit's tree, recursively."""
        # after --end-of-options every argument is literal: ls-tree would take "--" for a path
        out = self.run(
            ["ls-tree", "-r", "-z", "--full-tree", "--end-of-options", rev, *pathspecs]
        ).stdout
        # "<mode> <type> <oid>\t<path>"
        return [FileEntry(path, fields[2].decode(), int(fields[0], 8))
                for path, fields in _parse_listing(out) if fields[1] == b"blob"]  # fmt: skip

    def check_attr(
        self, attr: str, paths: Sequence[str], tree: str | None = None
    ) -> dict[str, str]:
        """The value of ``attr`` for each path (``unspecified`` when unset): as the
        worktree's ``.gitattributes`` files say (else the index's), or with ``tree`` (a
        commit) as that tree's own say, read through an index of it made for the call.
        A worktree with no index needs ``tree``: its checkout may have been killed before
        it wrote any ``.gitattributes``."""
        if not paths:
            return {}
        data = b"".join(os.fsencode(p) + b"\0" for p in paths)
        args = ["check-attr", "-z", "--stdin", attr]
        if tree is None:
            out = self.run(args, input=data).stdout
        else:
            import tempfile  # not at startup: the filter process never needs it

            with tempfile.TemporaryDirectory(prefix="gitmodel-") as tmp:
                env = {**os.environ, "GIT_INDEX_FILE": os.path.join(tmp, "index")}
                run(["read-tree", "--end-of-options", tree], cwd=self.cwd, env=env)
                args.insert(1, "--cached")
                out = run(args, cwd=self.cwd, input=data, env=env).stdout
        fields = out.split(b"\0")
        return {
            os.fsdecode(fields[i]): fields[i + 2].decode() for i in range(0, len(fields) - 2, 3)
        }


_BLOB_TYPE = 3  # GIT_OBJECT_BLOB
_DISCOVER_ARGS = (
    "rev-parse", "--path-format=absolute", "--git-dir", "--git-common-dir",
    "--git-path", "hooks", "--git-path", "index", "--show-object-format",
    "--is-bare-repository", "--is-inside-git-dir", "--show-toplevel",
)  # fmt: skip


class Discovery:
    """:meth:`Repo.discover` and :meth:`Repo.settings` for the current directory, asked
    of Git at once and collected later. The filter process and the hooks start these
    before they load the rest of themselves, so that Git answers meanwhile (on another
    core)."""

    def __init__(self) -> None:
        self._rev_parse = Spawned(_DISCOVER_ARGS)
        self._config = Spawned(config_list_args())
        # Git runs filters at the worktree's top; .gitmodel's values win over .lfsconfig's
        names = [name for name in (LFS_CONFIG, SHARED_CONFIG) if readable_shared(name)]
        self._shared = [(name, Spawned(config_list_args(name))) for name in names]

    def result(self, strict: bool = False) -> tuple[Repo, dict[str, str]]:
        """The repository and its settings (``strict``: as :meth:`Repo.settings`)."""
        repo = Repo._from_rev_parse(*self._rev_parse.wait())
        config = parse_config(self._config.wait()[1])
        layers = [(name, *spawned.wait()) for name, spawned in self._shared]
        if repo.worktree is None:
            return repo, config  # no worktree, no .gitmodel
        if not os.path.samefile(repo.worktree, "."):
            return repo, repo.settings(strict)  # not at the top after all: ask again
        shared, origins = merge_shared(layers)
        return repo, over_shared(shared, config, strict=strict, origins=origins)


# one entry of ``ls-files -s --debug -z``: "<mode> <oid> <stage>\t<path>\0", then the
# stat data, one indented "name: value" line each, "size" and "flags" on the fifth
_SKIP_WORKTREE = 1 << 30  # the index entry's flag for a path a sparse checkout leaves out
_DEBUG_ENTRY = re.compile(
    rb"(\d{6}) ([0-9a-f]{40,64}) 0\t([^\0]*)\0"
    rb"  ctime: [^\n]*\n  mtime: [^\n]*\n  dev: [^\n]*\n  uid: [^\n]*\n"
    rb"  size: (\d{1,10})\tflags: ([0-9a-f]{1,8})"
)


def _parse_listing(out: bytes) -> Iterator[tuple[str, list[bytes]]]:
    """``ls-files -s -z`` / ``ls-tree -z`` records, "<3 fields>\t<path>": each path and
    its three fields, one record at a time (callers pick what the fields mean and keep
    one object per file: a listing of 100,000 files held whole took 40 MiB more)."""
    for item in out.split(b"\0"):
        if item:
            meta, _, path = item.partition(b"\t")
            yield os.fsdecode(path), meta.split(b" ")


class FileEntry:
    """A blob in the index or a tree: its path, object id and file mode."""

    __slots__ = ("mode", "oid", "path")

    def __init__(self, path: str, oid: str, mode: int) -> None:
        self.path, self.oid, self.mode = path, oid, mode

    def __repr__(self) -> str:
        return f"FileEntry({self.path!r}, {self.oid!r}, {self.mode:o})"
