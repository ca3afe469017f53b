"""The SP 800-57 key lifecycle as data: states, the one transitions table, what each state allows.

NIST SP 800-57 Part 1 Rev. 5, section 7 (key states and transitions). The table below is the
only place that knows which edges exist; :func:`transition` is the only check.
"""

from __future__ import annotations

from enum import StrEnum

from .errors import IllegalTransition


class State(StrEnum):
    """A key version's lifecycle state (SP 800-57 Part 1 Rev. 5, 7.1-7.3)."""

    PRE_ACTIVATION = "pre-activation"
    ACTIVE = "active"
    SUSPENDED = "suspended"
    DEACTIVATED = "deactivated"
    COMPROMISED = "compromised"
    DESTROYED = "destroyed"

    def __str__(self) -> str:
        return self.value


S = State

#: Allowed edges (SP 800-57 Part 1 Rev. 5, 7.3 and ../shared/DESIGN.md). Nothing else.
TRANSITIONS: dict[State, frozenset[State]] = {
    S.PRE_ACTIVATION: frozenset({S.ACTIVE, S.COMPROMISED, S.DESTROYED}),
    S.ACTIVE: frozenset({S.SUSPENDED, S.DEACTIVATED, S.COMPROMISED, S.DESTROYED}),
    S.SUSPENDED: frozenset({S.ACTIVE, S.DEACTIVATED, S.COMPROMISED, S.DESTROYED}),
    S.DEACTIVATED: frozenset({S.COMPROMISED, S.DESTROYED}),
    S.COMPROMISED: frozenset({S.DESTROYED}),
    S.DESTROYED: frozenset(),
}

#: States in which a version may apply protection (encrypt, sign, wrap, MAC), inside its
#: originator-usage period.
PROTECT_STATES: frozenset[State] = frozenset({S.ACTIVE})
#: States in which a version may process (decrypt, verify, unwrap), inside its
#: recipient-usage period.
PROCESS_STATES: frozenset[State] = frozenset({S.ACTIVE, S.DEACTIVATED})
#: States in which processing needs an explicit, audited override.
OVERRIDE_STATES: frozenset[State] = frozenset({S.SUSPENDED, S.COMPROMISED})

#: keystead token's CKA_KS_LIFECYCLE_STATE values (native/include/keystead.h, KS_STATE_*).
TOKEN_STATE_CODES: dict[State, int] = {
    S.PRE_ACTIVATION: 0,
    S.ACTIVE: 1,
    S.SUSPENDED: 2,
    S.DEACTIVATED: 3,
    S.COMPROMISED: 4,
    S.DESTROYED: 5,
}


def allowed(current: State, target: State) -> bool:
    """True when the table has the edge ``current -> target``."""
    return target in TRANSITIONS[current]


def transition(current: State, target: State) -> State:
    """Return ``target`` if ``current -> target`` is an edge of the table.

    Raises IllegalTransition, naming both states and the edges that do exist, otherwise.
    """
    if not allowed(current, target):
        options = ", ".join(sorted(s.value for s in TRANSITIONS[current])) or "none"
        raise IllegalTransition(
            f"cannot move a {current.value} key to {target.value} "
            f"(allowed from {current.value}: {options})"
        )
    return target


def can_protect(state: State) -> bool:
    """True when a version in ``state`` may encrypt, sign, wrap or MAC."""
    return state in PROTECT_STATES


def can_process(state: State, *, override: bool = False) -> bool:
    """True when a version in ``state`` may decrypt, verify or unwrap (``override`` opens
    suspended and compromised versions)."""
    return state in PROCESS_STATES or (override and state in OVERRIDE_STATES)
