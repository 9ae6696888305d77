"""Model diffs and inspections as text (for people and Git) and as JSON."""

from __future__ import annotations

from collections import Counter
from typing import Any

from gitmodel.formats.arrays import differences, is_array, json_text
from gitmodel.formats.base import ModelInfo, TensorInfo
from gitmodel.formats.diff import FileContent, FileDiff, TensorChange
from gitmodel.text import printable

SIGN = {"added": "+", "removed": "-", "changed": "~"}
SHOWN_ITEMS = 8  # array items a line shows
JSON_ITEMS = 64  # array items a diff's JSON gives in full; longer: length and digest


def describe(tensor: TensorInfo) -> str:
    return f"{tensor.dtype} [{', '.join(map(str, tensor.shape))}]"


def _num(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3g}"


def _oid(version: FileContent | None) -> str:
    if version is None:
        return "(none)"
    if version.oid:
        return version.oid[:12]
    return "(empty)" if version.size == 0 else "(worktree)"  # an empty file has no pointer


def _size(version: FileContent | None) -> str:
    return "-" if version is None else f"{version.size:,} B"


def diff_text(diff: FileDiff) -> list[str]:
    """A readable summary of one file's change."""
    path = printable(diff.path)
    if diff.old_path is not None:
        path = f"{printable(diff.old_path)} -> {path}"
    lines = [f"model diff {path} ({diff.format or 'unknown format'})"]
    lines.append(f"  oid  {_oid(diff.old)} -> {_oid(diff.new)}")
    lines.append(f"  size {_size(diff.old)} -> {_size(diff.new)}")
    if diff.note:
        lines.append(f"  note: {printable(diff.note)}")
    if diff.format is None:
        return lines + _byte_lines(diff)
    counts = Counter(c.status for c in diff.changes)
    old_n = len(diff.old_info.tensors) if diff.old_info else 0
    new_n = len(diff.new_info.tensors) if diff.new_info else 0
    lines.append(
        f"  tensors {old_n} -> {new_n}: {counts['added']} added, {counts['removed']} removed,"
        f" {counts['changed']} changed, {diff.unchanged} unchanged"
    )
    old_p = diff.old_info.parameters if diff.old_info else 0
    new_p = diff.new_info.parameters if diff.new_info else 0
    lines.append(f"  parameters {old_p:,} -> {new_p:,} ({new_p - old_p:+,})")
    for key, (old, new) in diff.metadata.items():
        lines.append(f"  metadata {printable(key)}: {_metadata_change(old, new)}")
    return lines + [_change_line(c) for c in sorted(diff.changes, key=_order)]


def _order(change: TensorChange) -> tuple[int, str]:
    return (("added", "removed", "changed").index(change.status), change.name)


def _change_line(change: TensorChange) -> str:
    sign = SIGN[change.status]
    if change.status != "changed":
        tensor = change.new or change.old
        assert tensor is not None
        return f"  {sign} {printable(change.name)}  {describe(tensor)}"
    assert change.old is not None and change.new is not None
    what = describe(change.new)
    if describe(change.old) != what:
        what = f"{describe(change.old)} -> {what}"
    name = printable(change.name)
    if change.changed is None:
        return f"  {sign} {name}  {what}"
    stats = f"changed {change.fraction_changed:.2%} of {change.unit}"
    if change.unit == "elements":
        stats += f", rel L2 {_num(change.relative_l2)}, max |delta| {_num(change.max_abs)}"
    return f"  {sign} {name}  {what}  {stats}"


def _byte_lines(diff: FileDiff) -> list[str]:
    if diff.old is None or diff.new is None:
        return []
    lines = [f"  bytes differing: {diff.bytes_differ:,}"]
    for start, end in diff.byte_ranges:
        lines.append(f"  @ bytes {start:,}-{end - 1:,} ({end - start:,} B)")
    if diff.more_ranges:
        lines.append("  @ … more ranges")
    return lines


def diff_json(diff: FileDiff) -> dict[str, Any]:
    return {
        "path": diff.path,
        "old_path": diff.old_path,
        "format": diff.format,
        "old": _version_json(diff.old, diff.old_info),
        "new": _version_json(diff.new, diff.new_info),
        "added": [_tensor_json(c.new) for c in diff.changes if c.status == "added" and c.new],
        "removed": [_tensor_json(c.old) for c in diff.changes if c.status == "removed" and c.old],
        "changed": [_change_json(c) for c in diff.changes if c.status == "changed"],
        "unchanged": diff.unchanged,
        "metadata": {k: _metadata_json(a, b) for k, (a, b) in diff.metadata.items()},
        "bytes_differing": diff.bytes_differ if diff.format is None else None,
        "byte_ranges": [list(r) for r in diff.byte_ranges],
        "more_ranges": diff.more_ranges,
        "note": diff.note,
    }


def _version_json(version: FileContent | None, info: ModelInfo | None) -> dict[str, Any] | None:
    if version is None:
        return None
    return {
        "oid": version.oid,
        "size": version.size,
        "tensors": len(info.tensors) if info else None,
        "parameters": info.parameters if info else None,
    }


def _tensor_json(tensor: TensorInfo) -> dict[str, Any]:
    return {"name": tensor.name, "dtype": tensor.dtype, "shape": list(tensor.shape)}


def _change_json(change: TensorChange) -> dict[str, Any]:
    assert change.old is not None and change.new is not None
    return {
        "name": change.name,
        "old": _tensor_json(change.old),
        "new": _tensor_json(change.new),
        "changed": change.changed,
        "unit": change.unit,
        "fraction_changed": change.fraction_changed,
        "delta_l2": change.delta_l2,
        "old_l2": change.old_l2,
        "relative_l2": change.relative_l2,
        "max_abs_change": change.max_abs,
    }


def dtype_counts(info: ModelInfo) -> dict[str, int]:
    """Parameters per dtype."""
    counts: Counter[str] = Counter()
    for tensor in info.tensors:
        counts[tensor.dtype] += tensor.numel
    return dict(sorted(counts.items()))


def inspect_text(info: ModelInfo, size: int, digests: dict[str, str] | None = None) -> list[str]:
    """Format, metadata, parameter counts by dtype and the tensor table."""
    lines = [f"format {info.format}", f"size {size:,} B", f"tensors {len(info.tensors)}"]
    lines.append(f"parameters {info.parameters:,}")
    lines += [f"  {dtype} {count:,}" for dtype, count in dtype_counts(info).items()]
    if info.metadata:
        lines.append("metadata")
        lines += [f"  {printable(key)} = {_short(value)}" for key, value in info.metadata.items()]
    lines.append("tensors")
    for tensor in info.tensors:
        digest = f"  xxh3:{digests[tensor.name][:16]}" if digests else ""
        lines.append(f"  {printable(tensor.name)}  {describe(tensor)}{digest}")
    return lines


def _plain(value: Any) -> Any:
    """A JSON-friendly metadata value: arrays as arrays, odd values as their text."""
    if isinstance(value, tuple) or is_array(value):
        return [_plain(v) for v in value]
    return value if isinstance(value, (str, int, float, bool)) or value is None else _short(value)


def _short(value: Any, limit: int = 120) -> str:
    """One line; an array longer than a few items shows its length and digest first, so
    that a change anywhere in it shows."""
    if is_array(value) and len(value) > SHOWN_ITEMS:
        head = ", ".join(map(repr, value[:SHOWN_ITEMS]))
        text = f"({len(value)} items, xxh3:{array_digest(value)[:16]}) [{head}, …]"
    else:
        text = repr(value) if not isinstance(value, str) else value
    text = printable(text)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def array_digest(value: Any) -> str:
    """xxh3-128 of an array's canonical JSON: equal arrays, equal digests (the JSON is
    made and hashed a chunk of items at a time)."""
    import xxhash

    digest = xxhash.xxh3_128()
    for text in json_text(value, _plain):
        digest.update(text.encode("utf-8", "surrogatepass"))
    return digest.hexdigest()


def _metadata_change(old: Any, new: Any) -> str:
    if not (is_array(old) and is_array(new)):
        return f"{_short(old, 60)} -> {_short(new, 60)}"
    count, first = differences(old, new)
    return (f"array of {len(old)} -> {len(new)} items, {count} differ, the first [{first}]:"
            f" {_short(old[first] if first < len(old) else None, 40)}"
            f" -> {_short(new[first] if first < len(new) else None, 40)}")  # fmt: skip


def _metadata_json(old: Any, new: Any) -> dict[str, Any]:
    """Old and new values; arrays longer than :data:`JSON_ITEMS` as length and digest."""
    entry = {"old": _json_value(old), "new": _json_value(new)}
    if is_array(old) and is_array(new):
        entry["items_differing"], entry["first_difference"] = differences(old, new)
    return entry


def _json_value(value: Any) -> Any:
    if is_array(value) and len(value) > JSON_ITEMS:
        return {"items": len(value), "xxh3": array_digest(value)}
    return _plain(value)


def inspect_json(info: ModelInfo, size: int, oid: str | None) -> dict[str, Any]:
    return {
        "format": info.format,
        "oid": oid,
        "size": size,
        "parameters": info.parameters,
        "parameters_by_dtype": dtype_counts(info),
        "metadata": {k: _plain(v) for k, v in info.metadata.items()},
        "tensors": [{**_tensor_json(t), "offset": t.offset if t.opener is None else None,
                     "nbytes": t.nbytes} for t in info.tensors],
    }  # fmt: skip
