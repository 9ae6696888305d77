"""Reading any version of a repository without a clone.

- ``source``: :class:`~gitmodel.reader.source.RemoteRepo`, a repository URL read through
  a shallow, blob-filtered cache (pointers and trees), its revisions and registry
  stages, and the model remote that holds its bytes;
- ``fs``: ``gitmodel://``, an fsspec filesystem over one commit of it, reading model
  files with ranged reads of the remote (:mod:`gitmodel.remote.ranges`).

Importing this package loads neither (``fs`` loads fsspec).
"""
