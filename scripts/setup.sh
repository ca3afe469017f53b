#!/usr/bin/env bash
# setup.sh - install everything keystead needs on Debian 12, as root, then build and install
# keystead into the virtual environment .venv of the repository.
#
#   scripts/setup.sh            # Debian packages + .venv with keystead and its test tools
#
# Idempotent: a second run only reinstalls keystead.
set -euo pipefail
cd "$(dirname "$0")/.."

PACKAGES=(
    build-essential pkg-config python3 python3-dev python3-venv
    libssl-dev libsqlite3-dev
    softhsm2 opensc gnutls-bin libengine-pkcs11-openssl
    clang libclang-rt-14-dev llvm valgrind sqlite3
)

SUDO=""
if [[ "$(id -u)" != 0 ]]; then SUDO="sudo"; fi
missing=()
for p in "${PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
    echo "setup: installing Debian packages: ${missing[*]}"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends \
        "${missing[@]}" >/dev/null
fi

PYTHON="${PYTHON:-python3}"
if [[ ! -x .venv/bin/python ]]; then
    "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip setuptools wheel cffi
.venv/bin/python -m pip install -q --no-build-isolation ".[test]"
echo "setup: keystead $(.venv/bin/python -c 'import keystead; print(keystead.__version__)')" \
     "installed in .venv; module at $(.venv/bin/keystead module-path)"
