"""Sharded checkpoints: ``model.safetensors.index.json`` (or ``pytorch_model.bin.index.json``)
and the shards its ``weight_map`` names, seen as one model.

The index is hostile input: it is bounded in size, every tensor and shard name is
checked, and a shard path must stay in the index's folder (relative, no ``..``, no
absolute path, no backslash: Git's own rule for a path it checks out). Which bytes a
path means on each side is the caller's business (a ``ShardOpener``), so this module
reads no Git; the caller also makes sure no symlink is followed.
"""

from __future__ import annotations

import contextlib
import json
import posixpath
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from gitmodel import safepath
from gitmodel.formats import read_model
from gitmodel.formats.base import BinaryFile, FormatError, ModelInfo, TensorInfo
from gitmodel.formats.diff import (
    FileContent,
    FileDiff,
    TensorChange,
    diff_metadata,
    measure_change,
)
from gitmodel.formats.digests import load_digests
from gitmodel.store.digests import DigestStore

INDEX_SUFFIXES = (".safetensors.index.json", ".bin.index.json", ".pt.index.json")
MAX_INDEX = 64 << 20
MAX_NAME = 4096
INDEX_HINT = "a sharded checkpoint's index maps tensor names to shard files in its folder"
ShardOpener = Callable[[str], "FileContent | None"]  # a shard's content by repository path


def is_index(path: str) -> bool:
    return path.lower().endswith(INDEX_SUFFIXES)


@dataclass(frozen=True)
class ShardIndex:
    """A checked index: tensor name -> shard path (relative to the index's folder)."""

    weight_map: dict[str, str]
    metadata: dict[str, Any]

    @property
    def shards(self) -> list[str]:
        return sorted(set(self.weight_map.values()))


def parse_index(data: bytes) -> ShardIndex:
    """The ``weight_map`` and ``metadata`` of an index file's bytes."""
    if len(data) > MAX_INDEX:
        raise FormatError(f"shard index of {len(data):,} bytes is too large", hint=INDEX_HINT)
    try:
        index = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise FormatError(f"shard index is not JSON: {exc}", hint=INDEX_HINT) from None
    weight_map = index.get("weight_map") if isinstance(index, dict) else None
    if not isinstance(weight_map, dict) or not weight_map:
        raise FormatError("shard index has no weight_map object", hint=INDEX_HINT)
    for name, shard in weight_map.items():
        if not (0 < len(name) <= MAX_NAME) or "\0" in name:
            raise FormatError(f"shard index names a tensor {name[:80]!r}", hint=INDEX_HINT)
        if not isinstance(shard, str) or len(shard) > MAX_NAME or not safepath.is_valid(shard):
            raise FormatError(
                f"shard index puts {name[:80]!r} in {str(shard)[:80]!r}, outside its folder",
                hint=INDEX_HINT,
            )
    metadata = index.get("metadata")
    return ShardIndex(dict(weight_map), metadata if isinstance(metadata, dict) else {})


def shard_path(index_path: str, shard: str) -> str:
    """The repository path of a shard named in the index at ``index_path``."""
    folder = posixpath.dirname(index_path)
    return f"{folder}/{shard}" if folder else shard


@dataclass
class ShardedModel:
    """One side of a sharded checkpoint: each tensor, and the shard that holds it."""

    index: ShardIndex
    shards: dict[str, FileContent]  # repository path -> content
    infos: dict[str, ModelInfo]  # repository path -> parsed header
    where: dict[str, str] = field(default_factory=dict)  # tensor -> shard path

    @property
    def info(self) -> ModelInfo:
        """All tensors as one table (offsets are each within its own shard)."""
        tensors = [t for path in sorted(self.infos) for t in self.infos[path].tensors]
        formats = sorted({i.format for i in self.infos.values()}) or ["safetensors"]
        return ModelInfo(f"{'/'.join(formats)}, {len(self.shards)} shards", tensors,
                         dict(self.index.metadata))  # fmt: skip

    @property
    def size(self) -> int:
        return sum(c.size for c in self.shards.values())


def read_sharded(index_path: str, index: FileContent, open_shard: ShardOpener) -> ShardedModel:
    """Read an index and the headers of every shard it names."""
    if index.size > MAX_INDEX:
        raise FormatError(f"shard index of {index.size:,} bytes is too large", hint=INDEX_HINT)
    parsed = parse_index(index.file.read_bytes())
    model = ShardedModel(parsed, {}, {})
    for shard in parsed.shards:
        path = shard_path(index_path, shard)
        content = open_shard(path)
        if content is None:
            raise FormatError(f"shard {path} named in {index_path} is missing", hint=INDEX_HINT)
        with open(content.file, "rb") as f:
            info = read_model(f, path)
        if info is None:
            raise FormatError(f"shard {path} is not a model file", hint=INDEX_HINT)
        model.shards[path], model.infos[path] = content, info
    for path, info in model.infos.items():
        for tensor in info.tensors:
            if model.where.setdefault(tensor.name, path) != path:
                raise FormatError(f"tensor {tensor.name!r} is in two shards", hint=INDEX_HINT)
    for name, shard in parsed.weight_map.items():
        if model.where.get(name) != shard_path(index_path, shard):
            raise FormatError(f"{index_path} puts {name[:80]!r} in {shard[:80]}, which lacks it",
                              hint=INDEX_HINT)  # fmt: skip
    return model


def diff_sharded(
    index_path: str, old: ShardedModel | None, new: ShardedModel | None, sidecars: DigestStore,
    old_index: FileContent | None = None, new_index: FileContent | None = None,
) -> FileDiff:  # fmt: skip
    """Compare two sides tensor by tensor, following each tensor to the shard that
    holds it on each side: a tensor that moved to another shard unchanged is unchanged."""
    result = FileDiff(index_path, old_index, new_index)
    result.old_info = old.info if old else None
    result.new_info = new.info if new else None
    either = new or old
    result.format = either.info.format if either is not None else None
    result.metadata = diff_metadata(result.old_info, result.new_info)
    old_t = {t.name: t for t in result.old_info.tensors} if result.old_info else {}
    new_t = {t.name: t for t in result.new_info.tensors} if result.new_info else {}
    result.changes += [TensorChange(n, "added", None, t, t.numel)
                       for n, t in new_t.items() if n not in old_t]  # fmt: skip
    result.changes += [TensorChange(n, "removed", t, None, t.numel)
                       for n, t in old_t.items() if n not in new_t]  # fmt: skip
    if old is None or new is None:
        return result
    try:
        moved = _compare_common(result, old, new, [n for n in old_t if n in new_t], sidecars)
    except FormatError as exc:  # tensor data that cannot be read: what was compared stays
        result.note = str(exc)
        return result
    if moved:
        result.note = f"{moved} tensors moved to another shard"
    return result


def _compare_common(
    result: FileDiff, old: ShardedModel, new: ShardedModel, names: list[str],
    sidecars: DigestStore,
) -> int:  # fmt: skip
    """Compare the tensors both sides hold; how many moved to a shard of another name."""
    assert result.old_info is not None and result.new_info is not None
    old_t, new_t = result.old_info.by_name(), result.new_info.by_name()
    moved = 0
    with _Files() as files:
        for name in names:
            a, b = old_t[name], new_t[name]
            a_path, b_path = old.where[name], new.where[name]
            moved += a_path.rsplit("/", 1)[-1] != b_path.rsplit("/", 1)[-1]
            a_file = files.open(old.shards[a_path])
            b_file = files.open(new.shards[b_path])
            same = (a.dtype, a.shape) == (b.dtype, b.shape) and (
                files.digests(sidecars, old, a_path)[name]
                == files.digests(sidecars, new, b_path)[name]
            )
            if same:
                result.unchanged += 1
            else:
                result.changes.append(measure_change(a_file, a, b_file, b))
    return moved


class _Files(contextlib.ExitStack):
    """Open shards and their digests, each once."""

    def __init__(self) -> None:
        super().__init__()
        self._open: dict[str, BinaryFile] = {}
        self._digests: dict[tuple[int, str], dict[str, str]] = {}

    def open(self, content: FileContent) -> BinaryFile:
        key = str(content.file)
        if key not in self._open:
            self._open[key] = self.enter_context(open(content.file, "rb"))  # noqa: SIM115
        return self._open[key]

    def digests(self, sidecars: DigestStore, model: ShardedModel, path: str) -> dict[str, str]:
        key = (id(model), path)
        if key not in self._digests:
            content = model.shards[path]
            f = self.open(content)
            info = model.infos[path]
            self._digests[key] = load_digests(sidecars, content.oid, f, info).digests
        return self._digests[key]


def shard_tensors(model: ShardedModel) -> list[tuple[str, TensorInfo]]:
    """(shard file name, tensor) for every tensor, shard by shard."""
    return [(path.rsplit("/", 1)[-1], t) for path in sorted(model.infos)
            for t in model.infos[path].tensors]  # fmt: skip
