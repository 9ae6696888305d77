"""``git model fetch`` and ``pull``: bring model objects from the remote store."""

from __future__ import annotations

import functools
import shlex
import stat
import sys
from collections.abc import Callable

from gitmodel import git, installation, logsync, materialize, safepath
from gitmodel.errors import UserError
from gitmodel.git.patterns import matching
from gitmodel.pointer import try_parse
from gitmodel.remote import transfer
from gitmodel.remote.config import default_remote_name, git_remote, remote_for
from gitmodel.scan import PointerFile, pointer_files
from gitmodel.sizes import format_size
from gitmodel.store import onecopy
from gitmodel.store.local import write_atomically
from gitmodel.text import printable
from gitmodel.workspace import check_remote_argument, no_index_hint, open_repo

POINTER_READ = 1024  # a worktree file this small may be a pointer left in place of content


def _select(
    repo: git.Repo, files: list[PointerFile], include: list[str], exclude: list[str],
    warn: bool = False, left_out: Callable[[list[str]], str | None] | None = None,
) -> list[PointerFile]:  # fmt: skip
    """The files ``include`` (when given) and not ``exclude`` match, as git-lfs's
    ``--include``/``--exclude`` do: ``.gitignore`` patterns, so a folder's name matches
    everything under it; comma-separated lists. With ``warn``, a pattern that matches
    no file is named, and an ``include`` that matches none at all is an error (whose
    hint is ``left_out``'s, when it has one for those patterns)."""
    include, exclude = _split(include, "--include"), _split(exclude, "--exclude")
    if not include and not exclude:
        return files
    found = matching(repo, include + exclude, [f.path for f in files], contents=True)
    included, excluded = found[: len(include)], set().union(*found[len(include) :])
    if warn:
        _check_matched(include, included, "--include", left_out)
        _check_matched(exclude, found[len(include) :], "--exclude")
    chosen = set().union(*included) if include else {f.path for f in files}
    return [f for f in files if f.path in chosen and f.path not in excluded]


def _split(patterns: list[str], option: str) -> list[str]:
    """Each option's comma-separated patterns, as git-lfs reads them; an option given
    that holds none (``-I ""``, an unset shell variable) is refused, never read as
    "every file"."""
    split = [part.strip() for pattern in patterns for part in pattern.split(",")]
    kept = [part for part in split if part.removesuffix("/")]
    if patterns and not kept:
        given = ", ".join(f'"{printable(pattern)}"' for pattern in patterns)
        raise UserError(f"{option} {given} holds no pattern",
                        hint=f'name files, e.g. {option} "data/train/*"')  # fmt: skip
    return kept


def _check_matched(patterns: list[str], found: list[set[str]], option: str,
                   left_out: Callable[[list[str]], str | None] | None = None) -> None:  # fmt: skip
    unmatched = [pattern for pattern, paths in zip(patterns, found, strict=True) if not paths]
    if option == "--include" and unmatched and len(unmatched) == len(patterns):
        names = ", ".join(f'"{printable(pattern)}"' for pattern in unmatched)
        if left_out is not None and (hint := left_out(unmatched)):
            raise UserError(f"{option} {names} matches no model file the sparse checkout "
                            "holds", hint=hint)  # fmt: skip
        raise UserError(f"{option} {names} matches no model file",
                        hint="`git model ls-files` lists them; a folder's name matches "
                        "every file under it")  # fmt: skip
    for pattern in unmatched:
        print(f'gitmodel: warning: {option} "{printable(pattern)}" matches no model file',
              file=sys.stderr)  # fmt: skip


def fetch(
    remote_name: str | None, refs: list[str], include: list[str], exclude: list[str],
    jobs: int | None = None, quiet: bool = False,
) -> int:  # fmt: skip
    """Download the objects of the files in REFs that the local store lacks; without REFs,
    of HEAD's files that are checked out (a sparse checkout leaves others out)."""
    repo, store = open_repo()
    settings = repo.settings()
    check_remote_argument(repo, settings, remote_name, "fetch")
    files: list[PointerFile] = []
    for ref in refs or ["HEAD"]:
        files += pointer_files(repo, repo.ls_tree(repo.rev_parse(ref)))
    left_out = None
    if not refs:
        skipped = repo.skipped_paths()
        outside = [f.path for f in files if f.path in skipped]
        files = [f for f in files if f.path not in skipped]
        left_out = functools.partial(_sparse_hint, repo, outside, remote_name)
    chosen = _select(repo, files, include, exclude, warn=True, left_out=left_out)
    if not (remote_name or git.remote_names(settings) or store.lacking(f.pointer for f in chosen)):
        return 0  # no remote, and every object is here (as git fetch: nothing to do)
    remote = remote_for(repo, settings, remote_name)
    got = transfer.download(remote.open(), store, [f.pointer for f in chosen], jobs, quiet)
    onecopy.note_held(store.root, remote.url, got.pointers)
    if got.pointers and not quiet:
        total = sum(p.size for p in got.pointers)
        # chunks already here (earlier versions) and compression make it less
        saved = f" ({format_size(got.transferred)} transferred)" if got.transferred < total else ""
        print(f"gitmodel: downloaded {len(got.pointers)} object(s), {format_size(total)}{saved}",
              file=sys.stderr)  # fmt: skip
    logsync.fetch_logs(repo, remote.name, quiet)
    return 0


def _sparse_hint(
    repo: git.Repo, outside: list[str], remote_name: str | None, patterns: list[str]
) -> str | None:  # fmt: skip
    """What to do when ``patterns`` match only files the sparse checkout leaves out
    (``outside``), which a fetch without REF skips; None when they match none of those."""
    found = set().union(*matching(repo, patterns, outside, contents=True))
    if not found:
        return None
    options = printable(" ".join(f"-I {shlex.quote(pattern)}" for pattern in patterns))
    remote = printable(shlex.quote(remote_name or default_remote_name(repo.settings()) or
                                   "REMOTE"))  # fmt: skip
    return (
        f"it matches {len(found)} file(s) the sparse checkout leaves out: `git "
        "sparse-checkout add FOLDER` checks them out, or `git model fetch "
        f"{remote} HEAD {options}` fetches them into the store"
    )


def fetch_logs(remote_name: str | None, quiet: bool = False) -> int:
    """Only the record logs (registry, lineage, requests, locks) of the Git remote, each
    checked as ``fetch`` checks them before it is taken; no model object is read."""
    repo = git.Repo.discover()
    settings = repo.settings()
    name = git_remote(settings, remote_name)
    if f"remote.{name}.url" not in settings:
        raise UserError(f"no Git remote named {name!r}", hint="see `git remote -v`")
    logsync.fetch_logs(repo, name, quiet)
    return 0


def pull(
    remote_name: str | None, include: list[str], exclude: list[str],
    jobs: int | None = None, quiet: bool = False,
) -> int:  # fmt: skip
    """Fetch, then write the content of files that are still pointers in the worktree,
    or missing from it (as after a checkout that failed), like ``git lfs pull``. A file
    already whole whose index entry a killed checkout or pull left unrecorded gets its
    stat data recorded, so that Git does not show it as modified."""
    repo, store = open_repo()
    check_remote_argument(repo, repo.settings(), remote_name, "pull")
    installation.warn_without_filter(repo, "`git add` would store these files whole")
    if hint := no_index_hint(repo):
        raise UserError("no index says which model files to write", hint=hint)
    fetch(remote_name, [], include, exclude, jobs, quiet)
    skipped = repo.skipped_paths()  # outside a sparse checkout: never written
    entries = [e for e in repo.ls_files() if e.path not in skipped]
    found = []  # every path is checked before anything is written
    for entry in _select(repo, pointer_files(repo, entries), include, exclude):
        target = safepath.Target(repo.top, entry.path)
        found.append((entry, target, *_head(target)))
    pending = []
    whole = {}  # of the object's size: perhaps written by a pull that was killed
    for entry, target, head, size in found:
        if head is None and store.has(entry.pointer.oid):
            # back as the pointer Git would have left, then as content
            head = entry.pointer.encode()
            write_atomically(target, [head])
        if head is not None and try_parse(head) == entry.pointer and store.has(entry.pointer.oid):
            pending.append(materialize.Pending(entry.path, entry.pointer))
        elif size == entry.pointer.size:
            whole[entry.path] = entry.pointer
    for path in materialize.unrecorded_candidates(repo, whole):
        pending.append(materialize.Pending(path, whole[path]))
    written = materialize.materialize(repo, store, pending, quiet)
    if written and not quiet:
        print(f"gitmodel: wrote {written} file(s) into the worktree", file=sys.stderr)
    return 0


def _head(target: safepath.Target) -> tuple[bytes | None, int]:
    """The first bytes of a worktree file that may be a pointer (b"" when it is larger or
    unreadable), None when it is missing, and its size (-1 unless a regular file);
    refuses a path through a symlink."""
    st = safepath.lstat(target)
    if st is None:
        return None, -1
    if not stat.S_ISREG(st.st_mode):
        return b"", -1
    if st.st_size >= POINTER_READ:
        return b"", st.st_size
    try:
        src = safepath.open_file(target)
    except OSError:
        return b"", st.st_size
    if src is None:
        return None, -1
    with src:
        return src.read(POINTER_READ), st.st_size
