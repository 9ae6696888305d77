"""Sizes: one strict parser in binary units, and binary units in what we print."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from conftest import git_model, run_git
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


@given(st.integers(0, (1 << 23) - 1), st.sampled_from(["", "k", "m", "g", "t"]),
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
    # one decimal is off by at most half a tenth (215.25 KiB prints 215.2), plus float error
    assert abs(float(number) * scale - size) <= 0.05 * scale * (1 + 1e-9)
    assert unit == "B" or float(number) >= 1


# -- in use: a bad size is an error naming the key or option, never the default --------

BAD_IN_USE = ["abc", "-1", "1.5g", "10x", "", "99999999999999999999t"]


@pytest.fixture
def switchable(repo: Path) -> Path:
    """A repository whose ``main`` holds a model file and whose ``empty`` branch does not."""
    (repo / "big.bin").write_bytes(os.urandom(100 << 10))
    run_git("add", "big.bin", cwd=repo)
    run_git("commit", "-qm", "big", cwd=repo)
    run_git("switch", "-qc", "empty", cwd=repo)
    run_git("rm", "-q", "big.bin", cwd=repo)
    run_git("commit", "-qm", "empty", cwd=repo)
    return repo


@pytest.mark.parametrize("value", BAD_IN_USE)
def test_bad_direct_checkout_threshold_fails_the_checkout(switchable: Path, value: str) -> None:
    run_git("config", "model.directCheckoutThreshold", value, cwd=switchable)
    proc = run_git("checkout", "-q", "main", cwd=switchable, check=False)
    assert proc.returncode != 0
    error, hint, fatal = proc.stderr.decode().splitlines()
    assert error.startswith(
        f"gitmodel: smudge big.bin: model.directCheckoutThreshold: invalid size {value!r}"
    )
    assert hint.startswith("hint: write e.g. ")
    assert fatal == "fatal: big.bin: smudge filter model failed"
    # fixed, the same checkout goes through
    run_git("config", "model.directCheckoutThreshold", "64k", cwd=switchable)
    run_git("checkout", "-q", "main", cwd=switchable)
    assert (switchable / "big.bin").stat().st_size == 100 << 10


def test_bad_threshold_in_the_global_config_fails_a_clone(switchable: Path, tmp_path: Path) -> None:
    run_git("switch", "-q", "main", cwd=switchable)
    run_git("config", "--global", "model.directCheckoutThreshold", "abc", cwd=switchable)
    git_model("install", cwd=switchable)  # the filter for the clone, from the global config
    proc = run_git("clone", "-q", str(switchable), str(tmp_path / "clone"), cwd=tmp_path,
                   check=False)  # fmt: skip
    err = proc.stderr.decode()
    assert proc.returncode != 0, err
    assert "model.directCheckoutThreshold: invalid size 'abc'" in err
    assert "Traceback" not in err


def test_threshold_is_read_only_where_it_takes_effect(switchable: Path) -> None:
    """``git add``, ``status`` and ``reset`` never use direct checkout: they work on."""
    run_git("switch", "-q", "main", cwd=switchable)
    run_git("config", "model.directCheckoutThreshold", "abc", cwd=switchable)
    (switchable / "big.bin").write_bytes(b"changed")
    run_git("add", "big.bin", cwd=switchable)
    run_git("reset", "-q", "--hard", cwd=switchable)
    assert (switchable / "big.bin").stat().st_size == 100 << 10


@pytest.mark.parametrize(
    ("value", "bytes_"), [("64KiB", 65536), ("99999", 99999), ("1 m", 1 << 20)]
)
def test_threshold_in_binary_units(switchable: Path, value: str, bytes_: int) -> None:
    run_git("config", "model.directCheckoutThreshold", value, cwd=switchable)
    env = {**os.environ, "GIT_MODEL_TRACE": "1"}
    proc = run_git("checkout", "-q", "main", cwd=switchable, env=env)
    assert f"direct checkout on for files of {bytes_} bytes or more".encode() in proc.stderr
    assert (switchable / "big.bin").stat().st_size == 100 << 10


@pytest.mark.parametrize("value", BAD_IN_USE)
def test_bad_max_size_is_a_usage_error_naming_the_option(tmp_path: Path, value: str) -> None:
    proc = git_model("check-large", "--max-size", value, "x", cwd=tmp_path, check=False)
    assert proc.returncode == 2
    error, _hint = proc.stderr.decode().splitlines()
    assert error.startswith(f"gitmodel: error: --max-size: invalid size {value!r}")
