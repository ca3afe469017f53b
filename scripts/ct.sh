#!/usr/bin/env bash
# ct.sh - constant-time checks of keystead's secret-dependent code (docs/robustness-2.md):
#
#   scripts/ct.sh                 # smoke (CI): valgrind check, then dudect 1 s per target
#   scripts/ct.sh valgrind        # memcheck with secrets undefined (native/ct/ct_valgrind.c)
#   scripts/ct.sh dudect [SECONDS [TARGET...]]   # timing t-tests (native/ct/dudect.c)
#   scripts/ct.sh long            # valgrind, then dudect 60 s per target
#
# The valgrind check is deterministic and fails the run on any report outside the allowed
# accept/reject sites. dudect only reports: timing on a shared machine is evidence, never a
# reason to fail CI; read its verdicts (ok / outcome / LEAK?) and re-run long before acting.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT="${KEYSTEAD_CT_BUILD:-build/ct}"
mkdir -p "$OUT/obj"

# The only functions where memcheck may see a secret-dependent decision: the one allow list,
# native/ct/allowed_sites.txt (the ctgrind tests read it too).
# Its "~" lines are copy helpers, whose reports are charged to their caller.
ALLOWED="$(grep -v '^#' native/ct/allowed_sites.txt | awk 'NF && $1 !~ /^~/ {print $1}' | tr '\n' ' ')"
TRANSPARENT="$(awk '$1 ~ /^~/ {print substr($1, 2)}' native/ct/allowed_sites.txt | tr '\n' ' ')"

CFLAGS=(-std=c11 -D_GNU_SOURCE -O2 -g -Wall -Wextra -Werror -Wshadow -Wvla
        "-DKS_VERSION_STRING=\"ct\"" -Inative -Inative/include)
LIBS=(-lcrypto -lsqlite3 -lpthread -lm)

compile_core() {
    # Every core source once, in parallel, only when newer than its object. Two runs at once
    # (the test suite's workers) share $OUT/obj: the lock keeps one from linking objects the
    # other is still writing, and is held until this script exits.
    exec 9>"$OUT/obj/.lock"
    flock 9
    local src obj todo=()
    for src in native/crypto/*.c native/token/*.c native/p11/*.c; do
        obj="$OUT/obj/$(echo "${src#native/}" | tr / _).o"
        if [[ ! -e "$obj" || "$src" -nt "$obj" || -n "$(find native -name '*.h' -newer "$obj" -print -quit)" ]]; then
            todo+=("$src")
        fi
    done
    if ((${#todo[@]})); then
        printf '%s\n' "${todo[@]}" | xargs -P "$(nproc)" -I{} sh -c \
            'o="$1/obj/$(echo "${2#native/}" | tr / _).o"; shift 2; cc "$@" -c "{}" -o "$o"' \
            _ "$OUT" "{}" "${CFLAGS[@]}"
    fi
}

link() { # link native/ct/$1.c with the core into $OUT/$1
    cc "${CFLAGS[@]}" -o "$OUT/$1" "native/ct/$1.c" "$OUT"/obj/*.o "${LIBS[@]}"
}

run_valgrind() {
    command -v valgrind >/dev/null || { echo "valgrind ct: SKIP (valgrind not installed)"; return 0; }
    link ct_valgrind
    local impl status=0 log sites bad
    for impl in aesni libcrypto; do
        log="$OUT/ct_valgrind-$impl.log"
        if ! valgrind -q --error-exitcode=0 "$OUT/ct_valgrind" "$impl" >"$log.out" 2>"$log"; then
            echo "valgrind ct $impl: driver failed"; cat "$log.out" "$log"; status=1; continue
        fi
        grep -q '^OK$\|^SKIP' "$log.out" || { echo "valgrind ct $impl: wrong results"; cat "$log.out"; status=1; }
        # The function of the first frame of each report on undefined (secret) data.
        sites=$(awk -v skip="$TRANSPARENT" '
                BEGIN {n = split(skip, names, " "); for (i = 1; i <= n; i++) copy[names[i]] = 1}
                /== (Conditional jump or move depends|Use of uninitialised value)/ {grab = 1; next}
                grab && / (at|by) 0x/ {
                    f = $0; sub(/^.*: /, "", f); sub(/ .*/, "", f); sub(/\..*/, "", f)
                    if (f in copy) next
                    print f; grab = 0; next
                }
                grab {print "?"; grab = 0}' "$log" | sort -u | tr '\n' ' ')
        bad=""
        for s in $sites; do
            [[ " $ALLOWED " == *" $s "* ]] || bad+="$s "
        done
        if [[ -n "$bad" ]]; then
            echo "valgrind ct $impl: FAILED, secret-dependent branch or index in: $bad"
            cat "$log"; status=1
        else
            echo "valgrind ct $impl: OK (secret-dependent decisions only in: ${sites:-none})"
        fi
    done
    return $status
}

run_dudect() {
    link dudect
    "$OUT/dudect" "${1:-1}" "${@:2}"
}

compile_core
case "${1:-smoke}" in
    smoke) run_valgrind; run_dudect 1 ;;
    valgrind) run_valgrind ;;
    dudect) shift; run_dudect "$@" ;;
    long) run_valgrind; run_dudect 60 ;;
    *) sed -n '2,12p' "$0"; exit 2 ;;
esac
