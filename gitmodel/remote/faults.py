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

``GIT_MODEL_TEST_COUNT_FILE=PATH`` counts instead: every storage call of every
process appends a line ``<call> <bytes sent> <bytes received>`` to ``PATH``
(how ``benchmarks/bench_dedup.py`` counts requests and bytes on the wire).
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
COUNT_ENV = "GIT_MODEL_TEST_COUNT_FILE"
_CALLS = frozenset({"exists", "ls", "cat_file", "pipe_file", "open", "get_file", "makedirs", "rm"})
_COUNTED = _CALLS | {"find", "mv", "rm_file", "info"}


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


class CountingFileSystem:
    """Wraps an fsspec filesystem; appends one line per storage call to ``log``.

    Bytes sent are those of ``pipe_file``; bytes received those ``cat_file``
    returns and ``get_file`` writes. A file from ``open`` counts as one call.
    """

    def __init__(self, fs: Any, log: str) -> None:
        self._fs, self._log = fs, log

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._fs, name)
        if name not in _COUNTED or not callable(attr):
            return attr

        def counted(*args: Any, **kwargs: Any) -> Any:
            result = attr(*args, **kwargs)
            sent = len(args[1]) if name == "pipe_file" and len(args) > 1 else 0
            received = len(result) if name == "cat_file" else 0
            if name == "get_file" and len(args) > 1:
                received = os.path.getsize(args[1])
            self._append(f"{name} {sent} {received}\n")
            return result

        return counted

    def _append(self, line: str) -> None:
        # one small O_APPEND write per line: whole lines, even from many processes
        fd = os.open(self._log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, line.encode())
        finally:
            os.close(fd)


def wrap(fs: Any) -> Any:
    """``fs`` itself, or wrapped when :data:`ENV` asks for faults and/or
    :data:`COUNT_ENV` for counting (a call that raises is not counted)."""
    faults = from_environment()
    wrapped = fs if faults is None else FaultyFileSystem(fs, faults)
    log = os.environ.get(COUNT_ENV, "").strip()
    return CountingFileSystem(wrapped, log) if log else wrapped
