"""``gitmodel.safepath``: Git's path rules, and writes that never go through a symlink."""

from __future__ import annotations

import os
import posixpath
import stat
import subprocess
import threading
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gitmodel import safepath
from gitmodel.safepath import Target, UnsafePathError


@pytest.mark.parametrize(
    "path",
    ["models/clf/weights.bin", "a", ".gitattributes", ".github/x", "a/.gitx/b", "gitx", "a..b",
     "...", ".git-blame-ignore-revs", "dir/git~2", "sp ace/ü.bin"],
)  # fmt: skip
def test_valid_paths(path: str) -> None:
    assert safepath.is_valid(path)
    assert safepath.check(path) == path


@pytest.mark.parametrize(
    "path",
    ["", "/etc/passwd", "../x", "a/../../x", "a/..", "./a", "a/.", "a//b", "a/", ".git",
     ".git/hooks/post-checkout", "models/.git/config", ".GIT/config", "models/.Git/x",
     ".git./x", ".git /x", ".git. . /x", "GIT~1/config", "git~1", "a\\b", "..\\x",
     "a\0b", "evil/\0"],
)  # fmt: skip
def test_invalid_paths(path: str) -> None:
    assert not safepath.is_valid(path)
    with pytest.raises(UnsafePathError, match="refusing unsafe path"):
        safepath.check(path)
    with pytest.raises(UnsafePathError):
        Target("/tmp", path)


@given(st.lists(st.sampled_from(["a", "b", ".", "..", "", ".git", ".GiT.", "git~1", "c\\d"]),
                min_size=1, max_size=6))  # fmt: skip
def test_a_valid_path_never_leaves_its_root(parts: list[str]) -> None:
    path = "/".join(parts)
    if safepath.is_valid(path):
        normal = posixpath.normpath(path)
        assert normal == path and not normal.startswith("..")
        assert all(p.lower().rstrip(". ") not in (".git", "git~1") for p in path.split("/"))


def fill_with(data: bytes) -> Callable[[BinaryIO], None]:
    def fill(out: BinaryIO) -> None:
        out.write(data)

    return fill


def test_write_makes_directories_and_replaces_a_file(tmp_path: Path) -> None:
    target = Target(tmp_path, "a/b/c.bin")
    safepath.write(target, fill_with(b"one"), 0o600)
    assert (tmp_path / "a/b/c.bin").read_bytes() == b"one"
    assert (tmp_path / "a/b/c.bin").stat().st_mode & 0o777 == 0o600
    safepath.write(target, fill_with(b"two"), unlink_first=True)
    assert (tmp_path / "a/b/c.bin").read_bytes() == b"two"
    assert sorted(p.name for p in (tmp_path / "a/b").iterdir()) == ["c.bin"]


@pytest.mark.parametrize("where", ["a", "a/b"])
def test_a_symlinked_directory_on_the_way_is_refused(tmp_path: Path, where: str) -> None:
    root, outside = tmp_path / "root", tmp_path / "outside"
    (root / where).parent.mkdir(parents=True)
    outside.mkdir()
    (root / where).symlink_to(outside, target_is_directory=True)
    target = Target(root, "a/b/c.bin")
    with pytest.raises(UnsafePathError, match=f"{root / where} is a symlink"):
        safepath.write(target, fill_with(b"x"))
    with pytest.raises(UnsafePathError):
        safepath.lstat(target)
    with pytest.raises(UnsafePathError):
        safepath.open_file(target)
    assert list(outside.iterdir()) == []


def test_a_file_on_the_way_is_refused(tmp_path: Path) -> None:
    (tmp_path / "a").write_bytes(b"file")
    with pytest.raises(UnsafePathError, match="is not a directory"):
        safepath.write(Target(tmp_path, "a/b"), fill_with(b"x"))
    assert (tmp_path / "a").read_bytes() == b"file"


@pytest.mark.parametrize("kind", ["symlink", "directory", "fifo"])
def test_an_existing_destination_that_is_not_a_file_is_left_alone(
    tmp_path: Path, kind: str
) -> None:
    outside = tmp_path / "outside.txt"
    outside.write_bytes(b"theirs")
    dest = tmp_path / "root" / "f"
    dest.parent.mkdir()
    if kind == "symlink":
        dest.symlink_to(outside)
    elif kind == "directory":
        dest.mkdir()
    else:
        os.mkfifo(dest)
    target = Target(tmp_path / "root", "f")
    for dest_form in (target, dest):
        with pytest.raises(UnsafePathError, match="refusing to use it"):
            safepath.write(dest_form, fill_with(b"mine"))
    own = safepath.lstat(target)  # its own status, never its target's
    assert own is not None and not stat.S_ISREG(own.st_mode)
    with pytest.raises(UnsafePathError):
        safepath.open_file(target)  # a FIFO is refused without blocking
    assert outside.read_bytes() == b"theirs"
    assert sorted(p.name for p in dest.parent.iterdir()) == ["f"]


def test_a_failed_fill_leaves_the_old_file_and_no_temporary(tmp_path: Path) -> None:
    dest = tmp_path / "d" / "f"
    dest.parent.mkdir()
    dest.write_bytes(b"old")

    def fail(out: BinaryIO) -> None:
        out.write(b"half")
        raise RuntimeError("stop")

    with pytest.raises(RuntimeError):
        safepath.write(Target(tmp_path, "d/f"), fail, unlink_first=True)
    assert dest.read_bytes() == b"old"
    assert [p.name for p in dest.parent.iterdir()] == ["f"]


def test_the_root_may_be_a_symlink(tmp_path: Path) -> None:
    real = tmp_path / "real"
    real.mkdir()
    (tmp_path / "link").symlink_to(real)
    safepath.write(Target(tmp_path / "link", "m/f"), fill_with(b"x"))
    assert (real / "m" / "f").read_bytes() == b"x"


def test_temporary_files_of_dead_writers_are_removed(tmp_path: Path) -> None:
    gone = subprocess.Popen(["true"])
    gone.wait()
    stale = tmp_path / f".f.{gone.pid}-abc.tmp"
    stale.write_bytes(b"half")
    live = tmp_path / f".f.{os.getpid()}-def.tmp"
    live.write_bytes(b"being written")
    safepath.write(Target(tmp_path, "f"), fill_with(b"x"))
    assert not stale.exists() and live.exists()


def test_within_listing_once_a_directory_is_listed_at_its_first_write(tmp_path: Path) -> None:
    """A pull writes thousands of files into one folder: listing it for each made that
    quadratic. Stale files there at the first write are still removed."""
    gone = subprocess.Popen(["true"])
    gone.wait()
    before = tmp_path / f".b.{gone.pid}-abc.tmp"
    before.write_bytes(b"half")
    with safepath.listing_once():
        safepath.write(Target(tmp_path, "a"), fill_with(b"a"))
        later = tmp_path / f".b.{gone.pid}-def.tmp"  # a writer killed after the listing
        later.write_bytes(b"half")
        safepath.write(Target(tmp_path, "b"), fill_with(b"b"))
        assert not before.exists() and later.exists()  # left to the next command
        with safepath.listing_once():  # nested: the same listing
            safepath.write(Target(tmp_path, "b"), fill_with(b"b"))
        assert later.exists()
    safepath.write(Target(tmp_path, "b"), fill_with(b"b"))
    assert not later.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a", "b"]


def test_a_long_name_still_gets_a_temporary_file(tmp_path: Path) -> None:
    name = "n" * 250
    safepath.write(Target(tmp_path, name), fill_with(b"x"))
    assert (tmp_path / name).read_bytes() == b"x"


def test_a_directory_swapped_for_a_symlink_mid_write_is_not_followed(tmp_path: Path) -> None:
    """The write lands in the directory that was checked, not where a symlink put in its
    place meanwhile points: the race ``has_symlink_leading_path`` alone would lose."""
    root, outside = tmp_path / "root", tmp_path / "outside"
    (root / "models").mkdir(parents=True)
    outside.mkdir()
    swapped = threading.Event()

    def fill(out: BinaryIO) -> None:
        (root / "models").rename(tmp_path / "moved")
        (root / "models").symlink_to(outside, target_is_directory=True)
        swapped.set()
        out.write(b"weights")

    safepath.write(Target(root, "models/w.bin"), fill)
    assert swapped.is_set()
    assert list(outside.iterdir()) == []
    assert (tmp_path / "moved" / "w.bin").read_bytes() == b"weights"


def test_open_file_and_lstat(tmp_path: Path) -> None:
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "f").write_bytes(b"data")
    src = safepath.open_file(Target(tmp_path, "d/f"))
    assert src is not None
    with src:
        assert src.read() == b"data"
    assert safepath.open_file(Target(tmp_path, "d/missing")) is None
    assert safepath.open_file(Target(tmp_path, "nodir/f")) is None
    assert safepath.lstat(Target(tmp_path, "nodir/f")) is None
    st = safepath.lstat(Target(tmp_path, "d/f"))
    assert st is not None and st.st_size == 4
