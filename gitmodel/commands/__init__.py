"""One module per verb: typed functions that take explicit arguments and return an exit code."""
