"""Git configuration: reading and writing it, and the keys a repository may share
in a committed ``.gitmodel`` file, checked because a cloned file is hostile."""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path

from gitmodel.errors import UserError
from gitmodel.git.process import GitError, run

CONFIG_SCOPES = ("local", "global", "system", "worktree")
TYPE_CHECKING = False  # typing's flag without loading typing: the filter process starts often
if TYPE_CHECKING:
    from typing import TypeVar

    N = TypeVar("N", int, float)


def config_set(key: str, value: str, scope: str, cwd: Path | str | None = None) -> None:
    run(["config", f"--{scope}", "--replace-all", "--end-of-options", key, value], cwd=cwd)


def config_set_file(file: Path, key: str, value: str) -> None:
    """Set ``key`` in a config file of its own (``.gitmodel``), created if need be; never
    through a symbolic link (Git would write the file it names, wherever that is)."""
    if os.path.islink(file):
        raise UserError(
            f"{file.name} is a symbolic link: refusing to write through it",
            hint=f"remove the link {file.name} and run the command again",
        )
    run(["config", "-f", str(file), "--replace-all", "--end-of-options", key, value])


def config_unset(key: str, scope: str, cwd: Path | str | None = None) -> bool:
    """Remove ``key`` from ``scope``; False when it was not set there."""
    proc = run(
        ["config", f"--{scope}", "--unset-all", "--end-of-options", key], cwd=cwd, check=False
    )
    if proc.returncode not in (0, 5):  # 5: the key was not set
        raise GitError(f"git config --unset failed: {proc.stderr.decode(errors='replace').strip()}")
    return proc.returncode == 0


def config_list(cwd: Path | str | None = None, file: Path | None = None) -> dict[str, str]:
    """Every effective setting (or those of one ``file``), last one wins as in Git."""
    return parse_config(run(config_list_args(file), cwd=cwd, check=False).stdout)


def config_list_args(file: Path | str | None = None) -> list[str]:
    return ["config", *(["-f", str(file)] if file is not None else []), "-z", "--list"]


def parse_config(out: bytes) -> dict[str, str]:
    settings: dict[str, str] = {}
    for item in out.split(b"\0"):
        if item:
            key, _, value = item.partition(b"\n")
            settings[key.decode("utf-8", "surrogateescape")] = value.decode(
                "utf-8", "surrogateescape"
            )
    return settings


SHARED_CONFIG = ".gitmodel"
LFS_CONFIG = ".lfsconfig"  # git-lfs's committed settings: only its endpoint keys are read
SHARED_KEYS = re.compile(r"remote\.([^.]+)\.(?:model(url|endpoint|region)|(lfsurl))|model\.remote"
                         r"|lfs\.(url)")  # fmt: skip
# a remote name as ``git remote add`` takes it, but stricter: ASCII words joined by
# "/", never an option, never a relative path or a refname Git would refuse
_REMOTE_NAME = re.compile(r"(?!.*\.\.)(?!.*\.lock(/|$))[A-Za-z0-9_][A-Za-z0-9_.-]*"
                          r"(?<!\.)(/[A-Za-z0-9_][A-Za-z0-9_.-]*(?<!\.))*")  # fmt: skip
_REGION = re.compile(r"[a-z0-9][a-z0-9-]{0,62}")


def valid_remote_name(name: str) -> bool:
    """Whether ``name`` can be a Git remote's name (a stricter subset of Git's rules)."""
    return _REMOTE_NAME.fullmatch(name) is not None


_warned: set[str] = set()  # committed files already said to be malformed, once a process


class SharedValueError(UserError):
    """A value of a committed config file that :func:`check_shared` refused: the file, the
    key (as shown), the value and what is wrong with it, for a caller that words it."""

    def __init__(self, file: str, key: str, value: str, problem: str) -> None:
        hint = f"fix or remove it in {file}, or override it: git config {key} VALUE"
        super().__init__(f"{file}: {key}: {problem}", hint=hint)
        self.file, self.key, self.value, self.problem = file, key, value, problem


def merge_shared(
    layers: Iterable[tuple[str, int, bytes]], repository: str | None = None
) -> tuple[dict[str, str], dict[str, str]]:
    """The values of committed config files, each given as its name, the exit code and the
    output of ``git config -f NAME -z --list``, a later file's winning; and the file each
    value came from. A file Git cannot parse is left out whole, with a warning (it is
    committed input: it must not fail every command, nor count for part of itself);
    ``repository`` names the one the files were committed to when it is not this one."""
    values: dict[str, str] = {}
    origins: dict[str, str] = {}
    for name, returncode, out in layers:
        if returncode != 0:
            _warn_malformed(name, repository)
            continue
        for key, value in parse_config(out).items():
            values[key], origins[key] = value, name
    return values, origins


def readable_shared(path: Path | str) -> bool:
    """Whether the committed config file at ``path`` is read: a regular file, never a
    symbolic link (a committed link may name any file of the machine; Git does not
    follow one for ``.gitattributes`` either), which is said once and left out."""
    if not os.path.islink(path):
        return os.path.isfile(path)
    said = (f"{os.path.basename(path)} is a symbolic link: its settings are ignored "
            "(commit a regular file instead)")  # fmt: skip
    if said not in _warned:
        _warned.add(said)
        print(f"gitmodel: warning: {said}", file=sys.stderr)
    return False


def _warn_malformed(name: str, repository: str | None) -> None:
    if repository is None:
        said = (f"{name} is not valid git-config syntax: its settings are ignored "
                f"(`git config -f {name} --list` shows where)")  # fmt: skip
    else:
        said = (f"the {name} committed to {repository} is not valid git-config syntax: "
                "its settings are ignored (fix it there)")  # fmt: skip
    if said not in _warned:
        _warned.add(said)
        print(f"gitmodel: warning: {said}", file=sys.stderr)


def over_shared(
    shared: dict[str, str],
    config: dict[str, str],
    strict: bool = True,
    origins: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """Git config over the keys of ``.gitmodel`` (and ``.lfsconfig``) that a repository
    may share; ``origins`` names the file each came from (default ``.gitmodel``).

    A committed file is hostile: every shared value that the user's own config does
    not override is checked (:func:`check_shared`) before anything can use it. A bad
    one is an error, or with ``strict`` False (the filter process, which must not fail
    a whole checkout for it) a warning, and the value is left out."""
    settings = {key: value for key, value in shared.items() if SHARED_KEYS.fullmatch(key)}
    for key in config:
        settings.pop(key, None)
    for key, value in list(settings.items()):
        try:
            check_shared(key, value, config, (origins or {}).get(key, SHARED_CONFIG))
        except UserError as exc:
            if strict:
                raise
            import sys

            print(f"gitmodel: warning: {exc} (ignored)\nhint: {exc.hint}", file=sys.stderr)
            del settings[key]
    settings.update(config)
    return settings


def check_shared(key: str, value: str, config: dict[str, str], file: str = SHARED_CONFIG) -> None:
    """Refuse a value of a committed ``file`` (``.gitmodel``, ``.lfsconfig``) that could
    act as an option, name a store the repository may not choose for its users, or name
    a Git remote they do not have."""
    from gitmodel.urls import shareable_store_url, valid_endpoint

    match = SHARED_KEYS.fullmatch(key)
    assert match is not None
    remote, kind, lfs_url, lfs_default = match.groups()
    kind = "endpoint" if lfs_url or lfs_default else kind
    if remote is not None and not valid_remote_name(remote):
        problem: str | None = "not a valid remote name"
    elif key == "model.remote":
        problem = _check_remote_choice(value, config)
    elif kind == "url":
        problem = shareable_store_url(value)
    elif kind == "endpoint":
        problem = valid_endpoint(value)
    else:
        problem = None if _REGION.fullmatch(value) else "not a region name"
    if problem is not None:
        shown = key if remote is None or valid_remote_name(remote) else f"remote.{remote!r}"
        raise SharedValueError(file, shown, value, problem)


def _check_remote_choice(value: str, config: dict[str, str]) -> str | None:
    if not valid_remote_name(value):
        return "not a valid remote name"
    if f"remote.{value}.url" not in config:
        return f"names {value!r}, which is not one of your Git remotes (see `git remote -v`)"
    return None


def number_setting(
    kind: Callable[[str], N], settings: dict[str, str], key: str, default: N, least: float
) -> N:
    """A numeric setting (Git config keys are case-insensitive: looked up in lower case);
    a value that is not a number, or is below ``least``, is an error, never the default."""
    text = settings.get(key.lower())
    if text is None:
        return default
    try:
        value = kind(text.strip())
    except ValueError:
        value = None
    if value is None or not value >= least or value != value or value == float("inf"):
        what = "a whole number" if kind is int else "a number of seconds"
        raise UserError(f"{key} must be {what} of at least {least:g}, not {text[:40]!r}",
                        hint=f"git config {key} {default}")  # fmt: skip
    return value
