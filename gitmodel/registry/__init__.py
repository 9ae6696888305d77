"""The model registry: named models, versions, stages, promotion policy and resolve.

``declare`` reads the committed declarations, ``versions`` numbers each model's versions,
``stages`` keeps the stage events on ``refs/gitmodel/registry``, ``policy`` gates promotion.
:func:`resolve` is what a serving system calls: what a stage holds, from one blob read.
"""

from __future__ import annotations

from gitmodel.registry.serving import Resolved, resolve

__all__ = ["Resolved", "resolve"]
