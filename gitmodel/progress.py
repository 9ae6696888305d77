"""Progress of long transfers on a terminal: objects, bytes, rate and time left.

One line on stderr, rewritten in place, as git-lfs prints it::

    Uploading model objects:  42% (1/3), 512.0 MiB of 1.2 GiB | 45.0 MiB/s, 15 s left
    Uploading model objects: 100% (3/3), 1.2 GiB | 45.0 MiB/s, done.

Shown only when stderr is a terminal, unless ``GIT_MODEL_PROGRESS`` says otherwise
(``1``: always, ``0``: never); ``-q`` turns it off. Byte counts come from inside a
transfer, from any thread (a range read, a part written, a chunk checked), through
:meth:`Progress.add`, a callback that takes a byte count; a negative count takes back
bytes of an attempt that is tried again. The line is redrawn at most ten times a second.

Loaded only once something is moved: the filter process starts without it.
"""

from __future__ import annotations

import os
import sys
import time
from _thread import allocate_lock  # threading.Lock, without loading threading
from collections.abc import Callable

from gitmodel.sizes import format_size

TYPE_CHECKING = False  # typing's flag without loading typing: the filter process starts often
if TYPE_CHECKING:
    from types import TracebackType
    from typing import TextIO

ByteCount = Callable[[int], None]  # what a transfer calls with each byte count

ENV = "GIT_MODEL_PROGRESS"
INTERVAL = 0.1  # seconds between two redraws, at least
ETA_AFTER = 1.0  # seconds of transfer before a time left is guessed
_ON = ("1", "true", "yes", "on")
_OFF = ("0", "false", "no", "off")


def format_duration(seconds: float) -> str:
    whole = int(seconds + 0.5)
    if whole < 60:
        return f"{whole} s"
    if whole < 3600:
        return f"{whole // 60} min {whole % 60:02d} s"
    return f"{whole // 3600} h {whole // 60 % 60:02d} min"


def wanted(quiet: bool = False, stream: TextIO | None = None) -> bool:
    """Whether to show progress: never with ``quiet``; else as ``GIT_MODEL_PROGRESS``
    says, and without it only when ``stream`` (stderr) is a terminal."""
    if quiet:
        return False
    setting = os.environ.get(ENV, "").strip().lower()
    if setting in _ON or setting in _OFF:
        return setting in _ON
    stream = stream or sys.stderr
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # no stderr, or a closed one
        return False


class Progress:
    """Counts objects and bytes of one transfer, and draws its line when shown.

    ``objects`` is None where counting objects says nothing (one file being added);
    ``size`` 0 where the total is not known (then no percentage or time left). Totals
    can grow with :meth:`expect` (a checkout learns of objects as Git asks for them).
    """

    def __init__(self, title: str, objects: int | None = None, size: int = 0, *,
                 quiet: bool = False, shown: bool | None = None, stream: TextIO | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:  # fmt: skip
        self.title = title
        self.objects = objects
        self.size = size
        self.done_objects = 0
        self.done_bytes = 0
        self.stream = stream
        self.shown = wanted(quiet, stream) if shown is None else shown
        self._clock = clock
        self._started = clock()
        self._drawn = -INTERVAL  # when the line was last drawn
        self._width = 0  # of the line last drawn, to blank what a shorter one leaves
        self._finished = False
        self._lock = allocate_lock()

    def expect(self, objects: int, size: int) -> None:
        """More to move than was known at the start."""
        with self._lock:
            self.objects = (self.objects or 0) + objects
            self.size += size

    def add(self, count: int) -> None:
        """``count`` more bytes moved (negative: taken back, for an attempt run again)."""
        with self._lock:
            self.done_bytes = max(0, self.done_bytes + count)
            self._draw_if_due()

    def object_done(self, *_: object) -> None:
        """One more object complete (takes and ignores what a ``done`` callback gets)."""
        with self._lock:
            self.done_objects += 1
            self._draw_if_due()

    def finish(self) -> None:
        """The last line, ending in ``done.`` when everything arrived; a newline."""
        with self._lock:
            if self._finished:
                return
            self._finished = True
            if self.shown and (self._width or self.done_bytes or self.done_objects):
                self._draw(final=True)

    def _draw_if_due(self) -> None:
        if self.shown and not self._finished and self._clock() - self._drawn >= INTERVAL:
            self._draw()

    def _draw(self, final: bool = False) -> None:
        now = self._clock()
        self._drawn = now
        text = self.line(now - self._started, final)
        pad = " " * max(0, self._width - len(text))
        self._width = len(text)
        stream = self.stream or sys.stderr
        try:
            stream.write(f"\r{text}{pad}" + ("\n" if final else ""))
            stream.flush()
        except (OSError, ValueError):  # the terminal went away: stop drawing
            self.shown = False

    def line(self, elapsed: float, final: bool = False) -> str:
        """The progress line after ``elapsed`` seconds."""
        complete = final and self.objects is not None and self.done_objects >= self.objects
        complete = complete or (final and self.objects is None and self.done_bytes >= self.size)
        counts = [self._percent(complete)]
        if self.objects is not None:
            counts.append(f"({self.done_objects}/{self.objects})")
        moved = format_size(self.done_bytes)
        if self.size and not complete:
            moved += f" of {format_size(self.size)}"
        shown = " ".join(c for c in counts if c)
        parts = [f"{self.title}: {shown}, {moved}" if shown else f"{self.title}: {moved}"]
        rate = self.done_bytes / elapsed if elapsed > 0 else 0.0
        if rate:
            parts.append(f" | {format_size(int(rate))}/s")
        if complete:
            parts.append(", done.")
        elif not final and rate and self.size > self.done_bytes and elapsed >= ETA_AFTER:
            parts.append(f", {format_duration((self.size - self.done_bytes) / rate)} left")
        return "".join(parts)

    def _percent(self, complete: bool) -> str:
        if complete:
            return "100%"
        if self.size:
            share = self.done_bytes / self.size
        elif self.objects:
            share = self.done_objects / self.objects
        else:
            return ""
        return f"{min(99, int(share * 100)):3d}%"  # 100% only once it is all there


class Attempt:
    """A byte count for one try of a transfer: passes counts on to ``on_bytes`` (if
    any), and takes them back when the try fails, since the next one counts them again."""

    def __init__(self, on_bytes: ByteCount | None) -> None:
        self.on_bytes = on_bytes
        self.count = 0

    def __call__(self, count: int) -> None:
        if self.on_bytes is not None:
            self.count += count
            self.on_bytes(count)

    def __enter__(self) -> Attempt:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:  # fmt: skip
        if kind is not None and self.count and self.on_bytes is not None:
            self.on_bytes(-self.count)
