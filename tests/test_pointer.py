from __future__ import annotations

import hashlib

import pytest

from gitmodel import pointer as ptr
from gitmodel.errors import PointerError

OID = "4d7a214614ab2935c943f9e0ff69d22eadbb8f32b1258daaa5e2ca24d17e2393"
CANONICAL = (
    b"version https://git-lfs.github.com/spec/v1\noid sha256:" + OID.encode() + b"\nsize 12345\n"
)


def test_encode_is_the_lfs_spec_example() -> None:
    assert ptr.Pointer(OID, 12345).encode() == CANONICAL


def test_parse_round_trips() -> None:
    pointer = ptr.parse(CANONICAL)
    assert pointer == ptr.Pointer(OID, 12345)
    assert ptr.try_parse(CANONICAL) == pointer
    assert pointer.encode() == CANONICAL


def test_whatever_vector() -> None:
    oid = hashlib.sha256(b"whatever\n").hexdigest()
    assert oid == "cd293be6cea034bd45a0352775a219ef5dc7825ce55d1f7dae9762d80ce64411"
    assert ptr.Pointer(oid, 9).encode().endswith(b"size 9\n")


def test_size_zero_and_int64_max() -> None:
    assert ptr.parse(CANONICAL.replace(b"12345", b"0")).size == 0
    big = str(2**63 - 1).encode()
    assert ptr.parse(CANONICAL.replace(b"12345", big)).size == 2**63 - 1


MALFORMED = {
    "empty": b"",
    "crlf": CANONICAL.replace(b"\n", b"\r\n"),
    "no trailing newline": CANONICAL[:-1],
    "blank line": CANONICAL.replace(b"\noid", b"\n\noid"),
    "unsorted keys": (
        b"version https://git-lfs.github.com/spec/v1\nsize 12345\noid sha256:"
        + OID.encode()
        + b"\n"
    ),
    "extra key": CANONICAL + b"x-extra value\n",
    "extension key": CANONICAL.replace(b"oid", b"ext-0-foo sha256:" + OID.encode() + b"\noid"),
    "missing size": CANONICAL.rsplit(b"size", 1)[0],
    "uppercase oid": CANONICAL.replace(OID.encode(), OID.upper().encode()),
    "short oid": CANONICAL.replace(OID.encode(), OID[:63].encode()),
    "long oid": CANONICAL.replace(OID.encode(), OID.encode() + b"0"),
    "traversal oid": CANONICAL.replace(OID.encode(), b"../../../../etc/passwd" + b"0" * 42),
    "traversal version": CANONICAL.replace(b"https://git-lfs.github.com/spec/v1", b"../x"),
    "traversal size": CANONICAL.replace(b"12345", b"../12"),
    "sha1 oid": CANONICAL.replace(b"sha256:", b"sha1:"),
    "negative size": CANONICAL.replace(b"12345", b"-1"),
    "plus size": CANONICAL.replace(b"12345", b"+1"),
    "leading zero size": CANONICAL.replace(b"12345", b"012345"),
    "hex size": CANONICAL.replace(b"12345", b"0x10"),
    "size overflow": CANONICAL.replace(b"12345", str(2**63).encode()),
    "double space": CANONICAL.replace(b"size 12345", b"size  12345"),
    "tab separator": CANONICAL.replace(b"size 12345", b"size\t12345"),
    "alias version": CANONICAL.replace(b"git-lfs.github.com", b"hawser.github.com"),
    "other version": CANONICAL.replace(b"spec/v1", b"spec/v2"),
    "non ascii": CANONICAL.replace(b"size", "sizé".encode()),
    "nul byte": CANONICAL.replace(b"size", b"si\0e"),
    "over long": CANONICAL + b"x" * 1024,
    "trailing garbage": CANONICAL + b"\n",
}


@pytest.mark.parametrize("data", MALFORMED.values(), ids=MALFORMED.keys())
def test_malformed_is_content(data: bytes) -> None:
    assert ptr.try_parse(data) is None
    with pytest.raises(PointerError):
        ptr.parse(data)


@pytest.mark.parametrize("size", [1023, 1024, 1025])
def test_text_around_the_size_limit_is_content(size: int) -> None:
    data = (b"version " + b"a" * size)[:size]
    assert ptr.try_parse(data) is None


def test_pointer_padded_to_limit_is_content() -> None:
    padded = CANONICAL + b" " * (1024 - len(CANONICAL))
    assert len(padded) == 1024
    assert ptr.try_parse(padded) is None


@pytest.mark.parametrize("oid", ["", "g" * 64, "A" * 64, "../" + "0" * 61, "0" * 65])
def test_pointer_rejects_bad_oids(oid: str) -> None:
    assert not ptr.is_valid_oid(oid)
    with pytest.raises(PointerError):
        ptr.Pointer(oid, 1)


def test_pointer_rejects_bad_sizes() -> None:
    with pytest.raises(PointerError):
        ptr.Pointer(OID, -1)
    with pytest.raises(PointerError):
        ptr.Pointer(OID, 2**63)


def test_looks_like_pointer() -> None:
    assert ptr.looks_like_pointer(CANONICAL.replace(b"\n", b"\r\n"))
    assert not ptr.looks_like_pointer(b"version 2 of my notes\n")
