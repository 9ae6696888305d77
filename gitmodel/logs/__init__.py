"""Append-only logs of JSON records kept in Git (``refs/gitmodel/<log>``): the registry's
stage events and the lineage records are two kinds of log. :mod:`~gitmodel.logs.records`
writes and reads one log; :mod:`~gitmodel.logs.sync` pushes, fetches and merges them.
Which kinds exist is :data:`gitmodel.logsync.KINDS`, above the registry and lineage."""
