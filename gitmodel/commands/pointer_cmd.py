"""``git model pointer FILE``: show the pointer for a file, or check a pointer file."""

from __future__ import annotations

import sys
from pathlib import Path

from gitmodel import pointer as ptr
from gitmodel.errors import PointerError, UserError
from gitmodel.store.local import hash_file
from gitmodel.workspace import open_repo


def show_pointer(path: str, check: bool = False) -> int:
    """Print the pointer that stands for ``path``; with ``check``, require ``path`` to be one."""
    file = Path(path)
    if not file.is_file():
        raise UserError(f"{path}: no such file", hint="name a file in the worktree")
    with open(file, "rb") as f:
        head = f.read(ptr.POINTER_MAX_SIZE)
    if ptr.looks_like_pointer(head) or check:
        try:
            pointer = ptr.parse(head)
        except PointerError as exc:
            raise UserError(
                f"{path} is not a valid pointer: {exc}",
                hint="a pointer is exactly the three canonical lines, LF-terminated",
            ) from exc
        _status(pointer)
        print(f"{path} is a valid pointer", file=sys.stderr)
        sys.stdout.write(pointer.encode().decode())
        return 0
    pointer = ptr.Pointer(*hash_file(file))
    print(f"Pointer for {path} ({pointer.size} bytes):", file=sys.stderr)
    sys.stdout.write(pointer.encode().decode())
    return 0


def _status(pointer: ptr.Pointer) -> None:
    try:
        _, store = open_repo()
    except UserError:
        return
    where = "present in" if store.has(pointer.oid) else "missing from"
    print(f"object {pointer.oid[:12]} is {where} the local store", file=sys.stderr)
