#!/usr/bin/env python3
"""A Git filter process that throws away what Git sends it: ``bench_core`` times
``git add`` through it to measure Git's own part of an add (reading the file and
sending it down the pipe), which every filter, gitmodel's and git-lfs's alike, waits
for. The content is drained by ``splice`` to /dev/null where the system has it, so this
process copies nothing; every clean answers the same one-line text."""

from __future__ import annotations

import os
import sys

ANSWER = b"discarded\n"
NULL = os.open(os.devnull, os.O_WRONLY)


def read_exact(size: int) -> bytes:
    data = b""
    while len(data) < size:
        more = os.read(0, size - len(data))
        if not more:
            sys.exit(0)  # Git closed the pipe: done
        data += more
    return data


def drain(size: int) -> None:
    """Throw away the next ``size`` bytes of the pipe."""
    while size:
        if hasattr(os, "splice"):
            size -= os.splice(0, NULL, size)
        else:
            size -= len(read_exact(min(size, 1 << 16)))


def packet_size() -> int:
    """The next packet's payload size; 0 for a flush packet."""
    size = int(read_exact(4), 16)
    return max(size - 4, 0)


def read_text() -> list[str]:
    """Text packets up to a flush."""
    lines = []
    while size := packet_size():
        lines.append(read_exact(size).decode().rstrip("\n"))
    return lines


def send(*payloads: bytes) -> None:
    """Packets with these payloads, then a flush."""
    out = b"".join(b"%04x" % (len(p) + 4) + p for p in payloads)
    os.write(1, out + b"0000")


def main() -> None:
    read_text()  # git-filter-client, version=2
    send(b"git-filter-server\n", b"version=2\n")
    read_text()  # the capabilities Git offers
    send(b"capability=clean\n")
    while read_text():  # command=clean, pathname=…
        while size := packet_size():
            drain(size)
        send(b"status=success\n")
        send(ANSWER)
        send()  # no trailing status change


if __name__ == "__main__":
    main()
