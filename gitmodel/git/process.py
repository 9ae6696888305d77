"""Running ``git``: captured (:func:`run`), on the terminal (:func:`call`), or started
at once and collected later (:class:`Spawned`, for the filter process's start-up).

``subprocess`` is imported where it is used: the filter process, which Git starts
for every add and checkout, asks Git what it needs without it (loading it and what
it loads costs about 10 ms).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from gitmodel.errors import GitModelError, UserError

TYPE_CHECKING = False  # typing's flag without loading typing: the filter process starts often
if TYPE_CHECKING:
    import subprocess

GIT_MISSING = "git is not installed"
GIT_MISSING_HINT = "install git 2.31 or newer"


class GitError(GitModelError):
    """A git command failed."""


def run(
    args: Sequence[str],
    cwd: Path | str | None = None,
    input: bytes | None = None,
    check: bool = True,
    env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[bytes]:
    """Run ``git args…`` and capture its output; raise :class:`GitError` on failure.

    Without ``input`` its standard input is /dev/null (in the filter process ours is
    Git's protocol pipe). With it, Git buffers its output (``GIT_FLUSH=0``): all of the
    input is there at once, and a ``--stdin`` command that flushed after every record
    made us read 100,000 small writes one by one (``check-attr``: twice the time)."""
    import subprocess

    if input is not None:
        env = {**(os.environ if env is None else env), "GIT_FLUSH": "0"}
    try:
        proc = subprocess.run(
            ["git", *args], cwd=cwd, env=env, input=input, capture_output=True, check=False,
            stdin=None if input is not None else subprocess.DEVNULL,
        )  # fmt: skip
    except FileNotFoundError:
        raise UserError(GIT_MISSING, hint=GIT_MISSING_HINT) from None
    if check and proc.returncode != 0:
        message = proc.stderr.decode(errors="replace").strip().splitlines()
        first = message[0] if message else f"exit {proc.returncode}"
        raise GitError(f"git {args[0]} failed: {first.removeprefix('fatal: ')}")
    return proc


def call(args: Sequence[str], cwd: Path | str | None = None) -> int:
    """Run ``git args…`` on our terminal (editor, hooks, signing prompts); its exit status."""
    import subprocess

    try:
        return subprocess.run(["git", *args], cwd=cwd, check=False).returncode
    except FileNotFoundError:
        raise UserError(GIT_MISSING, hint=GIT_MISSING_HINT) from None


def show_manual(page: str) -> bool:
    """Show manual page ``page`` (``git-model-push``) as ``git help -m`` shows Git's own:
    Git finds ``man``, adds its pages' folder to MANPATH and honours ``man.viewer``.
    False, saying nothing, when there is no such page or no ``man``."""
    import subprocess

    try:
        proc = subprocess.run(["git", "help", "-m", page], stderr=subprocess.PIPE,
                              check=False)  # fmt: skip
    except FileNotFoundError:
        raise UserError(GIT_MISSING, hint=GIT_MISSING_HINT) from None
    return proc.returncode == 0


def output(args: Sequence[str], cwd: Path | str | None = None) -> str:
    """The stripped standard output of ``git args…``."""
    return run(args, cwd=cwd).stdout.decode("utf-8", "surrogateescape").strip()


def version() -> str:
    return output(["--version"]).removeprefix("git version ")


class Spawned:
    """A git started with ``posix_spawn``: its output captured, no input, its messages
    discarded. Each one's output is read to its end in turn, so none can block another."""

    def __init__(self, args: Sequence[str]) -> None:
        self._fd, write_fd = os.pipe()
        null = os.open(os.devnull, os.O_RDWR)
        redirect = [(os.POSIX_SPAWN_DUP2, null, 0), (os.POSIX_SPAWN_DUP2, write_fd, 1),
                    (os.POSIX_SPAWN_DUP2, null, 2)]  # fmt: skip
        try:
            self._pid = os.posix_spawnp("git", ["git", *args], os.environ, file_actions=redirect)
        except FileNotFoundError:
            os.close(self._fd)
            raise UserError(GIT_MISSING, hint=GIT_MISSING_HINT) from None
        finally:
            os.close(write_fd)
            os.close(null)

    def wait(self) -> tuple[int, bytes]:
        """Its exit status and standard output."""
        chunks = []
        while chunk := os.read(self._fd, 1 << 16):
            chunks.append(chunk)
        os.close(self._fd)
        return os.waitstatus_to_exitcode(os.waitpid(self._pid, 0)[1]), b"".join(chunks)
