"""Key lifecycle table (native/token/lifecycle.c) against the README's table, exhaustively.

Every ordered pair of states (and states that do not exist) is checked against the one list
of allowed transitions; every state, operation class and override value against the table
of what each state permits (NIST SP 800-57 Part 1 Rev. 5 section 7).
"""

from __future__ import annotations

import itertools

import pytest
from keystead.core import lib

PRE, ACTIVE, SUSPENDED, DEACTIVATED, COMPROMISED, DESTROYED = range(6)
STATES = [PRE, ACTIVE, SUSPENDED, DEACTIVATED, COMPROMISED, DESTROYED]
NAMES = {
    PRE: "pre-activation",
    ACTIVE: "active",
    SUSPENDED: "suspended",
    DEACTIVATED: "deactivated",
    COMPROMISED: "compromised",
    DESTROYED: "destroyed",
}

# README, "Key lifecycle in the token": the allowed transitions; nothing else is.
ALLOWED = {
    (PRE, ACTIVE), (PRE, COMPROMISED), (PRE, DESTROYED),
    (ACTIVE, SUSPENDED), (ACTIVE, DEACTIVATED), (ACTIVE, COMPROMISED), (ACTIVE, DESTROYED),
    (SUSPENDED, ACTIVE), (SUSPENDED, DEACTIVATED), (SUSPENDED, COMPROMISED),
    (SUSPENDED, DESTROYED),
    (DEACTIVATED, COMPROMISED), (DEACTIVATED, DESTROYED),
    (COMPROMISED, DESTROYED),
}  # fmt: skip

# README state table: (protect, process without override, process with override).
PERMITS = {
    PRE: (False, False, False),
    ACTIVE: (True, True, True),
    SUSPENDED: (False, False, True),
    DEACTIVATED: (False, True, True),
    COMPROMISED: (False, False, True),
    DESTROYED: (False, False, False),
}

INVALID_STATES = [6, 7, 99, 2**32, 2**64 - 1]


@pytest.mark.parametrize(
    ("src", "dst"), list(itertools.product(STATES, STATES)), ids=lambda s: NAMES[s]
)
def test_every_pair_of_states(src: int, dst: int) -> None:
    assert lib.ks_lifecycle_allowed(src, dst) == int((src, dst) in ALLOWED)


def test_table_has_exactly_the_designed_edges() -> None:
    found = {(a, b) for a in STATES for b in STATES if lib.ks_lifecycle_allowed(a, b)}
    assert found == ALLOWED
    assert len(found) == 14


@pytest.mark.parametrize("bad", INVALID_STATES)
@pytest.mark.parametrize("state", STATES, ids=lambda s: NAMES[s])
def test_invalid_states_have_no_edges(state: int, bad: int) -> None:
    assert lib.ks_lifecycle_allowed(state, bad) == 0
    assert lib.ks_lifecycle_allowed(bad, state) == 0
    assert lib.ks_lifecycle_allowed(bad, bad) == 0


def test_destroyed_is_final_and_no_self_loops() -> None:
    for s in STATES:
        assert lib.ks_lifecycle_allowed(DESTROYED, s) == 0
        assert lib.ks_lifecycle_allowed(s, s) == 0


@pytest.mark.parametrize("state", STATES, ids=lambda s: NAMES[s])
def test_what_each_state_permits(state: int) -> None:
    protect, process, process_override = PERMITS[state]
    for override in (0, 1):
        assert lib.ks_lifecycle_permits(state, lib.KS_USE_PROTECT, override) == int(protect)
    assert lib.ks_lifecycle_permits(state, lib.KS_USE_PROCESS, 0) == int(process)
    assert lib.ks_lifecycle_permits(state, lib.KS_USE_PROCESS, 1) == int(process_override)


@pytest.mark.parametrize("bad", INVALID_STATES)
def test_invalid_state_permits_nothing(bad: int) -> None:
    for use in (lib.KS_USE_PROTECT, lib.KS_USE_PROCESS):
        for override in (0, 1):
            assert lib.ks_lifecycle_permits(bad, use, override) == 0


def test_valid_states_and_names() -> None:
    from keystead.core import ffi

    for s in STATES:
        assert lib.ks_lifecycle_valid_state(s) == 1
        assert ffi.string(lib.ks_lifecycle_state_name(s)).decode() == NAMES[s]
    for bad in INVALID_STATES:
        assert lib.ks_lifecycle_valid_state(bad) == 0
        assert ffi.string(lib.ks_lifecycle_state_name(bad)).decode() == "invalid"
