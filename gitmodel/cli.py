"""The ``git-model`` command line. Parses options, calls one command, maps errors to exits."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from typing import IO, TYPE_CHECKING, Any

import click

from gitmodel import __version__
from gitmodel.entry import EXIT_INTERRUPT, guarded
from gitmodel.errors import GitModelError, UserError
from gitmodel.sizes import parse_size
from gitmodel.specs import ModelSpec, PathSpec, parse_model_spec, parse_path_spec

if TYPE_CHECKING:
    from gitmodel import manpage

SCOPES = ("local", "global", "system", "worktree")

if TYPE_CHECKING:  # generic from click 8.4 on; the subscript would fail at run time before
    _ParamType = click.ParamType[Any]
else:
    _ParamType = click.ParamType


class _BadValue(click.BadParameter):
    """A value that does not parse: a usage error (exit 2), shown as every gitmodel
    error is, one line (naming the option) and a hint."""

    def __init__(self, error: UserError, param: click.Parameter | None) -> None:
        long_name = max(param.opts, key=len) if isinstance(param, click.Option) else ""
        super().__init__(f"{long_name}: {error}" if long_name else str(error), param=param)
        self.hint = error.hint

    def show(self, file: IO[Any] | None = None) -> None:
        from gitmodel.urls import scrub

        click.echo(f"gitmodel: error: {scrub(self.message)}", file=file, err=True)
        if self.hint:
            click.echo(f"hint: {scrub(self.hint)}", file=file, err=True)


class _StrictType(_ParamType):
    """A parameter read by one of gitmodel's strict parsers, so that a bad value fails
    before the command runs; the command gets the parsed object."""

    def parse(self, text: str) -> Any:
        raise NotImplementedError

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if not isinstance(value, str):
            return value  # already parsed
        try:
            return self.parse(value)
        except UserError as exc:
            raise _BadValue(exc, param) from exc


class PathSpecType(_StrictType):
    """A file, as written or at a revision: ``PATH[@REV]`` (:mod:`gitmodel.specs`), read
    against the worktree (from the current directory) and the revisions of its repository."""

    name = "PATH[@REV]"

    def parse(self, text: str) -> PathSpec:
        return parse_path_spec(text, exists=os.path.lexists, is_rev=_names_commit)


def _names_commit(rev: str) -> bool:
    """Whether ``rev`` names a commit in the current directory's repository (outside
    one, none: the command then says where it needs to run)."""
    from gitmodel import git

    try:
        return git.Repo.discover().commit_of(rev) is not None
    except GitModelError:
        return False


class ModelSpecType(_StrictType):
    """A registered model's version: ``NAME[@VERSION|@STAGE|@REV]`` (:mod:`gitmodel.specs`)."""

    name = "NAME[@VERSION]"

    def parse(self, text: str) -> ModelSpec:
        return parse_model_spec(text)


class SizeType(_StrictType):
    """A size in bytes: ``10485760``, ``500k``, ``64MiB`` (:func:`gitmodel.sizes.parse_size`)."""

    name = "size"

    def parse(self, text: str) -> int:
        return parse_size(text)


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
@click.option("--force", is_flag=True,
              help="replace a hook even when a .gitmodel-legacy copy exists")  # fmt: skip
@click.option(
    "--lfs/--no-lfs",
    default=None,
    help="serve filter=lfs too (default: only when git-lfs does not: not installed or not set up)",
)
def install(skip_smudge: bool, force: bool, lfs: bool | None, **scopes: bool) -> None:
    """Configure the model filter and install the hooks in this repository."""
    from gitmodel.commands.install import install as run

    _exit(run(_scope(scopes), skip_smudge=skip_smudge, force=force, lfs=lfs))


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


class _PathsAfterDashDash(click.Command):
    """Keeps what follows ``--`` apart (as Git does) in ``ctx.meta["paths"]``."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        paths: list[str] = []
        if "--" in args:
            cut = args.index("--")
            args, paths = args[:cut], args[cut + 1 :]
        ctx.meta["paths"] = paths
        return super().parse_args(ctx, args)


@cli.command("ls-files", cls=_PathsAfterDashDash)
@click.argument("given", nargs=-1, metavar="[REV] [[--] PATH...]")
@click.option("--json", "as_json", is_flag=True, help="machine-readable output")
@click.option("-l", "--long", is_flag=True, help="show full object ids")
@click.pass_context
def ls_files(ctx: click.Context, given: tuple[str, ...], as_json: bool, long: bool) -> None:
    """List model files in the index, or in REV: oid, * present / - missing, path, size.

    PATHs (files or folders) limit the list, with or without --; a first PATH that
    names no revision is a PATH too."""
    from gitmodel.commands.ls_files import ls_files as run

    rev, paths = (given[0], [*given[1:], *ctx.meta["paths"]]) if given else (None, [])
    _exit(run(rev, paths or ctx.meta["paths"], as_json=as_json, long=long))


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="machine-readable output")
def status(as_json: bool) -> None:
    """Model files staged, modified, in conflict, untracked, and committed but not pushed."""
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
    """Show or set where each Git remote's model objects are stored.

    A Git remote that is a local path needs nothing: its objects go under its own git
    directory. Any other needs a store URL (s3://, gs://, az://, sftp://, file://),
    kept in your git config, or with --shared in the committed .gitmodel file that
    every clone reads."""
    if ctx.invoked_subcommand is None:
        from gitmodel.commands.remote import show

        _exit(show())


@remote.command("show")
def remote_show() -> None:
    """List Git remotes and their model stores."""
    from gitmodel.commands.remote import show

    _exit(show())


@remote.command("set")
@click.argument("args", nargs=-1, required=True, metavar="[REMOTE] URL")
@click.option("--shared", is_flag=True,
              help="also write it to .gitmodel and stage it, for every clone")  # fmt: skip
def remote_set(args: tuple[str, ...], shared: bool) -> None:
    """Set the model store URL: set [REMOTE] URL (s3://…, gs://…, az://…, file://…).

    Without --shared the URL goes to this repository's git config only, and a
    teammate's clone cannot find the objects pushed there. With --shared it is also
    written to .gitmodel (with the remote's modelendpoint and modelregion, if set),
    which is staged: commit and push it, and every clone uses that store."""
    from gitmodel.commands.remote import set_url

    if len(args) > 2:
        raise click.UsageError("expected [REMOTE] URL")
    _exit(set_url(args[0] if len(args) == 2 else None, args[-1], shared))


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
@click.option("--repair", is_flag=True,
              help="read the remote's copies back; send the damaged ones again")  # fmt: skip
@_transfer_options
def push(remote_name: str | None, refs: tuple[str, ...], all_refs: bool, repair: bool,
         jobs: int | None, quiet: bool) -> None:  # fmt: skip
    """Upload the model objects of REFs (default HEAD) that the remote lacks.

    git push does the same from its pre-push hook. Only chunks the remote does not hold
    travel, packed. On a terminal a progress line shows the objects and bytes sent, the
    rate and the time left (GIT_MODEL_PROGRESS=1 shows it anywhere, 0 nowhere).

    --repair first reads back the remote's copy of each object of REFs held here; the
    remote forgets each damaged one, and this clone's copy (checked first) is sent."""
    from gitmodel.commands.push import push as run

    _exit(run(remote_name, list(refs), all_refs, jobs, quiet, repair))


@cli.command()
@click.argument("remote_name", metavar="[REMOTE]", required=False)
@click.argument("refs", nargs=-1)
@click.option("-I", "--include", multiple=True, metavar="GLOB", help="only paths matching GLOB")
@click.option("-X", "--exclude", multiple=True, metavar="GLOB", help="skip paths matching GLOB")
@click.option("--logs-only", is_flag=True,
              help="only the registry, lineage, requests and locks logs, checked")  # fmt: skip
@_transfer_options
def fetch(remote_name: str | None, refs: tuple[str, ...], include: tuple[str, ...],
          exclude: tuple[str, ...], logs_only: bool, jobs: int | None,
          quiet: bool) -> None:  # fmt: skip
    """Download the model objects of REFs (default HEAD) that the local store lacks.

    Without REFs, only files checked out: a sparse checkout's other paths are left out.

    Chunks already held by local objects (earlier versions) are not downloaded again;
    every chunk is checked against its id and every file against its sha256. Progress
    shows on a terminal, as for push.

    The remote's record logs (refs/gitmodel/*) come too, each checked before it is
    taken: an unreadable record, or a state that does not follow from the records, is
    refused and the local log stays as it was. --logs-only fetches only them (for CI,
    instead of fetching refs/gitmodel/* with git, which checks nothing)."""
    if logs_only:
        if refs or include or exclude:
            raise click.UsageError("--logs-only takes no REFs, --include or --exclude")
        from gitmodel.commands.fetch import fetch_logs

        _exit(fetch_logs(remote_name, quiet))
        return
    from gitmodel.commands.fetch import fetch as run

    _exit(run(remote_name, list(refs), list(include), list(exclude), jobs, quiet))


@cli.command()
@click.argument("remote_name", metavar="[REMOTE]", required=False)
@click.option("-I", "--include", multiple=True, metavar="GLOB", help="only paths matching GLOB")
@click.option("-X", "--exclude", multiple=True, metavar="GLOB", help="skip paths matching GLOB")
@_transfer_options
def pull(remote_name: str | None, include: tuple[str, ...], exclude: tuple[str, ...],
         jobs: int | None, quiet: bool) -> None:  # fmt: skip
    """Fetch, then write model files that are still pointers into the worktree.

    Also writes model files missing from the worktree (a checkout that failed), as
    git lfs pull does; each file is written aside and renamed into place. Paths a sparse
    checkout leaves out are neither fetched nor written."""
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
@click.argument("spec", type=PathSpecType(), metavar="PATH[@REV]")
@click.option("--json", "as_json", is_flag=True, help="machine-readable output")
def model_log(spec: PathSpec, as_json: bool) -> None:
    """Every version of a model file through history (following renames), newest first."""
    from gitmodel.commands.model_log import log as run

    _exit(run(spec, as_json=as_json))


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
@click.argument("spec", type=PathSpecType(), metavar="PATH[@REV]")
@click.option("--json", "as_json", is_flag=True, help="machine-readable output")
def inspect(spec: PathSpec, as_json: bool) -> None:
    """Format, metadata, tensor table and parameter counts of a model file.

    PATH is the worktree's file; PATH@REV the file as REV holds it, which needs no
    worktree: in a bare repository, name PATH from the top of the tree."""
    from gitmodel.commands.inspect import inspect as run

    _exit(run(spec, as_json=as_json))


def _provenance_options(func: Callable[..., None]) -> Callable[..., None]:
    options = [
        click.option("--base", "bases", type=PathSpecType(), multiple=True, metavar="PATH[@REV]",
                     help="a model this version was made from (fine-tuned, distilled…)"),
        click.option("--data", "data", type=PathSpecType(), multiple=True, metavar="PATH[@REV]",
                     help="a data set version it was trained or evaluated on: a file, or a "
                     "folder of tracked files as one input"),
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
def commit(messages: tuple[str, ...], bases: tuple[PathSpec, ...], data: tuple[PathSpec, ...],
           params: tuple[str, ...], outputs: tuple[str, ...]) -> None:  # fmt: skip
    """git commit the staged changes and record where their model versions came from."""
    from gitmodel.commands import provenance_cmd

    plan = provenance_cmd.plan(list(bases), list(data), list(outputs), list(params))
    _exit(provenance_cmd.commit(list(messages), plan))


@cli.command()
@click.argument("rev")
@_provenance_options
def record(rev: str, bases: tuple[PathSpec, ...], data: tuple[PathSpec, ...],
           params: tuple[str, ...], outputs: tuple[str, ...]) -> None:  # fmt: skip
    """Record the provenance of an existing commit REV."""
    from gitmodel.commands import provenance_cmd

    plan = provenance_cmd.plan(list(bases), list(data), list(outputs), list(params))
    _exit(provenance_cmd.record(rev, plan))


@cli.command()
@click.argument("spec", type=PathSpecType(), metavar="PATH[@REV]")
@click.option("--metric", "metrics", multiple=True, metavar="KEY=VALUE", help="a metric")
@click.option("--note", help="a free-text note (evaluation, approval…)")
def annotate(spec: PathSpec, metrics: tuple[str, ...], note: str | None) -> None:
    """Attach metrics or a note to a version, without rewriting history."""
    from gitmodel.commands.annotate import annotate as run

    _exit(run(spec, list(metrics), note))


@cli.command()
@click.argument("spec", type=PathSpecType(), metavar="PATH[@REV]")
@click.option("--downstream", is_flag=True, help="what was made from it, not what it came from")
@click.option("--json", "as_json", is_flag=True, help="machine-readable output")
@click.option("--format", "fmt", type=click.Choice(["tree", "mermaid", "dot"]), default="tree",
              help="text tree (default), Mermaid flowchart or Graphviz DOT")  # fmt: skip
@click.option("--html", "html_file", type=click.Path(dir_okay=False),
              help="also write a self-contained page drawing the graph")  # fmt: skip
def lineage(
    spec: PathSpec, downstream: bool, as_json: bool, fmt: str, html_file: str | None
) -> None:
    """The lineage graph of a model or data set version."""
    from gitmodel.commands.lineage_cmd import lineage as run

    _exit(run(spec, downstream, as_json, fmt, html_file))


@cli.command()
@click.argument("spec", type=PathSpecType(), metavar="PATH[@REV]")
@click.option("--json", "as_json", is_flag=True, help="machine-readable output")
def show(spec: PathSpec, as_json: bool) -> None:
    """One version's card: identity, size, commit, provenance, metrics."""
    from gitmodel.commands.show import show as run

    _exit(run(spec, as_json=as_json))


@cli.command("diff-driver", hidden=True, context_settings={"ignore_unknown_options": True})
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def diff_driver(args: tuple[str, ...]) -> None:
    """External diff for ``diff=model`` files (run by Git)."""
    from gitmodel.commands.diff_driver import external_diff

    _exit(external_diff(list(args)))


@cli.command("merge-driver", hidden=True)
@click.argument("base")
@click.argument("ours")
@click.argument("theirs")
@click.argument("path")
def merge_driver(base: str, ours: str, theirs: str, path: str) -> None:
    """Merge driver for ``merge=model`` files: keeps yours, in conflict (run by Git)."""
    from gitmodel.commands.merge_driver import merge_driver as run

    _exit(run(base, ours, theirs, path))


@cli.command(hidden=True)
@click.argument("file")
def textconv(file: str) -> None:
    """Text summary of a ``diff=model`` file for Git's line diff (run by Git)."""
    from gitmodel.commands.diff_driver import textconv as run

    _exit(run(file))


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
    from gitmodel.commands.versions import list_versions

    _exit(list_versions(name, as_json=as_json))


@cli.command()
@click.argument("spec", type=ModelSpecType(), metavar="NAME[@VERSION|@STAGE|@REV]")
@click.argument("stage")
@click.option("-m", "--message", "--reason", "message", default="", help="why (recorded)")
@click.option("--weight", type=int, help="percent of traffic, keeping the current version "
              "for the rest (canary / blue-green)")  # fmt: skip
@click.option("--force", is_flag=True, help="bypass the policy (needs -m; recorded)")
def promote(spec: ModelSpec, stage: str, message: str, weight: int | None, force: bool) -> None:
    """Assign a version of a model (default: the latest; NAME@STAGE: what that stage
    mostly serves) to STAGE."""
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
@click.option("--to", "to", metavar="VERSION",
              help="a version the stage held before, instead of the previous one")  # fmt: skip
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
@click.argument("spec", type=ModelSpecType(), metavar="NAME@STAGE")
@click.option("--json", "as_json", is_flag=True, help="machine-readable output")
def resolve(spec: ModelSpec, as_json: bool) -> None:
    """What NAME@STAGE serves: versions, weights, commits, paths, oids, sizes."""
    from gitmodel.commands.registry_cmd import resolve as run

    _exit(run(spec, as_json=as_json))


@cli.command("checkout")
@click.argument("spec", type=ModelSpecType(), metavar="NAME@STAGE|NAME@VERSION")
@click.option("--to", "to", type=click.Path(file_okay=False),
              help="write under DIR instead of the worktree")  # fmt: skip
def model_checkout(spec: ModelSpec, to: str | None) -> None:
    """Write exactly the files of one model version (a stage's, or a numbered one)."""
    from gitmodel.commands.model_checkout import checkout as run

    _exit(run(spec, to))


# -- change management: requests, approvals, review, audit --------------------------


@cli.command()
@click.argument("spec", type=ModelSpecType(), metavar="NAME@VERSION|NAME@STAGE")
@click.argument("stage")
@click.option("-m", "--message", default="", help="why (recorded; required)")
def request(spec: ModelSpec, stage: str, message: str) -> None:
    """Ask for a version of a model to enter STAGE; prints the request id."""
    from gitmodel.commands.request import request as run

    _exit(run(spec, stage, message))


@cli.command()
@click.argument("request_id", metavar="REQUEST")
@click.option("-m", "--message", default="", help="why (recorded; required)")
def approve(request_id: str, message: str) -> None:
    """Approve a change request (signed when your Git signs)."""
    from gitmodel.commands.request import decide

    _exit(decide("approve", request_id, message))


@cli.command()
@click.argument("request_id", metavar="REQUEST")
@click.option("-m", "--message", default="", help="why (recorded; required)")
def reject(request_id: str, message: str) -> None:
    """Reject a change request (its requester may withdraw it this way); a canary under
    way under it is withdrawn."""
    from gitmodel.commands.request import decide

    _exit(decide("reject", request_id, message))


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="machine-readable output")
def requests(as_json: bool) -> None:
    """Every change request, newest first, with its decisions and status."""
    from gitmodel.commands.request import list_requests

    _exit(list_requests(as_json=as_json))


@cli.command()
@click.argument("spec", type=ModelSpecType(), metavar="NAME@VERSION")
@click.option("--against", metavar="STAGE|vM", help="compare with what STAGE holds, or a "
              "version (default: the previous version)")  # fmt: skip
@click.option("--stage", metavar="STAGE", help="dry-run this stage's policy "
              "(default: the --against stage)")  # fmt: skip
@click.option("--json", "as_json", is_flag=True, help="machine-readable output")
@click.option("--markdown", is_flag=True, help="Markdown, for a pull request comment")
@click.option("--html", "html_file", type=click.Path(dir_okay=False), metavar="FILE",
              help="also write a self-contained page: lineage graph, metrics chart")  # fmt: skip
@click.option("--check", is_flag=True, help="exit 1 when the policy dry run fails")
def review(spec: ModelSpec, against: str | None, stage: str | None, as_json: bool,
           markdown: bool, html_file: str | None, check: bool) -> None:  # fmt: skip
    """Impact report of a version against what it would replace: tensors, metrics,
    lineage, files and a dry run of the stage's policy."""
    from gitmodel.commands.review import review as run

    if as_json and markdown:
        raise click.UsageError("choose one of --json and --markdown")
    fmt = "json" if as_json else "markdown" if markdown else "text"
    _exit(run(spec, against, stage, fmt, html_file, check))


@cli.command()
@click.argument("name", required=False)
@click.option("--since", metavar="DATE", help="only changes from DATE on (2026-01-31, ISO 8601)")
@click.option("--json", "as_json", is_flag=True, help="machine-readable output")
@click.option("--csv", "as_csv", is_flag=True, help="one row per stage change")
@click.option("--html", "html_file", type=click.Path(dir_okay=False), metavar="FILE",
              help="also write a self-contained page")  # fmt: skip
def audit(name: str | None, since: str | None, as_json: bool, as_csv: bool,
          html_file: str | None) -> None:  # fmt: skip
    """Every stage change with who requested, approved and made it, forced bypasses and
    signatures; exit 1 when one breaks the policy."""
    from gitmodel.commands.audit import audit as run

    if as_json and as_csv:
        raise click.UsageError("choose one of --json and --csv")
    fmt = "json" if as_json else "csv" if as_csv else "text"
    _exit(run(name, since, fmt, html_file))


@cli.command()
@click.argument("args", nargs=-1, metavar="NAME@STAGE DIR")
@click.option("--from", "source", metavar="URL", help="the repository to read (no clone needed)")
@click.option("--keep", type=click.IntRange(1), default=3, show_default=True, metavar="K",
              help="releases to keep")  # fmt: skip
@click.option("--check", metavar="CMD", help="a health check run in each new release first")
@click.option("--check-timeout", type=click.FloatRange(0), default=600.0, show_default=True,
              metavar="SECONDS", help="stop a check that runs longer (0: no limit)")  # fmt: skip
@click.option("--rollback", "back", is_flag=True, help="serve DIR's previous deployment again")
@click.option("--model-url", metavar="URL", help="the model store, when --from does not name one")
def deploy(args: tuple[str, ...], source: str | None, keep: int, check: str | None,
           check_timeout: float, back: bool, model_url: str | None) -> None:  # fmt: skip
    """Deploy what NAME@STAGE serves into DIR/releases, switching DIR/current atomically."""
    from gitmodel.commands import deploy as run

    if back:
        if len(args) != 1:
            raise click.UsageError("usage: git model deploy --rollback DIR")
        _exit(run.rollback_folder(args[0]))
        return
    if len(args) != 2:
        raise click.UsageError("usage: git model deploy NAME@STAGE DIR [--from URL]")
    spec = ModelSpecType().convert(args[0], None, None)
    _exit(run.deploy_stage(spec, args[1], source, keep, check, model_url, check_timeout))


def main() -> None:
    """Run the CLI and turn failures into one-line errors and exit codes."""
    sys.exit(guarded(_run))


def _run() -> int:
    page = _manual_asked(sys.argv[1:])
    if page is not None:
        from gitmodel.commands.manual import show

        if show(page):
            return 0  # else click prints its own help, as it would without pages
    try:
        cli.main(standalone_mode=False)
    except click.exceptions.Abort:
        return EXIT_INTERRUPT
    except click.ClickException as exc:
        exc.show()
        return exc.exit_code
    return 0


@cli.command()
@click.argument("refs", nargs=-1, metavar="[REF…]")
@click.option("--all", "all_refs", is_flag=True,
              help="every branch and tag, stash entry, and worktree's HEAD and index")  # fmt: skip
@click.option("--pointers", is_flag=True, help="check only the pointers (and what they name)")
@click.option("--objects", is_flag=True, help="check only the objects in the local store")
@click.option("--remote", is_flag=True, help="ask the remote about objects missing locally")
@click.option("--repair", is_flag=True, help="fetch corrupt and missing objects again")
def fsck(refs: tuple[str, ...], all_refs: bool, pointers: bool, objects: bool, remote: bool,
         repair: bool) -> None:  # fmt: skip
    """Verify local objects and pointers; exit 1 on problems.

    Without REF, the pointers in HEAD and the index. A REF is the tree of that commit,
    A..B the trees of every commit in the range; --all every branch and tag, every stash
    entry and each worktree's HEAD and index. Each model object they name that the local
    store lacks or holds damaged is one line: the file, the commit (short) holding it,
    and the command that fetches it again; past 20 missing ones, one line counts the rest."""
    from gitmodel.commands.fsck import fsck as run

    if refs and all_refs:
        raise click.UsageError("give REFs or --all, not both")
    _exit(run(pointers, objects, remote, repair, list(refs), all_refs))


@cli.command()
@click.option("--dry-run", "-n", is_flag=True, help="only list what would be deleted")
@click.option("--recent", type=click.IntRange(0), metavar="DAYS",
              help="keep objects of commits from the last DAYS days (default 10)")  # fmt: skip
@click.option("--verify-remote", is_flag=True, help="read the remote copy back before deleting")
def prune(dry_run: bool, recent: int | None, verify_remote: bool) -> None:
    """Delete local objects that are old, unreferenced and safely on the remote."""
    from gitmodel.commands.prune import prune as run

    _exit(run(dry_run, recent, verify_remote))


@cli.command()
@click.argument("remote_name", metavar="[REMOTE]", required=False)
@click.option("--local", "local", is_flag=True,
              help="the worktree and local store on disk, and what a prune could free")  # fmt: skip
@click.option("--json", "as_json", is_flag=True, help="print JSON")
def du(remote_name: str | None, local: bool, as_json: bool) -> None:
    """Show the remote's logical and stored bytes and dedup ratio, or (--local) disk use here."""
    from gitmodel.commands import du as command

    if local:
        if remote_name is not None:
            raise click.UsageError("--local takes no REMOTE")
        _exit(command.du_local(as_json))
    else:
        _exit(command.du(remote_name, as_json))


@cli.command()
@click.argument("remote_name", metavar="[REMOTE]", required=False)
@click.option("--remote", "remote_flag", is_flag=True, help="collect the remote store's garbage")
@click.option("--dry-run", "-n", is_flag=True, help="only report unreferenced objects")
@click.option("--grace", type=click.FloatRange(0), default=14.0, metavar="DAYS", show_default=True,
              help="delete only objects marked unreferenced at least DAYS ago")  # fmt: skip
def gc(remote_name: str | None, remote_flag: bool, dry_run: bool, grace: float) -> None:
    """Merge local packs; with --remote, sweep what no ref names after a grace period,
    and write the remote's small manifest batches together."""
    from gitmodel.commands.gc import gc as run

    _exit(run(remote_flag, remote_name, dry_run, grace))


@cli.group(invoke_without_command=True)
@click.option("--json", "as_json", is_flag=True, help="print JSON")
@click.pass_context
def cache(ctx: click.Context, as_json: bool) -> None:
    """Show or prune what reads without a clone keep (gitmodel://, deploy --from).

    The cache is ~/.cache/gitmodel ($XDG_CACHE_HOME/gitmodel): repository caches
    (trees and pointers), chunks, manifests and whole objects, all checked when used,
    so any of it may be removed; what is read again is fetched again."""
    if ctx.invoked_subcommand is None:
        from gitmodel.commands.cache import info

        _exit(info(as_json))


@cache.command("prune")
@click.option("--older-than", type=click.FloatRange(0), default=30.0, metavar="DAYS",
              show_default=True, help="remove what was not used for DAYS")  # fmt: skip
@click.option("--max-size", type=SizeType(), metavar="SIZE",
              help="then remove the least recently used until SIZE is left")  # fmt: skip
@click.option("--all", "everything", is_flag=True, help="remove everything not in use")
@click.option("--dry-run", "-n", is_flag=True, help="only say what would be removed")
def cache_prune(older_than: float, max_size: int | None, everything: bool, dry_run: bool) -> None:
    """Remove what the cache holds that was not used lately, or beyond a size."""
    from gitmodel.commands.cache import prune as run

    _exit(run(older_than, max_size, everything, dry_run))


@cache.command("forget")
@click.argument("url")
def cache_forget(url: str) -> None:
    """Remove what was read from the repository at URL, its registry log included.

    A deploy --from or gitmodel:// read refuses a registry log that no longer descends
    from the one it read before (force-pushed); once its owner says the log was
    rewritten on purpose, forget it here and the next read takes the log as it is."""
    from gitmodel.commands.cache import forget as run

    _exit(run(url))


@cli.command()
@click.argument("paths", nargs=-1, required=True)
@click.option("--remote", metavar="REMOTE", help="the remote that keeps the locks")
def lock(paths: tuple[str, ...], remote: str | None) -> None:
    """Lock files that cannot be merged, so that nobody else pushes changes to them."""
    from gitmodel.commands.lock import lock as run

    _exit(run(list(paths), remote))


@cli.command()
@click.argument("paths", nargs=-1, required=True)
@click.option("--force", is_flag=True, help="break a lock someone else holds")
@click.option("--remote", metavar="REMOTE", help="the remote that keeps the locks")
def unlock(paths: tuple[str, ...], force: bool, remote: str | None) -> None:
    """Release locks taken with `git model lock`."""
    from gitmodel.commands.lock import unlock as run

    _exit(run(list(paths), force, remote))


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="print JSON")
@click.option("--remote", metavar="REMOTE", help="the remote that keeps the locks")
def locks(as_json: bool, remote: str | None) -> None:
    """List the locks on the remote: path, owner, and since when."""
    from gitmodel.commands.lock import list_locks as run

    _exit(run(as_json, remote))


@cli.command("check-large", hidden=True)
@click.option("--max-size", type=SizeType(), default="10m", show_default=True, metavar="SIZE",
              help="largest file allowed outside the model filter (500k, 10m, 1g)")  # fmt: skip
@click.argument("files", nargs=-1)
def check_large(max_size: int, files: tuple[str, ...]) -> None:
    """Fail for FILES over SIZE that the model filter does not track (pre-commit hook)."""
    from gitmodel.commands.precommit import check_large as run

    _exit(run(list(files), max_size))


@cli.command("check-provenance", hidden=True)
@click.option(
    "--include",
    "include",
    multiple=True,
    metavar="GLOB",
    help="model files that need provenance (default: *.safetensors, *.gguf, …)",
)
@click.option("--from", "from_ref", default="", metavar="REV", help="what the remote has")
@click.option("--to", "to_ref", default="", metavar="REV", help="what is pushed (HEAD)")
def check_provenance(include: tuple[str, ...], from_ref: str, to_ref: str) -> None:
    """Fail for pushed model versions with no recorded provenance (pre-push hook)."""
    from gitmodel.commands.precommit import check_provenance as run

    _exit(run(list(include), from_ref, to_ref))


@cli.command("check-pointers", hidden=True)
@click.argument("files", nargs=-1)
def check_pointers(files: tuple[str, ...]) -> None:
    """Fail for staged FILES whose pointers are broken or whose objects are missing."""
    from gitmodel.commands.precommit import check_pointers as run

    _exit(run(list(files)))


@cli.group()
def migrate() -> None:
    """Move existing history into gitmodel (import) or out of it (export)."""


@migrate.command("import")
@click.option("-I", "--include", "globs", multiple=True, metavar="GLOB", help="files to convert")
@click.option("--everything", is_flag=True, help="every local branch and tag")
@click.option("--from-lfs", is_flag=True, help="adopt a git-lfs repository (no rewrite)")
@click.argument("refs", nargs=-1)
def migrate_import(globs: tuple[str, ...], everything: bool, from_lfs: bool,
                   refs: tuple[str, ...]) -> None:  # fmt: skip
    """Rewrite REFs (default: the current branch) so files matching GLOBs are pointers."""
    from gitmodel.commands.migrate import migrate_import as run

    _exit(run(list(globs), list(refs), everything, from_lfs))


@migrate.command("export")
@click.option("-I", "--include", "globs", multiple=True, metavar="GLOB", help="files to convert")
@click.option("--everything", is_flag=True, help="every local branch and tag")
@click.argument("refs", nargs=-1)
def migrate_export(globs: tuple[str, ...], everything: bool, refs: tuple[str, ...]) -> None:
    """Rewrite REFs (default: the current branch) so pointers at GLOBs are plain files."""
    from gitmodel.commands.migrate import migrate_export as run

    _exit(run(list(globs), list(refs), everything))


@cli.command()
@click.option("--timeout", type=click.FloatRange(0.1), default=10.0, show_default=True,
              metavar="SECONDS", help="how long to wait for the remote")  # fmt: skip
def doctor(timeout: float) -> None:
    """Check git, the filter, hooks, the store and the remote; each problem with its fix."""
    from gitmodel.commands.doctor import doctor as run

    _exit(run(timeout))


# -- the manual: git model help, VERB --help, and the pages install.sh installs


@cli.command("help")
@click.argument("words", nargs=-1, metavar="[VERB [SUBVERB]]")
def help_command(words: tuple[str, ...]) -> None:
    """Show the manual page of git-model, or of VERB (like git model VERB --help);
    VERB SUBVERB (git model help remote set) shows VERB's page."""
    from gitmodel.commands.manual import show

    command: click.Command = cli
    ctx = click.Context(cli, info_name="git-model")
    for depth, word in enumerate(words):
        group = command if isinstance(command, click.Group) else None
        found = group.commands.get(word) if group is not None else None
        if group is None or found is None or found.hidden:
            import difflib

            said = " ".join(words[: depth + 1])
            names = [n for n, c in (group.commands.items() if group else []) if not c.hidden]
            close = difflib.get_close_matches(word, names, n=3)
            hint = f" (did you mean {', '.join(repr(n) for n in close)}?)" if close else ""
            raise click.UsageError(f"no command {said!r}{hint}; see `git model help`")
        command, ctx = found, click.Context(found, info_name=word, parent=ctx)
    page = "git-model" if not words else f"git-model-{words[0]}"  # a subverb: on its verb's
    if not show(page):  # no pages installed, or no man: the short help instead
        click.echo(command.get_help(ctx))


@cli.command(hidden=True)
@click.option("--prefix", type=click.Path(file_okay=False),
              help="install under PREFIX/share (default: beside git-model on PATH)")  # fmt: skip
@click.option("--man-dir", type=click.Path(file_okay=False), help="write the roff pages here")
@click.option("--html-dir", type=click.Path(file_okay=False), help="write the HTML pages here")
def manual(prefix: str | None, man_dir: str | None, html_dir: str | None) -> None:
    """Write the manual pages (roff and HTML) where man finds them (install.sh runs it)."""
    from gitmodel.commands.manual import install

    _exit(install(manual_pages(), prefix, man_dir, html_dir))


def _manual_asked(args: list[str]) -> str | None:
    """The page ``--help`` asks for (``git-model`` or ``git-model-VERB``), or None; ``-h``
    is click's short help, as ``git push -h`` is Git's."""
    if "--help" not in (args[: args.index("--")] if "--" in args else args):
        return None
    verb = next((arg for arg in args if not arg.startswith("-")), None)
    if verb is None:
        return "git-model"
    command = cli.commands.get(verb)
    return None if command is None or command.hidden else f"git-model-{verb}"


def manual_pages() -> list[manpage.Page]:
    """git-model(1) and a page for every verb, read off the click commands."""
    from gitmodel import manpage

    root = click.Context(cli, info_name="git model")
    verbs = [(name, command) for name, command in cli.commands.items() if not command.hidden]
    main = _manual_command(cli, root)
    main = manpage.Command(main.words, main.usage, main.summary, manpage.DESCRIPTION,
                           main.options)  # fmt: skip
    listing = tuple((f"git-model-{name}", _manual_command(command, root).summary)
                    for name, command in verbs)  # fmt: skip
    pages = [manpage.Page("git-model", main.summary, (main,), manpage.main_sections(),
                          see_also=(), version=__version__, listing=listing)]  # fmt: skip
    for name, command in verbs:
        ctx = click.Context(command, info_name=name, parent=root)
        commands = [_manual_command(command, ctx)]
        if isinstance(command, click.Group):
            for sub_name, sub in command.commands.items():
                if not sub.hidden:
                    sub_ctx = click.Context(sub, info_name=sub_name, parent=ctx)
                    commands.append(_manual_command(sub, sub_ctx))
        pages.append(manpage.Page(f"git-model-{name}", commands[0].summary, tuple(commands),
                                  version=__version__))  # fmt: skip
    return pages


def _manual_command(command: click.Command, ctx: click.Context) -> manpage.Command:
    from gitmodel import manpage

    summary, _, description = (command.help or "").strip().partition("\n\n")
    options = [param.get_help_record(ctx) for param in command.get_params(ctx)
               if isinstance(param, click.Option) and "--help" not in param.opts]  # fmt: skip
    return manpage.Command(
        ctx.command_path, " ".join(command.collect_usage_pieces(ctx)), " ".join(summary.split()),
        description.strip(), tuple(manpage.Option(*o) for o in options if o is not None),
    )  # fmt: skip
