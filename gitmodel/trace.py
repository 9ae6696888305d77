"""``GIT_MODEL_TRACE=1``: debugging lines on stderr, like ``GIT_TRACE``."""

from __future__ import annotations

import os
import sys
import time

ENABLED = os.environ.get("GIT_MODEL_TRACE", "").lower() in ("1", "true", "2")


def trace(message: str) -> None:
    if ENABLED:
        now = time.time()
        stamp = time.strftime("%H:%M:%S", time.localtime(now)) + f".{int(now % 1 * 1000):03d}"
        print(f"{stamp} gitmodel[{os.getpid()}]: {message}", file=sys.stderr, flush=True)
