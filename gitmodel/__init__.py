"""gitmodel: version large models and data sets in Git, with the bytes in object storage."""

from __future__ import annotations

__version__ = "0.1.0"
