#!/usr/bin/env bash
# fuzz.sh - build and run keystead's libFuzzer targets (native/fuzz/fuzz_*.c) with clang,
# AddressSanitizer and UndefinedBehaviorSanitizer (docs/robustness.md).
#
#   scripts/fuzz.sh build                 # build every target into build/fuzz/
#   scripts/fuzz.sh list                  # the target names
#   scripts/fuzz.sh TARGET [SECONDS]      # fuzz one target (default 600 s), growing its corpus
#                                         # in build/fuzz/corpus/TARGET (seeded from the repo's)
#   scripts/fuzz.sh smoke [SECONDS]       # CI: replay every committed corpus (crash
#                                         # regressions included), then fuzz each target
#                                         # SECONDS (default 20); fails on any finding
#   scripts/fuzz.sh merge TARGET          # minimise build/fuzz/corpus/TARGET into the repo's
#                                         # native/fuzz/corpus/TARGET (to commit new seeds)
#
# A crash leaves build/fuzz/crash-* (the input): replay it with build/fuzz/TARGET FILE, fix
# the bug, and commit the file to native/fuzz/corpus/TARGET/ so every smoke run replays it.
# Environment: CC (default clang), FUZZ_JOBS (parallel compiles, default 2).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$PWD"
OUT="$ROOT/build/fuzz"
CC="${CC:-clang}"
TARGETS=()
for f in native/fuzz/fuzz_*.c; do t="$(basename "$f" .c)"; TARGETS+=("${t#fuzz_}"); done

SAN=(-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer)
CFLAGS=(-std=c11 -D_GNU_SOURCE -O1 -g -Wall -Wextra -Wshadow -Wvla -Werror
        -Wno-unused-command-line-argument -DKS_VERSION_STRING="\"fuzz\"" -DKS_FUZZING=1
        -Inative -Inative/include -Inative/fuzz "${SAN[@]}")
LIBS=(-lcrypto -lsqlite3 -lpthread)
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:halt_on_error=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}"

build() {
    mkdir -p "$OUT/obj"
    exec 9>"$OUT/.build.lock" # two fuzz.sh at once: one builds, the other waits
    flock 9
    local srcs=(native/crypto/*.c native/token/*.c native/p11/*.c) objs=() jobs=() t
    for src in "${srcs[@]}"; do
        local obj="$OUT/obj/$(echo "${src#native/}" | tr / _).o"
        objs+=("$obj")
        if [[ ! -e "$obj" || "$src" -nt "$obj" || -n "$(find native -name '*.h' -newer "$obj" \
              -print -quit)" ]]; then
            jobs+=("$src $obj")
        fi
    done
    if ((${#jobs[@]})); then
        printf '%s\n' "${jobs[@]}" | xargs -P "${FUZZ_JOBS:-2}" -L 1 sh -c \
            "$CC $(printf '%q ' "${CFLAGS[@]}") -fsanitize=fuzzer-no-link -c \"\$0\" -o \"\$1\""
    fi
    if ((${#jobs[@]})) || [[ ! -e "$OUT/libkeystead_fuzz.a" ]]; then
        rm -f "$OUT/libkeystead_fuzz.a"
        ar rcs "$OUT/libkeystead_fuzz.a" "${objs[@]}"
    fi
    for t in "${TARGETS[@]}"; do
        if [[ ! -e "$OUT/$t" || "$OUT/libkeystead_fuzz.a" -nt "$OUT/$t" ||
              -n "$(find native/fuzz -name "fuzz_*" -newer "$OUT/$t" -print -quit)" ]]; then
            "$CC" "${CFLAGS[@]}" -fsanitize=fuzzer -o "$OUT/$t.tmp" "native/fuzz/fuzz_$t.c" \
                "$OUT/libkeystead_fuzz.a" "${LIBS[@]}"
            mv -f "$OUT/$t.tmp" "$OUT/$t"
        fi
    done
    flock -u 9
}

# run_target TARGET SECONDS [CORPUS...]: fuzz with the committed seeds plus a work corpus.
run_target() {
    local t="$1" secs="$2"
    local seeds="native/fuzz/corpus/$t" work="$OUT/corpus/$t"
    mkdir -p "$work" "$seeds"
    local dict=()
    if [[ -f "native/fuzz/$t.dict" ]]; then dict=(-dict="$ROOT/native/fuzz/$t.dict"); fi
    (cd "$OUT" && "./$t" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
        -max_len=4096 -print_final_stats=1 "${dict[@]}" "$work" "$ROOT/$seeds")
}

cmd="${1:-}"
case "$cmd" in
build)
    build
    ;;
list)
    printf '%s\n' "${TARGETS[@]}"
    ;;
smoke)
    secs="${2:-20}"
    build
    for t in "${TARGETS[@]}"; do
        echo "fuzz: replay native/fuzz/corpus/$t ($(find "native/fuzz/corpus/$t" -type f 2>/dev/null | wc -l) files)"
        (cd "$OUT" && "./$t" -runs=0 "$ROOT/native/fuzz/corpus/$t") >"$OUT/$t.replay.log" 2>&1 ||
            { cat "$OUT/$t.replay.log" >&2; echo "fuzz: $t: a committed input fails" >&2; exit 1; }
    done
    for t in "${TARGETS[@]}"; do
        echo "fuzz: $t for $secs s"
        run_target "$t" "$secs" >"$OUT/$t.log" 2>&1 ||
            { tail -80 "$OUT/$t.log" >&2; echo "fuzz: $t found a crash (see $OUT)" >&2; exit 1; }
        grep -E "^stat::(number_of_executed_units|average_exec_per_sec|peak_rss_mb)" \
            "$OUT/$t.log" | tr '\n' ' '
        echo
    done
    ;;
merge)
    target="${2:?target}"
    build
    mkdir -p "native/fuzz/corpus/$target"
    (cd "$OUT" && "./$target" -merge=1 "$ROOT/native/fuzz/corpus/$target" "$OUT/corpus/$target")
    ;;
"" | -h | --help)
    sed -n '2,19p' "$0"
    ;;
*)
    if [[ ! " ${TARGETS[*]} " == *" $cmd "* ]]; then
        echo "fuzz: unknown target '$cmd' (one of: ${TARGETS[*]})" >&2
        exit 2
    fi
    build
    run_target "$cmd" "${2:-600}"
    ;;
esac
