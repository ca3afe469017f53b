"""The lifecycle table, exhaustively: pure, then through the manager on both tokens."""

from __future__ import annotations

import itertools
from datetime import timedelta

import pytest
from keystead.manager import (
    TRANSITIONS,
    IllegalTransition,
    KeyManager,
    OperationRefused,
    State,
    can_process,
    can_protect,
    transition,
)
from keystead.manager.lifecycle import TOKEN_STATE_CODES, TRANSITIONS_BY_TYPE

from .helpers import token_may

S = State
# SP 800-57 Part 1 Rev. 5 section 7 (README): the edges, written out independently of the table.
EXPECTED_EDGES = {
    (S.PRE_ACTIVATION, S.ACTIVE), (S.PRE_ACTIVATION, S.COMPROMISED),
    (S.PRE_ACTIVATION, S.DESTROYED),
    (S.ACTIVE, S.SUSPENDED), (S.ACTIVE, S.DEACTIVATED), (S.ACTIVE, S.COMPROMISED),
    (S.ACTIVE, S.DESTROYED),
    (S.SUSPENDED, S.ACTIVE), (S.SUSPENDED, S.DEACTIVATED), (S.SUSPENDED, S.COMPROMISED),
    (S.SUSPENDED, S.DESTROYED),
    (S.DEACTIVATED, S.COMPROMISED), (S.DEACTIVATED, S.DESTROYED),
    (S.COMPROMISED, S.DESTROYED),
}
#: SP 800-57 Part 1 Rev. 5, 7.3: a key with a recipient-usage period (every type the manager
#: creates) is deactivated before it is destroyed, so that period can run.
MANAGED_EDGES = EXPECTED_EDGES - {(S.ACTIVE, S.DESTROYED), (S.SUSPENDED, S.DESTROYED)}
ALL_PAIRS = list(itertools.product(State, State))


def pair_id(pair: tuple[State, State]) -> str:
    return f"{pair[0].value}->{pair[1].value}"


def test_table_matches_design():
    table = {(a, b) for a, targets in TRANSITIONS.items() for b in targets}
    assert table == EXPECTED_EDGES
    assert set(TRANSITIONS) == set(State)


def test_manager_and_token_share_one_table():
    """The manager reads the token's own table (ks_lifecycle_allowed in keystead._core);
    the written-out copy and the token's rules agree on every pair."""
    from keystead._core import lib
    from keystead.manager.lifecycle import _TOKEN_EDGES_LITERAL

    for a, b in ALL_PAIRS:
        in_token = bool(lib.ks_lifecycle_allowed(TOKEN_STATE_CODES[a], TOKEN_STATE_CODES[b]))
        assert in_token is (b in TRANSITIONS[a]) is (b in _TOKEN_EDGES_LITERAL[a]), (a, b)


@pytest.mark.parametrize("key_type", ["data-encryption", "key-wrapping",
                                      "symmetric-authentication"])
def test_keys_with_a_recipient_period_are_deactivated_before_destruction(key_type):
    table = TRANSITIONS_BY_TYPE[key_type]
    assert {(a, b) for a, targets in table.items() for b in targets} == MANAGED_EDGES
    with pytest.raises(IllegalTransition, match="deactivated first"):
        transition(S.ACTIVE, S.DESTROYED, key_type)
    assert transition(S.DEACTIVATED, S.DESTROYED, key_type) is S.DESTROYED


@pytest.mark.parametrize("pair", ALL_PAIRS, ids=pair_id)
def test_transition_function(pair):
    current, target = pair
    if pair in EXPECTED_EDGES:
        assert transition(current, target) is target
    else:
        with pytest.raises(IllegalTransition, match=f"{current.value} key to {target.value}"):
            transition(current, target)


def test_use_by_state():
    # The README's table: protect only when active; process when active or
    # deactivated, and with an override when suspended or compromised.
    assert [s for s in State if can_protect(s)] == [S.ACTIVE]
    assert {s for s in State if can_process(s)} == {S.ACTIVE, S.DEACTIVATED}
    assert {s for s in State if can_process(s, override=True)} == {
        S.ACTIVE, S.DEACTIVATED, S.SUSPENDED, S.COMPROMISED}


def test_token_codes_match_keystead_h():
    assert [TOKEN_STATE_CODES[s] for s in State] == [0, 1, 2, 3, 4, 5]


def put_in_state(km: KeyManager, name: str, state: State) -> None:
    """Create key ``name`` and drive version 1 into ``state`` along allowed edges."""
    if state is S.PRE_ACTIVATION:
        km.create_key(name, activate_at=km.now() + timedelta(days=1))
        return
    km.create_key(name)
    if state is S.SUSPENDED:
        km.suspend(name, 1)
    elif state is S.DEACTIVATED:
        km.deactivate(name, 1)
    elif state is S.COMPROMISED:
        km.compromise(name, 1, reason="test", replace=False)
    elif state is S.DESTROYED:
        km.deactivate(name, 1)
        km.transition(name, S.DESTROYED, 1, reason="test")


@pytest.mark.parametrize("pair", ALL_PAIRS, ids=pair_id)
def test_every_edge_through_the_manager(km: KeyManager, pair):
    current, target = pair
    name = f"edge/{current.value}/{target.value}"
    put_in_state(km, name, current)
    assert km.show(name).versions[0].state is current
    before = len(km.audit_records())
    if pair in MANAGED_EDGES:
        ver = km.transition(name, target, 1, reason="edge test")
        assert ver.state is target
        assert km.show(name).versions[0].state is target
        history = km.show(name).history[1]
        assert (history[-1].from_state, history[-1].to_state) == (current, target)
        assert history[-1].reason == "edge test"
    else:
        with pytest.raises(IllegalTransition):
            km.transition(name, target, 1, reason="edge test")
        assert km.show(name).versions[0].state is current
        refusal = km.audit_records()[before:]
        assert len(refusal) == 1 and refusal[0].result.startswith("refused")
    assert km.verify_audit().chain.ok


@pytest.mark.parametrize("state", [s for s in State if s is not S.DESTROYED], ids=str)
def test_token_enforces_state_for_applications(module, mtoken, km: KeyManager, state):
    """Whatever the module, an application that bypasses the manager gets what the state
    allows: keystead enforces its own state, a foreign token its usage flags."""
    name = f"direct/{state.value}"
    put_in_state(km, name, state)
    oid = km.show(name).versions[0].object_id
    assert token_may(module, mtoken, oid, "Encrypt") is can_protect(state)
    assert token_may(module, mtoken, oid, "Decrypt") is can_process(state)


def test_activate_and_resume_are_distinct(km: KeyManager):
    km.create_key("a/b")
    km.suspend("a/b")
    with pytest.raises(OperationRefused, match="use resume"):
        km.activate("a/b")
    assert km.resume("a/b").state is S.ACTIVE
    with pytest.raises(OperationRefused, match="not suspended"):
        km.resume("a/b")
