"""Tensor values: raw bytes streamed in bounded blocks, and their comparison.

NumPy is imported here, lazily by callers, never at ``git-model`` start-up.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, Any

import numpy as np

from gitmodel.formats.base import ITEM_BITS, BinaryFile, TensorInfo, iter_raw

if TYPE_CHECKING:
    from numpy.typing import NDArray

BLOCK_BYTES = 2 << 20  # per side: memory stays bounded whatever the tensor's size


def item_bits(tensor: TensorInfo) -> int:
    """Bits per element (8 for formats compared byte by byte)."""
    if tensor.dtype in ITEM_BITS:
        return ITEM_BITS[tensor.dtype]
    np_dtype = tensor.numpy_dtype
    return int(np_dtype[2:]) * 8 if np_dtype is not None else 8


_DECODED = ("BF16", "F8_E4M3", "F8_E5M2", "F8_E4M3FNUZ", "F8_E5M2FNUZ", "F8_E8M0", "F4")


def is_numeric(tensor: TensorInfo) -> bool:
    return tensor.dtype in _DECODED or tensor.numpy_dtype is not None


def to_float(raw: bytes, tensor: TensorInfo) -> NDArray[Any]:
    """Raw little-endian bytes as float64 (complex128 for complex tensors)."""
    if tensor.dtype == "BF16":
        bits = np.frombuffer(raw, "<u2").astype("<u4") << 16
        return bits.view("<f4").astype(np.float64)
    if tensor.dtype == "F4":  # two elements a byte, the first in the low nibble
        codes = np.frombuffer(raw, np.uint8)
        return _fp_table("F4")[np.stack([codes & 0xF, codes >> 4], axis=-1).reshape(-1)]
    if tensor.dtype in _DECODED:
        return _fp_table(tensor.dtype)[np.frombuffer(raw, np.uint8)]
    np_dtype = np.dtype(tensor.numpy_dtype)
    values = np.frombuffer(raw, np_dtype)
    return values.astype(np.complex128 if np_dtype.kind == "c" else np.float64)


# small floats: (exponent bits, mantissa bits, bias, what the top codes mean)
_SMALL_FLOATS = {
    "F8_E4M3": (4, 3, 7, "fn"),  # no infinities; S.1111.111 is NaN
    "F8_E4M3FNUZ": (4, 3, 8, "fnuz"),  # no infinities, no -0: 0x80 is NaN
    "F8_E5M2FNUZ": (5, 2, 16, "fnuz"),
    "F4": (2, 1, 1, "finite"),  # E2M1: every code is a number
}


@cache
def _fp_table(dtype: str) -> NDArray[np.float64]:
    """The value of each of a small float format's 256 (or 16) codes."""
    codes = np.arange(256, dtype=np.uint16)
    if dtype == "F8_E5M2":  # the top byte of an IEEE half
        return (codes << 8).view(np.float16).astype(np.float64)
    if dtype == "F8_E8M0":  # a power of two; 0xFF is NaN
        values = np.exp2(codes.astype(np.float64) - 127)
        values[0xFF] = np.nan
        return values
    exp_bits, man_bits, bias, kind = _SMALL_FLOATS[dtype]
    width = 1 + exp_bits + man_bits
    codes = codes[: 1 << width]
    sign = np.where(codes >> (width - 1), -1.0, 1.0)
    exp = ((codes >> man_bits) & ((1 << exp_bits) - 1)).astype(np.float64)
    man = (codes & ((1 << man_bits) - 1)) / float(1 << man_bits)
    subnormal = man * np.exp2(1.0 - bias)
    values = sign * np.where(exp == 0, subnormal, (1 + man) * np.exp2(exp - bias))
    if kind == "fn":
        values[(codes & 0x7F) == 0x7F] = np.nan
    elif kind == "fnuz":
        values[0x80] = np.nan
    return values.astype(np.float64)


@dataclass(frozen=True)
class TensorDelta:
    """How much a tensor of unchanged shape changed, element by element."""

    numel: int
    changed: int  # elements that differ (NaN equals NaN)
    delta_l2: float  # L2 norm of new - old over finite elements
    old_l2: float
    max_abs: float  # largest |new - old| over finite elements

    @property
    def fraction_changed(self) -> float:
        return self.changed / self.numel if self.numel else 0.0

    @property
    def relative_l2(self) -> float | None:
        """||new - old|| / ||old||; None when the old tensor is all zeros."""
        if self.old_l2 == 0:
            return None if self.delta_l2 else 0.0
        return self.delta_l2 / self.old_l2


def compare_values(
    old_file: BinaryFile, old: TensorInfo, new_file: BinaryFile, new: TensorInfo
) -> TensorDelta:
    """Stream two same-shaped tensors side by side and measure the change."""
    changed, sum_dd, sum_oo, max_abs = 0, 0.0, 0.0, 0.0
    elems = BLOCK_BYTES // max(item_bits(old), item_bits(new)) * 8  # whole bytes each side
    old_blocks = iter_raw(old_file, old, elems * item_bits(old) // 8)
    new_blocks = iter_raw(new_file, new, elems * item_bits(new) // 8)
    # NaN and infinity are data, not errors: they count as changes, not in the norms
    with np.errstate(all="ignore"):
        for a_raw, b_raw in zip(old_blocks, new_blocks, strict=True):
            a, b = to_float(a_raw, old), to_float(b_raw, new)
            changed += int(np.count_nonzero((a != b) & ~(np.isnan(a) & np.isnan(b))))
            delta = np.abs(b - a)
            delta = delta[np.isfinite(delta)]
            sum_dd += float(np.dot(delta, delta))
            a_fin = np.abs(a[np.isfinite(a)])
            sum_oo += float(np.dot(a_fin, a_fin))
            if delta.size:
                max_abs = max(max_abs, float(delta.max()))
    return TensorDelta(old.numel, changed, math.sqrt(sum_dd), math.sqrt(sum_oo), max_abs)


def compare_bytes(
    old_file: BinaryFile, old: TensorInfo, new_file: BinaryFile, new: TensorInfo
) -> tuple[int, int]:
    """Bytes that differ and bytes compared, for tensors without numeric values."""
    differ = 0
    for a, b in zip(iter_raw(old_file, old), iter_raw(new_file, new), strict=False):
        differ += int(np.count_nonzero(np.frombuffer(a, np.uint8) != np.frombuffer(b, np.uint8)))
    return differ, old.nbytes
