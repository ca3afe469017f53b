#!/usr/bin/env bash
# test.sh - keystead's tests, in two tiers (README, "Tests", says which to run when):
#
#   scripts/test.sh            set up (scripts/setup.sh), ruff, then every test, the slow ones
#                              and the consumer tier (tests/consumers: real tools against both
#                              tokens) too, on two pytest-xdist workers; in CI (CI=true) or with
#                              KEYSTEAD_SLOW=1 also the sanitizer, valgrind and fuzz step
#                              (scripts/sanitize.sh)
#   scripts/test.sh --quick    no set-up: ruff, then the unit and conformance layer
#                              (tests/native, tests/conformance against keystead only,
#                              tests/layers) without the tests marked slow and without the
#                              consumer tier, on both cores. It
#                              tests the build installed in .venv: after a C change, run
#                              scripts/setup.sh first
#   scripts/test.sh ARGS...    set up, ruff, then pytest with ARGS (e.g. a file or -k)
set -euo pipefail
cd "$(dirname "$0")/.."

if [[ "${1:-}" == "--quick" ]]; then
    shift
    if [[ ! -x .venv/bin/python ]]; then
        echo "test.sh --quick: no .venv here; run scripts/setup.sh (or scripts/test.sh) once" >&2
        exit 2
    fi
    export PATH="$PWD/.venv/bin:$PATH"
    built="$(python -c 'import keystead; print(keystead.build_commit())')"
    head="$(git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)"
    if [[ "$built" != "$head" ]]; then
        echo "test.sh --quick: the installed build is from ${built}, the tree is at ${head}" \
             "(run scripts/setup.sh to rebuild if the C or Python code changed)" >&2
    fi
    ruff check .
    # SoftHSMv2's side of the conformance scenarios does not change with keystead's code: the
    # full run covers it.
    exec python -m pytest -q -p no:cacheprovider -n 2 -m "not slow" -k "not softhsm2" \
        tests/native tests/conformance tests/layers "$@"
fi

scripts/setup.sh
export PATH="$PWD/.venv/bin:$PATH"
ruff check .
if [[ $# -eq 0 ]]; then
    python -m pytest -q -p no:cacheprovider -n 2
else
    python -m pytest -q -p no:cacheprovider "$@"
fi
# Second step, in CI or when asked: the suites under ASan+UBSan, valgrind, the fuzz smoke run.
if [[ $# -eq 0 && ("${CI:-}" == true || "${KEYSTEAD_SLOW:-}" == 1) ]]; then
    bash scripts/sanitize.sh
fi
