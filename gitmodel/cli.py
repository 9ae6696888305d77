"""The ``git-model`` command line. Parses options, calls one command, maps errors to exits."""

from __future__ import annotations

import sys
import traceback
from collections.abc import Callable

import click

from gitmodel import __version__
from gitmodel.errors import GitModelError

EXIT_ERROR = 1
EXIT_BUG = 3
EXIT_INTERRUPT = 130

SCOPES = ("local", "global", "system", "worktree")


def _scope_options(func: Callable[..., None]) -> Callable[..., None]:
    for scope in reversed(SCOPES):
        default = " (default)" if scope == "global" else ""
        func = click.option(f"--{scope}", is_flag=True, help=f"the {scope} git config{default}")(
            func
        )
    return func


def _scope(flags: dict[str, bool]) -> str:
    chosen = [scope for scope in SCOPES if flags.get(scope)]
    if len(chosen) > 1:
        raise click.UsageError("choose one of --local, --global, --system, --worktree")
    return chosen[0] if chosen else "global"


def _exit(code: int) -> None:
    if code:
        sys.exit(code)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="git-model", message="%(prog)s %(version)s")
def cli() -> None:
    """Version large model weights and data sets in Git."""


@cli.command()
@_scope_options
@click.option("--skip-smudge", is_flag=True, help="check out pointers; fetch content on demand")
@click.option("--force", is_flag=True, help="replace a hook even when a .legacy copy exists")
def install(skip_smudge: bool, force: bool, **scopes: bool) -> None:
    """Configure the model filter and install the hooks in this repository."""
    from gitmodel.commands.install import install as run

    _exit(run(_scope(scopes), skip_smudge=skip_smudge, force=force))


@cli.command()
@_scope_options
def uninstall(**scopes: bool) -> None:
    """Remove the model filter configuration and this repository's hooks."""
    from gitmodel.commands.install import uninstall as run

    _exit(run(_scope(scopes)))


@cli.command()
@click.argument("patterns", nargs=-1)
def track(patterns: tuple[str, ...]) -> None:
    """Route files matching PATTERNS through the model filter (no argument: list)."""
    from gitmodel.commands.track import track as run

    _exit(run(list(patterns)))


@cli.command()
@click.argument("patterns", nargs=-1)
def untrack(patterns: tuple[str, ...]) -> None:
    """Stop routing files matching PATTERNS through the model filter."""
    from gitmodel.commands.track import untrack as run

    _exit(run(list(patterns)))


@cli.command("ls-files")
@click.argument("rev", required=False)
@click.option("--json", "as_json", is_flag=True, help="machine-readable output")
@click.option("-l", "--long", is_flag=True, help="show full object ids")
def ls_files(rev: str | None, as_json: bool, long: bool) -> None:
    """List model files in the index, or in REV: oid, * present / - missing, path, size."""
    from gitmodel.commands.ls_files import ls_files as run

    _exit(run(rev, as_json=as_json, long=long))


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="machine-readable output")
def status(as_json: bool) -> None:
    """Model files staged, modified, untracked, and committed but not pushed."""
    from gitmodel.commands.status import status as run

    _exit(run(as_json=as_json))


@cli.command()
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--check", is_flag=True, help="fail unless FILE is a canonical pointer")
def pointer(file: str, check: bool) -> None:
    """Show the pointer for FILE, or check a pointer file."""
    from gitmodel.commands.pointer_cmd import show_pointer

    _exit(show_pointer(file, check=check))


@cli.command()
def env() -> None:
    """Show versions, configuration and store paths."""
    from gitmodel.commands.env import env as run

    _exit(run())


def _transfer_options(func: Callable[..., None]) -> Callable[..., None]:
    func = click.option("-q", "--quiet", is_flag=True, help="no progress output")(func)
    return click.option(
        "-j", "--jobs", type=click.IntRange(1, 64), help="parallel transfers (default: by CPUs)"
    )(func)


@cli.group(invoke_without_command=True)
@click.pass_context
def remote(ctx: click.Context) -> None:
    """Show or set where each Git remote's model objects are stored."""
    if ctx.invoked_subcommand is None:
        from gitmodel.commands.remote import show

        _exit(show())


@remote.command("show")
def remote_show() -> None:
    """List Git remotes and their model stores."""
    from gitmodel.commands.remote import show

    _exit(show())


@remote.command("set")
@click.argument("args", nargs=-1, required=True)
def remote_set(args: tuple[str, ...]) -> None:
    """Set the model store URL: set [REMOTE] URL (s3://…, gs://…, az://…, file://…)."""
    from gitmodel.commands.remote import set_url

    if len(args) > 2:
        raise click.UsageError("expected [REMOTE] URL")
    _exit(set_url(args[0] if len(args) == 2 else None, args[-1]))


@remote.command("unset")
@click.argument("name", required=False)
def remote_unset(name: str | None) -> None:
    """Forget the model store URL of REMOTE."""
    from gitmodel.commands.remote import unset

    _exit(unset(name))


@cli.command()
@click.argument("remote_name", metavar="[REMOTE]", required=False)
@click.argument("refs", nargs=-1)
@click.option("--all", "all_refs", is_flag=True, help="objects of every branch and tag")
@_transfer_options
def push(remote_name: str | None, refs: tuple[str, ...], all_refs: bool, jobs: int | None,
         quiet: bool) -> None:  # fmt: skip
    """Upload the model objects of REFs (default HEAD) that the remote lacks."""
    from gitmodel.commands.push import push as run

    _exit(run(remote_name, list(refs), all_refs, jobs, quiet))


@cli.command()
@click.argument("remote_name", metavar="[REMOTE]", required=False)
@click.argument("refs", nargs=-1)
@click.option("-I", "--include", multiple=True, help="only paths matching this glob")
@click.option("-X", "--exclude", multiple=True, help="skip paths matching this glob")
@_transfer_options
def fetch(remote_name: str | None, refs: tuple[str, ...], include: tuple[str, ...],
          exclude: tuple[str, ...], jobs: int | None, quiet: bool) -> None:  # fmt: skip
    """Download the model objects of REFs (default HEAD) that the local store lacks."""
    from gitmodel.commands.fetch import fetch as run

    _exit(run(remote_name, list(refs), list(include), list(exclude), jobs, quiet))


@cli.command()
@click.argument("remote_name", metavar="[REMOTE]", required=False)
@click.option("-I", "--include", multiple=True, help="only paths matching this glob")
@click.option("-X", "--exclude", multiple=True, help="skip paths matching this glob")
@_transfer_options
def pull(remote_name: str | None, include: tuple[str, ...], exclude: tuple[str, ...],
         jobs: int | None, quiet: bool) -> None:  # fmt: skip
    """Fetch, then write model files that are still pointers into the worktree."""
    from gitmodel.commands.fetch import pull as run

    _exit(run(remote_name, list(include), list(exclude), jobs, quiet))


@cli.command("filter-process")
@click.option("--skip", is_flag=True, help="smudge to pointers")
def filter_process(skip: bool) -> None:
    """Run the long-running filter process (started by Git)."""
    from gitmodel.commands.filter import filter_process as run

    _exit(run(skip_smudge=skip))


@cli.command()
@click.argument("path", required=False)
def clean(path: str | None) -> None:
    """Convert content on stdin to a pointer on stdout (one-shot filter)."""
    from gitmodel.commands.filter import clean_file

    _exit(clean_file(path))


@cli.command()
@click.argument("path", required=False)
@click.option("--skip", is_flag=True, help="write the pointer instead of the content")
def smudge(path: str | None, skip: bool) -> None:
    """Convert a pointer on stdin to content on stdout (one-shot filter)."""
    from gitmodel.commands.filter import smudge_file

    _exit(smudge_file(path, skip_smudge=skip))


@cli.command(hidden=True, context_settings={"ignore_unknown_options": True})
@click.argument("name")
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def hook(name: str, args: tuple[str, ...]) -> None:
    """Run gitmodel's part of a Git hook."""
    from gitmodel.commands.hook import run_hook

    _exit(run_hook(name, list(args)))


class _PathsAfterDashDash(click.Command):
    """Keeps what follows ``--`` apart (as Git does) in ``ctx.meta["paths"]``."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        paths: list[str] = []
        if "--" in args:
            cut = args.index("--")
            args, paths = args[:cut], args[cut + 1 :]
        ctx.meta["paths"] = paths
        return super().parse_args(ctx, args)


@cli.command(cls=_PathsAfterDashDash)
@click.argument("revs", nargs=-1, metavar="[REV [REV]] [-- PATH...]")
@click.option("--cached", "--staged", "cached", is_flag=True, help="compare the index with REV")
@click.option("--json", "as_json", is_flag=True, help="machine-readable output")
@click.pass_context
def diff(ctx: click.Context, revs: tuple[str, ...], cached: bool, as_json: bool) -> None:
    """Tensor-level changes of model files (worktree vs index, REV vs worktree, REV vs REV)."""
    from gitmodel.commands.diff import diff as run

    _exit(run(list(revs), ctx.meta["paths"], cached=cached, as_json=as_json))


@cli.command()
@click.argument("spec", metavar="PATH[@REV]")
@click.option("--json", "as_json", is_flag=True, help="machine-readable output")
def inspect(spec: str, as_json: bool) -> None:
    """Format, metadata, tensor table and parameter counts of a model file."""
    from gitmodel.commands.inspect import inspect as run

    _exit(run(spec, as_json=as_json))


@cli.command("diff-driver", hidden=True, context_settings={"ignore_unknown_options": True})
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def diff_driver(args: tuple[str, ...]) -> None:
    """External diff for ``diff=model`` files (run by Git)."""
    from gitmodel.commands.diff_driver import external_diff

    _exit(external_diff(list(args)))


@cli.command(hidden=True)
@click.argument("file")
def textconv(file: str) -> None:
    """Text summary of a ``diff=model`` file for Git's line diff (run by Git)."""
    from gitmodel.commands.diff_driver import textconv as run

    _exit(run(file))


def main() -> None:
    """Entry point: run the CLI and turn failures into one-line errors and exit codes."""
    try:
        cli.main(standalone_mode=False)
    except click.exceptions.Abort:
        sys.exit(EXIT_INTERRUPT)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except GitModelError as exc:
        print(f"gitmodel: error: {exc}", file=sys.stderr)
        if exc.hint:
            print(f"hint: {exc.hint}", file=sys.stderr)
        sys.exit(EXIT_ERROR)
    except KeyboardInterrupt:
        sys.exit(EXIT_INTERRUPT)
    except BrokenPipeError:
        sys.exit(EXIT_ERROR)
    except Exception:
        traceback.print_exc()
        print(
            "gitmodel: internal error (a bug); please report it with the trace above",
            file=sys.stderr,
        )
        sys.exit(EXIT_BUG)
