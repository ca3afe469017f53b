#!/usr/bin/env bash
# try.sh - set up (scripts/setup.sh) and run the demo: a key's whole life with the keystead CLI
# against keystead's own token, in a temporary directory (scripts/demo.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
export PATH="$PWD/.venv/bin:$PATH"
exec scripts/demo.sh "$@"
