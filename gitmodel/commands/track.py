"""``git model track`` / ``untrack``: which paths go through the model filter."""

from __future__ import annotations

import os
from pathlib import Path

from gitmodel import attributes, git
from gitmodel.errors import UserError
from gitmodel.workspace import open_repo


def _attributes_file(repo: git.Repo) -> Path:
    return repo.top / ".gitattributes"


def _relative_prefix(repo: git.Repo) -> str:
    rel = Path.cwd().resolve().relative_to(repo.top.resolve())
    return "" if rel == Path(".") else rel.as_posix() + "/"


def track(patterns: list[str]) -> int:
    """Add patterns (or list them when none are given)."""
    repo, _ = open_repo()
    if not patterns:
        return list_patterns(repo)
    for pattern in patterns:
        if not pattern.strip() or "\n" in pattern or pattern.startswith(("#", "!")):
            raise UserError(
                f"invalid pattern {pattern!r}", hint='quote a glob, e.g. "*.safetensors"'
            )
    prefix = _relative_prefix(repo)
    target = _attributes_file(repo)
    text = target.read_text() if target.exists() else ""
    new_text, added = attributes.add_patterns(text, [prefix + p.lstrip("/") for p in patterns])
    for pattern in patterns:
        if prefix + pattern.lstrip("/") not in added:
            print(f'"{pattern}" already tracked')
    if added:
        _write_text(target, new_text)
        for pattern in added:
            print(f'Tracking "{pattern}"')
        touched = _touch_committed_content(repo)
        if touched:
            print(f"{touched} already-committed file(s) now match: `git add` them to convert")
    return 0


def untrack(patterns: list[str]) -> int:
    repo, _ = open_repo()
    if not patterns:
        raise UserError("untrack needs a pattern", hint="see `git model track` for the list")
    target = _attributes_file(repo)
    text = target.read_text() if target.exists() else ""
    prefix = _relative_prefix(repo)
    new_text, removed = attributes.remove_patterns(text, [prefix + p.lstrip("/") for p in patterns])
    if not removed:
        raise UserError("no such tracked pattern", hint="`git model track` lists them")
    _write_text(target, new_text)
    for pattern in removed:
        print(f'Untracking "{pattern}"')
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


def _write_text(target: Path, text: str) -> None:
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    tmp.write_text(text)
    os.replace(tmp, target)
