#!/usr/bin/env bash
# The long fuzzing run: every property of tests/test_fuzz.py with 25,000 cases each
# (over 100,000 in all; the four properties of the chunked layout's manifest, pack index
# and chunk list parsers alone make 100,000), exploring new inputs each run.
# Usage: stress/fuzz.sh [EXAMPLES] [pytest arguments, e.g. -k "manifest or index or chunk_list"]
set -euo pipefail
cd "$(dirname "$0")/.."
export GIT_MODEL_FUZZ_EXAMPLES="${1:-25000}"
shift || true
exec python3 -m pytest -q -p no:cacheprovider tests/test_fuzz.py --hypothesis-show-statistics "$@"
