"""The versioned data sets of ``bench_dedup.py``: a safetensors model and a CSV table.

Each generator writes every version to its own file (generation is never timed) and
says how many bytes each version changed, which is what a deduplicating push and pull
should move. Everything is seeded, so two runs build the same files.
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from gitmodel.store.local import hash_file

FLOAT_BYTES = 4  # float32 tensors
MIN_ELEMENTS = 256  # the smallest tensor: 1 KiB, like a bias or a norm
ROW_WORDS = ("alpha", "beta", "gamma", "delta", "omega", "sigma", "kappa", "theta")


@dataclass(frozen=True)
class Version:
    """One version of the tracked file, as written under the source folder."""

    number: int
    path: Path
    sha256: str
    size: int
    changed: int  # bytes of the tensors or rows this version changed (all of them for v1)
    note: str


# -- the model -------------------------------------------------------------------------


def tensor_sizes(total: int, count: int, rng: np.random.Generator) -> list[int]:
    """``count`` element counts spread log-uniformly over three decades (tiny norms to
    large projections), scaled so the tensors hold about ``total`` bytes."""
    weights = np.exp(rng.uniform(0.0, np.log(4000.0), count))
    elements = weights / weights.sum() * (total / FLOAT_BYTES)
    return [max(MIN_ELEMENTS, int(n)) for n in elements]


def write_safetensors(path: Path, tensors: list[tuple[str, np.ndarray]]) -> None:
    """The safetensors layout: 8-byte little-endian header length, JSON header padded
    with spaces to 8 bytes, then the tensors back to back in the order given."""
    header: dict[str, object] = {"__metadata__": {"format": "pt"}}
    offset = 0
    for name, array in tensors:
        header[name] = {
            "dtype": "F32",
            "shape": [int(array.size)],
            "data_offsets": [offset, offset + array.nbytes],
        }
        offset += array.nbytes
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for _, array in tensors:
            f.write(array.tobytes())


def model_versions(
    folder: Path, total: int, count: int, versions: int, shift_at: int, seed: int = 4
) -> list[Version]:
    """``versions`` versions of a ``total``-byte model of ``count`` float32 tensors.
    Each version after the first gives 10% of the tensors new random values; version
    ``shift_at`` also inserts a new tensor second in the file, so every later tensor
    moves."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    sizes = tensor_sizes(total, count, rng)
    tensors = [
        (f"layers.{i:03d}.weight", rng.standard_normal(n, dtype=np.float32))
        for i, n in enumerate(sizes)
    ]
    result = []
    for number in range(1, versions + 1):
        note = ""
        changed = 0
        if number > 1:
            picks = rng.choice(len(tensors), size=max(1, len(tensors) // 10), replace=False)
            for i in sorted(int(p) for p in picks):
                name, old = tensors[i]
                tensors[i] = (name, rng.standard_normal(old.size, dtype=np.float32))
                changed += old.nbytes
            note = f"{len(picks)} tensors changed"
        if number == shift_at and number > 1:
            extra = rng.standard_normal(int(np.median(sizes)), dtype=np.float32)
            tensors.insert(1, ("adapter.000.weight", extra))
            changed += extra.nbytes
            note += f", {extra.nbytes / 2**20:.1f} MiB tensor inserted second (offsets shift)"
        path = folder / f"model-v{number}.safetensors"
        write_safetensors(path, tensors)
        size = path.stat().st_size
        result.append(
            Version(number, path, hash_file(path)[0], size, changed or size, note or "new")
        )
    return result


# -- the CSV data set ------------------------------------------------------------------


def csv_rows(start: int, count: int, rng: np.random.Generator) -> list[bytes]:
    """``count`` rows of a plausible event log, ids from ``start``."""
    seconds = rng.integers(1_700_000_000, 1_760_000_000, count)
    users = rng.integers(0, 50_000, count)
    words = rng.integers(0, len(ROW_WORDS), (count, 2))
    values = rng.standard_normal((count, 2)).round(6)
    return [
        f"{start + i},{seconds[i]},user{users[i]},{ROW_WORDS[words[i, 0]]} "
        f"{ROW_WORDS[words[i, 1]]},{values[i, 0]},{values[i, 1]}\n".encode()
        for i in range(count)
    ]


def csv_versions(folder: Path, total: int, versions: int, seed: int = 5) -> list[Version]:
    """``versions`` versions of a CSV of about ``total`` bytes: each later version
    appends 5% more rows and edits five rows in the middle of the file."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    probe = csv_rows(0, 1000, rng)
    rows = [b"id,time,user,tags,score,delta\n"]
    rows += csv_rows(0, max(10, total * len(probe) // sum(map(len, probe))), rng)
    result = []
    for number in range(1, versions + 1):
        changed, note = 0, "new"
        if number > 1:
            added = csv_rows(len(rows), len(rows) // 20, rng)
            middle = rng.integers(len(rows) // 4, 3 * len(rows) // 4, 5)
            for i in (int(m) for m in middle):
                fields = rows[i].split(b",")
                fields[4] = b"%.6f" % rng.standard_normal()
                rows[i] = b",".join(fields)
                changed += len(rows[i])
            rows += added
            changed += sum(map(len, added))
            note = f"{len(added)} rows appended, 5 rows edited in the middle"
        path = folder / f"data-v{number}.csv"
        path.write_bytes(b"".join(rows))
        size = path.stat().st_size
        result.append(Version(number, path, hash_file(path)[0], size, changed or size, note))
    return result
