"""``git model annotate PATH[@REV] --metric k=v``: facts about a version, added later."""

from __future__ import annotations

import sys

from gitmodel.errors import UserError
from gitmodel.lineage import provenance, store
from gitmodel.lineage.history import file_version
from gitmodel.specs import PathSpec
from gitmodel.workspace import open_repo


def annotate(spec: PathSpec, metrics: list[str], note: str | None) -> int:
    """Attach metrics and/or a note to the version PATH@REV (default HEAD)."""
    if not metrics and not note:
        raise UserError("nothing to annotate", hint="pass --metric KEY=VALUE and/or --note TEXT")
    repo, _ = open_repo()
    values = {
        k: provenance.metric_value(v) for k, v in provenance.parse_pairs(metrics, "metric").items()
    }
    version = file_version(repo, spec)
    store.append(repo, provenance.annotation_record(repo, version, values, note or ""))
    shown = " ".join(f"{k}={v}" for k, v in values.items())
    print(
        f"gitmodel: annotated {version.path} {version.oid[:10]} {shown}".rstrip(), file=sys.stderr
    )
    return 0
