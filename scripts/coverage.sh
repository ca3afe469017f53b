#!/usr/bin/env bash
# coverage.sh - measure how much of keystead the tests exercise, in C and in Python, and
# report it (docs/testing.md says what the figures were and how to read them).
#
#   scripts/coverage.sh                  # every test but the slow ones
#   scripts/coverage.sh tests/native     # or any pytest arguments
#
# Builds the package from a copy of the tree with KEYSTEAD_COVERAGE=1 (both the PKCS#11
# module and the cffi extension compiled with gcov instrumentation at -O0) into
# build/coverage/site, runs pytest against it under coverage.py, then writes
# build/coverage/c.txt (gcovr, per C file) and build/coverage/python.txt (coverage.py, per
# module) and prints both totals. C counts every process that loads the module and exits
# normally (a child killed by a test writes no counts); Python counts the test process
# itself. Needs scripts/setup.sh first; installs coverage and gcovr into .venv.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$PWD"
OUT="$ROOT/build/coverage"
PY="$ROOT/.venv/bin/python"
[[ -x "$PY" ]] || { echo "coverage: run scripts/setup.sh first" >&2; exit 2; }
"$PY" -m pip install -q coverage gcovr

rm -rf "$OUT"
mkdir -p "$OUT/src"
# A copy, as scripts/sanitize.sh does: an instrumented build left in ./build would be picked up
# by the next plain `pip install .`.
tar --exclude=./build --exclude=./.venv --exclude=./.git -cf - . | tar -C "$OUT/src" -xf -
(cd "$OUT/src" && KEYSTEAD_COVERAGE=1 "$PY" -m pip install -q --no-build-isolation --no-deps \
    --target "$OUT/site" . >/dev/null)

ARGS=("$@")
if ((${#ARGS[@]} == 0)); then ARGS=(-m "not slow" tests); fi
set +e
PYTHONPATH="$OUT/site" "$PY" -m coverage run --data-file="$OUT/python.data" \
    --source="$OUT/site/keystead" -m pytest -q -p no:cacheprovider "${ARGS[@]}"
status=$?
set -e

"$PY" -m coverage report --data-file="$OUT/python.data" >"$OUT/python.txt" || true
"$PY" -m gcovr --root "$OUT/src" --filter "$OUT/src/native/" --txt "$OUT/c.txt" \
    --gcov-ignore-errors=no_working_dir_found \
    --gcov-ignore-parse-errors=negative_hits.warn_once_per_file "$OUT/src" >/dev/null
echo "coverage: C (lines) $(grep -E '^TOTAL' "$OUT/c.txt" | awk '{print $NF}'), per file in $OUT/c.txt"
echo "coverage: Python (statements) $(grep -E '^TOTAL' "$OUT/python.txt" | awk '{print $NF}')," \
     "per module in $OUT/python.txt"
exit "$status"
