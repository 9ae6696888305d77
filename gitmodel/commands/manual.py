"""``git model help`` and the manual pages: shown through ``man``, installed where it looks.

``man`` finds pages without any setting when they lie beside a directory on PATH:
for ``PREFIX/bin`` on PATH it reads ``PREFIX/share/man`` (man-db and mandoc both).
So the pages go under the prefix of the ``git-model`` that PATH finds (a virtual
environment's, ``~/.local`` for the link install.sh makes there, ``/usr/local``),
and Git's ``git model --help``, which runs ``man git-model``, shows them.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

from gitmodel import git, manpage


def install(pages: list[manpage.Page], prefix: str | None = None, man_dir: str | None = None,
            html_dir: str | None = None) -> int:  # fmt: skip
    """Write every page as roff under ``man_dir`` (default ``PREFIX/share/man/man1``)
    and as HTML under ``html_dir`` (default ``PREFIX/share/doc/gitmodel/html``)."""
    root = Path(prefix) if prefix else default_prefix()
    man = Path(man_dir) if man_dir else root / "share" / "man" / f"man{manpage.SECTION}"
    web = Path(html_dir) if html_dir else root / "share" / "doc" / "gitmodel" / "html"
    for folder, render, suffix in ((man, manpage.roff, f".{manpage.SECTION}"),
                                   (web, manpage.html, ".html")):  # fmt: skip
        folder.mkdir(parents=True, exist_ok=True)
        for page in pages:
            _write(folder / f"{page.name}{suffix}", render(page))
    print(f"installed {len(pages)} manual pages in {man} (HTML: {web})")
    note = unseen_by_man(man.parent)
    if note:
        print(f"note: {note}")
    return 0


def show(page: str) -> bool:
    """Show manual page ``page`` (``git-model`` or ``git-model-VERB``) as Git shows its
    own (``git help -m``: its pager, ``man.viewer``); False when it is not installed."""
    return git.show_manual(page)


def default_prefix() -> Path:
    """The prefix of the ``git-model`` PATH finds (its ``bin``'s parent, a link not
    followed: ``~/.local`` for ``~/.local/bin/git-model``), else this Python's."""
    found = shutil.which("git-model")
    if found is not None:
        return Path(os.path.abspath(found)).parent.parent
    return Path(sys.prefix)


def unseen_by_man(man_root: Path) -> str | None:
    """Why ``man`` would not search ``man_root`` (a ``share/man``) and what to do, or
    None when it does: named in MANPATH or, where MANPATH keeps man's own search (unset,
    or with an empty entry), beside a ``bin`` directory on PATH."""
    wanted = os.path.abspath(man_root)
    manpath = os.environ.get("MANPATH")
    entries = manpath.split(":") if manpath is not None else [""]
    if any(os.path.abspath(entry) == wanted for entry in entries if entry):
        return None
    if "" not in entries:
        return f'MANPATH replaces man\'s own search; add them: export MANPATH="{wanted}:$MANPATH"'
    bin_dir = os.path.join(os.path.dirname(os.path.dirname(wanted)), "bin")
    on_path = [os.path.abspath(d) for d in os.environ.get("PATH", "").split(":") if d]
    if bin_dir in on_path:
        return None
    return f'man finds them once {bin_dir} is on PATH (or with MANPATH="{wanted}:")'


def _write(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)
