"""``git model cache``: what reads without a clone keep, pruning it, and forgetting one
repository."""

from __future__ import annotations

import json

from gitmodel.errors import UserError
from gitmodel.reader import cache
from gitmodel.reader.source import cache_of, cache_root
from gitmodel.sizes import format_size


def info(as_json: bool) -> int:
    """Print the cache's folder and what each part holds."""
    found = cache.usage(cache_root())
    if as_json:
        parts = {part: {"items": count, "bytes": size}
                 for part, (count, size) in found.parts.items()}  # fmt: skip
        print(json.dumps({"path": str(found.root), "bytes": found.size, "parts": parts},
                         indent=2))  # fmt: skip
        return 0
    print(f"cache      {found.root}")
    names = {"repos": "repository caches", "chunks": "chunks", "manifests": "manifests",
             "objects": "whole objects"}  # fmt: skip
    for part, (count, size) in found.parts.items():
        print(f"{part:10} {format_size(size):>10}  {count} {names[part]}")
    print(f"{'total':10} {format_size(found.size):>10}")
    return 0


def prune(older_than: float | None, max_size: int | None, everything: bool,
          dry_run: bool) -> int:  # fmt: skip
    """Remove what the cache holds that was not used lately, or beyond a size."""
    root = cache_root()
    if everything:
        older_than, max_size = None, 0
    pruned = cache.prune(root, older_than, max_size, dry_run)
    verb = "would remove" if dry_run else "removed"
    print(f"{verb} {len(pruned.removed)} item(s), {format_size(pruned.size)}, from {root}; "
          f"{format_size(pruned.left)} left")  # fmt: skip
    if pruned.busy:
        print(f"{pruned.busy} repository cache(s) in use were left alone")
    return 0


def forget(url: str) -> int:
    """Remove the repository cache of URL: its trees and pointers, and the registry log
    read from it, so the next read takes that log as it then is (one rewritten on
    purpose by its owner)."""
    shown, folder = cache_of(url)
    removed = cache.forget(folder)
    if removed is False:
        raise UserError(f"the cache of {shown} is in use by a read",
                        hint="run it again once that read is done")  # fmt: skip
    verb = "forgot" if removed else "nothing was cached for"
    print(f"{verb} {shown}")
    return 0
