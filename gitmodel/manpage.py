"""Manual pages: ``git-model(1)`` and one per verb, as roff for ``man`` and as HTML.

Pure: the pages are values (what ``cli.py`` reads off its click commands, plus the
text below that no command holds), and :func:`roff` and :func:`html` turn them into
text. Writing them where ``man`` looks is ``commands/manual.py``'s.
"""

from __future__ import annotations

import html as _html
import re
from dataclasses import dataclass, field

SECTION = "1"
MANUAL = "gitmodel manual"


@dataclass(frozen=True)
class Option:
    names: str  # as click shows them: "-j, --jobs INTEGER RANGE"
    help: str


@dataclass(frozen=True)
class Command:
    """One command line: ``git model push``, or a group's ``git model remote set``."""

    words: str  # "git model push"
    usage: str  # "[OPTIONS] [REMOTE] [REFS]..."
    summary: str
    description: str = ""
    options: tuple[Option, ...] = ()


@dataclass(frozen=True)
class Page:
    name: str  # "git-model-push"
    summary: str
    commands: tuple[Command, ...]  # the verb, then a group's subcommands
    sections: tuple[tuple[str, str], ...] = ()  # (title, text) after the options
    see_also: tuple[str, ...] = ("git-model",)
    version: str = ""
    listing: tuple[tuple[str, str], ...] = field(default=())  # (page, summary): git-model(1)

    @property
    def filename(self) -> str:
        return f"{self.name}.{SECTION}"


# -- what git-model(1) says beyond the commands' own help

DESCRIPTION = """\
gitmodel keeps large model weights and data sets out of Git history: Git holds \
small pointer files (Git LFS pointers, byte for byte) and the bytes go to a \
content-addressed local store and, on push, to a model remote: any object \
storage fsspec reaches (s3://, gs://, az://, sftp://, file://), chunked and \
deduplicated. git add, commit, checkout, switch, stash, worktrees and clone keep \
working through the model filter; git model adds the commands below.

Run git model install once, then git model track PATTERN in each repository. \
git model help COMMAND (or git model COMMAND --help) shows a command's page, \
git model COMMAND -h its short help."""

ENVIRONMENT = (
    ("GIT_MODEL_SKIP_SMUDGE", "1: check out pointers instead of content; "
     "git model pull fills them in later."),
    ("GIT_MODEL_PROGRESS", "1: show progress lines even when stderr is not a terminal; "
     "0: never show them. Without it they show on a terminal only."),
    ("GIT_MODEL_TRACE", "1: print what the filter and the hooks do to stderr."),
    ("GIT_MODEL_ENCRYPTION_KEY", "64 hex digits: encrypt chunks on the client "
     "(overrides model.encryptionKeyFile)."),
    ("GIT_MODEL_TEST_FAULTS", "fail=0.2,truncate=0.1,delay=0.01,seed=1: make remote calls "
     "fail, come back short or wait, to see retries at work."),
)  # fmt: skip

CONFIGURATION = (
    ("remote.NAME.modelurl", "where the model objects of Git remote NAME go (git model "
     "remote set); none is needed for a Git remote that is a local path."),
    ("remote.NAME.modelendpoint, modelregion, modelprofile", "an S3-compatible endpoint "
     "(or an Azure account's blob endpoint), the region, the AWS profile."),
    ("model.remote", "the Git remote whose model remote commands use by default."),
    ("model.jobs", "parallel downloads during checkout (default: by CPUs, at most 8)."),
    ("model.retries, model.retryDelay, model.retryTimeout, model.timeout",
     "how often and how long a remote request is tried (8, 0.25 s doubling, 60 s, 30 s)."),
    ("model.chunking", "false: push whole objects (remote layout 1) instead of chunks."),
    ("model.encryptionKeyFile", "a file holding a 32-byte key as 64 hex digits."),
    ("model.directCheckoutThreshold", "files this large (default 128m) are written by the "
     "post-checkout hook instead of through Git's smudge pipe; 0 turns that off."),
    ("model.autoInstallHooks", "false: the filter does not install missing hooks."),
    ("model.hookTimeout", "seconds a pre-promote or post-promote hook may run before it "
     "and every process it started are stopped (default 600; 0: no limit)."),
    ("core.untrackedCache", "Git's own; gitmodel sets it true in a repository the filter "
     "runs in (git status then reads only changed folders) unless it or feature.manyFiles "
     "is set in any scope: set it false to keep the cache off."),
)  # fmt: skip

FILES = (
    (".gitattributes", "PATTERN filter=model diff=model merge=model -text, per tracked pattern."),
    (".gitmodel", "the shared store settings, committed (git model remote set --shared)."),
    (".gitmodel-registry.json", "the registry's model declarations."),
    ("$GIT_COMMON_DIR/model/", "the local store: objects, packs, chunk lists, tensor indexes."),
)  # fmt: skip

EXIT_STATUS = (
    ("0", "success."),
    ("1", "a problem to fix, said in one line and a hint: line."),
    ("2", "a command line that could not be parsed."),
    ("3", "a bug: the trace above it belongs in a report."),
    ("130", "interrupted."),
)


def main_sections() -> tuple[tuple[str, str], ...]:
    """The sections of ``git-model(1)`` after its command list."""
    return (
        ("ENVIRONMENT", _terms(ENVIRONMENT)),
        ("CONFIGURATION", _terms(CONFIGURATION)),
        ("FILES", _terms(FILES)),
        ("EXIT STATUS", _terms(EXIT_STATUS)),
    )


def _terms(pairs: tuple[tuple[str, str], ...]) -> str:
    """A definition list in the small markup :func:`roff` and :func:`html` read."""
    return "\n".join(f"{term}\t{text}" for term, text in pairs)


# -- roff


def roff(page: Page) -> str:
    """The page as roff (``man`` macros), for ``man 1``."""
    title = page.name.upper()
    out = [
        f'.TH "{title}" "{SECTION}" "" "gitmodel {page.version}" "{MANUAL}"',
        ".SH NAME",
        f"{_esc(page.name)} \\- {_esc(page.summary.rstrip('.'))}",
        ".SH SYNOPSIS",
        ".nf",
    ]
    out += [f"\\fB{_esc(c.words)}\\fR {_esc(c.usage)}" for c in page.commands]
    out.append(".fi")  # fmt: skip
    main = page.commands[0]
    out += [".SH DESCRIPTION", *_paragraphs(main.description or main.summary)]
    if page.listing:
        out.append(".SH COMMANDS")
        for name, summary in page.listing:
            out += [".TP", f".BR {_esc(name)} ({SECTION})", _esc(summary)]
    if main.options:
        out += [".SH OPTIONS", *_options(main.options)]
    for command in page.commands[1:]:
        out += [f".SS {_esc(command.words)}", *_paragraphs(command.description or
                command.summary), *_options(command.options)]  # fmt: skip
    for title_, text in page.sections:
        out.append(f".SH {title_}")
        for line in text.splitlines():
            term, _, body = line.partition("\t")
            out += [".TP", f".B {_esc(term)}", _esc(body)]
    refs = [(_esc(name), SECTION) for name in page.see_also] + [
        ("git", "1"),
        ("gitattributes", "5"),
    ]
    out.append(".SH SEE ALSO")
    out += [f".BR {name} ({section}){',' if i < len(refs) - 1 else ''}"
            for i, (name, section) in enumerate(refs)]  # fmt: skip
    return "\n".join(out) + "\n"


def _options(options: tuple[Option, ...]) -> list[str]:
    out = []
    for option in options:
        out += [".TP", f".B {_esc(option.names)}", _esc(option.help)]
    return out


def _paragraphs(text: str) -> list[str]:
    out = []
    for paragraph in text.split("\n\n"):
        out += [".PP", _esc(" ".join(paragraph.split()))]
    return out


def _esc(text: str) -> str:
    """Text roff prints as it is: backslashes and hyphens escaped, characters beyond
    ASCII named (``\\[u2026]``, read by any troff), and no line that starts with a
    control character (``.`` or ``'``)."""
    text = text.replace("\\", "\\e").replace("-", "\\-")
    text = re.sub(r"[^\x00-\x7f]", lambda m: f"\\[u{ord(m[0]):04X}]", text)
    return re.sub(r"(?m)^([.'])", r"\\&\1", text)


# -- HTML


def html(page: Page) -> str:
    """The same page as a standalone HTML document."""
    e = _html.escape
    summary = page.summary.rstrip(".")
    body = [f"<h1>{e(page.name)}({SECTION})</h1>", "<h2>NAME</h2>",
            f"<p>{e(page.name)} - {e(summary)}</p>", "<h2>SYNOPSIS</h2>"]  # fmt: skip
    body += [f"<pre><b>{e(c.words)}</b> {e(c.usage)}</pre>" for c in page.commands]
    main = page.commands[0]
    body += ["<h2>DESCRIPTION</h2>", *_html_paragraphs(main.description or main.summary)]
    if page.listing:
        body.append("<h2>COMMANDS</h2>")
        pairs = [(f'<a href="{e(name)}.html">{e(name)}</a>({SECTION})', e(summary))
                 for name, summary in page.listing]  # fmt: skip
        body.append(_html_terms(pairs))
    if main.options:
        body += ["<h2>OPTIONS</h2>", _html_options(main.options)]
    for command in page.commands[1:]:
        body += [f"<h3>{e(command.words)}</h3>",
                 *_html_paragraphs(command.description or command.summary),
                 _html_options(command.options)]  # fmt: skip
    for title, text in page.sections:
        pairs = [(f"<b>{e(term)}</b>", e(rest)) for term, _, rest in
                 (line.partition("\t") for line in text.splitlines())]  # fmt: skip
        body += [f"<h2>{e(title)}</h2>", _html_terms(pairs)]
    links = [f'<a href="{e(name)}.html">{e(name)}</a>({SECTION})' for name in page.see_also]
    body += ["<h2>SEE ALSO</h2>", f"<p>{', '.join([*links, 'git(1)', 'gitattributes(5)'])}</p>"]
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            f"<title>{e(page.name)}({SECTION})</title></head>\n<body>\n"
            + "\n".join(body) + f"\n<p><small>gitmodel {e(page.version)}</small></p>\n"
            "</body></html>\n")  # fmt: skip


def _html_paragraphs(text: str) -> list[str]:
    return [f"<p>{_html.escape(' '.join(p.split()))}</p>" for p in text.split("\n\n")]


def _html_options(options: tuple[Option, ...]) -> str:
    e = _html.escape
    return _html_terms([(f"<b>{e(o.names)}</b>", e(o.help)) for o in options])


def _html_terms(pairs: list[tuple[str, str]]) -> str:
    items = "".join(f"<dt>{term}</dt><dd>{text}</dd>" for term, text in pairs)
    return f"<dl>{items}</dl>" if items else ""
