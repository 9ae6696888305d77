"""Where model bytes live: the local object store, and later remote stores."""

import os

# How often a remote call is tried, and the first pause between tries (it doubles).
# Here rather than in ``store.remote`` so that naming a remote does not load the
# remote code, which the filter process at every checkout rarely needs.
RETRY_TRIES = 8
RETRY_FIRST_DELAY = 0.25
RETRY_TIMEOUT = 60.0  # no retry starts later than this after a request first failed
MAX_DEFAULT_JOBS = 8


def default_jobs() -> int:
    """Transfers wait on the network more than the CPU: a few per core, at most 8."""
    return min(MAX_DEFAULT_JOBS, 4 * (os.cpu_count() or 1))
