"""A lineage graph as one self-contained HTML page: inline data, SVG drawn by inline
JavaScript, no network access (no CDN, fonts or images), so it opens offline."""

from __future__ import annotations

import html
import json
from importlib import resources

from gitmodel.lineage.graph import Graph


def page(graph: Graph, title: str) -> str:
    """The HTML page drawing ``graph``."""
    template = (resources.files("gitmodel.lineage") / "lineage.html").read_text()
    data = json.dumps(graph.to_json(), sort_keys=True)
    data = data.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    return template.replace("{{TITLE}}", html.escape(title)).replace("{{DATA}}", data)
