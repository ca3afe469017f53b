#!/usr/bin/env bash
# demo.sh - a key's whole life with the keystead CLI, non-interactively, in a temp directory.
#
#   scripts/demo.sh              # against keystead's own token (the default module)
#   scripts/demo.sh softhsm2     # the same walk-through against SoftHSMv2
#
# Everything lives in a fresh temporary directory (tokens, catalogue), removed at the end
# unless KEEP=1. PINs come from the environment, as they would in automation; at a terminal
# `keystead` prompts for them instead. See docs/manager.md for the commentary.
set -euo pipefail

MODULE="${1:-${KEYSTEAD_DEMO_MODULE:-keystead}}"
read -r -a KS <<< "${KEYSTEAD_BIN:-keystead}"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/keystead-demo.XXXXXX")"
if [[ "${KEEP:-0}" == 1 ]]; then
    echo "keeping $WORK"
else
    trap 'rm -rf "$WORK"' EXIT
fi
mkdir -p "$WORK/tokens"

case "$MODULE" in
keystead)
    printf 'token_dir = %s\npin_kdf_cost = fast\n' "$WORK/tokens" > "$WORK/keystead.conf"
    export KEYSTEAD_CONF="$WORK/keystead.conf" ;;
softhsm2)
    printf 'directories.tokendir = %s\nobjectstore.backend = file\nlog.level = ERROR\n' \
        "$WORK/tokens" > "$WORK/softhsm2.conf"
    export SOFTHSM2_CONF="$WORK/softhsm2.conf" ;;
*)
    echo "usage: $0 [keystead|softhsm2]" >&2; exit 2 ;;
esac

export KEYSTEAD_MODULE_NAME="$MODULE"          # same as --module
export KEYSTEAD_CATALOGUE="$WORK/catalogue.db" # same as --catalogue
export KEYSTEAD_TOKEN=demo                     # same as --token
export KEYSTEAD_SO_PIN=demo-so-pin-1234 KEYSTEAD_PIN=demo-user-pin-5678
export KEYSTEAD_MANAGER_PIN=demo-manager-pin-9012  # keystead: the manager's own credential
export KEYSTEAD_ACTOR=alice

step() { printf '\n\033[1m$ keystead %s\033[0m\n' "$*"; "${KS[@]}" "$@"; }
note() { printf '\n\033[2m# %s\033[0m\n' "$*"; }
expect_fail() {
    printf '\n\033[1m$ keystead %s\033[0m   (expected to fail)\n' "$*"
    if "${KS[@]}" "$@"; then echo "demo: that should have failed" >&2; exit 1; fi
}
expect_due() {  # `rotate --due --dry-run` exits 3 when steps are due
    printf '\n\033[1m$ keystead %s\033[0m   (exit status 3: steps are due)\n' "$*"
    local rc=0
    "${KS[@]}" "$@" || rc=$?
    if [[ $rc != 3 ]]; then echo "demo: expected exit status 3, got $rc" >&2; exit 1; fi
}

note "0. the catalogue, made explicitly; it records where the token is"
step init
expect_fail init

note "1. a token, and the policy the manager enforces (SP 800-57 Part 1 Rev. 5 Table 1)"
step token init
step token list
step key policy

note "2. create a data-encryption key; periods default to the policy maximum"
expect_fail key create payments/dek --oup 3y
step key create payments/dek --owner payments-team --oup 1y --reason "card vault"
step key show payments/dek

note "3. applications encrypt through the manager (AES-256-GCM inside the token)"
printf '4111 1111 1111 1111' > "$WORK/card.txt"
step encrypt payments/dek --in "$WORK/card.txt" --out "$WORK/order-42.kse" \
    --aad order-42 --subject "order 42"
step decrypt --in "$WORK/order-42.kse" --aad order-42; echo

note "4. suspend while investigating: no protection, processing only with an override"
step key suspend payments/dek --reason "investigating alert 7"
expect_fail decrypt --in "$WORK/order-42.kse" --aad order-42
step key resume payments/dek --reason "alert 7 was a false positive"

note "5. rotate: v2 becomes current, v1 is deactivated but still decrypts"
step key rotate payments/dek
step decrypt --in "$WORK/order-42.kse" --aad order-42; echo

note "6. compromise of v1: what did it protect? recover with an audited override"
step key compromise payments/dek --version 1 --occurred "$(date -u +%FT%T)" \
    --reason "backup tape with the token lost" --yes
step key affected payments/dek --version 1
expect_fail decrypt --in "$WORK/order-42.kse" --aad order-42
step decrypt --in "$WORK/order-42.kse" --aad order-42 --override \
    --reason "re-encrypt order 42 under v2"; echo

note "7. destruction waits 30 days by default (7 to 30 by policy) and can be cancelled"
step key destroy payments/dek --version 1 --yes
step key cancel-destroy payments/dek --version 1
expect_fail key destroy payments/dek --version 1 --after 0 --yes
note "a shorter wait needs the key's short-destroy-wait flag (test environments; audited)"
step key policy set payments/dek --short-destroy-wait --yes --reason "demo: a test environment"
step key destroy payments/dek --version 1 --after 0 --yes

note "8. the cron job: every due step (activations, rotations, ends of periods, destructions)"
step key create reports/dek --activate-at "$(date -u -d '+1 day' +%FT%T)"
expect_due rotate --due --dry-run
step rotate --due
note "a drill: KEYSTEAD_NOW moves the clock, on a copy of the catalogue; here two days ahead"
KEYSTEAD_NOW="$(date -u -d '+2 days' +%FT%T)" expect_due --drill rotate --due
step key list
step key show payments/dek

note "9. the audit: filtered, and verified (hash chain; on keystead's token its own too)"
step audit show --key payments/dek --limit 8
step audit verify
cp "$WORK/catalogue.db" "$WORK/tampered.db"
sqlite3 "$WORK/tampered.db" "UPDATE audit SET actor = 'mallory' WHERE seq = 5"
expect_fail --catalogue "$WORK/tampered.db" audit verify --no-token
printf '\ndemo finished: every step behaved as expected\n'
