"""Where model bytes live: the local object store, and later remote stores."""
