"""Fault injection for remote stores, to prove that transfers survive a bad network.

Set ``GIT_MODEL_TEST_FAULTS`` (like Git's ``GIT_TEST_*`` knobs) and every remote
store opened by that process goes through :class:`FaultyFileSystem`::

    GIT_MODEL_TEST_FAULTS="fail=0.2,truncate=0.05,delay=0.01,seed=7"

- ``fail``: share of calls that raise ``ConnectionError`` (a write may have sent
  part of its bytes first, as a dropped connection would);
- ``truncate``: share of reads whose bytes come back short;
- ``delay``: seconds added before every call;
- ``seed``: makes a run repeatable.

Only transient faults are injected; the store's retries must absorb them. With
``fail=1`` every call fails, which is how a permanently broken remote looks.
"""

from __future__ import annotations

import os
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

ENV = "GIT_MODEL_TEST_FAULTS"
_CALLS = frozenset({"exists", "ls", "cat_file", "pipe_file", "open", "get_file", "makedirs", "rm"})


@dataclass(frozen=True)
class Faults:
    fail: float = 0.0
    truncate: float = 0.0
    delay: float = 0.0
    seed: int | None = None

    @classmethod
    def parse(cls, spec: str) -> Faults:
        """``key=value`` pairs separated by commas; unknown keys are an error."""
        values: dict[str, Any] = {}
        for item in filter(None, (part.strip() for part in spec.split(","))):
            key, _, value = item.partition("=")
            if key not in ("fail", "truncate", "delay", "seed"):
                raise ValueError(f"{ENV}: unknown fault {key!r}")
            values[key] = int(value) if key == "seed" else float(value)
        return cls(**values)


def from_environment() -> Faults | None:
    spec = os.environ.get(ENV, "").strip()
    return Faults.parse(spec) if spec else None


class FaultyFileSystem:
    """Wraps an fsspec filesystem; the methods the remote store uses misbehave."""

    def __init__(self, fs: Any, faults: Faults) -> None:
        self._fs, self._faults = fs, faults
        self._random = random.Random(faults.seed)
        self._lock = threading.Lock()

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._fs, name)
        if name not in _CALLS or not callable(attr):
            return attr
        return self._wrap(name, attr)

    def _roll(self, share: float) -> bool:
        with self._lock:
            return self._random.random() < share

    def _wrap(self, name: str, call: Callable[..., Any]) -> Callable[..., Any]:
        def faulty(*args: Any, **kwargs: Any) -> Any:
            if self._faults.delay:
                time.sleep(self._faults.delay)
            if self._roll(self._faults.fail):
                if name == "pipe_file" and self._roll(0.5):
                    call(args[0], args[1][: len(args[1]) // 2])  # dropped mid-upload
                raise ConnectionError(f"injected fault in {name}")
            result = call(*args, **kwargs)
            if name == "get_file" and self._roll(self._faults.truncate):
                _truncate_file(args[1])
            if name == "cat_file" and self._roll(self._faults.truncate):
                return result[: len(result) // 2]
            return result

        return faulty


def _truncate_file(path: str) -> None:
    size = os.path.getsize(path)
    with open(path, "r+b") as f:
        f.truncate(size // 2)


def wrap(fs: Any) -> Any:
    """``fs`` itself, or wrapped when :data:`ENV` asks for faults."""
    faults = from_environment()
    return fs if faults is None else FaultyFileSystem(fs, faults)
