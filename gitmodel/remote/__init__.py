"""Model remotes: where a Git remote's model bytes go, and how they get there.

- ``config``: which model remote a Git remote has, and its settings (retries,
  timeouts, chunking, encryption key), all checked;
- ``backends``: what each fsspec backend needs to fail fast, clearly and quietly;
- ``store``: :class:`~gitmodel.remote.store.RemoteStore`, the remote's keys, layout
  file, listings and bounded, retried reads and writes;
- ``layouts``: the one place that decides how an object is stored there, for both
  directions: ``whole`` (layout 1) or ``chunked`` (layout 2, with ``trust``);
- ``batches``: which files a remote's manifest batches hold (layout 3), cached;
- ``bulk``: many small chunked objects fetched with a few ranged reads;
- ``transfer``: what to send or fetch, in batches (``workers``), with progress;
- ``lfs``: a Git LFS host's Batch API and locking API, as a third layout;
- ``retry``: the one retry policy every remote uses;
- ``faults``: fault injection and request counting for tests and benchmarks.

Importing this package loads none of them, and :func:`default_jobs` is here so that
the filter process, which rarely needs the remote code, can ask without loading any.
"""

import os

MAX_DEFAULT_JOBS = 8


def default_jobs() -> int:
    """Transfers wait on the network more than the CPU: a few per core, at most 8."""
    return min(MAX_DEFAULT_JOBS, 4 * (os.cpu_count() or 1))
