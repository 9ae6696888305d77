"""pkt-line framing, as in Git's ``Documentation/technical/protocol-common.txt``.

A packet is a 4-hex-digit length (counting the header itself) and the payload;
``0000`` is a flush packet. Pure: bytes in, values out.

dulwich has a pkt-line reader, but it reads from the stream itself and
allocates a new bytes object per packet; the filter instead reads payloads
straight into one reused buffer (``filter.stream``), which is what moving
gigabytes through 64 KiB packets needs, so only the framing lives here.
"""

from __future__ import annotations

from gitmodel.errors import ProtocolError

PKT_FLUSH = b"0000"
PKT_HEADER_SIZE = 4
PKT_MAX_SIZE = 65520
PKT_MAX_DATA = PKT_MAX_SIZE - PKT_HEADER_SIZE  # 65516
_HEX_DIGITS = b"0123456789abcdefABCDEF"


def encode_header(data_size: int) -> bytes:
    """The 4-byte header of a packet carrying ``data_size`` payload bytes."""
    if not 0 < data_size <= PKT_MAX_DATA:
        raise ValueError(f"pkt-line payload of {data_size} bytes")
    return b"%04x" % (data_size + PKT_HEADER_SIZE)


def encode(data: bytes) -> bytes:
    """One data packet."""
    return encode_header(len(data)) + data


def encode_text(line: str) -> bytes:
    """One text packet: ``line`` plus the newline Git expects."""
    return encode(line.encode() + b"\n")


def parse_header(header: bytes | bytearray) -> int:
    """The payload size announced by a header; 0 means a flush packet."""
    if len(header) != PKT_HEADER_SIZE:
        raise ProtocolError("truncated pkt-line header")
    if header.translate(None, _HEX_DIGITS):  # int() alone would take "0x1", " +1", "1_0"
        raise ProtocolError(f"bad pkt-line header {header!r}")
    size = int(header, 16)
    if size == 0:
        return 0
    if size <= PKT_HEADER_SIZE or size > PKT_MAX_SIZE:
        raise ProtocolError(f"bad pkt-line length {size}")
    return size - PKT_HEADER_SIZE


def decode_text(payload: bytes | bytearray) -> str:
    """A text packet's line without its trailing newline."""
    if payload.endswith(b"\n"):
        payload = payload[:-1]
    return payload.decode("utf-8", "surrogateescape")
