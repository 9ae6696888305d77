"""A batch of transfers on a pool of workers: every failure collected, none stopping the rest.

How many workers by default is :func:`gitmodel.remote.default_jobs`, kept in the package
itself so that the filter process can ask without loading this module."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TypeVar

from gitmodel.pointer import Pointer

P = TypeVar("P", bound=Pointer)


def each(
    pointers: Iterable[P], work: Callable[[P], object], jobs: int, done: Callable[[P], None]
) -> tuple[dict[str, Exception], int]:
    """Run ``work`` on every pointer, calling ``done`` after each success. Returns the
    failures by oid and the sum of what ``work`` returned as numbers (bytes moved)."""
    from concurrent.futures import ThreadPoolExecutor, as_completed  # not at filter start-up

    from gitmodel import arenas
    from gitmodel.errors import GitModelError

    arenas.settle()

    failed: dict[str, Exception] = {}
    total = 0
    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        futures = {pool.submit(work, p): p for p in pointers}
        for future in as_completed(futures):
            pointer = futures[future]
            try:
                result = future.result()
            except (GitModelError, OSError, ValueError) as exc:
                failed[pointer.oid] = exc
            else:
                total += result if isinstance(result, int) else 0
                done(pointer)
    return failed, total
