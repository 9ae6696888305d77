"""The local store: whole objects, packs of small ones, and the caches beside them.

Remote stores live in ``gitmodel.remote``; nothing here knows of them."""
