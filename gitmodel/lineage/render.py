"""Lineage graphs as text: an indented tree, Mermaid and Graphviz DOT. Pure."""

from __future__ import annotations

import json
from typing import Any

from gitmodel.lineage.graph import Graph, Node
from gitmodel.sizes import format_size


def printable(line: str) -> str:
    """``line`` with no control character: the lineage log is anyone's writing (a path or
    role in a record committed by hand may hold terminal escapes). Tabs and line breaks
    become spaces, anything else not printable ``?``."""
    if line.isprintable():
        return line
    return "".join(ch if ch.isprintable() else " " if ch in "\t\n\r" else "?" for ch in line)


def label(node: Node) -> str:
    """One line naming a version: path, short oid, size (a folder's number of files),
    producing commit."""
    files = "" if node.files is None else f"{node.files} files, "
    return (f"{node.name} {node.oid[:10]} ({files}{format_size(node.size)}, "
            f"commit {node.commit[:7]})")  # fmt: skip


def _metrics(node: Node) -> str:
    return "  " + " ".join(f"{k}={_value(v)}" for k, v in sorted(node.metrics.items()))


def _value(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def tree(graph: Graph) -> str:
    """The graph as an indented tree from the root; a version reached twice is shown once."""
    root = graph.nodes[graph.root]
    lines = [label(root) + (_metrics(root) if root.metrics else "")]
    _tree_lines(graph, lines)
    if len(lines) == 1:
        none = "no recorded inputs" if graph.direction == "upstream" else "nothing made from it"
        lines.append(f"  ({none})")
    return "".join(printable(line) + "\n" for line in lines)


def _tree_lines(graph: Graph, lines: list[str]) -> None:
    """Depth first, with a stack rather than recursion: a model fine-tuned thousands of
    times in a row is a chain deeper than Python's recursion limit."""
    shown = {graph.root}
    stack = [("", list(reversed(graph.children(graph.root))))]
    while stack:
        indent, edges = stack[-1]
        if not edges:
            stack.pop()
            continue
        edge = edges.pop()
        last = not edges
        child = graph.nodes[graph.child_oid(edge)]
        again = child.oid in shown
        text = f"{edge.role}: {label(child)}"
        if child.metrics:
            text += _metrics(child)
        lines.append(f"{indent}{'└── ' if last else '├── '}{text}{' (see above)' if again else ''}")
        if not again:
            shown.add(child.oid)
            below = indent + ("    " if last else "│   ")
            stack.append((below, list(reversed(graph.children(child.oid)))))


def mermaid(graph: Graph) -> str:
    """A Mermaid flowchart, inputs on the left."""
    lines = ["flowchart LR"]
    for node in graph.nodes.values():
        text = f"{_mermaid_text(node.name)}<br/>{node.oid[:10]}"
        shape = ('[("', '")]') if node.kind == "data" else ('["', '"]')
        lines.append(f"    n{node.oid[:16]}{shape[0]}{text}{shape[1]}")
    for edge in graph.edges:
        role = _mermaid_text(edge.role)
        lines.append(f"    n{edge.source[:16]} -->|{role}| n{edge.target[:16]}")
    return "\n".join(lines) + "\n"


def _mermaid_text(text: str) -> str:
    """Text inside a Mermaid label: no quote, markup, edge delimiter or control character."""
    for char, entity in (('"', "#quot;"), ("<", "#lt;"), (">", "#gt;"), ("|", "#124;")):
        text = text.replace(char, entity)
    return printable(text)


def dot(graph: Graph) -> str:
    """A Graphviz digraph, inputs on the left."""
    lines = ["digraph lineage {", "    rankdir=LR;", "    node [shape=box];"]
    for node in graph.nodes.values():
        shape = ", shape=cylinder" if node.kind == "data" else ""
        text = _dot_quote(f"{node.name}\n{node.oid[:10]}")
        lines.append(f'    "{node.oid}" [label={text}{shape}];')
    for edge in graph.edges:
        lines.append(f'    "{edge.source}" -> "{edge.target}" [label={_dot_quote(edge.role)}];')
    lines.append("}")
    return "\n".join(lines) + "\n"


def _dot_quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'
