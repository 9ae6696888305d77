"""Model versions: the commits of the registry branch's first-parent history where the
model's files changed, numbered 1..n oldest first, and naming one (``NAME@v3``, ``NAME@REV``).

Numbers come from first-parent history so that they are the same in every clone and only
grow: a merge is one version (what it brought in), side-branch commits are not versions.
A version is identified for good by its commit; the number is for people.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from gitmodel import git, safepath
from gitmodel.errors import UserError
from gitmodel.pointer import Pointer, is_valid_oid
from gitmodel.registry.declare import REGISTRY_FILE, Model, Registry

_RECORD, _FIELD = b"\x1e", "\x1f"
_LOG_FORMAT = "--format=%x1e%H%x1f%aI%x1f%an%x1f%ae%x1f%s"
_NUMBER_RE = re.compile(r"v?([0-9]{1,6})")
_ZERO = re.compile(r"0+")
_BLOB_RE = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")


@dataclass(frozen=True)
class File:
    """One file of a model version: a model file (``oid`` = its sha256, content in the
    model store) or a plain Git file such as a small config (``oid`` None)."""

    path: str
    oid: str | None
    size: int
    blob: str  # the Git blob: the pointer file, or the plain file's content

    def to_json(self) -> dict[str, object]:
        return {"path": self.path, "oid": self.oid, "size": self.size, "git_blob": self.blob}

    @classmethod
    def from_json(cls, data: object) -> File:
        """A file read from a record log: a ValueError unless its oid and blob are
        well-formed (they name objects we read). Its path is checked where it is used,
        against the model's declared paths (:func:`check_files`)."""
        if not isinstance(data, dict):
            raise ValueError("a file is not an object")
        path, oid, size, blob = (data.get(k) for k in ("path", "oid", "size", "git_blob"))
        if not isinstance(path, str):
            raise ValueError("a file has no path")
        if oid is not None and not (isinstance(oid, str) and is_valid_oid(oid)):
            raise ValueError(f"{path[:200]!r} has no valid oid")
        if not isinstance(blob, str) or not _BLOB_RE.fullmatch(blob):
            raise ValueError(f"{path[:200]!r} has no valid Git blob id")
        if isinstance(size, bool) or not isinstance(size, int) or size < 0:
            raise ValueError(f"{path[:200]!r} has no valid size")
        return cls(path, oid, size, blob)

    @property
    def pointer(self) -> Pointer:
        """The pointer of a model file (a ValueError for a plain Git file)."""
        if self.oid is None:
            raise ValueError(f"{self.path} is a plain Git file")
        return Pointer(self.oid, self.size)


@dataclass(frozen=True)
class Version:
    """One committed version of a model."""

    number: int
    commit: str
    date: str  # author date, strict ISO 8601
    author: str
    email: str
    message: str
    files: tuple[File, ...]

    @property
    def label(self) -> str:
        """``v3``; a candidate that is not (yet) a version of the branch is its commit."""
        return f"v{self.number}" if self.number else self.commit[:10]

    @property
    def model_files(self) -> tuple[File, ...]:
        """The files whose content is in the model store (not plain Git files)."""
        return tuple(f for f in self.files if f.oid is not None)

    def to_json(self) -> dict[str, object]:
        return {
            "version": self.number,
            "commit": self.commit,
            "date": self.date,
            "author": self.author,
            "email": self.email,
            "message": self.message,
            "files": [f.to_json() for f in self.files],
        }


def branch(repo: git.Repo, registry: Registry) -> str:
    """The branch that numbers versions: declared, else origin's default, main, master, HEAD."""
    if registry.branch:
        return registry.branch
    proc = repo.run(["symbolic-ref", "--quiet", "--short", "refs/remotes/origin/HEAD"], check=False)
    candidates = [proc.stdout.decode().strip().removeprefix("origin/"), "main", "master"]
    for name in filter(None, candidates):
        ok = repo.run(["rev-parse", "--verify", "--quiet", f"refs/heads/{name}"], check=False)
        if ok.returncode == 0:
            return name
    return "HEAD"


def versions(repo: git.Repo, registry: Registry, model: Model) -> list[Version]:
    """Every version of ``model``, oldest first (empty before its first commit); a user
    error when the declared branch does not exist."""
    ref = branch(repo, registry)
    proc = repo.run(["rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}"], check=False)
    if proc.returncode != 0 and registry.branch:
        raise UserError(
            f"the registry branch {registry.branch!r} does not exist",
            hint=f'fix "branch" in {REGISTRY_FILE}, or create or fetch that branch '
            "(see `git branch -a`)",
        )
    if proc.returncode != 0:
        return []  # no commit yet
    args = [
        "log",
        "--first-parent",
        "--diff-merges=first-parent",
        "--reverse",
        "--no-renames",
        _LOG_FORMAT,
        "--raw",
        "--no-abbrev",
        "-z",
        proc.stdout.decode().strip(),
        "--",
        *(f":(literal){path}" for path in model.paths),  # declared paths are never globs
    ]
    commits = [_parse_commit(chunk) for chunk in repo.run(args).stdout.split(_RECORD)[1:]]
    blobs = [blob for _, changes in commits for blob, _ in changes]
    described = describe_blobs(repo, blobs)
    found: list[Version] = []
    tree: dict[str, str] = {}
    for fields, changes in commits:
        for blob, path in changes:
            if _ZERO.fullmatch(blob):
                tree.pop(path, None)
            else:
                tree[path] = blob
        files = tuple(described[blob](path) for path, blob in sorted(tree.items()))
        if files and (not found or found[-1].files != files):
            date, author, email, message = fields[1:5]
            found.append(Version(len(found) + 1, fields[0], date, author, email, message, files))
    return found


def describe_blobs(repo: git.Repo, blobs: list[str]) -> dict[str, Callable[[str], File]]:
    """For each blob, how to make the :class:`File` at a path: two ``cat-file`` calls."""
    wanted = sorted({b for b in blobs if not _ZERO.fullmatch(b)})
    pointers = git.pointers_of(repo, wanted)
    sizes = {oid: size for oid, (_, size) in git.headers(repo, wanted).items()}
    made: dict[str, Callable[[str], File]] = {}
    for blob in wanted:
        pointer = pointers.get(blob)
        if pointer is not None:
            made[blob] = functools.partial(_file, blob, pointer.oid, pointer.size)
        else:
            made[blob] = functools.partial(_file, blob, None, sizes.get(blob, 0))
    return made


def _file(blob: str, oid: str | None, size: int, path: str) -> File:
    return File(path, oid, size, blob)


def _parse_commit(chunk: bytes) -> tuple[list[str], list[tuple[str, str]]]:
    """(header fields, [(new blob, path)]) of one ``log --raw -z --no-renames`` record."""
    header, _, raw = chunk.partition(b"\0")
    fields = header.decode("utf-8", "replace").strip().split(_FIELD)
    tokens = raw.split(b"\0")
    changes = []
    for i in range(0, len(tokens) - 1, 2):
        meta = tokens[i].lstrip(b"\n").decode().split()
        if len(meta) == 5 and meta[0].startswith(":"):
            changes.append((meta[3], tokens[i + 1].decode("utf-8", "surrogateescape")))
    return fields[:5], changes


def check_files(model: Model, label: str, files: tuple[File, ...], hint: str) -> tuple[File, ...]:
    """``files`` of ``model`` at ``label`` (``v3``), when every path is one Git would check
    out (:func:`gitmodel.safepath.is_valid`) and lies under one of the model's declared
    paths; else a user error naming the model, the version and the path.

    Checked before a version's files are read or written: a record log is written by
    whoever can push to the repository, and a commit's tree can hold paths (``.git``
    components) that its pathspec still matches.
    """
    for f in files:
        if not safepath.is_valid(f.path) or not model.covers(f.path):
            raise UserError(
                f"{model.name} {label} names {f.path[:200]!r}, which is not a path under "
                f"its declared paths ({', '.join(model.paths)}); refusing to use it",
                hint=hint,
            )
    return files


def pick(repo: git.Repo, found: list[Version], model: Model, what: str | None) -> Version:
    """The version ``what`` names: ``vN``/``N``, a revision, or (None) the latest."""
    if not found:
        raise UserError(
            f"{model.name} has no committed version yet",
            hint=f"commit files under {', '.join(model.paths)} (tracked by the model filter)",
        )
    if what is None:
        return found[-1]
    number = _NUMBER_RE.fullmatch(what)
    if number and (what.startswith("v") or int(number[1]) <= len(found)):
        index = int(number[1])
        if not 1 <= index <= len(found):
            raise UserError(
                f"{model.name} has no version {what}",
                hint=f"versions are v1..v{len(found)}: `git model versions {model.name}`",
            )
        return found[index - 1]
    return _at_revision(repo, found, model, what)


def files_at(repo: git.Repo, model: Model, commit: str) -> tuple[File, ...]:
    """The model's files in ``commit``, sorted by path."""
    entries = [e for e in repo.ls_tree(commit, model.paths) if model.covers(e.path)]
    described = describe_blobs(repo, [e.oid for e in entries])
    return tuple(described[e.oid](e.path) for e in sorted(entries, key=lambda e: e.path))


def candidate(repo: git.Repo, found: list[Version], model: Model, rev: str) -> Version:
    """The version ``rev`` holds, or, when it is not (yet) one of the branch (a pull
    request's head), the model at ``rev`` as an unnumbered version (``number`` 0)."""
    commit = repo.rev_parse(rev)
    files = files_at(repo, model, commit)
    for version in reversed(found):
        if version.files == files:
            return version
    if not files:
        raise UserError(f"{model.name} has no file in {rev}", hint="name another revision")
    info = git.read_commit(repo, commit)
    date = datetime.fromtimestamp(
        info.author_time, timezone(timedelta(minutes=info.author_offset))
    ).isoformat()
    subject = info.message.strip().splitlines()[0] if info.message.strip() else ""
    return Version(0, commit, date, info.author_name, info.author_email, subject, files)


def _at_revision(repo: git.Repo, found: list[Version], model: Model, rev: str) -> Version:
    files = files_at(repo, model, repo.rev_parse(rev))
    for version in reversed(found):
        if version.files == files:
            return version
    raise UserError(
        f"{model.name} at {rev} is not a version on the registry branch",
        hint="merge it into the branch that numbers versions first; see `git model versions`",
    )
