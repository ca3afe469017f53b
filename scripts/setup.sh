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
    # the consumer tier (tests/consumers): pkcs11-provider comes from bookworm-backports
    pkcs11-provider openjdk-17-jdk-headless p11-kit util-linux
)
# pkcs11-provider (OpenSSL 3's PKCS#11 provider) is in Debian 12 only in bookworm-backports.
BACKPORTS_LIST=/etc/apt/sources.list.d/bookworm-backports.list
BACKPORTS_LINE="deb http://deb.debian.org/debian bookworm-backports main"

SUDO=""
if [[ "$(id -u)" != 0 ]]; then SUDO="sudo"; fi
missing=()
for p in "${PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
    if [[ " ${missing[*]} " == *" pkcs11-provider "* ]] && ! grep -qs "^$BACKPORTS_LINE" \
            /etc/apt/sources.list /etc/apt/sources.list.d/*.list; then
        echo "setup: adding bookworm-backports to apt's sources (for pkcs11-provider)"
        echo "$BACKPORTS_LINE" | $SUDO tee "$BACKPORTS_LIST" >/dev/null
    fi
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
# python-pkcs11's own test suite runs in the consumer tier: its sdist, for the installed release.
PKCS11_RELEASE="$(.venv/bin/python -c 'from importlib.metadata import version; print(version("python-pkcs11"))')"
if ! ls .venv/sdists/python[-_]pkcs11-"$PKCS11_RELEASE".tar.gz >/dev/null 2>&1; then
    .venv/bin/python -m pip download -q --no-deps --no-binary python-pkcs11 \
        "python-pkcs11==$PKCS11_RELEASE" -d .venv/sdists
fi
echo "setup: keystead $(.venv/bin/python -c 'import keystead; print(keystead.__version__)')" \
     "installed in .venv; module at $(.venv/bin/keystead module-path)"
