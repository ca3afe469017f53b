#!/usr/bin/env bash
# valgrind_session.sh OUT_DIR - valgrind memcheck of the PKCS#11 module (called by
# scripts/sanitize.sh): a debug build (-O0 -g) of the module driven through
#   1. session_driver.c: a token's whole life (see that file), with full leak checking: any
#      definite or indirect leak, invalid access or use of uninitialised memory fails;
#   2. pkcs11-tool: token and PIN initialisation, AES key generation, encryption and
#      decryption, HMAC signing, listing and --test, with every memory error failing (leak
#      checking off: pkcs11-tool leaks on its own and unloads the module before exit).
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT="${1:?usage: valgrind_session.sh OUT_DIR}"
mkdir -p "$OUT"
OUT="$(cd "$OUT" && pwd)"
PY="$(python3 -c 'import sys; print(sys.executable)')"
if [[ -x .venv/bin/python ]]; then PY=".venv/bin/python"; fi
MODULE="$OUT/libkeystead-pkcs11-debug.so"
"$PY" native/build.py module "$MODULE" --debug >/dev/null
cc -std=c11 -D_GNU_SOURCE -O1 -g -Wall -Wextra -Werror -Wshadow -Inative/include \
    -o "$OUT/session_driver" native/fuzz/session_driver.c -ldl

fresh_token() {
    rm -rf "$OUT/tokens"
    mkdir -p "$OUT/tokens"
    printf 'token_dir = %s\npin_kdf_cost = fast\nwrap_policy = compat\n' "$OUT/tokens" \
        >"$OUT/keystead.conf"
    export KEYSTEAD_CONF="$OUT/keystead.conf"
}

VG=(valgrind -q --error-exitcode=99 --num-callers=40 --track-origins=yes)
run_vg() { # LOG ARGS...: valgrind ARGS; on failure show the log and stop
    local log="$1"
    shift
    if ! "${VG[@]}" --log-file="$log" "$@" >>"$OUT/stdout.log" 2>&1; then
        echo "valgrind: failed: $*" >&2
        cat "$log" >&2
        tail -20 "$OUT/stdout.log" >&2
        exit 1
    fi
    if [[ -s "$log" ]]; then
        echo "valgrind: reports in $log" >&2
        cat "$log" >&2
        exit 1
    fi
}

: >"$OUT/stdout.log"
fresh_token
run_vg "$OUT/driver.vg" --leak-check=full --show-leak-kinds=definite,indirect \
    --errors-for-leak-kinds=definite,indirect "$OUT/session_driver" "$MODULE"
echo "valgrind: session_driver: no error, no leak"

fresh_token
SO=so-pin-1234
PIN=user-pin-5678
T=(pkcs11-tool --module "$MODULE")
printf 'sixteen byte msg, and then some more text to cross blocks' >"$OUT/plain.bin"
n=0
for args in \
    "--init-token --slot-index 0 --so-pin $SO --label valgrind" \
    "--init-pin --login --login-type so --so-pin $SO --pin $PIN" \
    "--login --pin $PIN --keygen --key-type AES:32 --label aes --id 01 --usage-decrypt" \
    "--login --pin $PIN --keygen --key-type GENERIC:32 --label mac --id 02 --usage-sign" \
    "--login --pin $PIN --encrypt --mechanism AES-CBC-PAD --iv 000102030405060708090a0b0c0d0e0f --id 01 -i $OUT/plain.bin -o $OUT/cipher.bin" \
    "--login --pin $PIN --decrypt --mechanism AES-CBC-PAD --iv 000102030405060708090a0b0c0d0e0f --id 01 -i $OUT/cipher.bin -o $OUT/decrypted.bin" \
    "--login --pin $PIN --sign --mechanism SHA256-HMAC --id 02 -i $OUT/plain.bin -o $OUT/mac.bin" \
    "--login --pin $PIN --list-objects" \
    "--list-mechanisms" \
    "--login --pin $PIN --test"; do
    n=$((n + 1))
    # shellcheck disable=SC2086 # args is a word list on purpose
    run_vg "$OUT/pkcs11-tool-$n.vg" --leak-check=no \
        --suppressions="$PWD/native/fuzz/pkcs11_tool_seed.supp" "${T[@]}" $args
done
cmp "$OUT/plain.bin" "$OUT/decrypted.bin"
echo "valgrind: pkcs11-tool: $n runs, no memory error"
