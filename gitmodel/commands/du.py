"""``git model du``: how much the remote stores against what its objects add up to."""

from __future__ import annotations

import json

from gitmodel.remote.config import remote_for
from gitmodel.sizes import format_size
from gitmodel.workspace import open_repo


def du(remote_name: str | None, as_json: bool) -> int:
    """Print the remote's logical bytes, stored bytes and dedup ratio."""
    repo, _ = open_repo()
    model_remote = remote_for(repo, repo.settings(), remote_name)
    remote = model_remote.open_store("`git model du`")
    remote.check_layout()
    usage = remote.usage()
    ratio = usage.logical / usage.stored if usage.stored else 0.0
    if as_json:
        document = {
            "remote": remote.display,
            "objects": usage.objects,
            "logical_bytes": usage.logical,
            "stored_bytes": usage.stored,
            "pack_bytes": usage.pack_bytes,
            "packs": usage.packs,
            "whole_object_bytes": usage.whole_bytes,
            "metadata_bytes": usage.metadata_bytes,
            "dedup_ratio": round(ratio, 4),
        }
        print(json.dumps(document, indent=2))
        return 0
    print(f"remote       {remote.display}")
    print(f"objects      {usage.objects}")
    print(f"logical      {format_size(usage.logical)} (stored whole, as git-lfs would)")
    print(f"stored       {format_size(usage.stored)} ({usage.packs} pack(s) "
          f"{format_size(usage.pack_bytes)}, whole objects {format_size(usage.whole_bytes)}, "
          f"manifests and indexes {format_size(usage.metadata_bytes)})")  # fmt: skip
    if usage.logical:
        print(f"dedup ratio  {ratio:.2f}x ({savings(usage.logical, usage.stored)})")
    else:
        print("dedup ratio  - (no objects yet)")
    return 0


def savings(logical: int, stored: int) -> str:
    """What dedup saved, said without a sign: manifests and indexes can make a store
    with nothing to share slightly larger than its objects, which is no saving, not a
    negative one (``-0%``)."""
    if stored >= logical:
        if stored == logical:
            return "nothing saved"
        return f"nothing saved; {format_size(stored - logical)} more than the objects"
    saved = (logical - stored) * 100 // logical  # rounded down: never claims 100%
    return f"{saved}% saved" if saved else "under 1% saved"
