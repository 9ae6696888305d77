"""Which paths patterns match, by Git's own rules.

Python's ``fnmatch`` is not Git's wildmatch (its ``*`` crosses ``/``, and ``**`` means
nothing special), so Git is asked: ``git check-attr`` with the patterns as an attributes
file of their own (``core.attributesFile``), one made-up attribute per pattern
(:func:`gitmodel.attributes.probe_file`). That is how a line of the top
``.gitattributes`` matches, and, with ``contents``, how git-lfs reads ``--include`` and
``--exclude`` (``.gitignore`` patterns: a folder's name matches everything under it).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from gitmodel import attributes
from gitmodel.git.repo import Repo


def matching(repo: Repo, patterns: list[str], paths: list[str],
             contents: bool = False) -> list[set[str]]:  # fmt: skip
    """The ``paths`` (relative to the top, ``/``-separated) each of ``patterns`` matches."""
    if not paths:
        return [set() for _ in patterns]
    with tempfile.TemporaryDirectory(prefix="gitmodel-") as tmp:
        probe = Path(tmp, "attributes")
        probe.write_bytes(os.fsencode(attributes.probe_file(patterns, contents)))
        data = b"".join(os.fsencode(p) + b"\0" for p in paths)
        args = ["-c", f"core.attributesFile={probe}", "check-attr", "-z", "--stdin",
                *attributes.probe_names(len(patterns))]  # fmt: skip
        out = repo.run(args, input=data).stdout
    return attributes.probe_matches(out, len(patterns))
