"""The SP 800-57 key lifecycle as data: states, the one transitions table, what each state allows.

NIST SP 800-57 Part 1 Rev. 5, section 7 (key states and transitions). The table below is the
only place that knows which edges exist; :func:`transition` is the only check.
"""

from __future__ import annotations

import functools
from enum import StrEnum

from .errors import IllegalTransition
from .policy import KEY_PAIR_PUBLIC


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

#: keystead token's CKA_KS_LIFECYCLE_STATE values (native/include/keystead.h, KS_STATE_*).
TOKEN_STATE_CODES: dict[State, int] = {
    S.PRE_ACTIVATION: 0,
    S.ACTIVE: 1,
    S.SUSPENDED: 2,
    S.DEACTIVATED: 3,
    S.COMPROMISED: 4,
    S.DESTROYED: 5,
}

#: The token's own edges, written out (native/token/lifecycle.c). :func:`_token_edges` reads
#: the table from the token itself when keystead's extension is importable, and the tests
#: check that the two agree.
_TOKEN_EDGES_LITERAL: dict[State, frozenset[State]] = {
    S.PRE_ACTIVATION: frozenset({S.ACTIVE, S.COMPROMISED, S.DESTROYED}),
    S.ACTIVE: frozenset({S.SUSPENDED, S.DEACTIVATED, S.COMPROMISED, S.DESTROYED}),
    S.SUSPENDED: frozenset({S.ACTIVE, S.DEACTIVATED, S.COMPROMISED, S.DESTROYED}),
    S.DEACTIVATED: frozenset({S.COMPROMISED, S.DESTROYED}),
    S.COMPROMISED: frozenset({S.DESTROYED}),
    S.DESTROYED: frozenset(),
}


def _token_edges() -> dict[State, frozenset[State]]:
    """The token's transition table, read from keystead's token rules (ks_lifecycle_allowed)."""
    try:
        from keystead._core import lib
    except ImportError:  # pragma: no cover - the extension is part of the package
        return dict(_TOKEN_EDGES_LITERAL)
    return {
        a: frozenset(b for b in State
                     if lib.ks_lifecycle_allowed(TOKEN_STATE_CODES[a], TOKEN_STATE_CODES[b]))
        for a in State
    }



#: Edges a key with a recipient-usage period may not take (SP 800-57 Part 1 Rev. 5, 7.3: an
#: active or suspended key goes straight to destroyed only when nothing it protected still
#: needs processing): a symmetric data-encryption, key-wrapping or authentication key that
#: may have been used goes through deactivated before it is destroyed, so that its
#: recipient-usage period can run while the destruction waits.
_NEEDS_DEACTIVATION: frozenset[tuple[State, State]] = frozenset({
    (S.ACTIVE, S.DESTROYED), (S.SUSPENDED, S.DESTROYED),
})

#: The ONE table: per key type (KeyType values), the allowed edges. Types with a
#: recipient-usage period (SP 800-57 Table 1; a public signature-verification key verifies
#: after its private key stops signing, 5.3.6) go through deactivated; a private signature key
#: "shall be destroyed at the end of its cryptoperiod" and static key-agreement keys have one
#: period (5.3.6), so they take every edge of the token's table.
_RUP_TYPES = ("data-encryption", "key-wrapping", "symmetric-authentication",
              "public-signature-verification")
_ONE_PERIOD_TYPES = ("private-signature", "private-static-key-agreement",
                     "public-static-key-agreement")


@functools.cache
def _tables() -> tuple[dict[State, frozenset[State]], dict[str, dict[State, frozenset[State]]]]:
    """(TRANSITIONS, TRANSITIONS_BY_TYPE), built on first use: reading the token's table
    loads keystead's extension, which commands that change no state never need (start-up
    time, docs/manager.md)."""
    token = _token_edges()
    by_type = {
        **{kt: {a: frozenset(b for b in token[a] if (a, b) not in _NEEDS_DEACTIVATION)
                for a in State}
           for kt in _RUP_TYPES},
        **{kt: dict(token) for kt in _ONE_PERIOD_TYPES},
    }
    return token, by_type


def __getattr__(name: str) -> object:
    """``TRANSITIONS``: the token's edges, the most any key may do (SP 800-57 Part 1 Rev. 5,
    7.3). ``TRANSITIONS_BY_TYPE``: the ONE table, per key type (KeyType values), the allowed
    edges. Both are built on first use (:func:`_tables`)."""
    if name == "TRANSITIONS":
        return _tables()[0]
    if name == "TRANSITIONS_BY_TYPE":
        return _tables()[1]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

#: A key pair is one version named by its private key's type; it moves as one (SP 800-57
#: Part 1 Rev. 5, 7: suspension and compromise move both keys), so it takes only the edges
#: that the tables of both its keys have.
KEY_PAIRS: dict[str, str] = {str(k): str(v) for k, v in KEY_PAIR_PUBLIC.items()}


def edges_for(key_type: str | None) -> dict[State, frozenset[State]]:
    """The allowed edges for keys of ``key_type`` (the token's table when None or unknown);
    for a key pair, the edges both its keys allow."""
    token, by_type = _tables()
    if key_type is None:
        return token
    own = by_type.get(str(key_type), token)
    partner = KEY_PAIRS.get(str(key_type))
    if partner is None:
        return own
    other = by_type[partner]
    return {a: own[a] & other[a] for a in State}


#: States in which a version may apply protection (encrypt, sign, wrap, MAC), inside its
#: originator-usage period.
PROTECT_STATES: frozenset[State] = frozenset({S.ACTIVE})
#: States in which a version may process (decrypt, verify, unwrap), inside its
#: recipient-usage period.
PROCESS_STATES: frozenset[State] = frozenset({S.ACTIVE, S.DEACTIVATED})
#: States in which processing needs an explicit, audited override.
OVERRIDE_STATES: frozenset[State] = frozenset({S.SUSPENDED, S.COMPROMISED})

def allowed(current: State, target: State, key_type: str | None = None) -> bool:
    """True when the table (of ``key_type``) has the edge ``current -> target``."""
    return target in edges_for(key_type)[current]


def transition(current: State, target: State, key_type: str | None = None) -> State:
    """Return ``target`` if ``current -> target`` is an edge of the table of ``key_type``.

    Raises IllegalTransition, naming both states and the edges that do exist, otherwise.
    """
    if not allowed(current, target, key_type):
        edges = edges_for(key_type)[current]
        options = ", ".join(sorted(s.value for s in edges)) or "none"
        hint = ""
        if (current, target) in _NEEDS_DEACTIVATION and target in _tables()[0][current]:
            hint = "; a used key is deactivated first so its recipient-usage period can run"
        raise IllegalTransition(
            f"cannot move a {current.value} key to {target.value} "
            f"(allowed from {current.value}: {options}{hint})"
        )
    return target


def can_protect(state: State) -> bool:
    """True when a version in ``state`` may encrypt, sign, wrap or MAC."""
    return state in PROTECT_STATES


def can_process(state: State, *, override: bool = False) -> bool:
    """True when a version in ``state`` may decrypt, verify or unwrap (``override`` opens
    suspended and compromised versions)."""
    return state in PROCESS_STATES or (override and state in OVERRIDE_STATES)
