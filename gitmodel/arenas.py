"""One malloc arena for the threads of a ``git-model`` process that moves many objects.

glibc gives a thread that allocates while another holds the main arena an arena of its
own (up to eight per core), and each arena keeps what its threads freed for them alone.
A transfer runs a backend's event loop, upload and download workers and hashing
threads, so its freed buffers and small objects were spread over several arenas: a push
of 100,000 files to S3 peaked 12 MiB higher with them than with one (same time).

Only the ``git-model`` executable asks for this (``entry.py``, :func:`want_one`); a
program that imports gitmodel keeps its allocator as it set it. The setting is made by
:func:`settle`, called where a remote is about to start its threads, and costs a
``ctypes`` import (2 ms) that a filter process serving only local files never pays.
Elsewhere than glibc it does nothing.
"""

from __future__ import annotations

import sys

M_ARENA_MAX = -8  # glibc's mallopt parameter number
ARENAS = 1

_wanted = False
_settled = False


def want_one() -> None:
    """This process is git-model's own: :func:`settle` may limit its arenas."""
    global _wanted
    _wanted = True


def settle() -> None:
    """Limit the process to :data:`ARENAS` arena(s), once, if :func:`want_one` was called.
    glibc reads the limit when it next needs an arena: threads that have one keep it,
    threads started later share those already made."""
    global _settled
    if not _wanted or _settled or not sys.platform.startswith("linux"):
        return
    _settled = True
    import ctypes

    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (AttributeError, OSError):  # not glibc (musl has no mallopt)
        return
    mallopt(M_ARENA_MAX, ARENAS)
