#!/usr/bin/env bash
# test.sh - set up (scripts/setup.sh) and run the whole test suite: the native core, the
# conformance scenarios against keystead and SoftHSMv2, the manager and the CLI, and the
# sanitizer/fuzz smoke runs when asked (KEYSTEAD_SLOW=1).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
export PATH="$PWD/.venv/bin:$PATH"
ruff check .
exec python -m pytest -q -p no:cacheprovider "$@"
