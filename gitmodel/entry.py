"""The ``git-model`` executable: the filter process and the hooks fast, everything else
through the CLI.

Git starts ``git-model filter-process`` for every ``add``, ``checkout``, ``status`` that
re-reads a file, ``stash`` and ``clone``, and a hook for every push and checkout, so
their start-up is paid over and over. They are run here without loading the option
parser and the other commands (tens of milliseconds); any other argument list,
``--help`` included, goes to ``gitmodel.cli``.
This module and ``cli`` share one mapping of failures to messages and exit codes.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Callable

from gitmodel.errors import GitModelError, os_error_hint

EXIT_ERROR = 1
EXIT_BUG = 3
EXIT_INTERRUPT = 130
FILTER_PROCESS_ARGS = {("filter-process",): False, ("filter-process", "--skip"): True}
ROLLBACK_ARGS = ("deploy", "--rollback")  # the emergency exit starts without the CLI too


def main() -> None:
    from gitmodel import arenas

    arenas.want_one()  # git-model's own process: a transfer's threads share one arena
    args = sys.argv[1:]
    if args[:1] == ["hook"] and args[1:2] in (["pre-push"], ["post-checkout"]):
        name, hook_args = args[1], args[2:]

        def hook() -> int:
            from gitmodel import git

            discovery = git.Discovery()  # Git answers while the hook loads (run at the top)
            from gitmodel.commands.hook import run_hook  # every push and checkout runs a hook

            return run_hook(name, hook_args, discovery)

        exit_now(guarded(hook))
        return
    if len(args) == 3 and tuple(args[:2]) == ROLLBACK_ARGS and not args[2].startswith("-"):
        from gitmodel.commands.deploy import rollback_folder

        exit_now(guarded(lambda: rollback_folder(args[2])))
        return
    skip = FILTER_PROCESS_ARGS.get(tuple(args))
    if skip is None:
        from gitmodel.cli import main as cli_main

        cli_main()
        return

    def serve() -> int:
        from gitmodel import git

        discovery = git.Discovery()  # Git answers while the rest of the filter loads
        from gitmodel.commands.filter import filter_process

        return filter_process(skip_smudge=skip, discovery=discovery)

    exit_now(guarded(serve))


def exit_now(code: int) -> None:
    """End the filter process, or a hook, without tearing the interpreter down.

    Git waits for its filter and its hooks to exit before it goes on, and the teardown
    takes about 10 ms that nothing needs: by now every answer is sent and every object
    written (a thread still loading code a push did not need is dropped with it).
    Coverage measurement writes its data at exit, so under it the exit is the usual one.
    """
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(AttributeError, OSError, ValueError):  # none, or closed
            stream.flush()
    if "coverage" in sys.modules:
        sys.exit(code)
    os._exit(code)


def guarded(run: Callable[[], int | None]) -> int:
    """Run a command; a user's mistake becomes a one-line error, a bug a trace and exit 3."""
    try:
        return run() or 0
    except GitModelError as exc:
        from gitmodel.urls import scrub  # not at start-up: the filter process rarely fails

        print(f"gitmodel: error: {scrub(str(exc))}", file=sys.stderr)
        if exc.hint:
            print(f"hint: {scrub(exc.hint)}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        return EXIT_INTERRUPT
    except BrokenPipeError:
        return EXIT_ERROR
    except OSError as exc:
        hint = os_error_hint(exc)
        if hint is None:
            return _bug()
        from gitmodel.urls import scrub

        where = f": {exc.filename}" if exc.filename else ""
        message = f"{exc.strerror or 'cannot write'}{where}".replace("\n", " ")
        print(f"gitmodel: error: {scrub(message)}", file=sys.stderr)
        print(f"hint: {hint}", file=sys.stderr)
        return EXIT_ERROR
    except Exception:
        return _bug()


def _bug() -> int:
    """Print the exception being handled as a bug's trace; the exit status for it."""
    import traceback

    from gitmodel.urls import scrub

    print(scrub(traceback.format_exc()), end="", file=sys.stderr)
    print("gitmodel: internal error (a bug); please report it with the trace above",
          file=sys.stderr)  # fmt: skip
    return EXIT_BUG
