"""``git-model filter-process``, ``clean`` and ``smudge``: what Git runs."""

from __future__ import annotations

import shutil
import sys
from collections.abc import Iterator

from gitmodel import git, materialize
from gitmodel import installation as install
from gitmodel.attributes import kept_as_text
from gitmodel.errors import UserError
from gitmodel.filter.convert import clean, smudge
from gitmodel.filter.process import FilterProcess
from gitmodel.filter.stream import PktReader, PktWriter
from gitmodel.remote import default_jobs
from gitmodel.store.local import LocalStore
from gitmodel.workspace import Fetcher, env_flag, open_repo

TYPE_CHECKING = False  # typing's flag without loading typing: the filter process starts often
if TYPE_CHECKING:
    from gitmodel.filter.convert import CleanObserver
    from gitmodel.filter.process import Deferrer, Observe
    from gitmodel.pointer import Pointer

SKIP_ENV = "GIT_MODEL_SKIP_SMUDGE"
READ_SIZE = 1 << 20
DIGESTED_SUFFIXES = (".safetensors", ".gguf", ".npy")  # formats.digests.STREAM_READERS


def filter_process(skip_smudge: bool = False, discovery: git.Discovery | None = None) -> int:
    """Serve Git's long-running filter protocol on stdin/stdout (in the repository that
    ``discovery``, started early, finds, else in the current directory's)."""
    repo, settings = (discovery or git.Discovery()).result()
    store = LocalStore(repo.model_dir)
    install.ensure_hooks(repo, settings)
    install.ensure_untracked_cache(repo, settings)
    skip = skip_smudge or env_flag(SKIP_ENV)
    fetch = Fetcher(repo, store, settings)
    process = FilterProcess(
        store,
        PktReader(sys.stdin.fileno()),
        PktWriter(sys.stdout.fileno()),
        skip_smudge=skip,
        fetch=fetch,
        prepare=fetch.prepare,
        defer=None if skip else _deferrer(repo, settings),
        jobs=_jobs(settings),
        observe=_digest_observer(store),
        settle=fetch.finish,
        plan=None if skip else fetch.checkout_plan,
    )
    try:
        process.run()
    finally:
        fetch.finish()
    return 0


def _deferrer(repo: git.Repo, settings: dict[str, str]) -> Deferrer | None:
    """The direct-checkout deferrer; with a bad setting, one that fails each smudge.

    The first smudge fails (reported with its path and the key, then Git stops) rather
    than the process: a filter that exits makes Git add protocol errors to ours.
    """
    try:
        return materialize.make_deferrer(repo, settings)
    except UserError as exc:
        error = exc

    def refuse(path: str, pointer: Pointer) -> bool:
        raise error

    return refuse


def _jobs(settings: dict[str, str]) -> int:
    """Parallel downloads during checkout: ``model.jobs``, else sized to the machine."""
    try:
        return max(1, min(64, int(settings["model.jobs"])))
    except (KeyError, ValueError):
        return default_jobs()


def _digest_observer(store: LocalStore) -> Observe:
    """Tensor digests for model formats, computed while ``clean`` streams the bytes."""

    def observe(path: str) -> CleanObserver | None:
        if not path.lower().endswith(DIGESTED_SUFFIXES):
            return None  # most files: no need to load the format readers
        from gitmodel.formats.digests import observer_for

        return observer_for(path, store.root)

    return observe


def _stdin_chunks() -> Iterator[bytes]:
    while chunk := sys.stdin.buffer.read(READ_SIZE):
        yield chunk


def clean_file(path: str | None = None) -> int:
    """One-shot clean: content on stdin, pointer on stdout."""
    if path is not None and kept_as_text(path):  # .gitattributes and the like: as they are
        shutil.copyfileobj(sys.stdin.buffer, sys.stdout.buffer)
        sys.stdout.buffer.flush()
        return 0
    _, store = open_repo()
    observer = _digest_observer(store)(path) if path else None
    sys.stdout.buffer.write(clean(store, _stdin_chunks(), observer))
    sys.stdout.buffer.flush()
    return 0


def smudge_file(path: str | None = None, skip_smudge: bool = False) -> int:
    """One-shot smudge: pointer on stdin, content on stdout."""
    repo, store = open_repo()
    skip = skip_smudge or env_flag(SKIP_ENV)
    fetch = Fetcher(repo, store, repo.settings())
    out = sys.stdout.buffer

    def write(data: bytes | bytearray | memoryview) -> None:
        out.write(data)

    try:
        smudge(store, _stdin_chunks(), write, path, skip, fetch)
    finally:
        fetch.finish()
    out.flush()
    return 0
