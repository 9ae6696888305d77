"""``git model inspect PATH[@REV]``: format, metadata, tensors and parameter counts."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path, PurePosixPath

from gitmodel import git
from gitmodel.errors import UserError
from gitmodel.formats import read_model
from gitmodel.formats.diff import FileContent
from gitmodel.formats.report import describe, inspect_json, inspect_text
from gitmodel.formats.shards import is_index, read_sharded, shard_tensors
from gitmodel.resolver import Resolver
from gitmodel.sides import Side
from gitmodel.specs import PathSpec, unknown_rev_hint
from gitmodel.text import printable
from gitmodel.workspace import open_repo


def inspect(spec: PathSpec, as_json: bool = False) -> int:
    """Describe a model file in the worktree, or as of a revision (``PATH@REV``, which
    needs no worktree: a bare repository reads the blob and the object of its store)."""
    repo, store = open_repo()
    store.tmp_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=store.tmp_dir) as tmp:
        resolver = Resolver(repo, store, Path(tmp))
        if is_index(spec.path):
            return _inspect_sharded(repo, resolver, spec, as_json)
        version = _version(repo, resolver, spec)
        with open(version.file, "rb") as f:
            info = read_model(f, spec.path)
    if info is None:
        _print_unknown(version, as_json)
    elif as_json:
        print(json.dumps(inspect_json(info, version.size, version.oid), indent=2, default=str))
    else:
        print("\n".join(inspect_text(info, version.size)))
    return 0


def _version(repo: git.Repo, resolver: Resolver, spec: PathSpec) -> FileContent:
    path, rev = spec.path, spec.rev
    if rev is None:
        if repo.worktree is None:
            raise UserError(
                f"{printable(path)}: a bare repository has no worktree file to read",
                hint=unknown_rev_hint(spec)
                or f"name a revision, as in git model inspect {printable(path)}@HEAD",
            )
        file = Path(path)
        if not file.is_file():
            hint = unknown_rev_hint(spec) or "name a file, or PATH@REV for history"
            raise UserError(f"{path} is not a file", hint=hint)
        return resolver.file(file, path)
    top_path = _tree_path(repo, path)
    entries = [e for e in repo.ls_tree(repo.rev_parse(rev), [top_path]) if e.path == top_path]
    if not entries:
        raise UserError(f"{path} is not in {rev}", hint=f"see `git ls-tree -r {rev}`")
    return resolver.blob(entries[0].oid, top_path)


def _tree_path(repo: git.Repo, path: str) -> str:
    """Where ``path`` lies in a commit's tree: from the current directory in a worktree;
    from the top in a bare repository, which has no directory inside the tree."""
    if repo.worktree is not None:
        return Path(os.path.relpath(Path.cwd() / path, repo.top)).as_posix()
    parts = [part for part in PurePosixPath(path).parts if part != "."]
    if path.startswith("/") or ".." in parts or not parts:
        raise UserError(
            f"{printable(path)} is not a path inside the repository",
            hint="in a bare repository, name a file from the top of the tree, as in "
            "git model inspect models/model.safetensors@HEAD",
        )
    return "/".join(parts)


def _inspect_sharded(repo: git.Repo, resolver: Resolver, spec: PathSpec, as_json: bool) -> int:
    """A sharded checkpoint as one model: every tensor of every shard, and its shard."""
    index = _version(repo, resolver, spec)
    top_path = _tree_path(repo, spec.path)
    side = Side(repo, resolver, repo.rev_parse(spec.rev) if spec.rev else None, untracked=True)
    model = read_sharded(top_path, index, side.content)
    info = model.info
    if as_json:
        out = inspect_json(info, model.size, None)
        out["shards"] = {p: {"oid": c.oid, "size": c.size} for p, c in model.shards.items()}
        for tensor in out["tensors"]:
            tensor["shard"], tensor["offset"] = model.where[tensor["name"]], None
        print(json.dumps(out, indent=2, default=str))
        return 0
    lines = inspect_text(info, model.size)
    at = lines.index("tensors")
    shards = [f"  {printable(p)}  {c.size:,} B" for p, c in model.shards.items()]
    tensors = [f"  {printable(t.name)}  {describe(t)}  ({printable(shard)})"
               for shard, t in shard_tensors(model)]  # fmt: skip
    print("\n".join([*lines[:at], f"shards {len(model.shards)}", *shards, "tensors", *tensors]))
    return 0


def _print_unknown(version: FileContent, as_json: bool) -> None:
    if as_json:
        print(json.dumps({"format": None, "oid": version.oid, "size": version.size}, indent=2))
        return
    print("format unknown (not safetensors, GGUF, NumPy or a PyTorch checkpoint)")
    print(f"size {version.size:,} B")
    if version.oid:
        print(f"oid sha256:{version.oid}")
