"""A lineage graph as one self-contained HTML page: inline data, SVG drawn by inline
JavaScript, no network access (no CDN, fonts or images), so it opens offline."""

from __future__ import annotations

import html
import json
import re
from importlib import resources

from gitmodel.lineage.graph import Graph


def page(graph: Graph, title: str) -> str:
    """The HTML page drawing ``graph``."""
    template = (resources.files("gitmodel.lineage") / "lineage.html").read_text()
    return fill(template, {"GRAPH_JS": graph_script(), "TITLE": html.escape(title),
                           "DATA": script_json(graph.to_json())})  # fmt: skip


def fill(template: str, values: dict[str, str]) -> str:
    """``template`` with each ``{{NAME}}`` replaced by ``values[NAME]``, in one pass, so
    that text inserted (a file name, say) is never read again as a placeholder."""
    return re.sub(r"\{\{([A-Z_]+)\}\}", lambda m: values.get(m[1], m[0]), template)


def graph_script() -> str:
    """``drawLineage(svg, data, onSelect)``: the JavaScript that draws a graph's JSON."""
    return (resources.files("gitmodel.lineage") / "graph.js").read_text()


def script_json(value: object) -> str:
    """``value`` as JSON that is safe inside a ``<script>`` element (no ``<``, ``>``, ``&``)."""
    data = json.dumps(value, sort_keys=True)
    return data.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
