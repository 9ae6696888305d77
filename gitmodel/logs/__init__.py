"""Append-only logs of JSON records kept in Git (``refs/gitmodel/<log>``): the registry's
stage events and the lineage records are two kinds of log. :mod:`~gitmodel.logs.records`
writes and reads one log; :mod:`~gitmodel.logs.sync` pushes, fetches and merges them.
Which kinds exist is :func:`gitmodel.logsync.kinds`, above the registry and lineage."""
