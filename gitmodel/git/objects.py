"""Reading objects in bulk: blob contents streamed (:class:`BlobStream`), and the
named queries the rest of gitmodel asks of Git's object database."""

from __future__ import annotations

import os
import re
from collections.abc import Container, Iterable, Iterator, Sequence

from gitmodel.git.process import GitError
from gitmodel.pointer import POINTER_MAX_SIZE, Pointer, try_parse

_OBJECT_ID = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")
KNOWN_MIN = 256  # blobs to sort out before the likely pointers are worth working out

TYPE_CHECKING = False  # typing's flag without loading typing: the filter process starts often
if TYPE_CHECKING:
    import pygit2

    from gitmodel.git.repo import Repo


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


def headers(repo: Repo, oids: Iterable[str]) -> dict[str, tuple[str, int]]:
    """Each object's type and size, from one ``git cat-file --batch-check``; objects
    Git does not have are left out."""
    wanted = list(dict.fromkeys(oids))  # each once, in the order given
    if not wanted:
        return {}
    out = repo.run(
        ["cat-file", "--buffer", "--batch-check=%(objectname) %(objecttype) %(objectsize)"],
        input="\n".join(wanted).encode() + b"\n",
    ).stdout
    found = {}
    for line in out.decode("utf-8", "replace").splitlines():
        fields = line.split()
        if len(fields) == 3 and fields[2].isdigit():
            found[fields[0]] = (fields[1], int(fields[2]))
    return found


def small_blobs(repo: Repo, oids: Iterable[str], limit: int) -> dict[str, bytes]:
    """The contents of the blobs among ``oids`` smaller than ``limit`` bytes: two
    ``cat-file`` calls whatever their number; larger blobs are never read."""
    wanted = [oid for oid, (kind, size) in headers(repo, oids).items()
              if kind == "blob" and size < limit]  # fmt: skip
    if not wanted:
        return {}
    return _parse_batch(repo.run(["cat-file", "--buffer", "--batch"], input=_lines(wanted)).stdout)


def commits(repo: Repo, revs: Sequence[str], options: Sequence[str] = ()) -> list[str]:
    """The commits ``git rev-list`` lists: ``options`` are its own (``--no-walk=unsorted``,
    ``--branches``, ``--tags``), ``revs`` revisions (``B``, ``^A``) given after
    ``--end-of-options``, so that none is read as an option."""
    out = repo.run(["rev-list", *options, "--end-of-options", *revs, "--"]).stdout
    return out.decode().split()


class ObjectListing:
    """The trees and blobs of some commits' trees, each once, under the first commit
    (in the order given) whose tree holds it, at its path there: ``git rev-list
    --objects --in-commit-order --no-walk``. Git cuts a path at a line break."""

    def __init__(self, out: bytes) -> None:
        self._out = out  # held as Git wrote it: a line an object, parsed on each pass

    def oids(self) -> Iterator[str]:
        """Every object id listed, the commits' own included."""
        for line in self._out.splitlines():
            yield line[:64].split(b" ", 1)[0].decode()

    def named(self, wanted: Container[str]) -> Iterator[tuple[str, str, str]]:
        """(commit, object id, path) of the listed objects among ``wanted``."""
        commit = ""
        for line in self._out.splitlines():
            oid, sep, path = line.partition(b" ")
            if not sep:
                commit = oid.decode()
            elif (name := oid.decode()) in wanted:
                yield commit, name, os.fsdecode(path)


def trees_of(repo: Repo, commit_ids: Sequence[str]) -> ObjectListing:
    """What the trees of ``commit_ids`` (full ids: their history is not walked) hold,
    each object once; the ids go through stdin, so there may be any number."""
    if not all(_OBJECT_ID.fullmatch(c) for c in commit_ids):
        raise ValueError("trees_of takes full commit ids")
    if not commit_ids:
        return ObjectListing(b"")
    args = ["rev-list", "--objects", "--in-commit-order", "--no-walk=unsorted", "--stdin", "--"]
    return ObjectListing(repo.run(args, input=_lines(commit_ids)).stdout)


def pointers_of(repo: Repo, blobs: Iterable[str]) -> dict[str, Pointer]:
    """The blobs among ``blobs`` that are canonical pointer files, with their pointers,
    in the order given (``rev-list``'s is a tree's path order: a push then packs the
    files of a folder together). Where there are many, a blob whose id is that of the
    text of one of the repository's :attr:`~Repo.likely_pointers` is that pointer (Git
    names a blob by the hash of its bytes), so it is not read; the others are asked of
    ``git cat-file``."""
    real = [blob for blob in blobs if blob.strip("0")]  # the null id: a deleted file
    known: dict[str, Pointer] = {}
    if len(real) >= KNOWN_MIN and repo.likely_pointers is not None:
        known = _known_blobs(repo)
    unknown = [blob for blob in real if blob not in known]
    read: dict[str, Pointer] = {}  # in the order asked: cat-file answers in it
    for oid, data in small_blobs(repo, unknown, POINTER_MAX_SIZE).items():
        pointer = try_parse(data)
        if pointer is not None:
            read[oid] = pointer
    if not known:
        return read
    # one dict, in order, made at once: at 100,000 files another would cost megabytes
    return {blob: p for blob in real if (p := known.get(blob) or read.get(blob)) is not None}


def _known_blobs(repo: Repo) -> dict[str, Pointer]:
    """The blob id of each likely pointer's text → the pointer, worked out once (about
    a microsecond a pointer, against some fifty for a blob ``cat-file`` reads)."""
    if repo.pointer_blobs is None:
        assert repo.likely_pointers is not None
        sha256 = repo.object_format == "sha256"  # a repository of SHA-256 object names
        repo.pointer_blobs = {blob_id(p.encode(), sha256): p for p in repo.likely_pointers()}
    return repo.pointer_blobs


def blob_id(data: bytes, sha256: bool = False) -> str:
    """The name Git gives a blob of ``data`` (SHA-1, or SHA-256 in such a repository)."""
    import hashlib

    digest = hashlib.sha256() if sha256 else hashlib.sha1()  # Git names blobs so
    digest.update(b"blob %d\0" % len(data))
    digest.update(data)
    return digest.hexdigest()


def read_pointer(repo: Repo, blob: str) -> Pointer | None:
    """The pointer blob ``blob`` holds, or None (not a pointer, too large, or absent)."""
    if not blob.strip("0"):
        return None
    data = repo.read_blob(blob, limit=POINTER_MAX_SIZE - 1)
    return try_parse(data) if data else None


def show_file(repo: Repo, rev: str, path: str) -> bytes | None:
    """The contents of ``path`` in ``rev`` (``git cat-file REV:PATH``), or None when either
    is missing; without loading pygit2, for one-shot reads where start-up is the cost."""
    out = repo.run(["cat-file", "--batch"], input=f"{rev}:{path}\n".encode()).stdout
    found = _parse_batch(out, by_name=f"{rev}:{path}")
    return next(iter(found.values()), None)


def file_at(repo: Repo, rev: str, path: str, limit: int) -> bytes | None:
    """The contents of the file ``path`` in commit ``rev``, or None when it has none
    there; a :class:`GitError` when it is larger than ``limit`` bytes."""
    proc = repo.run(
        ["rev-parse", "--verify", "--quiet", "--end-of-options", f"{rev}:{path}"], check=False
    )
    oid = proc.stdout.decode().strip()
    found = headers(repo, [oid]).get(oid) if proc.returncode == 0 else None
    if found is None or found[0] != "blob":
        return None
    if found[1] > limit:
        raise GitError(f"{path} in {rev} is larger than {limit} bytes")
    if any(e.mode == _SYMLINK_MODE for e in repo.ls_tree(rev, [path]) if e.path == path):
        raise GitError(f"{path} in {rev} is a symbolic link, not a file")  # its text: a path
    return repo.read_blob(oid)


def _lines(items: Iterable[str]) -> bytes:
    return "".join(f"{item}\n" for item in items).encode()


def _parse_batch(out: bytes, by_name: str | None = None) -> dict[str, bytes]:
    """``cat-file --batch`` output: "<oid> <type> <size>\\n<contents>\\n" per object,
    "<name> missing\\n" for one Git does not have."""
    found, pos = {}, 0
    while pos < len(out):
        end = out.index(b"\n", pos)
        fields = out[pos:end].split()
        if len(fields) != 3:  # "<name> missing" (or ambiguous): no contents follow
            pos = end + 1
            continue
        size = int(fields[2])
        found[by_name or fields[0].decode()] = out[end + 1 : end + 1 + size]
        pos = end + 2 + size
    return found


class Commit:
    """A commit's id, message, parents and author, read through pygit2."""

    __slots__ = ("author_email", "author_name", "author_offset", "author_time", "id",
                 "message", "parent_ids", "tree_id")  # fmt: skip

    def __init__(self, raw: pygit2.Commit) -> None:
        self.id, self.message, self.tree_id = str(raw.id), raw.message, str(raw.tree_id)
        self.parent_ids = [str(p) for p in raw.parent_ids]
        author = raw.author
        self.author_name, self.author_email = author.name, author.email
        self.author_time, self.author_offset = author.time, author.offset


def read_commit(repo: Repo, oid: str) -> Commit:
    """The commit ``oid`` (tags peeled)."""
    import pygit2

    return Commit(repo.pygit[oid].peel(pygit2.Commit))


def tree_file(repo: Repo, commit: str, name: str) -> bytes:
    """The contents of file ``name`` at the top of ``commit``'s tree; KeyError if absent."""
    import pygit2

    tree = repo.pygit[commit].peel(pygit2.Commit).tree
    return bytes(tree[name].peel(pygit2.Blob).data)


def write_tree(repo: Repo, files: dict[str, bytes]) -> str:
    """A tree of regular files at its top, written to the object database; its id."""
    pygit = repo.pygit
    builder = pygit.TreeBuilder()
    for name, data in files.items():
        builder.insert(name, pygit.create_blob(data), _BLOB_MODE)
    return str(builder.write())


_BLOB_MODE = 0o100644
_SYMLINK_MODE = 0o120000
