"""The lineage graph of one version: upstream (what it came from) or downstream (what came
from it), built from the lineage state alone. Nodes are versions, keyed by content oid;
edges point the way data flows, from an input version to the version made from it."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from gitmodel.lineage.history import FileVersion

Json = dict[str, Any]
SCHEMA = "gitmodel.lineage/1"
Step = Callable[[str], Iterator[tuple["Edge", Json]]]


@dataclass
class Node:
    oid: str
    size: int
    path: str
    commit: str  # the commit whose provenance produced it, else the one it was read from
    kind: str = "model"  # "data" once any edge uses it as data
    metrics: dict[str, Any] = field(default_factory=dict)
    depth: int = 0  # hops from the root
    files: int | None = None  # a folder of tracked files: how many

    @property
    def name(self) -> str:
        """The path, a folder's with a trailing "/"."""
        return self.path if self.files is None else f"{self.path}/"


@dataclass(frozen=True)
class Edge:
    source: str  # input oid
    target: str  # output oid
    role: str  # "base" or "data"
    commit: str  # the commit whose provenance declared it
    params: tuple[tuple[str, str], ...] = ()


@dataclass
class Graph:
    root: str
    direction: str  # "upstream" or "downstream"
    nodes: dict[str, Node] = field(default_factory=dict)
    edges: list[Edge] = field(default_factory=list)

    def children(self, oid: str) -> list[Edge]:
        """Edges leading away from the root at ``oid``: inputs upstream, outputs downstream."""
        if self.direction == "upstream":
            return [e for e in self.edges if e.target == oid]
        return [e for e in self.edges if e.source == oid]

    def child_oid(self, edge: Edge) -> str:
        return edge.source if self.direction == "upstream" else edge.target

    def to_json(self) -> Json:
        """The documented ``--json`` form (README: "lineage JSON")."""
        return {
            "schema": SCHEMA,
            "direction": self.direction,
            "root": self.root,
            "nodes": [
                {
                    "oid": n.oid,
                    "size": n.size,
                    "path": n.path,
                    "commit": n.commit,
                    "kind": n.kind,
                    "depth": n.depth,
                    "metrics": n.metrics,
                    **({} if n.files is None else {"files": n.files}),
                }
                for n in self.nodes.values()
            ],
            "edges": [
                {
                    "from": e.source,
                    "to": e.target,
                    "role": e.role,
                    "commit": e.commit,
                    "params": dict(e.params),
                }
                for e in self.edges
            ],
        }


def build(state: Json, root: FileVersion, downstream: bool = False) -> Graph:
    """The graph reachable from ``root`` in the lineage ``state``."""
    produced: dict[str, list[Json]] = state.get("produced", {})
    graph = Graph(root.oid, "downstream" if downstream else "upstream")
    maker = produced.get(root.oid, [{}])[0].get("commit")
    graph.nodes[root.oid] = Node(root.oid, root.size, root.path, maker or root.commit,
                                 files=root.files)  # fmt: skip
    step = _consumers(produced) if downstream else _producers(produced)
    queue = deque([root.oid])
    seen: set[tuple[str, str, str]] = set()
    while queue:
        oid = queue.popleft()
        for edge, other in step(oid):
            key = (edge.source, edge.target, edge.role)
            if key in seen:
                continue
            seen.add(key)
            graph.edges.append(edge)
            if other["oid"] not in graph.nodes:
                commit = produced.get(other["oid"], [{}])[0].get("commit") or other["commit"]
                depth = graph.nodes[oid].depth + 1
                graph.nodes[other["oid"]] = Node(
                    other["oid"], other["size"], other["path"], commit, depth=depth,
                    files=other.get("files"),
                )  # fmt: skip
                queue.append(other["oid"])
    for edge in graph.edges:
        if edge.role == "data":
            graph.nodes[edge.source].kind = "data"
    for node in graph.nodes.values():
        node.metrics = dict(state.get("metrics", {}).get(node.oid, {}))
    return graph


def _edge(record: Json, source: str, target: str, role: str) -> Edge:
    params = tuple(sorted((str(k), str(v)) for k, v in record.get("params", {}).items()))
    return Edge(source, target, role, record.get("commit", ""), params)


def _producers(produced: dict[str, list[Json]]) -> Step:
    def step(oid: str) -> Iterator[tuple[Edge, Json]]:
        for record in produced.get(oid, []):
            for item in record.get("inputs", []):
                yield _edge(record, item["oid"], oid, item["role"]), item

    return step


def _consumers(produced: dict[str, list[Json]]) -> Step:
    index: dict[str, list[tuple[Json, Json]]] = {}
    for records in produced.values():
        for record in records:
            for item in record.get("inputs", []):
                index.setdefault(item["oid"], []).append((record, item))

    def step(oid: str) -> Iterator[tuple[Edge, Json]]:
        for record, item in index.get(oid, []):
            output = record["output"]
            yield _edge(record, oid, output["oid"], item["role"]), output

    return step
