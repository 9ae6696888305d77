"""gitmodel: version large models and data sets in Git, with the bytes in object storage.

``gitmodel.open`` and ``gitmodel.path`` (see :mod:`gitmodel.api`) read any version
of a model file, by revision or by registry stage, and ``gitmodel.resolve`` says what a
stage serves; they are imported on first use so that ``import gitmodel`` stays cheap.
"""

from __future__ import annotations

TYPE_CHECKING = False  # typing's flag without loading typing: the filter process starts often
if TYPE_CHECKING:
    from typing import Any

__version__ = "0.1.0"
_API = ("open", "path", "resolve")


def __getattr__(name: str) -> Any:
    if name in _API:
        from gitmodel import api

        return getattr(api, name)
    raise AttributeError(f"module 'gitmodel' has no attribute {name!r}")
