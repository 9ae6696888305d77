from __future__ import annotations

import pytest

from gitmodel import pktline
from gitmodel.errors import ProtocolError


def test_encode_text_and_header() -> None:
    assert pktline.encode_text("version=2") == b"000eversion=2\n"
    assert pktline.encode(b"a") == b"0005a"
    assert pktline.parse_header(b"000e") == 10
    assert pktline.parse_header(b"0000") == 0
    assert pktline.parse_header(b"FFF0") == pktline.PKT_MAX_DATA


def test_max_payload() -> None:
    assert len(pktline.encode(b"x" * pktline.PKT_MAX_DATA)) == pktline.PKT_MAX_SIZE
    with pytest.raises(ValueError):
        pktline.encode(b"x" * (pktline.PKT_MAX_DATA + 1))
    with pytest.raises(ValueError):
        pktline.encode(b"")


@pytest.mark.parametrize(
    "header", [b"", b"00", b"0001", b"0002", b"0004", b"fff1", b"zzzz", b"+00f", b" 00f", b"-001"]
)
def test_bad_headers(header: bytes) -> None:
    with pytest.raises(ProtocolError):
        pktline.parse_header(header)


def test_decode_text() -> None:
    assert pktline.decode_text(b"pathname=a b\n") == "pathname=a b"
    assert pktline.decode_text(b"pathname=\xff\n") == "pathname=\udcff"
