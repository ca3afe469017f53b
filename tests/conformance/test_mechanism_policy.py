"""C_GetMechanismInfo tells the truth under the active wrap policy: keystead's default
`strict` profile carries keys only with the key-wrap mechanisms (README, "Wrap policy"), so
only those advertise CKF_WRAP and CKF_UNWRAP; C_WrapKey with the others is refused."""

from __future__ import annotations

import os

import pytest
from keystead.softhsm_bridge.ck import Attribute as A
from keystead.softhsm_bridge.ck import KeyType, Mechanism, MechanismFlag, ObjectClass

from .support import assert_rv

WRAP_FLAGS = MechanismFlag.WRAP | MechanismFlag.UNWRAP
DATA_ONLY = [Mechanism.AES_ECB, Mechanism.AES_CBC, Mechanism.AES_CBC_PAD, Mechanism.AES_CTR,
             Mechanism.AES_GCM]


@pytest.fixture()
def strict(module, raw):
    if module.info.kind != "keystead":
        pytest.skip("the wrap policy is keystead's")
    return raw, module.slot


@pytest.mark.parametrize("mech", DATA_ONLY, ids=lambda m: m.name)
def test_strict_advertises_no_wrap_for_data_mechanisms(strict, mech):
    raw, slot = strict
    _, _, flags = raw.mechanism_info(slot, mech)
    assert not flags & WRAP_FLAGS, hex(flags)
    assert flags & MechanismFlag.ENCRYPT and flags & MechanismFlag.DECRYPT


@pytest.mark.parametrize("mech", [Mechanism.AES_KEY_WRAP, Mechanism.AES_KEY_WRAP_KWP],
                         ids=lambda m: m.name)
def test_strict_advertises_wrap_for_key_wrap_mechanisms(strict, mech):
    raw, slot = strict
    _, _, flags = raw.mechanism_info(slot, mech)
    assert flags & WRAP_FLAGS == WRAP_FLAGS


def test_what_is_advertised_is_what_wrap_key_does(strict, rsession):
    """For a generated, sensitive key under a generated, sensitive KEK (values no one outside
    the token knows): C_WrapKey succeeds exactly with the mechanisms whose info has CKF_WRAP.
    Keys whose values are known are exempt (README, "Wrap policy"): the last case."""
    raw, slot = strict
    session = rsession
    kek = raw.generate_key(session, Mechanism.AES_KEY_GEN,
                           {A.VALUE_LEN: 32, A.TOKEN: False, A.WRAP: True, A.SENSITIVE: True})
    for mech, param in ((Mechanism.AES_ECB, None), (Mechanism.AES_CBC, os.urandom(16)),
                        (Mechanism.AES_KEY_WRAP, None)):
        target = raw.generate_key(session, Mechanism.AES_KEY_GEN,
                                  {A.VALUE_LEN: 16, A.TOKEN: False, A.EXTRACTABLE: True,
                                   A.SENSITIVE: True})
        _, _, flags = raw.mechanism_info(slot, mech)
        rv, _, _ = raw.call_out("C_WrapKey", session, raw.mechanism(mech, param).ptr, kek,
                                target, capacity=64)
        assert_rv(rv, "CKR_OK" if flags & MechanismFlag.WRAP else "CKR_MECHANISM_INVALID")
    known_kek = raw.create_object(session, {
        A.CLASS: ObjectClass.SECRET_KEY, A.KEY_TYPE: KeyType.AES, A.TOKEN: False,
        A.VALUE: os.urandom(32), A.WRAP: True})
    known = raw.create_object(session, {
        A.CLASS: ObjectClass.SECRET_KEY, A.KEY_TYPE: KeyType.AES, A.TOKEN: False,
        A.VALUE: os.urandom(16), A.EXTRACTABLE: True})
    rv, _, _ = raw.call_out("C_WrapKey", session, raw.mechanism(Mechanism.AES_ECB).ptr,
                            known_kek, known, capacity=64)
    assert_rv(rv, "CKR_OK")  # imported keys behave as PKCS#11 says, advertised or not
