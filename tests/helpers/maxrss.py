"""Run a command with inherited stdio; write its tree's peak RSS (KiB) to a file.

Used as ``filter.model.process = python maxrss.py OUT git-model filter-process``.
"""

import resource
import subprocess
import sys

out, *command = sys.argv[1:]
code = subprocess.call(command)
with open(out, "a") as f:
    f.write(f"{resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss}\n")
sys.exit(code)
