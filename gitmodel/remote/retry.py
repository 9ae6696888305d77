"""How every model remote retries, like git-lfs: up to ``model.retries`` tries, waiting
``model.retryDelay`` doubling to 10 s (with jitter, so clients do not retry in step),
and none that would start more than ``model.retryTimeout`` seconds after the first
failure. A remote that stayed down that long counts as down for the rest of the
command: later calls fail at once instead of each waiting again.

Each remote says what a failure means (:class:`Verdict`): whether another try may mend
it, how long to wait (a host's ``Retry-After``), what to do first (reconnect), and the
error to raise when the tries are spent.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from gitmodel.remote.errors import RemoteError

MAX_DELAY = 10.0
T = TypeVar("T")


@dataclass(frozen=True)
class Verdict:
    """A failure worth another try."""

    give_up: Callable[[int, float], RemoteError]  # (tries made, seconds spent) -> the error
    after: float | None = None  # the wait the remote asked for, instead of the backoff
    before_retry: Callable[[], None] | None = None
    marks_down: bool = True  # False for one object's fault (a short read), not the remote's


class Retrier:
    def __init__(self, tries: int, first_delay: float, retry_timeout: float,
                 sleep: Callable[[float], None] = time.sleep) -> None:  # fmt: skip
        self.tries = max(1, tries)
        self.first_delay = first_delay
        self.retry_timeout = retry_timeout
        self.sleep = sleep
        self.down: RemoteError | None = None

    def run(self, call: Callable[[], T], judge: Callable[[Exception], Verdict | None]) -> T:
        """``call()``, tried again while ``judge`` says a failure may pass (it returns
        None for one that will not, which is raised as it is)."""
        if self.down is not None:  # a new exception: threads may raise it at once
            raise RemoteError(str(self.down), hint=self.down.hint) from self.down
        started = time.monotonic()
        deadline: float | None = None
        for attempt in range(self.tries):
            try:
                return call()
            except Exception as exc:
                verdict = judge(exc)
                if verdict is None:
                    raise
                delay = verdict.after if verdict.after is not None else self.delay(attempt)
                deadline = deadline or time.monotonic() + self.retry_timeout
                if attempt == self.tries - 1 or time.monotonic() + delay > deadline:
                    error = verdict.give_up(attempt + 1, time.monotonic() - started)
                    if verdict.marks_down:
                        self.down = error
                    raise error from exc
                if verdict.before_retry is not None:
                    verdict.before_retry()
                self.sleep(delay)
        raise AssertionError("unreachable")

    def delay(self, attempt: int) -> float:
        """The wait before try ``attempt + 2``: the first delay, doubling, with jitter."""
        base = min(self.first_delay * 2.0**attempt, MAX_DELAY)
        return base * (0.5 + random.random() / 2)
