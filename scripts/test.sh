#!/usr/bin/env bash
# test.sh - set up (scripts/setup.sh) and run the whole test suite: the native core, the
# conformance scenarios against keystead and SoftHSMv2, the manager and the CLI, and the
# sanitizer/fuzz smoke runs when asked (KEYSTEAD_SLOW=1).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
export PATH="$PWD/.venv/bin:$PATH"
ruff check .
python -m pytest -q -p no:cacheprovider "$@"
# Second step, in CI or when asked: the suites under ASan+UBSan, valgrind, the fuzz smoke run.
if [[ $# -eq 0 && ("${CI:-}" == true || "${KEYSTEAD_SLOW:-}" == 1) ]]; then
    bash scripts/sanitize.sh
fi
