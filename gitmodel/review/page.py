"""A review as one self-contained HTML page: tables written here (every value escaped),
and, drawn by inline JavaScript from inline data, a chart of each metric across recent
versions and the candidate's lineage graph. No network access: no CDN, fonts or images."""

from __future__ import annotations

from collections import Counter
from html import escape
from importlib import resources

from gitmodel.lineage.html import fill, graph_script, script_json
from gitmodel.review.build import FileChange, Review
from gitmodel.review.render import input_change_text, summary, value_text
from gitmodel.sizes import format_size

TENSORS_SHOWN = 50


def page(review: Review) -> str:
    """The HTML page of ``review``."""
    template = (resources.files("gitmodel.review") / "review.html").read_text()
    title = f"Review of {review.model.name} {review.candidate.label} against {review.against}"
    data = {
        "history": [{"version": label, "metrics": found} for label, found in review.history],
        "thresholds": {t.metric: {"op": t.op, "value": t.value} for t in review.thresholds},
        "graph": review.graph.to_json() if review.graph else None,
    }
    body = "\n".join([*_versions(review), *_policy(review), *_metrics(review),
                      *_weights(review), *_lineage(review), *_files(review)])  # fmt: skip
    return fill(template, {"GRAPH_JS": graph_script(), "BODY": body, "DATA": script_json(data),
                           "TITLE": escape(title)})  # fmt: skip


def _table(head: list[str], rows: list[list[str]]) -> list[str]:
    """A table of cells that are already HTML."""
    out = ["<table>", "<tr>" + "".join(f"<th>{escape(h)}</th>" for h in head) + "</tr>"]
    out += ["<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows]
    return [*out, "</table>"]


def _versions(review: Review) -> list[str]:
    sides = [s for s in (review.baseline, review.candidate) if s is not None]
    rows = [[escape(s.label), f"<code>{escape(s.version.commit[:12])}</code>",
             escape(s.version.date[:19]), escape(s.version.author),
             escape(s.version.message), format_size(sum(f.size for f in s.version.files))]
            for s in sides]  # fmt: skip
    return _table(["version", "commit", "date", "author", "message", "size"], rows)


def _policy(review: Review) -> list[str]:
    verdict = review.verdict
    if verdict is None:
        return ['<h2>Policy dry run</h2><p class="muted">No stage named (--against STAGE or '
                "--stage).</p>"]  # fmt: skip
    stage = escape(str(review.stage))
    if not verdict.failures:
        out = [f'<h2>Policy dry run for {stage}</h2><p id="policy" class="pass">passes</p>']
    else:
        out = [f'<h2>Policy dry run for {stage}</h2><p id="policy" class="fail">'
               f"{len(verdict.failures)} rule(s) fail</p>", "<ul>"]  # fmt: skip
        out += [
            f"<li><b>{escape(f.rule)}</b>: {escape(f.problem)} "
            f'<span class="muted">— {escape(f.hint)}</span></li>'
            for f in verdict.failures
        ]
        out.append("</ul>")
    if verdict.skipped:
        out.append(
            f'<p class="muted">Not checked in a dry run: {escape(", ".join(verdict.skipped))}</p>'
        )
    return out


def _metrics(review: Review) -> list[str]:
    rows = []
    for m in review.metrics:
        verdict = ""
        if m.threshold is not None:
            ok = "pass" if m.passes else "fail"
            verdict = f'<span class="{ok}">{escape(m.threshold.op)} {m.threshold.value:g}</span>'
        delta = f"{m.delta:+.4g}" if m.delta is not None else ""
        rows.append(
            [escape(m.name), escape(value_text(m.old)), escape(value_text(m.new)), delta, verdict]
        )
    out = ["<h2>Metrics</h2>"]
    out += _table(["metric", "before", "after", "Δ", "threshold"], rows) if rows else [
        '<p class="muted">None annotated.</p>']  # fmt: skip
    return [*out, '<div id="charts"></div>']


def _weights(review: Review) -> list[str]:
    out = ["<h2>Weights</h2>"]
    counts = summary(review)
    t = counts["tensors"]
    out.append(f"<p>{t['changed']} tensor(s) changed, {t['added']} added, {t['removed']} "
               f"removed, {t['unchanged']} unchanged in {counts['files']['changed']} changed "
               "file(s).</p>")  # fmt: skip
    for change in review.files:
        if change.diff is not None:
            out += _file_diff(change)
    return out


def _file_diff(change: FileChange) -> list[str]:
    d = change.diff
    assert d is not None
    tally = Counter(c.status for c in d.changes)
    params = [i.parameters if i else 0 for i in (d.old_info, d.new_info)]
    out = [f"<h3><code>{escape(change.path)}</code> ({escape(d.format or 'unknown format')}, "
           f"{escape(change.status)})</h3>",
           f"<p>{tally['changed']} changed, {tally['added']} added, {tally['removed']} removed, "
           f"{d.unchanged} unchanged; parameters {params[0]:,} → {params[1]:,}</p>"]  # fmt: skip
    rows = []
    for c in sorted(d.changes, key=lambda c: -(c.relative_l2 or 0.0))[:TENSORS_SHOWN]:
        tensor = c.new or c.old
        assert tensor is not None
        rows.append([f"<code>{escape(c.name)}</code>", c.status,
                     escape(f"{tensor.dtype} {list(tensor.shape)}"),
                     f"{c.fraction_changed:.1%}" if c.fraction_changed is not None else "",
                     _num(c.relative_l2), _num(c.max_abs)])  # fmt: skip
    return out + (_table(["tensor", "change", "dtype, shape", "changed", "rel. L2", "max |Δ|"],
                         rows) if rows else [])  # fmt: skip


def _num(value: float | None) -> str:
    return "" if value is None else f"{value:.3g}"


def _lineage(review: Review) -> list[str]:
    lin = review.lineage
    out = ["<h2>Lineage</h2>", '<svg id="graph" xmlns="http://www.w3.org/2000/svg"></svg>']
    rows = [[escape(i.path), escape(i.role), escape(input_change_text(i))] for i in lin.inputs]
    rows += [[escape(k), "parameter", escape(f"{value_text(a)} → {value_text(b)}")]
             for k, a, b in lin.params]  # fmt: skip
    if lin.code_files_total:
        shown = ", ".join(lin.code_files[:10]) + (", …" if lin.code_files_total > 10 else "")
        rows.append(["code", "commit", escape(f"{lin.code_files_total} file(s) changed outside "
                                              f"the model: {shown}")])  # fmt: skip
    if rows:
        out += _table(["input", "role", "change"], rows)
    elif not any(lin.recorded):
        out.append('<p class="muted">No provenance recorded for either version.</p>')
    return out


def _files(review: Review) -> list[str]:
    listed = [f for f in review.files if f.status != "unchanged"]
    rows = [[escape(f.status), _path(f),
             escape(" → ".join(format_size(s.size) for s in (f.old, f.new) if s)),
             _text_diff(f.text_diff)] for f in listed]  # fmt: skip
    return ["<h2>Files</h2>", *_table(["change", "path", "size", "diff"], rows)]


def _path(change: FileChange) -> str:
    was = f"<code>{escape(change.renamed_from)}</code> → " if change.renamed_from else ""
    return f"{was}<code>{escape(change.path)}</code>"


def _text_diff(lines: list[str]) -> str:
    return f"<pre>{escape(chr(10).join(lines))}</pre>" if lines else ""
