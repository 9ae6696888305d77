"""The audit trail as text, CSV and one self-contained HTML page. Everything shown comes
from records anyone with push access may have written: text is made one printable line,
HTML is escaped, and a CSV cell that a spreadsheet would run as a formula is quoted."""

from __future__ import annotations

import csv
import html
from collections.abc import Iterable
from typing import IO, Any

from gitmodel.registry.audit import Change
from gitmodel.registry.requests import one_line

CSV_COLUMNS = ("at", "event", "model", "stage", "type", "from", "to", "by_name", "by_email",
               "signature", "signer", "signature_required", "forced", "bypassed", "request",
               "requested_by", "approved_by", "problems", "message", "rejected_by")  # fmt: skip
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def text_lines(change: Change) -> list[str]:
    """One line per change, then its flags and problems, indented."""
    data = change.to_json()
    sig = data["signature"]
    signed = sig["status"] + (f" ({sig['signer']})" if sig["signer"] else "")
    by = f"{one_line(data['by']['name'], 60)} <{one_line(data['by']['email'], 80)}>"
    what = " ".join(
        one_line(str(data[key]), 60) if data[key] is not None else "-" for key in ("model", "stage")
    )  # a record that is no stage change: "-"
    kind = one_line(str(data["type"]), 40) if data["type"] is not None else "-"
    lines = [f"{data['at'][:19]}  {what}  {kind}  {data['from']} -> {data['to']}  "
             f"by {by}  signature: {signed}"]  # fmt: skip
    if data["message"]:
        lines.append(f"    why: {one_line(str(data['message']))}")
    req = data["request"]
    if req and req.get("found"):
        lines.append(f"    request {req['id']} by {one_line(req['requested_by']['email'], 80)}: "
                     f"{one_line(req['message'])}")  # fmt: skip
    for found in data["approvals"]:
        status = found["signature"]["status"] if found["signature"] else "signature not required"
        lines.append(f"    approved by {one_line(found['by']['email'], 80)} ({status})")
    for email in data["rejected_by"]:
        lines.append(f"    canary withdrawn: request {one_line(str(req and req['id']), 40)} "
                     f"rejected by {one_line(email, 80)}")  # fmt: skip
    if change.forced:
        bypassed = "; ".join(one_line(str(b), 200) for b in data["bypassed"]) or "nothing failed"
        lines.append(f"    FORCED: bypassed {bypassed}")
    lines += [f"    PROBLEM: {one_line(p, 400)}" for p in change.problems]
    return lines


def write_csv(changes: Iterable[Change], out: IO[str]) -> None:
    """One row per change, the columns of :data:`CSV_COLUMNS`."""
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for change in changes:
        writer.writerow([_cell(value) for value in _row(change.to_json())])


def _row(data: dict[str, Any]) -> list[object]:
    req = data["request"] or {}
    requested = req.get("requested_by", {}).get("email", "") if req.get("found") else ""
    return [data["at"], data["event"], data["model"], data["stage"], data["type"],
            data["from"], data["to"], data["by"]["name"], data["by"]["email"],
            data["signature"]["status"], data["signature"]["signer"] or "",
            data["signature_required"], data["forced"], "; ".join(map(str, data["bypassed"])),
            req.get("id") or "", requested,
            " ".join(a["by"]["email"] for a in data["approvals"]),
            "; ".join(data["problems"]), data["message"],
            " ".join(data["rejected_by"])]  # fmt: skip


def _cell(value: object) -> str:
    text = "true" if value is True else "false" if value is False else str(value or "")
    text = one_line(text, 2000)
    return "'" + text if text.startswith(_FORMULA_START) and text != "-" else text


def page(changes: list[Change], title: str) -> str:
    """A self-contained HTML table (no script, no network)."""
    rows = "\n".join(_html_row(c) for c in changes)
    flagged = sum(1 for c in changes if c.problems)
    forced = sum(1 for c in changes if c.forced)
    summary = f"{len(changes)} stage change(s), {forced} forced, {flagged} with problems"
    return _PAGE.format(title=html.escape(title), summary=html.escape(summary), rows=rows)


def _html_row(change: Change) -> str:
    data = change.to_json()
    esc = html.escape
    req = data["request"]
    request = "-"
    if req and req.get("found"):
        request = f"{esc(req['id'])}<br>by {esc(req['requested_by']['email'])}"
    elif req:
        request = f"{esc(str(req['id']))} (not found)"
    approvers = "<br>".join([_approver(a) for a in data["approvals"]]
                            + [f"rejected by {esc(e)}: canary withdrawn"
                               for e in data["rejected_by"]]) or "-"  # fmt: skip
    notes = [f"FORCED: bypassed {esc('; '.join(map(str, data['bypassed'])) or 'nothing failed')}"
             ] if change.forced else []  # fmt: skip
    notes += [esc(p) for p in change.problems]
    classes = " ".join(
        c for c, on in (("problem", change.problems), ("forced", change.forced)) if on
    )
    cells = [esc(data["at"][:19]), esc(f"{data['model']} {data['stage']}"), esc(str(data["type"])),
             esc(f"{data['from']} → {data['to']}"),
             esc(f"{data['by']['name']} <{data['by']['email']}>"),
             esc(data["signature"]["status"]), request, approvers,
             esc(str(data["message"])), "<br>".join(notes) or "ok"]  # fmt: skip
    return f'<tr class="{classes}">' + "".join(f"<td>{c}</td>" for c in cells) + "</tr>"


def _approver(found: dict[str, Any]) -> str:
    status = found["signature"]["status"] if found["signature"] else "n/a"
    return f"{html.escape(found['by']['email'])} ({html.escape(status)})"


_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">
<title>{title}</title>
<style>
  body {{ font: 14px system-ui, sans-serif; margin: 16px; color: #222; }}
  h1 {{ font-size: 18px; }}
  table {{ border-collapse: collapse; }}
  td, th {{ border: 1px solid #ddd; padding: 4px 8px; vertical-align: top; text-align: left; }}
  th {{ background: #f3f3f3; }}
  tr.forced td {{ background: #fff7e0; }}
  tr.problem td {{ background: #fde8e8; }}
</style>
</head>
<body>
<h1>{title}</h1>
<p id="summary">{summary}</p>
<table>
<tr><th>when</th><th>model stage</th><th>type</th><th>change</th><th>by</th><th>signature</th>
<th>request</th><th>approved (or rejected) by</th><th>why</th><th>flags</th></tr>
{rows}
</table>
</body>
</html>
"""
