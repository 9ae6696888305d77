"""``git model lineage PATH[@REV]``: where a version came from, or what came from it."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from gitmodel.errors import UserError
from gitmodel.lineage import folders, graph, html, render, store
from gitmodel.specs import PathSpec
from gitmodel.workspace import open_repo

FORMATS = ("tree", "mermaid", "dot")


def lineage(
    spec: PathSpec, downstream: bool = False, as_json: bool = False, fmt: str = "tree",
    html_file: str | None = None,
) -> int:  # fmt: skip
    """Print the upstream (or downstream) graph of PATH@REV (default HEAD), a model file
    or a folder recorded as one input."""
    if fmt not in FORMATS:
        raise UserError(f"unknown format {fmt!r}", hint=f"use one of: {', '.join(FORMATS)}")
    repo, _ = open_repo()
    version = folders.spec_version(repo, spec)
    found = graph.build(store.state(repo), version, downstream)
    if html_file is not None:
        name = found.nodes[found.root].name
        title = f"{found.direction.capitalize()} lineage of {name} {version.oid[:10]}"
        write_text(Path(html_file), html.page(found, title))
        print(f"gitmodel: wrote {html_file}", file=sys.stderr)
    if as_json:
        print(json.dumps(found.to_json(), indent=2, sort_keys=True))
    elif fmt == "mermaid":
        sys.stdout.write(render.mermaid(found))
    elif fmt == "dot":
        sys.stdout.write(render.dot(found))
    elif html_file is None:
        sys.stdout.write(render.tree(found))
    return 0


def write_text(target: Path, text: str) -> None:
    """Write ``target`` whole or not at all (temp file, then rename)."""
    if target.is_dir():
        raise UserError(f"{target} is a directory", hint="name a file, e.g. lineage.html")
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, target)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise UserError(f"cannot write {target}: {exc.strerror}", hint="check the path") from exc
