"""What a log record cannot hold, found and named: a record is canonical UTF-8 JSON
(:func:`gitmodel.logs.records.encode`), so text that is not UTF-8 (bytes of another
encoding reach Python as lone surrogates, from argv or a file name) and numbers that are
not finite (``NaN``, ``Infinity``: not JSON) cannot be written. Pure: values in, a
problem out, no I/O."""

from __future__ import annotations

import math
from dataclasses import dataclass

from gitmodel.text import is_utf8, printable

UTF8_HINT = "write it in UTF-8 (see your terminal's or the file's encoding)"
FINITE_HINT = "give a finite number"


@dataclass(frozen=True)
class Problem:
    """Why a value cannot be recorded: ``what`` names the field, ``hint`` the fix."""

    what: str
    hint: str


def problem(value: object, where: str = "") -> Problem | None:
    """The first thing in ``value`` (a JSON value, fields named from ``where``) that a
    record cannot hold, or None."""
    if isinstance(value, str):
        return None if is_utf8(value) else Problem(f"{_name(where)} is not UTF-8 text", UTF8_HINT)
    if isinstance(value, float) and not math.isfinite(value):
        return Problem(f"{_name(where)} is not a finite number ({value})", FINITE_HINT)
    if isinstance(value, dict):
        return _in_object(value, where)
    if isinstance(value, list):
        found = (problem(item, f"{where}[{n}]") for n, item in enumerate(value))
        return next((p for p in found if p is not None), None)
    return None


def _in_object(value: dict[object, object], where: str) -> Problem | None:
    for key, item in value.items():
        name = f"{where}.{printable(str(key))}" if where else printable(str(key))
        if isinstance(key, str) and not is_utf8(key):
            return Problem(f"the name of the field {name} is not UTF-8 text", UTF8_HINT)
        found = problem(item, name)
        if found is not None:
            return found
    return None


def _name(where: str) -> str:
    return f"the field {where}" if where else "the record"
