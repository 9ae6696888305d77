"""What most commands start from: the repository and its local store."""

from __future__ import annotations

import os
from _thread import allocate_lock  # threading.Lock, without loading threading
from pathlib import Path

from gitmodel import git
from gitmodel.errors import GitModelError, UserError
from gitmodel.pointer import Pointer
from gitmodel.store import onecopy
from gitmodel.store.local import LocalStore, import_object
from gitmodel.text import printable

TYPE_CHECKING = False  # typing's flag without loading typing: the filter process starts often
if TYPE_CHECKING:  # loaded on first use: most checkouts never open the remote
    from gitmodel.progress import Progress
    from gitmodel.remote.bulk import Stored
    from gitmodel.remote.chunked import LocalChunks
    from gitmodel.remote.errors import RemoteError
    from gitmodel.remote.layouts import Remote


NOT_IN_DEFAULT_HINT = (
    "; no model remote is set here, so this clone looked in its Git remote's own store (a"
    " local repository's, or its LFS host): if the object was pushed to a model remote set"
    " with `git model remote set`, that setting is probably not shared, and whoever set it"
    " can share it (`git model remote set --shared URL`, then commit and push .gitmodel),"
    " or you can set it here"
)


def open_repo(path: Path | str = ".") -> tuple[git.Repo, LocalStore]:
    """The repository at ``path`` and its local store, whose objects are the pointers
    most of its pointer files hold (so scans of many files find them by blob id)."""
    repo = git.Repo.discover(path)
    return repo, _store_of(repo)


def open_discovered(
    discovery: git.Discovery, strict: bool
) -> tuple[git.Repo, LocalStore, dict[str, str]]:
    """Like :func:`open_repo`, for the repository ``discovery`` found, with its settings."""
    repo, settings = discovery.result(strict)
    return repo, _store_of(repo), settings


def _store_of(repo: git.Repo) -> LocalStore:
    store = LocalStore(repo.model_dir)
    repo.likely_pointers = lambda: (Pointer(oid, size) for oid, size in store.sizes().items())
    return store


def left_lock_hint(repo: git.Repo) -> str | None:
    """What to do about Git's lock of this worktree's index, None without one. A git
    command killed mid-way (SIGKILL, a crash, a closed session) never removes its lock;
    a clone killed during its checkout leaves it and no index, so every file shows as
    deleted and no model object is here: only a new checkout brings them back."""
    lock = git.IndexLock(repo.index_path).lock_path
    if not os.path.lexists(lock):
        return None
    if repo.index_path.exists():
        return (f"{lock} exists: a git command is running here, or one was interrupted and "
                "left it; if none runs, remove that file, then run `git model pull`")  # fmt: skip
    return (f"{lock} exists and there is no index: a clone or checkout was interrupted (every "
            "file shows as deleted); if no git command runs here, remove that file, then run "
            "`git checkout -f HEAD` and `git model pull`")  # fmt: skip


def no_index_hint(repo: git.Repo) -> str | None:
    """Why every file of a repository with commits shows as deleted, and what writes
    them, when its worktree has no index: a clone whose checkout failed (a smudge error),
    was interrupted, or was never made (``--no-checkout``). None with an index."""
    if repo.worktree is None or repo.index_path.exists() or not repo.has_commits():
        return None
    return left_lock_hint(repo) or (
        "this worktree has no index: its checkout failed or never ran (every file shows as "
        "deleted); run `git checkout -f HEAD` to write the files, then `git model pull`"
    )


# what a verb that takes [REMOTE] does with files named in its place
PATHS_INSTEAD = {
    "fetch": "`git model fetch --include {}` fetches only those",
    "pull": "`git model pull --include {}` writes only those",
    "push": "`git model push` sends the objects of commits: commit the files, then push",
    "du": "`git model ls-files -- {}` lists their sizes, `git model du --local` the disk use",
}


def check_remote_argument(
    repo: git.Repo, settings: dict[str, str], name: str | None, verb: str
) -> None:
    """Refuse a REMOTE argument that names no remote but a revision (``git model fetch
    v1``: the first argument is a remote, as in git-lfs), saying how to give both, or
    files (``git model pull data/``), saying how to name files."""
    if name is None or name in git.remote_names(settings) or f"remote.{name}.modelurl" in (
            settings):  # fmt: skip
        return
    glob = any(c in name for c in "*?[") and verb in ("fetch", "pull")  # an --include's
    if (os.path.lexists(name) or glob) and verb in PATHS_INSTEAD:
        import shlex

        shown = printable(shlex.quote(name))
        raise UserError(f"no Git remote named {shown}", hint=f"{shown} names files, not a "
                        f"remote: {PATHS_INSTEAD[verb].format(shown)}")  # fmt: skip
    if repo.commit_of(name) is None:
        return
    from gitmodel.remote.config import default_remote_name

    remote = default_remote_name(settings) or "REMOTE"
    raise UserError(f"no Git remote named {name!r}", hint=f"{name!r} is a revision; name the "
                    f"remote first: git model {verb} {remote} {name}")  # fmt: skip


_TRUE = ("1", "true", "yes", "on")


def env_flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in _TRUE


def local_remote_stores(repo: git.Repo, settings: dict[str, str]) -> list[LocalStore]:
    """Stores of Git remotes that are local repositories (how a local clone finds objects)."""
    stores = []
    for name in git.remote_names(settings):
        git_dir = git.local_git_dir(settings[f"remote.{name}.url"], repo.cwd)
        if git_dir is not None and (git_dir / "model").is_dir():
            stores.append(LocalStore(git_dir / "model"))
    return stores


class Fetcher:
    """How smudge gets a missing object: from a local Git remote's own store, else from
    the model remote, opened on first use (most checkouts never need it).

    Returns False when no model remote is set. An object the remote lacks, or holds
    only damaged, raises an error naming it and where we looked; later objects are
    still tried. Once the remote itself has failed (after its retries), or could not
    be opened at all (no backend, no account), later objects fail at once with the same
    error. Downloads show one progress line, whose totals
    grow as objects are asked for; :meth:`finish` ends it."""

    def __init__(self, repo: git.Repo, store: LocalStore, settings: dict[str, str]) -> None:
        self._repo, self._store, self._settings = repo, store, settings
        self._sources = local_remote_stores(repo, settings)
        self._remote: Remote | None = None
        self._opened = False
        self._broken: RemoteError | None = None
        self._lock = allocate_lock()
        self._local: LocalChunks | None = None  # shared: loading it reads every chunk list
        self._progress: Progress | None = None
        self._derived = False  # the remote is a local Git remote's own, not one set
        self._unusable: GitModelError | None = None  # opening the remote failed so
        self._url = ""  # the model remote's, once opened

    def _open_remote(self) -> Remote | None:
        with self._lock:
            if not self._opened:
                self._opened = True
                from gitmodel.remote.config import remote_for

                try:
                    model_remote = remote_for(self._repo, self._settings)
                except UserError:
                    return None  # no model remote known: the caller says how to share one
                self._derived = not model_remote.configured
                self._url = model_remote.url
                try:  # a remote that cannot be opened says why, for every object
                    remote = model_remote.open()
                except GitModelError as exc:
                    self._unusable = exc
                    raise
                self._remote = remote
                if not model_remote.lfs:  # chunks to reuse: not on an LFS host
                    from gitmodel.remote.chunked import LocalChunks
                    from gitmodel.remote.store import RemoteStore

                    if isinstance(remote, RemoteStore):
                        self._local = LocalChunks(self._store, remote.cipher.key_check)
            if self._unusable is not None:
                raise self._unusable
            return self._remote

    def prepare(self, pointers: list[Pointer], on_stored: Stored | None = None) -> None:
        """Ask once for what the fetches of ``pointers`` will need: an LFS host answers
        one batch request per 100 objects instead of one per object, and the small
        objects of a chunked remote are fetched in bulk, ``on_stored`` told of each as it
        enters the store. A failure here is left for each fetch to meet and report."""
        import contextlib

        from gitmodel.remote import layouts

        missing = self._store.lacking(pointers)
        with contextlib.suppress(GitModelError):
            remote = self._open_remote() if missing else None
            if remote is not None:
                progress = self._progress_line()

                def fetched(pointer: Pointer) -> None:  # once per object it stores
                    progress.expect(1, pointer.size)
                    progress.add(pointer.size)
                    progress.object_done()
                    if on_stored is not None:
                        on_stored(pointer)

                layouts.prepare_download(remote, missing, self._store, on_stored=fetched)

    def checkout_plan(self, treeish: str, path: str) -> list[Pointer] | None:
        """The objects a checkout of the whole of commit ``treeish`` will ask for, to be
        fetched in bulk as it begins, when it is one: this worktree has no index yet (a
        clone's checkout, a new worktree's) and no sparse checkout leaves paths out, and
        the model remote is object storage (not an LFS host). They are the small objects
        the store lacks of the files whose filter is that of ``path`` (the first file Git
        asked for whose object is missing), in the order Git asks for them. None when it
        is not such a checkout, or when a file of that filter before ``path`` is not in
        the worktree: Git checks out some paths of the commit only."""
        from gitmodel import materialize, scan
        from gitmodel.git.shallow import is_commit_id
        from gitmodel.remote import layouts
        from gitmodel.remote.bulk import SMALL_MAX

        sparse = self._settings.get("core.sparsecheckout", "").lower() in _TRUE
        if sparse or not is_commit_id(treeish):
            return None
        if self._repo.index_path.exists():
            return None
        argv = materialize.parent_git_argv()
        if argv is not None and materialize.checks_out_paths(argv):
            return None  # the same keys as a whole commit's checkout
        try:
            remote = self._open_remote()
            if remote is None or layouts.on_host(remote):
                return None
            files = scan.pointer_files(self._repo, self._repo.ls_tree(treeish))
            driver = self._repo.check_attr("filter", [path, *(f.path for f in files)], treeish)
        except (GitModelError, OSError):  # a temporary index not made, say
            return None  # each fetch meets the failure and reports it
        ours = driver.get(path, "unspecified")
        if ours in ("unspecified", "unset", "set"):
            return None
        mine = [f for f in files if driver.get(f.path) == ours]
        # Git writes each file of a whole commit, in order, before it asks for the next;
        # one of ours before ``path`` not written is a checkout of some paths only
        # (``git checkout REV -- PATHS`` sends the same keys), which would not write all
        top = self._repo.top
        if any(f.path < path and not os.path.lexists(top / f.path) for f in mine):
            return None
        return self._store.lacking(f.pointer for f in mine if f.pointer.size <= SMALL_MAX)

    def __call__(self, pointer: Pointer) -> bool:
        if any(import_object(self._store, source, pointer) for source in self._sources):
            return True
        remote = self._open_remote()
        if remote is None:
            return False
        from gitmodel.remote import layouts
        from gitmodel.remote.errors import RemoteError, RemoteObjectDamaged, RemoteObjectMissing

        if self._broken is not None:
            raise self._broken
        progress = self._progress_line()
        progress.expect(1, pointer.size)
        try:
            layouts.download(remote, self._store, pointer, self._local, progress.add)
        except RemoteObjectMissing as exc:
            if self._derived:  # set nowhere: pushed, perhaps, to a store set elsewhere
                exc.hint = (exc.hint or "") + NOT_IN_DEFAULT_HINT
            raise  # this object's fault, not the remote's: the next one may be fine
        except RemoteObjectDamaged:
            raise
        except RemoteError as exc:
            self._broken = exc
            raise
        progress.object_done()
        onecopy.note_held(self._store.root, self._url, [pointer])
        return True

    def _progress_line(self) -> Progress:
        with self._lock:
            if self._progress is None:
                from gitmodel.progress import Progress

                self._progress = Progress("Downloading model objects", 0)
            return self._progress

    def finish(self) -> None:
        """End the progress line of the downloads so far, if any (later ones start another)."""
        with self._lock:
            progress, self._progress = self._progress, None
        if progress is not None:
            progress.finish()
