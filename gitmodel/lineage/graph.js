// Draws a lineage graph (the JSON of `git model lineage --json`) into an <svg>: columns
// by longest path from the inputs, every edge left to right. Shared by the lineage page
// and the review page; embedded in each, so the pages stay self-contained.
"use strict";
const SVG = "http://www.w3.org/2000/svg";

// An SVG element with these attributes (and text), appended to parent.
function svgElement(name, attrs, parent, text) {
  const node = document.createElementNS(SVG, name);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  if (text !== undefined) node.textContent = text;
  parent.appendChild(node);
  return node;
}

function drawLineage(svg, data, onSelect) {
  const el = svgElement;
  const W = 260, H = 54, GAPX = 90, GAPY = 24, PAD = 20;

  // Columns by longest path from the inputs, so every edge points left to right; an input
  // used only downstream sits just before its first use.
  const rank = new Map(data.nodes.map(n => [n.oid, 0]));
  for (let i = 0; i < data.nodes.length; i++) {
    for (const e of data.edges) {
      rank.set(e.to, Math.max(rank.get(e.to), rank.get(e.from) + 1));
    }
  }
  const hasInput = new Set(data.edges.map(e => e.to));
  for (const n of data.nodes) {
    const uses = data.edges.filter(e => e.from === n.oid).map(e => rank.get(e.to));
    if (!hasInput.has(n.oid) && uses.length) rank.set(n.oid, Math.min(...uses) - 1);
  }
  const columns = [];
  for (const n of data.nodes) {
    const r = rank.get(n.oid);
    (columns[r] = columns[r] || []).push(n);
  }
  // Rows: each column ordered by the mean row of the versions it was made from.
  const row = new Map();
  columns.forEach(col => {
    const mean = n => {
      const rows = data.edges.filter(e => e.to === n.oid && row.has(e.from)).map(e => row.get(e.from));
      return rows.length ? rows.reduce((a, b) => a + b, 0) / rows.length : 0;
    };
    col.sort((a, b) => mean(a) - mean(b));
    col.forEach((n, i) => row.set(n.oid, i));
  });
  const pos = new Map();
  let bottom = 0;
  columns.forEach((col, c) => col.forEach(n => {
    const y = PAD + row.get(n.oid) * (H + GAPY);
    pos.set(n.oid, {x: PAD + c * (W + GAPX), y: y});
    bottom = Math.max(bottom, y + H);
  }));
  // Edges that skip a column run in their own lane below the boxes.
  const LANE = 16;
  let lanes = 0;
  const lane = new Map(data.edges.map((e, i) =>
    [i, rank.get(e.to) - rank.get(e.from) > 1 ? lanes++ : -1]));
  svg.setAttribute("width", PAD * 2 + columns.length * (W + GAPX) - GAPX);
  svg.setAttribute("height", bottom + PAD + (lanes ? GAPY + lanes * LANE : 0));

  const defs = el("defs", {}, svg);
  const marker = el("marker", {id: "arrow", viewBox: "0 0 10 10", refX: "10", refY: "5",
                               markerWidth: "8", markerHeight: "8", orient: "auto"}, defs);
  el("path", {d: "M0,0 L10,5 L0,10 z", fill: "#888"}, marker);

  data.edges.forEach((e, i) => {
    const a = pos.get(e.from), b = pos.get(e.to);
    const x1 = a.x + W, y1 = a.y + H / 2, x2 = b.x, y2 = b.y + H / 2, mx = (x1 + x2) / 2;
    const g = el("g", {"class": "edge-group", "data-from": e.from, "data-to": e.to}, svg);
    let d = `M${x1},${y1} C${mx},${y1} ${mx},${y2} ${x2},${y2}`, ly = (y1 + y2) / 2 - 4;
    if (lane.get(i) >= 0) {
      const y = bottom + GAPY + lane.get(i) * LANE, q = GAPX / 2;
      d = `M${x1},${y1} C${x1 + q},${y1} ${x1 + q},${y} ${x1 + GAPX},${y} ` +
          `L${x2 - GAPX},${y} C${x2 - q},${y} ${x2 - q},${y2} ${x2},${y2}`;
      ly = y - 3;
    }
    el("path", {"class": "edge", d: d, "marker-end": "url(#arrow)"}, g);
    el("text", {"class": "role", x: mx, y: ly, "text-anchor": "middle"}, g, e.role);
  });

  function short(text, max) {
    return text.length > max ? "…" + text.slice(text.length - max + 1) : text;
  }

  for (const n of data.nodes) {
    const p = pos.get(n.oid);
    const cls = "node " + n.kind + (n.oid === data.root ? " root" : "");
    const g = el("g", {"class": cls, "data-oid": n.oid, transform: `translate(${p.x},${p.y})`}, svg);
    el("rect", {width: W, height: H}, g);
    const name = n.files ? `${n.path}/ (${n.files} files)` : n.path;  // a folder: one input
    el("text", {x: 8, y: 20}, g, short(name, 34));
    const metrics = Object.entries(n.metrics).map(([k, v]) => `${k}=${v}`).join(" ");
    el("text", {x: 8, y: 40}, g, short(n.oid.slice(0, 10) + " " + n.commit.slice(0, 7) +
                                       (metrics ? " " + metrics : ""), 34));
    el("title", {}, g, `${n.path}\n${n.oid}`);
    if (onSelect) g.addEventListener("click", () => onSelect(n));
  }
  svg.setAttribute("data-drawn", String(data.nodes.length));
}
