#!/usr/bin/env bash
# sanitize.sh - keystead's robustness run (docs/robustness.md), the second step of
# scripts/test.sh:
#
#   1. the conformance suite (-k keystead) against an ASan+UBSan build of the PKCS#11 module,
#   2. tests/native against an ASan+UBSan build of the cffi extension,
#   3. valgrind memcheck of pkcs11-tool driving the (normal) module through a whole session,
#   4. a libFuzzer smoke run of every target in native/fuzz/ (scripts/fuzz.sh smoke).
#
#   scripts/sanitize.sh                 # all four
#   scripts/sanitize.sh conformance     # or native | valgrind | fuzz: one step
#   FUZZ_SECONDS=60 scripts/sanitize.sh fuzz   # seconds per fuzz target (default 20)
#
# Any sanitizer report fails the run: UBSan and ASan halt on the first error, and every report
# is also written under build/sanitize/reports/, which must be empty at the end (a report from
# a child process whose exit code a test ignored still counts). Needs scripts/setup.sh first.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$PWD"
OUT="$ROOT/build/sanitize"
REPORTS="$OUT/reports"
STEPS=("${@:-conformance native valgrind fuzz}")
read -r -a STEPS <<<"${STEPS[*]}"
PY="$(python3 -c 'import sys; print(sys.executable)')"
if [[ -x .venv/bin/python ]]; then PY="$ROOT/.venv/bin/python"; fi
mkdir -p "$OUT"
rm -rf "$REPORTS"
mkdir -p "$REPORTS"

step() { printf '\n== sanitize: %s (%s)\n' "$1" "$(date -u +%H:%M:%S)"; }

# PYTHONMALLOC=malloc puts every Python object on the malloc heap LSan scans (pymalloc's
# arenas are mmap'd and unscanned, so objects referenced only from them would look lost).
# The leak check runs when pytest is done but before the interpreter shuts down: Python's
# finalisation drops references to memory it never frees, which LSan would report by the
# thousand at exit; everything still reachable then (module globals, live objects) is not a
# leak, anything allocated and lost is. After the check the process leaves with os._exit.
#
# The sanitizer options. Leak detection is on in the test process itself; its children
# (pkcs11-tool, p11tool, compilers, helper pythons) keep ASan and UBSan but not leak detection,
# because their own leaks are not ours (valgrind below checks our leaks under pkcs11-tool).
LIBASAN="$(gcc -print-file-name=libasan.so)"
ASAN_BASE="verify_asan_link_order=0:halt_on_error=1:exitcode=86"
ASAN_BASE+=":check_initialization_order=1:strict_init_order=1:log_path=$REPORTS/asan"
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1:exitcode=87:log_path=$REPORTS/ubsan"
export LSAN_OPTIONS="suppressions=$ROOT/scripts/lsan.supp:print_suppressions=0"

# run_sanitized ARGS...: python ARGS with libasan preloaded, leak detection in this process.
run_sanitized() {
    env PYTHONMALLOC=malloc LD_PRELOAD="$LIBASAN" ASAN_OPTIONS="$ASAN_BASE:detect_leaks=1" \
        KS_CHILD_ASAN_OPTIONS="$ASAN_BASE:detect_leaks=0" \
        "$PY" -c 'import ctypes, os, sys
os.environ["ASAN_OPTIONS"] = os.environ.pop("KS_CHILD_ASAN_OPTIONS")
import pytest
rc = int(pytest.main(sys.argv[1:]))
sys.stdout.flush()
sys.stderr.flush()
ctypes.CDLL(None).__lsan_do_leak_check()
os._exit(rc)' "$@"
}

check_reports() {
    if compgen -G "$REPORTS/*" >/dev/null; then
        echo "sanitize: sanitizer reports in $REPORTS:" >&2
        for f in "$REPORTS"/*; do echo "--- $f" >&2; head -60 "$f" >&2; done
        exit 1
    fi
}

for s in "${STEPS[@]}"; do
    case "$s" in
    conformance)
        step "ASan+UBSan module, tests/conformance -k keystead"
        "$PY" native/build.py module "$OUT/libkeystead-pkcs11.so" --sanitize >/dev/null
        KEYSTEAD_MODULE="$OUT/libkeystead-pkcs11.so" \
            run_sanitized -q -p no:cacheprovider tests/conformance -k keystead
        check_reports
        ;;
    native)
        step "ASan+UBSan cffi extension, tests/native"
        rm -rf "$OUT/site" "$OUT/src"
        # Built from a copy of the tree: building here would leave the sanitized extension in
        # ./build, where the next plain `pip install .` would pick it up unchanged.
        mkdir -p "$OUT/src"
        tar --exclude=./build --exclude=./.venv --exclude=./.git -cf - . | tar -C "$OUT/src" -xf -
        KEYSTEAD_SANITIZE=1 "$PY" -m pip install -q --no-build-isolation --no-deps \
            --target "$OUT/site" "$OUT/src" >/dev/null
        # Deselected: the ctgrind tests run valgrind, which cannot host an ASan process; and
        # the test_pack_* tests, which leave ks_attrs_pack's malloc'd buffer to the process on
        # purpose (the cdef exposes no free()): LSan rightly reports those as the tests' leaks.
        # fuzz_attrs covers ks_attrs_pack with every buffer freed.
        PYTHONPATH="$OUT/site" run_sanitized -q -p no:cacheprovider tests/native \
            -k "not test_no_secret_dependent_branch_or_index and not test_rsa_ct and not test_pack_"
        check_reports
        ;;
    valgrind)
        step "valgrind memcheck, pkcs11-tool session"
        bash native/fuzz/valgrind_session.sh "$OUT/valgrind"
        ;;
    fuzz)
        step "libFuzzer smoke run, ${FUZZ_SECONDS:-20} s per target"
        bash scripts/fuzz.sh smoke "${FUZZ_SECONDS:-20}"
        ;;
    *)
        echo "sanitize: unknown step '$s' (conformance, native, valgrind, fuzz)" >&2
        exit 2
        ;;
    esac
done
echo "sanitize: ${STEPS[*]}: no sanitizer report"
