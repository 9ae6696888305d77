"""The one package that talks to Git: every ``git`` process and every pygit2 call
in gitmodel starts here, so each question is asked in one place, the same way.

- :mod:`~gitmodel.git.process`: running ``git`` (captured, on the terminal, spawned early);
- :mod:`~gitmodel.git.config`: configuration, and the checked keys of ``.gitmodel``;
- :mod:`~gitmodel.git.repo`: :class:`Repo` (discovery, ``ls-files``, ``ls-tree``,
  ``check-attr``), :class:`Discovery` for the filter's start, the index lock;
- :mod:`~gitmodel.git.objects`: bulk object reads (headers, small blobs, pointers);
- :mod:`~gitmodel.git.refs`: refs read, listed, and moved by compare-and-swap;
- :mod:`~gitmodel.git.diff`: ``diff --raw`` records;
- :mod:`~gitmodel.git.index_file`, :mod:`~gitmodel.git.rewrite` (history rewriting
  for ``migrate``), :mod:`~gitmodel.git.credential` (Git's credential helpers, for
  LFS hosts) and :mod:`~gitmodel.git.signatures` (commit signatures, judged by
  ``git verify-commit``) load only where used.

Everything a caller needs is importable from ``gitmodel.git``. Values that come from
a user, a commit or a remote go after ``--end-of-options`` or ``--``, never where Git
would read them as options.
"""

from __future__ import annotations

from gitmodel.git.config import (
    CONFIG_SCOPES,
    SHARED_CONFIG,
    SHARED_KEYS,
    check_shared,
    config_list,
    config_set,
    config_set_file,
    config_unset,
    number_setting,
    valid_remote_name,
)
from gitmodel.git.diff import NULL_OID_RE, DiffEntry, diff_raw
from gitmodel.git.objects import (
    BlobStream,
    Commit,
    ObjectListing,
    blob_id,
    commits,
    file_at,
    headers,
    pointers_of,
    read_commit,
    read_pointer,
    show_file,
    tree_file,
    trees_of,
    write_tree,
)
from gitmodel.git.process import (
    GIT_MISSING,
    GIT_MISSING_HINT,
    GitError,
    call,
    output,
    run,
    show_manual,
    version,
)
from gitmodel.git.refs import RefMoved, is_ancestor, list_refs, read_ref, update_ref
from gitmodel.git.repo import (
    Discovery,
    FileEntry,
    IndexLock,
    Repo,
    local_git_dir,
    local_path,
    remote_names,
)

__all__ = [
    "CONFIG_SCOPES",
    "GIT_MISSING",
    "GIT_MISSING_HINT",
    "NULL_OID_RE",
    "SHARED_CONFIG",
    "SHARED_KEYS",
    "BlobStream",
    "Commit",
    "DiffEntry",
    "Discovery",
    "FileEntry",
    "GitError",
    "IndexLock",
    "ObjectListing",
    "RefMoved",
    "Repo",
    "blob_id",
    "call",
    "check_shared",
    "commits",
    "config_list",
    "config_set",
    "config_set_file",
    "config_unset",
    "diff_raw",
    "file_at",
    "headers",
    "is_ancestor",
    "list_refs",
    "local_git_dir",
    "local_path",
    "number_setting",
    "output",
    "pointers_of",
    "read_commit",
    "read_pointer",
    "read_ref",
    "remote_names",
    "run",
    "show_file",
    "show_manual",
    "tree_file",
    "trees_of",
    "update_ref",
    "valid_remote_name",
    "version",
    "write_tree",
]  # fmt: skip
