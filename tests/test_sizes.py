"""Sizes: one strict parser in binary units, and binary units in what we print."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gitmodel.errors import UserError
from gitmodel.sizes import MAX_SIZE, format_size, parse_size

GOOD = [
    ("0", 0),
    ("10485760", 10485760),
    ("512b", 512),
    ("500k", 500 << 10),
    ("500K", 500 << 10),
    ("10m", 10 << 20),
    ("10mb", 10 << 20),
    ("64MiB", 64 << 20),
    ("64 MiB", 64 << 20),
    ("1g", 1 << 30),
    ("2 GiB", 2 << 30),
    ("3GB", 3 << 30),
    ("1t", 1 << 40),
    (" 7k ", 7 << 10),
    ("8388607t", 8388607 << 40),
]
BAD = ["abc", "-1", "1.5g", "10x", "", " ", "m", "10 m b", "10ib", "1e9", "+5", "0x10",
       "\u0661\u0660"]  # fmt: skip  # the last: 10 in Arabic-Indic digits
TOO_LARGE = ["99999999999999999999t", "8388608t", str(1 << 63), "9" * 5000]


@pytest.mark.parametrize(("text", "size"), GOOD)
def test_good_sizes_are_bytes_in_binary_units(text: str, size: int) -> None:
    assert parse_size(text) == size


@pytest.mark.parametrize("text", BAD + TOO_LARGE)
def test_bad_sizes_are_an_error_naming_the_key(text: str) -> None:
    with pytest.raises(UserError) as info:
        parse_size(text, key="model.directCheckoutThreshold")
    assert str(info.value).startswith("model.directCheckoutThreshold: invalid size ")
    assert info.value.hint is not None and "64MiB" in info.value.hint


def test_an_error_without_a_key_names_the_text() -> None:
    with pytest.raises(UserError, match=r"^invalid size 'abc'$"):
        parse_size("abc")


def test_the_largest_size_is_one_below_two_to_the_63() -> None:
    assert parse_size(str(MAX_SIZE)) == (1 << 63) - 1


@given(st.integers(0, 1 << 23), st.sampled_from(["", "k", "m", "g", "t"]),
       st.sampled_from(["", "b", "ib", "B", "iB"]), st.sampled_from(["", " "]))  # fmt: skip
def test_any_number_with_any_unit_spelling(number: int, unit: str, suffix: str, space: str) -> None:
    if not unit and suffix.lower() == "ib":
        return  # "10ib" has no unit to be binary
    scale = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}[unit]
    for spelled in (unit, unit.upper()):
        assert parse_size(f"{number}{space}{spelled}{suffix}") == number * scale


@pytest.mark.parametrize(
    ("size", "text"),
    [
        (0, "0 B"),
        (512, "512 B"),
        (1023, "1023 B"),
        (1024, "1.0 KiB"),
        (1536, "1.5 KiB"),
        (10 << 20, "10.0 MiB"),
        ((1 << 20) - 1, "1.0 MiB"),  # not "1024.0 KiB"
        (3 << 29, "1.5 GiB"),
        (5 << 40, "5.0 TiB"),
        (2048 << 40, "2048.0 TiB"),
    ],
)
def test_sizes_print_in_binary_units(size: int, text: str) -> None:
    assert format_size(size) == text


@given(st.integers(0, MAX_SIZE))
def test_printed_sizes_read_back_close(size: int) -> None:
    number, unit = format_size(size).split()
    scale = {"B": 1, "KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30, "TiB": 1 << 40}[unit]
    assert abs(float(number) * scale - size) <= 0.05 * scale
    assert unit == "B" or float(number) >= 1
