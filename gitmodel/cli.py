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


@cli.command("log")
@click.argument("spec", metavar="PATH[@REV]")
@click.option("--json", "as_json", is_flag=True, help="machine-readable output")
def model_log(spec: str, as_json: bool) -> None:
    """Every version of a model file through history (following renames), newest first."""
    from gitmodel.commands.model_log import log as run

    _exit(run(spec, as_json=as_json))


def _provenance_options(func: Callable[..., None]) -> Callable[..., None]:
    options = [
        click.option("--base", "bases", multiple=True, metavar="PATH[@REV]",
                     help="a model this version was made from (fine-tuned, distilled…)"),
        click.option("--data", "data", multiple=True, metavar="PATH[@REV]",
                     help="a data set version it was trained or evaluated on"),
        click.option("--param", "params", multiple=True, metavar="KEY=VALUE",
                     help="a training parameter"),
        click.option("--output", "outputs", multiple=True, metavar="PATH",
                     help="the model files it describes (default: those changed)"),
    ]  # fmt: skip
    for option in reversed(options):
        func = option(func)
    return func


@cli.command()
@click.option("-m", "--message", "messages", multiple=True, help="the commit message")
@_provenance_options
def commit(messages: tuple[str, ...], bases: tuple[str, ...], data: tuple[str, ...],
           params: tuple[str, ...], outputs: tuple[str, ...]) -> None:  # fmt: skip
    """git commit the staged changes and record where their model versions came from."""
    from gitmodel.commands import provenance_cmd

    plan = provenance_cmd.plan(list(bases), list(data), list(outputs), list(params))
    _exit(provenance_cmd.commit(list(messages), plan))


@cli.command()
@click.argument("rev")
@_provenance_options
def record(rev: str, bases: tuple[str, ...], data: tuple[str, ...], params: tuple[str, ...],
           outputs: tuple[str, ...]) -> None:  # fmt: skip
    """Record the provenance of an existing commit REV."""
    from gitmodel.commands import provenance_cmd

    plan = provenance_cmd.plan(list(bases), list(data), list(outputs), list(params))
    _exit(provenance_cmd.record(rev, plan))


@cli.command()
@click.argument("spec", metavar="PATH[@REV]")
@click.option("--metric", "metrics", multiple=True, metavar="KEY=VALUE", help="a metric")
@click.option("--note", help="a free-text note (evaluation, approval…)")
def annotate(spec: str, metrics: tuple[str, ...], note: str | None) -> None:
    """Attach metrics or a note to a version, without rewriting history."""
    from gitmodel.commands.annotate import annotate as run

    _exit(run(spec, list(metrics), note))


@cli.command()
@click.argument("spec", metavar="PATH[@REV]")
@click.option("--downstream", is_flag=True, help="what was made from it, not what it came from")
@click.option("--json", "as_json", is_flag=True, help="machine-readable output")
@click.option("--format", "fmt", type=click.Choice(["tree", "mermaid", "dot"]), default="tree",
              help="text tree (default), Mermaid flowchart or Graphviz DOT")  # fmt: skip
@click.option("--html", "html_file", type=click.Path(dir_okay=False),
              help="also write a self-contained page drawing the graph")  # fmt: skip
def lineage(spec: str, downstream: bool, as_json: bool, fmt: str, html_file: str | None) -> None:
    """The lineage graph of a model or data set version."""
    from gitmodel.commands.lineage_cmd import lineage as run

    _exit(run(spec, downstream, as_json, fmt, html_file))


@cli.command()
@click.argument("spec", metavar="PATH[@REV]")
@click.option("--json", "as_json", is_flag=True, help="machine-readable output")
def show(spec: str, as_json: bool) -> None:
    """One version's card: identity, size, commit, provenance, metrics."""
    from gitmodel.commands.show import show as run

    _exit(run(spec, as_json=as_json))


# -- registry: named models, stages, promotion ------------------------------------


@cli.command()
@click.argument("name")
@click.argument("paths", nargs=-1, required=True)
@click.option("-d", "--description", default="", help="what the model is")
@click.option("--stage", "stage_names", multiple=True,
              help="an allowed stage, repeatable (default: dev, staging, production)")  # fmt: skip
def register(name: str, paths: tuple[str, ...], description: str,
             stage_names: tuple[str, ...]) -> None:  # fmt: skip
    """Declare model NAME made of PATHS (files or folders) in .gitmodel-registry.json."""
    from gitmodel.commands.registry_cmd import register as run

    _exit(run(name, list(paths), description, list(stage_names)))


@cli.command()
@click.argument("name")
@click.option("--json", "as_json", is_flag=True, help="machine-readable output")
def versions(name: str, as_json: bool) -> None:
    """Every committed version of model NAME: number, commit, date, author, files."""
    from gitmodel.commands.registry_cmd import list_versions

    _exit(list_versions(name, as_json=as_json))


@cli.command()
@click.argument("spec", metavar="NAME[@VERSION|@REV]")
@click.argument("stage")
@click.option("-m", "--message", "--reason", "message", default="", help="why (recorded)")
@click.option("--weight", type=int, help="percent of traffic, keeping the current version "
              "for the rest (canary / blue-green)")  # fmt: skip
@click.option("--force", is_flag=True, help="bypass the policy (needs -m; recorded)")
def promote(spec: str, stage: str, message: str, weight: int | None, force: bool) -> None:
    """Assign a version of a model (default: the latest) to STAGE."""
    from gitmodel.commands.promote import promote as run

    _exit(run(spec, stage, message, weight, force))


@cli.command()
@click.argument("name", required=False)
@click.option("--json", "as_json", is_flag=True, help="machine-readable output")
def stages(name: str | None, as_json: bool) -> None:
    """What each stage of each model (or of NAME) holds now."""
    from gitmodel.commands.registry_cmd import show_stages

    _exit(show_stages(name, as_json=as_json))


@cli.command()
@click.argument("name")
@click.option("--stage", help="only events of this stage")
@click.option("-n", "--max-count", "limit", type=click.IntRange(min=0), help="at most N events")
@click.option("--json", "as_json", is_flag=True, help="machine-readable output")
def history(name: str, stage: str | None, limit: int | None, as_json: bool) -> None:
    """Every promotion, rollback and unassignment of NAME, newest first."""
    from gitmodel.commands.registry_cmd import history as run

    _exit(run(name, stage, as_json=as_json, limit=limit))


@cli.command()
@click.argument("name")
@click.argument("stage")
@click.option("--to", "to", metavar="VERSION", help="this version instead of the previous one")
@click.option("-m", "--message", "--reason", "message", default="", help="why (recorded)")
def rollback(name: str, stage: str, to: str | None, message: str) -> None:
    """Put back what STAGE held before its last change."""
    from gitmodel.commands.promote import rollback as run

    _exit(run(name, stage, to, message))


@cli.command()
@click.argument("name")
@click.argument("stage")
@click.option("-m", "--message", "--reason", "message", default="", help="why (recorded)")
def unassign(name: str, stage: str, message: str) -> None:
    """Remove whatever STAGE of NAME holds."""
    from gitmodel.commands.promote import unassign as run

    _exit(run(name, stage, message))


@cli.command()
@click.argument("spec", metavar="NAME@STAGE")
@click.option("--json", "as_json", is_flag=True, help="machine-readable output")
def resolve(spec: str, as_json: bool) -> None:
    """What NAME@STAGE serves: versions, weights, commits, paths, oids, sizes."""
    from gitmodel.commands.registry_cmd import resolve as run

    _exit(run(spec, as_json=as_json))


@cli.command("checkout")
@click.argument("spec", metavar="NAME@STAGE|NAME@VERSION")
@click.option("--to", "to", type=click.Path(file_okay=False),
              help="write under DIR instead of the worktree")  # fmt: skip
def model_checkout(spec: str, to: str | None) -> None:
    """Write exactly the files of one model version (a stage's, or a numbered one)."""
    from gitmodel.commands.model_checkout import checkout as run

    _exit(run(spec, to))


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
