"""Checks for the pre-commit framework (``.pre-commit-hooks.yaml``) and Git hooks.

``check-large`` blocks files over a size that the model filter does not track,
naming the ``git model track`` that fixes it; ``check-pointers`` checks that
staged pointers are canonical and their objects are in the local store, and
that files the filter tracks were not staged as full Git blobs. Both take the
file names pre-commit passes and print one line per problem. ``check-provenance``
(a pre-push hook) fails for model versions being pushed without recorded lineage.
"""

from __future__ import annotations

import os
import sys
from fnmatch import fnmatch
from pathlib import Path

from gitmodel import git
from gitmodel.checks import Problem, blob_problem
from gitmodel.sizes import format_size
from gitmodel.workspace import open_repo

DEFAULT_MAX_SIZE = 10 << 20


def check_large(files: list[str], max_size: int = DEFAULT_MAX_SIZE) -> int:
    """Exit 1 when a file over ``max_size`` is not routed through the model filter."""
    repo, _ = open_repo()
    paths = _repo_paths(repo, files)
    filters = repo.check_attr("filter", list(paths))
    too_large = []
    for path, full in paths.items():
        if filters.get(path) == "model" or not full.is_file() or full.is_symlink():
            continue
        size = full.stat().st_size
        if size > max_size:
            too_large.append(path)
            print(f"{path}: {format_size(size)}, over {format_size(max_size)} and not tracked "
                  f"by the model filter; run: git model track {_suggest(path)!r} && "
                  f"git add .gitattributes {path}")  # fmt: skip
    return 1 if too_large else 0


def check_pointers(files: list[str]) -> int:
    """Exit 1 when a staged pointer is broken or its object is not in the local store."""
    repo, store = open_repo()
    paths = _repo_paths(repo, files)
    entries = [e for e in repo.ls_files(list(paths)) if e.mode & 0o170000 == 0o100000]
    filters = repo.check_attr("filter", [e.path for e in entries])
    problems: list[Problem] = []
    for entry in entries:
        problem = blob_problem(repo, entry, filters.get(entry.path) == "model", "staged")
        if problem is not None:
            problems.append(problem)
            continue
        pointer = git.read_pointer(repo, entry.oid)
        if pointer is not None and not store.has(pointer.oid):
            problems.append(Problem(
                f"{entry.path} (staged): object {pointer.oid} is not in the local store",
                f"`git model fetch` it, or `git add {entry.path}` again from its content",
            ))  # fmt: skip
    for problem in problems:
        print(problem)
    return 1 if problems else 0


def _repo_paths(repo: git.Repo, files: list[str]) -> dict[str, Path]:
    """Repository-relative POSIX paths of ``files`` (given relative to the current directory)."""
    top = repo.top.resolve()
    paths = {}
    for name in files:
        full = Path(os.path.abspath(name))
        try:
            rel = full.relative_to(top)
        except ValueError:
            print(f"gitmodel: skipping {name}: outside the repository", file=sys.stderr)
            continue
        paths[rel.as_posix()] = full
    return paths


def _suggest(path: str) -> str:
    """The pattern to track: every file with this extension, or just this file."""
    name = path.rsplit("/", 1)[-1]
    suffix = name.rsplit(".", 1)[-1] if "." in name.lstrip(".") else ""
    return f"*.{suffix}" if suffix else path


DEFAULT_PROVENANCE_GLOBS = ("*.safetensors", "*.gguf", "*.onnx", "*.pt", "*.pth", "*.ckpt")


def check_provenance(include: list[str], from_ref: str = "", to_ref: str = "") -> int:
    """Fail for model versions being pushed (``from_ref..to_ref``; pre-commit passes them
    as PRE_COMMIT_FROM_REF / PRE_COMMIT_TO_REF) that have no recorded provenance."""
    from gitmodel.lineage import store as lineage_store

    repo, _ = open_repo()
    globs = include or list(DEFAULT_PROVENANCE_GLOBS)
    to_ref = to_ref or os.environ.get("PRE_COMMIT_TO_REF") or "HEAD"
    new = repo.rev_parse(to_ref)
    old = from_ref or os.environ.get("PRE_COMMIT_FROM_REF", "")
    base = repo.rev_parse(old) if old.strip("0") else _first_parent_or_empty(repo, new)
    produced = lineage_store.state(repo).get("produced", {})
    missing = []
    for entry in git.diff_raw([base, new], cwd=repo.top):
        name = entry.path.rsplit("/", 1)[-1]
        if not entry.new_blob or not any(fnmatch(entry.path, g) or fnmatch(name, g) for g in globs):
            continue
        pointer = git.read_pointer(repo, entry.new_blob)
        if pointer is not None and pointer.oid not in produced:
            missing.append(f"{entry.path}: version {pointer.oid[:10]} has no recorded provenance")
    for line in missing:
        print(line)
    if missing:
        print("hint: record it with `git model record REV --base PATH[@REV] --data PATH[@REV]`,"
              " or commit with `git model commit`", file=sys.stderr)  # fmt: skip
    return 1 if missing else 0


def _first_parent_or_empty(repo: git.Repo, commit: str) -> str:
    proc = repo.run(
        ["rev-parse", "--verify", "--quiet", "--end-of-options", f"{commit}^"], check=False
    )
    if proc.returncode == 0:
        return proc.stdout.decode().strip()
    return repo.run(["hash-object", "-t", "tree", "--stdin"], input=b"").stdout.decode().strip()
