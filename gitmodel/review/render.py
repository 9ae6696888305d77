"""A review as JSON (``gitmodel.review/1``), text and Markdown (a pull request comment).

Names of files, tensors, metrics and data sets, and every message, come from commits
and record logs anyone with push access wrote: text output makes them one printable
line, Markdown escapes them so they render as text (GitHub renders HTML in comments).
"""

from __future__ import annotations

import re
from collections import Counter
from typing import Any

from gitmodel.formats.report import diff_json, diff_text, dtype_counts
from gitmodel.registry.requests import one_line
from gitmodel.review.build import FileChange, MetricDelta, Review, Subject
from gitmodel.review.lineage_changes import InputChange
from gitmodel.sizes import format_size

Json = dict[str, Any]
SCHEMA = "gitmodel.review/1"
TENSORS_SHOWN = 20  # changed tensors listed per file in Markdown (all in JSON)
_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+!|~>-])")


def to_json(review: Review) -> Json:
    """The documented ``review --json`` object."""
    return {
        "schema": SCHEMA,
        "model": review.model.name,
        "candidate": _subject_json(review.candidate),
        "baseline": _subject_json(review.baseline) if review.baseline else None,
        "against": review.against,
        "summary": summary(review),
        "files": [_file_json(f) for f in review.files],
        "metrics": [_metric_json(m) for m in review.metrics],
        "lineage": review.lineage.to_json(),
        "policy": _policy_json(review),
        "history": [{"version": label, "metrics": found} for label, found in review.history],
    }


def _subject_json(subject: Subject) -> Json:
    v = subject.version
    return {"label": subject.label, "version": v.number or None, "commit": v.commit,
            "date": v.date, "author": v.author, "message": v.message,
            "size": sum(f.size for f in v.files)}  # fmt: skip


def summary(review: Review) -> Json:
    """Counts over every file: files and tensors added, removed, changed; sizes."""
    files = Counter(f.status for f in review.files)
    tensors: Counter[str] = Counter()
    params = [0, 0]
    for change in review.files:
        d = change.diff
        if d is None:
            continue
        tensors.update(c.status for c in d.changes)
        tensors["unchanged"] += d.unchanged
        params[0] += d.old_info.parameters if d.old_info else 0
        params[1] += d.new_info.parameters if d.new_info else 0
    old = review.baseline.version if review.baseline else None
    return {
        "files": {k: files[k] for k in ("added", "removed", "renamed", "changed", "unchanged")},
        "tensors": {k: tensors[k] for k in ("added", "removed", "changed", "unchanged")},
        "parameters_in_changed_files": {"old": params[0], "new": params[1]},
        "size": {"old": sum(f.size for f in old.files) if old else 0,
                 "new": sum(f.size for f in review.candidate.version.files)},
    }  # fmt: skip


def _kind(change: FileChange) -> str:
    """A model file (a pointer), a sharded model's index, or a plain file."""
    file = change.new or change.old
    if file is not None and file.oid:
        return "model"
    return "sharded model" if change.diff is not None else "plain"


def _file_json(change: FileChange) -> Json:
    d = change.diff
    return {
        "path": change.path,
        "status": change.status,
        "renamed_from": change.renamed_from,
        "kind": _kind(change),
        "shard_of": change.shard_of,
        "old": change.old.to_json() if change.old else None,
        "new": change.new.to_json() if change.new else None,
        "diff": diff_json(d) if d is not None else None,
        "dtypes": {"old": dtype_counts(d.old_info) if d and d.old_info else None,
                   "new": dtype_counts(d.new_info) if d and d.new_info else None},
        "text_diff": change.text_diff,
    }  # fmt: skip


def _metric_json(m: MetricDelta) -> Json:
    return {"name": m.name, "old": m.old, "new": m.new, "delta": m.delta,
            "threshold": str(m.threshold) if m.threshold else None,
            "passes": m.passes}  # fmt: skip


def _policy_json(review: Review) -> Json | None:
    verdict = review.verdict
    if verdict is None:
        return None
    return {
        "stage": review.stage,
        "passes": not verdict.failures,
        "failures": [{"rule": f.rule, "problem": f.problem, "hint": f.hint}
                     for f in verdict.failures],
        "skipped": verdict.skipped,
        "request": verdict.request,
    }  # fmt: skip


# -- text ---------------------------------------------------------------------------


def text_lines(review: Review) -> list[str]:
    new = review.candidate
    lines = [f"review {review.model.name} {new.label} against {review.against}"]
    lines += [f"  {name:<9} {_subject_line(s)}" for name, s in
              (("candidate", new), ("baseline", review.baseline)) if s is not None]  # fmt: skip
    lines += _policy_text(review) + _metrics_text(review.metrics)
    counts = summary(review)["files"]
    lines.append(f"files: {counts['changed']} changed, {counts['added']} added, "
                 f"{counts['removed']} removed, {counts['renamed']} renamed, "
                 f"{counts['unchanged']} unchanged")  # fmt: skip
    for change in review.files:
        lines += _file_text(change)
    return lines + _lineage_text(review)


def _subject_line(subject: Subject) -> str:
    v = subject.version
    who = f"{one_line(v.author, 60)}: {one_line(v.message, 100)}" if v.author else ""
    return f"{subject.label}  {v.commit[:10]} {v.date[:10]} {who}".rstrip()


def _policy_text(review: Review) -> list[str]:
    verdict = review.verdict
    if verdict is None:
        return ["policy dry run: none (name a stage with --against STAGE or --stage)"]
    state = "passes" if not verdict.failures else f"FAILS ({len(verdict.failures)} rule(s))"
    lines = [f"policy dry run for {review.stage}: {state}"]
    for f in verdict.failures:
        lines += [f"  x {one_line(f.rule)}: {one_line(f.problem, 300)}",
                  f"    hint: {one_line(f.hint, 300)}"]  # fmt: skip
    if verdict.skipped:
        lines.append(f"  not checked in a dry run: {', '.join(verdict.skipped)}")
    return lines


def _metrics_text(metrics: list[MetricDelta]) -> list[str]:
    if not metrics:
        return ["metrics: none annotated (git model annotate PATH --metric k=v)"]
    lines = ["metrics"]
    for m in metrics:
        delta = f" ({m.delta:+.4g})" if m.delta is not None else ""
        rule = ""
        if m.threshold is not None:
            rule = f"  {m.threshold.op} {m.threshold.value:g} " + ("ok" if m.passes else "FAILS")
        lines.append(f"  {one_line(m.name, 60):<20} {value_text(m.old)} -> {value_text(m.new)}"
                     f"{delta}{rule}")  # fmt: skip
    return lines


def value_text(value: Any) -> str:
    if value is None:
        return "-"
    return f"{value:.4g}" if isinstance(value, float) else one_line(str(value), 40)


def _file_text(change: FileChange) -> list[str]:
    if change.status == "unchanged":
        return []
    sign = {"added": "+", "removed": "-", "renamed": ">", "changed": "~"}[change.status]
    if change.renamed_from is not None:
        kind = "model file" if change.new and change.new.oid else "plain file"
        size = format_size(change.new.size) if change.new else "?"
        return [f"  {sign} {one_line(change.renamed_from, 200)} -> "
                f"{one_line(change.path, 200)} ({kind}, {size})"]  # fmt: skip
    if change.diff is not None:
        body = [one_line(line, 300) for line in diff_text(change.diff)[1:]]
        return [f"  {sign} {one_line(change.path, 200)} ({change.diff.format or 'model file'})",
                *("    " + line.strip() for line in body)]  # fmt: skip
    sizes = " -> ".join(format_size(f.size) for f in (change.old, change.new) if f)
    kind = f"shard of {one_line(change.shard_of, 200)}" if change.shard_of else "plain file"
    lines = [f"  {sign} {one_line(change.path, 200)} ({kind}, {sizes})"]
    return lines + [f"      {one_line(line, 200)}" for line in change.text_diff]


def _lineage_text(review: Review) -> list[str]:
    lin = review.lineage
    lines = ["lineage" + ("" if any(lin.recorded) else ": no provenance recorded "
                          "(git model commit --base/--data, or git model record)")]  # fmt: skip
    for item in lin.inputs:
        lines.append(f"  {one_line(item.role, 20):<5} {one_line(item.path, 200)}  "
                     f"{one_line(input_change_text(item), 300)}")  # fmt: skip
    for name, old, new in lin.params:
        lines.append(f"  param {one_line(name, 60)}: {value_text(old)} -> {value_text(new)}")
    if lin.code_files_total:
        shown = ", ".join(one_line(p, 100) for p in lin.code_files[:5])
        more = ", …" if lin.code_files_total > 5 else ""
        lines.append(f"  code  {lin.code_files_total} file(s) changed outside the model: "
                     f"{shown}{more}")  # fmt: skip
    return lines


def input_change_text(item: InputChange) -> str:
    """``changed A (1 MiB) -> B (1.1 MiB), +100 KiB, 30% new bytes``, or one version."""
    if item.status != "changed":
        one = item.new or item.old
        assert one is not None
        word = {"unchanged": "unchanged", "added": "new input", "removed": "no longer an input"}
        return f"{word[item.status]} ({str(one['oid'])[:10]}, {format_size(one['size'])})"
    assert item.old is not None and item.new is not None
    delta = item.new["size"] - item.old["size"]
    fresh = f", {item.new_bytes:.0%} new bytes" if item.new_bytes is not None else ""
    return (f"changed {str(item.old['oid'])[:10]} ({format_size(item.old['size'])}) -> "
            f"{str(item.new['oid'])[:10]} ({format_size(item.new['size'])}), "
            f"{'+' if delta >= 0 else '-'}{format_size(abs(delta))}{fresh}")  # fmt: skip


# -- Markdown -------------------------------------------------------------------------


def md(text: object, limit: int = 200) -> str:
    """``text`` as literal Markdown text: one line, every special character escaped,
    ``<`` and ``&`` as entities (so no HTML gets through). Never inside a code span,
    where escapes are shown as typed."""
    line = one_line(str(text), limit).replace("&", "&amp;").replace("<", "&lt;")
    return _MD_SPECIAL.sub(r"\\\1", line)


def markdown(review: Review) -> str:
    new = review.candidate
    out = [f"## Model review: {md(review.model.name)} {md(new.label)} "
           f"against {md(review.against)}", ""]  # fmt: skip
    out += [*_md_versions(review), "", *_md_policy(review), ""]
    out += _md_metrics(review.metrics) + _md_weights(review) + _md_lineage(review)
    out += _md_files(review)
    return "\n".join(out).rstrip() + "\n"


def _md_versions(review: Review) -> list[str]:
    sides = [s for s in (review.baseline, review.candidate) if s is not None]
    rows = ["| | " + " | ".join(md(s.label) for s in sides) + " |",
            "|---|" + "---|" * len(sides),
            "| commit | " + " | ".join(f"`{s.version.commit[:10]}`" for s in sides) + " |",
            "| size | " + " | ".join(format_size(sum(f.size for f in s.version.files))
                                    for s in sides) + " |",
            "| message | " + " | ".join(md(s.version.message, 80) for s in sides)
            + " |"]  # fmt: skip
    return rows


def _md_policy(review: Review) -> list[str]:
    verdict = review.verdict
    if verdict is None:
        return ["**Policy dry run:** none (name a stage with `--against STAGE` or `--stage`)"]
    stage = md(review.stage)
    if not verdict.failures:
        lines = [f"**Policy dry run for {stage}:** ✅ passes"]
    else:
        lines = [f"**Policy dry run for {stage}:** ❌ {len(verdict.failures)} rule(s) fail", ""]
        lines += [f"- ❌ **{md(f.rule)}**: {md(f.problem, 300)} — _{md(f.hint, 300)}_"
                  for f in verdict.failures]  # fmt: skip
    if verdict.skipped:
        lines += ["", f"Not checked in a dry run: {', '.join(map(md, verdict.skipped))}."]
    return lines


def _md_metrics(metrics: list[MetricDelta]) -> list[str]:
    if not metrics:
        return ["### Metrics", "", "None annotated.", ""]
    lines = [
        "### Metrics",
        "",
        "| metric | before | after | Δ | threshold |",
        "|---|---|---|---|---|",
    ]
    for m in metrics:
        delta = f"{m.delta:+.4g}" if m.delta is not None else ""
        rule = ""
        if m.threshold is not None:
            rule = f"{md(m.threshold.op)} {m.threshold.value:g} " + ("✅" if m.passes else "❌")
        lines.append(f"| {md(m.name, 60)} | {md(value_text(m.old))} | {md(value_text(m.new))} | "
                     f"{md(delta)} | {rule} |")  # fmt: skip
    return [*lines, ""]


def _md_weights(review: Review) -> list[str]:
    changed = [f for f in review.files if f.diff is not None]
    if not changed:
        return []
    lines = ["### Weights", ""]
    for change in changed:
        lines += [*_md_file_diff(change), ""]
    return lines


def _md_file_diff(change: FileChange) -> list[str]:
    d = change.diff
    assert d is not None
    counts = Counter(c.status for c in d.changes)
    old_p = d.old_info.parameters if d.old_info else 0
    new_p = d.new_info.parameters if d.new_info else 0
    sizes = " → ".join(format_size(f.size) for f in (change.old, change.new) if f)
    head = (f"**{md(change.path)}** ({md(d.format or 'unknown format')}, {change.status}, "
            f"{sizes}): {counts['changed']} tensor(s) changed, {counts['added']} added, "
            f"{counts['removed']} removed, {d.unchanged} unchanged; parameters "
            f"{old_p:,} → {new_p:,} ({new_p - old_p:+,})")  # fmt: skip
    lines = [head]
    if d.old_info and d.new_info and dtype_counts(d.old_info) != dtype_counts(d.new_info):
        lines.append(f"- dtypes: {md(dtype_counts(d.old_info))} → {md(dtype_counts(d.new_info))}")
    rows = sorted(d.changes, key=lambda c: -(c.relative_l2 or 0.0))
    if rows:
        lines += ["", "| tensor | change | dtype, shape | changed | rel. L2 | max abs Δ |",
                  "|---|---|---|---|---|---|"]  # fmt: skip
    for c in rows[:TENSORS_SHOWN]:
        tensor = c.new or c.old
        assert tensor is not None
        shape = f"{tensor.dtype} [{', '.join(map(str, tensor.shape))}]"
        share = f"{c.fraction_changed:.1%}" if c.fraction_changed is not None else ""
        rel = f"{c.relative_l2:.3g}" if c.relative_l2 is not None else ""
        top = f"{c.max_abs:.3g}" if c.max_abs is not None else ""
        lines.append(f"| {md(c.name, 120)} | {c.status} | {md(shape)} | {share} | {rel} | "
                     f"{top} |")  # fmt: skip
    if len(rows) > TENSORS_SHOWN:
        lines.append(f"\n…and {len(rows) - TENSORS_SHOWN} more (see `--json`).")
    return lines


def _md_lineage(review: Review) -> list[str]:
    lin = review.lineage
    lines = ["### Lineage", ""]
    if not any(lin.recorded):
        return [*lines, "No provenance recorded for either version.", ""]
    if lin.inputs:
        lines += ["| input | role | change |", "|---|---|---|"]
        lines += [f"| {md(i.path)} | {md(i.role, 20)} | {md(input_change_text(i), 300)} |"
                  for i in lin.inputs]  # fmt: skip
        lines.append("")
    lines += [f"- parameter **{md(k, 60)}**: {md(value_text(a))} → {md(value_text(b))}"
              for k, a, b in lin.params]  # fmt: skip
    if lin.code_files_total:
        shown = ", ".join(md(p, 100) for p in lin.code_files[:10])
        more = ", …" if lin.code_files_total > 10 else ""
        lines.append(f"- code: {lin.code_files_total} file(s) changed outside the model: "
                     f"{shown}{more}")  # fmt: skip
    return [*lines, ""]


def _md_files(review: Review) -> list[str]:
    moved = [f for f in review.files if f.status in ("added", "removed", "renamed")]
    plain = [f for f in review.files if f.status == "changed" and f.diff is None]
    if not moved and not plain:
        return []
    lines = ["### Files", ""]
    sign = {"added": "added:", "removed": "removed:", "renamed": "renamed:", "changed": "changed:"}
    for f in [*moved, *plain]:
        size = " → ".join(format_size(side.size) for side in (f.old, f.new) if side)
        if f.renamed_from is not None:  # the same bytes: one size
            size = format_size(f.new.size) if f.new else size
        was = f"{md(f.renamed_from)} → " if f.renamed_from is not None else ""
        lines.append(f"- {sign[f.status]} {was}{md(f.path)} ({size})")
        if f.text_diff:
            shown = [one_line(line, 200) for line in f.text_diff]
            fence = "`" * max([3, *(len(run) + 1 for line in shown
                                    for run in re.findall("`+", line))])  # fmt: skip
            lines += ["", f"  {fence}diff", *(f"  {line}" for line in shown), f"  {fence}"]
    return [*lines, ""]
