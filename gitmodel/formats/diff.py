"""Compare two versions of a model file: tensors added, removed, reshaped, changed.

Only headers and the two files' tensor digests are read up front; tensor data is read
(in bounded blocks) only for tensors whose digests differ. Files of unknown
format get byte-level facts: sizes, oids and the byte ranges that changed.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from pathlib import Path

from gitmodel.formats import read_model
from gitmodel.formats.arrays import same_item
from gitmodel.formats.base import BinaryFile, FormatError, ModelInfo, TensorInfo
from gitmodel.formats.digests import load_digests
from gitmodel.store.digests import DigestStore

MAX_RANGES = 20
RANGE_BLOCK = 4 << 20


@dataclass(frozen=True)
class FileContent:
    """A version of a model file as a local file to read (one side of a diff, or what
    ``inspect`` reads): the file with the content, its sha256 when known, and its size."""

    file: Path
    oid: str | None
    size: int


@dataclass(frozen=True)
class TensorChange:
    name: str
    status: str  # "added", "removed" or "changed"
    old: TensorInfo | None
    new: TensorInfo | None
    numel: int = 0
    changed: int | None = None  # elements (or bytes, for opaque dtypes) that differ
    delta_l2: float | None = None
    old_l2: float | None = None
    max_abs: float | None = None
    relative_l2: float | None = None
    unit: str = "elements"  # what ``changed`` counts

    @property
    def fraction_changed(self) -> float | None:
        if self.changed is None:
            return None
        total = self.numel if self.unit == "elements" else (self.old.nbytes if self.old else 0)
        return self.changed / total if total else 0.0


@dataclass
class FileDiff:
    """Everything a report needs about one file's change."""

    path: str
    old: FileContent | None
    new: FileContent | None
    format: str | None = None
    old_info: ModelInfo | None = None
    new_info: ModelInfo | None = None
    changes: list[TensorChange] = field(default_factory=list)
    unchanged: int = 0
    metadata: dict[str, tuple[object, object]] = field(default_factory=dict)  # key: (old, new)
    byte_ranges: list[tuple[int, int]] = field(default_factory=list)
    bytes_differ: int = 0
    more_ranges: bool = False
    note: str | None = None
    old_path: str | None = None  # a rename's old path


def diff_versions(
    path: str, old: FileContent | None, new: FileContent | None, sidecars: DigestStore,
    old_path: str | None = None,
) -> FileDiff:  # fmt: skip
    """Compare two versions (None: the file does not exist on that side); ``old_path``
    names the old version of a renamed file."""
    result = FileDiff(path, old, new, old_path=None if old_path == path else old_path)
    with contextlib.ExitStack() as stack:
        old_f = stack.enter_context(open(old.file, "rb")) if old is not None else None
        new_f = stack.enter_context(open(new.file, "rb")) if new is not None else None
        try:
            side = "old"
            result.old_info = read_model(old_f, path) if old_f is not None else None
            side = "new"
            result.new_info = read_model(new_f, path) if new_f is not None else None
        except FormatError as exc:
            result.note = f"{side} version: {exc}"
            result.old_info = result.new_info = None
        infos = [i for i in (result.old_info, result.new_info) if i is not None]
        known = len(infos) == (old is not None) + (new is not None)
        if infos and known and len({i.format for i in infos}) == 1:
            result.format = infos[0].format
            result.metadata = diff_metadata(result.old_info, result.new_info)
            try:
                _diff_tensors(result, old_f, new_f, sidecars)
            except FormatError as exc:  # tensor data that cannot be read: what was compared stays
                result.note = str(exc)
        elif old_f is not None and new_f is not None:
            _diff_bytes(result, old_f, new_f)
    return result


def diff_metadata(old: ModelInfo | None, new: ModelInfo | None) -> dict[str, tuple[object, object]]:
    """Metadata keys whose values differ (None: absent on that side)."""
    if old is None or new is None:
        return {}
    keys = sorted(set(old.metadata) | set(new.metadata))
    pairs = {key: (old.metadata.get(key), new.metadata.get(key)) for key in keys}
    return {key: pair for key, pair in pairs.items() if not same_value(*pair)}


def same_value(old: object, new: object) -> bool:
    """Equal metadata values, NaN equal to NaN (GGUF arrays compared whole)."""
    return same_item(old, new)


def _diff_tensors(
    result: FileDiff, old_f: BinaryFile | None, new_f: BinaryFile | None, sidecars: DigestStore
) -> None:
    old_t = result.old_info.by_name() if result.old_info else {}
    new_t = result.new_info.by_name() if result.new_info else {}
    for name, tensor in new_t.items():
        if name not in old_t:
            result.changes.append(TensorChange(name, "added", None, tensor, tensor.numel))
    for name, tensor in old_t.items():
        if name not in new_t:
            result.changes.append(TensorChange(name, "removed", tensor, None, tensor.numel))
    common = [n for n in old_t if n in new_t]
    if not common or old_f is None or new_f is None:
        return
    assert result.old is not None and result.new is not None
    assert result.old_info is not None and result.new_info is not None
    old_digests = load_digests(sidecars, result.old.oid, old_f, result.old_info).digests
    new_digests = load_digests(sidecars, result.new.oid, new_f, result.new_info).digests
    for name in common:
        a, b = old_t[name], new_t[name]
        if (a.dtype, a.shape) == (b.dtype, b.shape) and old_digests[name] == new_digests[name]:
            result.unchanged += 1
        else:
            result.changes.append(measure_change(old_f, a, new_f, b))


def measure_change(
    old_f: BinaryFile, a: TensorInfo, new_f: BinaryFile, b: TensorInfo
) -> TensorChange:
    """How a tensor whose digest differs changed (values, bytes, or dtype and shape)."""
    from gitmodel.formats import tensors

    if a.shape != b.shape:
        return TensorChange(a.name, "changed", a, b, b.numel)
    if tensors.is_numeric(a) and tensors.is_numeric(b):
        d = tensors.compare_values(old_f, a, new_f, b)
        return TensorChange(
            a.name, "changed", a, b, d.numel, d.changed, d.delta_l2, d.old_l2, d.max_abs,
            d.relative_l2,
        )  # fmt: skip
    if a.dtype == b.dtype:
        differ, _ = tensors.compare_bytes(old_f, a, new_f, b)
        return TensorChange(a.name, "changed", a, b, a.numel, differ, unit="bytes")
    return TensorChange(a.name, "changed", a, b, b.numel)


def _diff_bytes(result: FileDiff, old_f: BinaryFile, new_f: BinaryFile) -> None:
    """Changed byte ranges ``[start, end)`` of two files of unknown format."""
    import numpy as np

    old_f.seek(0)
    new_f.seek(0)
    offset = 0
    while True:
        a, b = old_f.read(RANGE_BLOCK), new_f.read(RANGE_BLOCK)
        if not a and not b:
            break
        n = min(len(a), len(b))
        mask = np.ones(max(len(a), len(b)) + 2, np.int8)
        mask[0] = mask[-1] = 0
        mask[1 : n + 1] = np.frombuffer(a[:n], np.uint8) != np.frombuffer(b[:n], np.uint8)
        result.bytes_differ += int(np.count_nonzero(mask))
        edges = np.flatnonzero(np.diff(mask)).tolist()
        _add_ranges(result, edges[0::2], edges[1::2], offset)
        offset += max(len(a), len(b))


def _add_ranges(result: FileDiff, starts: list[int], ends: list[int], offset: int) -> None:
    ranges = result.byte_ranges
    for start, end in zip(starts, ends, strict=True):
        if ranges and ranges[-1][1] == offset + start:
            ranges[-1] = (ranges[-1][0], offset + end)
        elif len(ranges) < MAX_RANGES:
            ranges.append((offset + start, offset + end))
        else:
            result.more_ranges = True
            return
