"""``git model track`` / ``untrack``: which paths go through the model filter."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from gitmodel import attributes, git, installation
from gitmodel.errors import UserError
from gitmodel.git.patterns import matching
from gitmodel.workspace import open_repo


def _attributes_file(repo: git.Repo) -> Path:
    return repo.top / ".gitattributes"


def track(patterns: list[str]) -> int:
    """Add patterns (or list them when none are given)."""
    repo, _ = open_repo()
    installation.warn_without_filter(repo, "`git add` stores tracked files whole")
    if not patterns:
        return list_patterns(repo)
    for pattern in patterns:
        _check_pattern(pattern)
    wanted = _from_top(repo, patterns)
    for pattern in wanted:
        _check_pattern(pattern)  # "./#x" is "#x", a comment
    _refuse_kept_as_text(repo, {path: given for path, (given, _) in wanted.items()})
    target = _attributes_file(repo)
    text = target.read_text() if target.exists() else ""
    new_text, added = attributes.add_patterns(text, list(wanted))
    for pattern in wanted:
        if pattern not in added:
            print(f'"{pattern}" already tracked')
    if added:
        _write_text(target, new_text)
        for pattern in added:
            print(f'Tracking "{pattern}"{wanted[pattern][1]}')
        touched = _touch_committed_content(repo)
        if touched:
            print(f"{touched} already-committed file(s) now match: `git add` them to convert")
    _warn_expanded(repo, patterns)
    return 0


def _warn_expanded(repo: git.Repo, patterns: list[str]) -> None:
    """Say so when the patterns look like a glob the shell expanded (``track
    data/*.parquet`` unquoted): several existing files named one by one, which tracks
    those files only, so a file added later would be committed whole."""
    if len(patterns) < 2 or any(_has_glob(p) or not os.path.isfile(p) for p in patterns):
        return
    folders = {os.path.dirname(p) for p in patterns}
    suffixes = {os.path.splitext(p)[1] for p in patterns}
    folder = folders.pop() if len(folders) == 1 else None
    suffix = suffixes.pop() if len(suffixes) == 1 else ""
    glob = f"{folder}/*{suffix}" if folder else f"*{suffix}" if suffix else "PATTERN"
    print(f"gitmodel: warning: {len(patterns)} patterns name existing files one by one (did "
          "the shell expand a glob?): a file added later will not be tracked",
          file=sys.stderr)  # fmt: skip
    print(f'hint: `git model untrack` them, then quote the glob: git model track "{glob}"',
          file=sys.stderr)  # fmt: skip


def _check_pattern(pattern: str) -> None:
    if not pattern.strip() or "\n" in pattern or pattern.startswith(("#", "!")):
        raise UserError(f"invalid pattern {pattern!r}", hint='quote a glob, e.g. "*.safetensors"')


def _from_top(repo: git.Repo, patterns: list[str]) -> dict[str, tuple[str, str]]:
    """Each pattern as a line of the top ``.gitattributes`` says it (relative to the top,
    ``.`` and ``..`` resolved, a folder as everything under it): the pattern as given,
    and a note for the user when its meaning had to change."""
    prefix = repo.cwd_prefix()
    wanted: dict[str, tuple[str, str]] = {}
    for pattern in patterns:
        path = _normalised(prefix + pattern.lstrip("/"), pattern)
        note = ""
        folder = bool(path) and (repo.top / path).is_dir()  # by its very name: "[raw]" too
        if pattern.endswith(("/", "/.", "/..")) or pattern in (".", "..") or folder:
            # Git matches no file with a folder's name: everything under it is meant
            path = f"{_escaped(path) if folder else path}/**" if path else "**"
            note = " (a folder: every file under it)"
        elif "[" in path and (repo.top / path).is_file():  # as a glob, it would miss itself
            path = _escaped(path)
            note = " (that file: its name escaped)"
        wanted.setdefault(path, (pattern, note))
    return wanted


def _normalised(path: str, pattern: str) -> str:
    """``path`` without empty, ``.`` and ``..`` parts; refused when it leaves the top."""
    parts: list[str] = []
    for part in path.split("/"):
        if part == "..":
            if not parts:
                raise UserError(
                    f'pattern "{pattern}" is outside the repository',
                    hint="track files inside it, from the repository or a folder of it",
                )
            parts.pop()
        elif part not in ("", "."):
            parts.append(part)
    return "/".join(parts)


def _has_glob(path: str) -> bool:
    return any(c in path for c in "*?[\\")


def _escaped(path: str) -> str:
    """An existing path as a pattern that matches it alone: Git's wildmatch reads a
    character after a backslash as itself."""
    return "".join("\\" + c if c in "*?[\\" else c for c in path)


def _refuse_kept_as_text(repo: git.Repo, patterns: dict[str, str]) -> None:
    """Refuse a pattern (as written, to the pattern as given) that matches, as Git
    matches it, ``.gitattributes`` or another file that must stay text in Git
    (:data:`attributes.KEPT_AS_TEXT`) in the index or the worktree. Git-lfs refuses
    those in the index; the filter keeps them as they are anyway (``kept_as_text``)."""
    names = [f":(glob)**/{name}" for name in sorted(attributes.KEPT_AS_TEXT)]
    listed = repo.run(["ls-files", "-z", "--cached", "--others", "--exclude-standard", "--",
                       *names]).stdout  # fmt: skip
    paths = {os.fsdecode(p) for p in listed.split(b"\0") if p} | {".gitattributes"}
    found = matching(repo, list(patterns), sorted(paths))
    for given, matched in zip(patterns.values(), found, strict=True):
        if matched:
            raise UserError(
                f'pattern "{given}" matches {min(matched)}, which must stay a plain file',
                hint='name the model files more narrowly, e.g. "*.safetensors"',
            )


def untrack(patterns: list[str]) -> int:
    repo, _ = open_repo()
    if not patterns:
        raise UserError("untrack needs a pattern", hint="see `git model track` for the list")
    target = _attributes_file(repo)
    text = target.read_text() if target.exists() else ""
    new_text, removed = attributes.remove_patterns(text, list(_from_top(repo, patterns)))
    if not removed:
        raise UserError("no such tracked pattern", hint="`git model track` lists them")
    _write_text(target, new_text)
    for pattern in removed:
        print(f'Untracking "{pattern}"')
    touched = _touch_committed_pointers(repo)
    if touched:
        print(f"{touched} committed model file(s) no longer match: `git add` them to store "
              "them in Git (as pointers, a clone checks out pointer text)")  # fmt: skip
    return 0


def list_patterns(repo: git.Repo) -> int:
    print("Listing tracked patterns")
    sources = [p for p in _attribute_files(repo) if p.exists()]
    for source in sources:
        rel = os.path.relpath(source, repo.top)
        base = (
            os.path.dirname(os.path.relpath(source, repo.top))
            if source.name == ".gitattributes"
            else ""
        )
        for rule in attributes.model_rules(source.read_text(errors="replace")):
            shown = attributes.unescape_pattern(rule.pattern)
            if base and base != ".":
                shown = f"{base}/{shown}"
            state = "" if rule.tracked else " (excluded)"
            print(f"    {shown} ({rel}){state}")
    return 0


def _attribute_files(repo: git.Repo) -> list[Path]:
    listed = repo.run(["ls-files", "-z", "--", ":(glob)**/.gitattributes"]).stdout
    files = {repo.top / os.fsdecode(p) for p in listed.split(b"\0") if p}
    files.add(_attributes_file(repo))
    return [*sorted(files), repo.git_path("info/attributes")]


def _touch_committed_content(repo: git.Repo) -> int:
    """Bump the mtime of indexed files that now match but hold content, as git-lfs does,
    so that the next ``git add`` cleans them."""
    entries = repo.ls_files()
    filters = repo.check_attr("filter", [e.path for e in entries])
    model = [e for e in entries if filters.get(e.path) == "model"]
    sizes = git.headers(repo, [e.oid for e in model])
    pointers = git.pointers_of(repo, [e.oid for e in model])
    touched = 0
    for entry in model:
        if entry.oid in pointers or sizes.get(entry.oid, ("blob", 1))[1] == 0:
            continue  # already a pointer, or empty (which stays empty)
        path = repo.top / entry.path
        if path.is_file() and not path.is_symlink():
            os.utime(path)
            touched += 1
    return touched


def _touch_committed_pointers(repo: git.Repo) -> int:
    """Bump the mtime of indexed files that no longer match but are pointers, whose
    worktree file holds the content, so that the next ``git add`` stores that content
    (Git would see no change: the file's stat data is what the index noted)."""
    entries = repo.ls_files()
    filters = repo.check_attr("filter", [e.path for e in entries])
    former = [e for e in entries if filters.get(e.path) != "model"]
    pointers = git.pointers_of(repo, [e.oid for e in former])
    touched = 0
    for entry in former:
        pointer = pointers.get(entry.oid)
        path = repo.top / entry.path
        if pointer is None or not path.is_file() or path.is_symlink():
            continue
        if path.stat().st_size != len(pointer.encode()):  # not left as its pointer
            os.utime(path)
            touched += 1
    return touched


def _write_text(target: Path, text: str) -> None:
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    tmp.write_text(text)
    os.replace(tmp, target)
