"""The README's first command runs ``examples/quickstart.sh``: it must keep working."""

from __future__ import annotations

import subprocess
from pathlib import Path

QUICKSTART = Path(__file__).parent.parent / "examples" / "quickstart.sh"


def test_the_quickstart_runs_and_verifies_every_version(tmp_path: Path) -> None:
    proc = subprocess.run(["bash", str(QUICKSTART)], cwd=tmp_path, capture_output=True,
                          env=None, check=False, timeout=600)  # fmt: skip
    out, err = proc.stdout.decode(errors="replace"), proc.stderr.decode(errors="replace")
    assert proc.returncode == 0, out[-3000:] + err[-3000:]
    assert "OK: every version's bytes verified" in out
    assert "demo production: v2 -> v1" in out + err  # the rollback
    assert "Traceback" not in out + err
