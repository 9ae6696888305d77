"""Where model bytes live: the local object store, and later remote stores."""

# How often a remote call is tried, and the first pause between tries (it doubles).
# Here rather than in ``store.remote`` so that naming a remote does not load the
# remote code, which the filter process at every checkout rarely needs.
RETRY_TRIES = 8
RETRY_FIRST_DELAY = 0.25
