"""What Git runs for files with ``diff=model``.

``diff.model.command`` (``git diff``): Git's external diff protocol, seven
arguments ``path old-file old-hex old-mode new-file new-hex new-mode``, and for a
rename two more, ``new-path`` and Git's lines about it (``rename from`` …).
``diff.model.textconv`` (``git show``, ``git log -p``, which skip external
diffs unless given ``--ext-diff``): one file in, a text summary out, whose line
diff shows tensors added, removed, reshaped and (by digest) changed.
The files Git hands over hold a pointer (committed side) or the content
(worktree side). Neither ever fails the Git command: problems become a note.
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
import tempfile
from pathlib import Path

from gitmodel.errors import GitModelError
from gitmodel.formats import FormatError, read_model
from gitmodel.formats.diff import FileContent, diff_versions
from gitmodel.formats.digests import load_digests
from gitmodel.formats.report import diff_text, inspect_text
from gitmodel.pointer import POINTER_MAX_SIZE, try_parse
from gitmodel.resolver import Resolver
from gitmodel.store.digests import DigestStore
from gitmodel.store.local import hash_file
from gitmodel.text import printable
from gitmodel.workspace import open_repo

NULL_FILE = "/dev/null"
_BLOB_ID = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")


def external_diff(args: list[str]) -> int:
    """Print the model diff of one path (Git's GIT_EXTERNAL_DIFF arguments)."""
    if len(args) < 7:
        print(f"* Unmerged path {args[0] if args else '?'}")
        return 0
    path, old_file, new_file = args[0], args[1], args[4]
    new_path = args[7] if len(args) >= 9 else path  # a rename: new path, then Git's lines
    repo, store = open_repo()
    store.tmp_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=store.tmp_dir) as tmp:
        resolver = Resolver(repo, store, Path(tmp))
        try:
            old = _version(resolver, old_file, args[2], path)
            new = _version(resolver, new_file, args[5], new_path)
            result = diff_versions(new_path, old, new, DigestStore(store.root), path)
            lines = diff_text(result)
        except GitModelError as exc:
            lines = [f"model diff {printable(new_path)}", f"  note: {printable(str(exc))}"]
    print(f"diff --git a/{printable(path)} b/{printable(new_path)}")
    if len(args) >= 9 and args[8]:
        print("\n".join(printable(line) for line in args[8].splitlines()))
    print("\n".join(lines))
    sys.stdout.flush()
    return 0


def _version(resolver: Resolver, file: str, blob: str, path: str) -> FileContent | None:
    """Git smudges committed blobs into the temporary file it names; the blob id
    leads to the pointer, hence to the stored object and its cached tensor digests."""
    if file == NULL_FILE:
        return None
    if _BLOB_ID.fullmatch(blob) and blob.strip("0"):
        try:
            return resolver.blob(blob, path)
        except (KeyError, ValueError):  # not in this repository's object database
            pass
    return resolver.file(Path(file), path)


def textconv(file: str) -> int:
    """Print a line per tensor (with its digest) for Git to diff line by line."""
    repo, store = open_repo()
    store.tmp_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=store.tmp_dir) as tmp:
        resolver = Resolver(repo, store, Path(tmp))
        try:
            lines = _summary(resolver, Path(file), DigestStore(store.root))
        except GitModelError as exc:  # e.g. a missing object: what the pointer says
            lines = [*_identity(Path(file)), f"note: {exc}"]
    sys.stdout.write("".join(f"{line}\n" for line in lines))
    sys.stdout.flush()
    return 0


def _summary(resolver: Resolver, file: Path, sidecars: DigestStore) -> list[str]:
    """The tensor table; for other files and files the readers refuse, size and oid
    (and why), so that any change of content still shows as a changed line."""
    version = resolver.file(file)
    oid = version.oid or hash_file(version.file)[0]
    identity = [f"size {version.size:,} B", f"oid sha256:{oid}"]
    with open(version.file, "rb") as f:
        try:
            info = read_model(f, os.fspath(file))
        except FormatError as exc:
            return [*identity, f"note: {exc}"]
        if info is None:
            return identity
        digests = load_digests(sidecars, oid, f, info).digests
    lines = inspect_text(info, version.size, digests)
    return [*lines[:2], identity[1], *lines[2:]]  # after "format" and "size"


def _identity(file: Path) -> list[str]:
    """Size and oid of the committed pointer Git handed over, if it is one."""
    with contextlib.suppress(OSError):
        if file.stat().st_size < POINTER_MAX_SIZE:
            pointer = try_parse(file.read_bytes())
            if pointer is not None:
                return [f"size {pointer.size:,} B", f"oid sha256:{pointer.oid}"]
    return []
