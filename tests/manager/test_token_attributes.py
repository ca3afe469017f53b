"""The usage flags of every key the manager makes, read back from the token: one purpose per
key, and on tokens without keystead's lifecycle attributes every state clears what it forbids
(README "Key lifecycle in the token")."""

from __future__ import annotations

import pytest
from keystead.manager import KeyManager, State

from .helpers import raw_key

FLAGS = {"encrypt": 0x104, "decrypt": 0x105, "wrap": 0x106, "unwrap": 0x107,
         "sign": 0x108, "verify": 0x10A}
PURPOSE = {"data-encryption": ("encrypt", "decrypt"), "key-wrapping": ("wrap", "unwrap"),
           "symmetric-authentication": ("sign", "verify")}
# state -> (protect, process) on a token that does not enforce the lifecycle itself.
MAPPED = {State.ACTIVE: (True, True), State.SUSPENDED: (False, False),
          State.DEACTIVATED: (False, True), State.COMPROMISED: (False, False),
          State.PRE_ACTIVATION: (False, False)}


def flags_of(module, token, object_id: str) -> dict[str, bool]:
    raw = module.raw
    session, handle = raw_key(module, token, object_id)
    try:
        assert handle is not None
        res = raw.get_attributes(session, handle, list(FLAGS.values()))
        return {name: res.values[attr] == b"\x01" for name, attr in FLAGS.items()}
    finally:
        raw.close_session(session)


def expected(key_type: str, state: State, keystead: bool) -> dict[str, bool]:
    protect_op, process_op = PURPOSE[key_type]
    protect, process = (True, True) if keystead else MAPPED[state]
    out = dict.fromkeys(FLAGS, False)
    out[protect_op], out[process_op] = protect, process
    return out


@pytest.mark.parametrize("key_type", list(PURPOSE))
def test_one_purpose_per_key(km: KeyManager, module, mtoken, key_type):
    km.create_key(f"attr/{key_type}", key_type, reason="t")
    ver = km.show(f"attr/{key_type}").versions[0]
    keystead = km.token.enforces_lifecycle
    assert flags_of(module, mtoken, ver.object_id) == expected(key_type, State.ACTIVE, keystead)


@pytest.mark.parametrize("key_type", list(PURPOSE))
def test_every_state_clears_what_it_forbids(km: KeyManager, module, mtoken, key_type):
    name = f"walk/{key_type}"
    km.create_key(name, key_type, reason="t")
    keystead = km.token.enforces_lifecycle
    oid = km.show(name).versions[0].object_id

    def check(state: State) -> None:
        assert flags_of(module, mtoken, oid) == expected(key_type, state, keystead), state

    km.suspend(name, 1, reason="t")
    check(State.SUSPENDED)
    km.resume(name, 1, reason="t")
    check(State.ACTIVE)
    km.deactivate(name, 1, reason="t")
    check(State.DEACTIVATED)
    km.compromise(name, 1, reason="t", replace=False)
    check(State.COMPROMISED)

