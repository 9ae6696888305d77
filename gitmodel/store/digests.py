"""Tensor digest sidecars: small JSON files next to the objects they describe.

``<model dir>/digests/ab/cd/<oid>.json``, written atomically (temp file, then
``os.replace``). They are caches: derived from the object, safe to delete. (Earlier
versions kept them under ``index/``; that directory is no longer read, and the digests
are computed again on first use.)
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any

from gitmodel.pointer import is_valid_oid


class DigestStore:
    """JSON documents keyed by object id under ``model_dir/digests``."""

    def __init__(self, model_dir: Path) -> None:
        self.root = model_dir / "digests"

    def path(self, oid: str) -> Path:
        if not is_valid_oid(oid):
            raise ValueError(f"invalid oid {oid[:80]!r}")
        return self.root / oid[0:2] / oid[2:4] / f"{oid}.json"

    def read(self, oid: str) -> dict[str, Any] | None:
        """The document for ``oid``, or None when absent or unreadable."""
        try:
            data = json.loads(self.path(oid).read_bytes())
        except (OSError, ValueError):
            return None
        return data if isinstance(data, dict) else None

    def write(self, oid: str, document: dict[str, Any]) -> None:
        final = self.path(oid)
        final.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=final.parent, prefix=f".{os.getpid()}-", suffix=".tmp")
        try:
            with open(fd, "w", encoding="utf-8") as out:
                json.dump(document, out, separators=(",", ":"))
            os.chmod(tmp, 0o444)  # like the objects: never edited in place
            os.replace(tmp, final)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise
