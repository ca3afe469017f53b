"""keystead's own rules around C_DeriveKey and key pairs (docs/policy.md, "Derived keys" and
"Key pairs"; README, "Mechanisms" and "Key lifecycle in the token"): the template rules where
PKCS#11 leaves the code to the token, the policy gate on the base key, the derived key's
known value under the strict wrap policy, the audit records, one purpose per key, and pairs
whose states move together."""

from __future__ import annotations

import os

import pytest
from cryptography.hazmat.primitives import serialization
from keystead.softhsm_bridge.ck import (
    CKU_KS_MANAGER,
    CKU_USER,
    KS_VENDOR,
    KeyType,
    Mechanism,
    ObjectClass,
)
from keystead.softhsm_bridge.ck import Attribute as A
from keystead.token_audit import records

from tests.native.kex_keys import exchange, generate

from .derive_support import (
    CKD_NULL,
    CKD_SHA256_KDF,
    CKM_ECDH1_DERIVE,
    EC_PARAMS,
    der_octet_string,
    derive,
    ecdh_params,
    peer,
    private_template,
    secret_template,
)
from .support import assert_rv, bbool, ulong
from .test_governance import GOVERNED, gov, gov_token  # noqa: F401 - fixtures
from .test_token_lifecycle import (
    ACTIVE,
    COMPROMISED,
    DEACTIVATED,
    DESTROYED,
    STATE,
    SUSPENDED,
    USAGE_COUNT,
    USAGE_LIMIT,
)

VALUE_KNOWN = KS_VENDOR | 0x09
ALLOWED_MECHANISMS = 0x40000600
NOT_PERMITTED = "CKR_KEY_FUNCTION_NOT_PERMITTED"


@pytest.fixture()
def ks(module, raw, rsession):
    if module.info.kind != "keystead":
        pytest.skip("keystead's choices, vendor attributes and wrap policy")
    return raw, rsession


def base(raw, h, curve: str = "P-256", **extra):
    mine = generate(curve)
    return mine, raw.create_object(h, private_template(curve, mine, **extra))


def public_key(raw, h, key, **extra) -> int:
    point = key.public_key().public_bytes(serialization.Encoding.X962,
                                          serialization.PublicFormat.UncompressedPoint)
    t = {A.CLASS: ObjectClass.PUBLIC_KEY, A.KEY_TYPE: KeyType.EC, A.TOKEN: False,
         A.EC_PARAMS: EC_PARAMS["P-256"], A.EC_POINT: der_octet_string(point), A.VERIFY: True}
    t.update({A[k]: v for k, v in extra.items()})
    return raw.create_object(h, t)


def null_param(raw, theirs):
    return ecdh_params(raw.ffi, CKD_NULL, peer(theirs))


# -- template rules ------------------------------------------------------------------------------

def test_template_rules(ks):
    raw, h = ks
    mine, b = base(raw, h)
    theirs = generate("P-256")
    cases = [
        ("AES without a length", secret_template(None, KeyType.AES), CKD_NULL,
         "CKR_TEMPLATE_INCOMPLETE"),
        ("a KDF without a length", secret_template(), CKD_SHA256_KDF, "CKR_TEMPLATE_INCOMPLETE"),
        ("CKD_NULL longer than Z", secret_template(33), CKD_NULL, "CKR_TEMPLATE_INCONSISTENT"),
        ("AES of 20 bytes", secret_template(20, KeyType.AES), CKD_NULL,
         "CKR_ATTRIBUTE_VALUE_INVALID"),
        ("not a secret key", {A.CLASS: ObjectClass.DATA, A.TOKEN: False}, CKD_NULL,
         "CKR_TEMPLATE_INCONSISTENT"),
        ("a value given", secret_template(32, VALUE=bytes(32)), CKD_NULL,
         "CKR_ATTRIBUTE_READ_ONLY"),
    ]
    for name, tmpl, kdf, want in cases:
        rv, _ = derive(raw, h, b, tmpl, ecdh_params(raw.ffi, kdf, peer(theirs)))
        assert_rv(rv, want), name
    # no class and no key type: a generic secret of the whole secret
    rv, k = derive(raw, h, b, {A.TOKEN: False, A.SENSITIVE: False}, null_param(raw, theirs))
    assert_rv(rv, "CKR_OK")
    assert ulong(raw.get_attribute(h, k, A.KEY_TYPE)) == KeyType.GENERIC_SECRET
    assert raw.get_attribute(h, k, A.VALUE) == exchange(mine, theirs)


# -- the base key passes the gate --------------------------------------------------------------

def test_base_key_gate(ks):
    raw, h = ks
    theirs = generate("P-256")
    tmpl = secret_template(16)
    _, no_derive = base(raw, h, DERIVE=False)
    assert_rv(derive(raw, h, no_derive, tmpl, null_param(raw, theirs))[0], NOT_PERMITTED)
    aes = raw.create_object(h, {A.CLASS: ObjectClass.SECRET_KEY, A.KEY_TYPE: KeyType.AES,
                                A.VALUE: os.urandom(32), A.TOKEN: False, A.DERIVE: True})
    assert_rv(derive(raw, h, aes, tmpl, null_param(raw, theirs))[0], "CKR_KEY_TYPE_INCONSISTENT")
    mine, b = base(raw, h)
    pub = public_key(raw, h, mine, DERIVE=True)
    assert_rv(derive(raw, h, pub, tmpl, null_param(raw, theirs))[0], "CKR_KEY_TYPE_INCONSISTENT")
    assert_rv(derive(raw, h, 0x7FFF_FF03, tmpl, null_param(raw, theirs))[0],
              "CKR_KEY_HANDLE_INVALID")
    _, only_sign = base(raw, h, ALLOWED_MECHANISMS=int(Mechanism.ECDSA).to_bytes(8, "little"))
    assert_rv(derive(raw, h, only_sign, tmpl, null_param(raw, theirs))[0],
              "CKR_MECHANISM_INVALID")
    _, x25519 = base(raw, h, "X25519")
    assert_rv(derive(raw, h, x25519, tmpl, null_param(raw, theirs))[0],
              "CKR_MECHANISM_PARAM_INVALID")  # a P-256 point for an X25519 key
    for state in (SUSPENDED, DEACTIVATED, COMPROMISED):
        _, k = base(raw, h)
        raw.set_attributes(h, k, {STATE: state})
        assert_rv(derive(raw, h, k, tmpl, null_param(raw, theirs))[0], NOT_PERMITTED)


def test_usage_limit_counts_derivations(ks):
    raw, h = ks
    _, b = base(raw, h, TOKEN=True)
    try:
        raw.set_attributes(h, b, {USAGE_LIMIT: 2})
        theirs = generate("P-256")
        for _ in range(2):
            assert_rv(derive(raw, h, b, secret_template(16), null_param(raw, theirs))[0], "CKR_OK")
        assert_rv(derive(raw, h, b, secret_template(16), null_param(raw, theirs))[0],
                  NOT_PERMITTED)
        assert ulong(raw.get_attribute(h, b, USAGE_COUNT)) == 2
    finally:
        raw.destroy_object(h, b)


def test_derivation_is_recorded(ks, module):
    raw, h = ks
    _, b = base(raw, h)
    rv, k = derive(raw, h, b, secret_template(16), null_param(raw, generate("P-256")))
    assert_rv(rv, "CKR_OK")
    uid = raw.get_attribute(h, k, A.UNIQUE_ID).decode()
    base_uid = raw.get_attribute(h, b, A.UNIQUE_ID).decode()
    db = module.token_env.token_dir / f"token-{module.slot}.sqlite"
    trail = [r for r in records(db) if r.get("event") == "derive"]
    assert any(r.get("object") == uid and r.get("detail") == f"base {base_uid}"
               and r.get("mechanism") == CKM_ECDH1_DERIVE for r in trail)


# -- the derived value is known ----------------------------------------------------------------

def test_derived_key_is_known_and_wraps_no_secret(ks):
    """Whoever chose the peer key computes the same secret: under strict a derived key may not
    wrap a sensitive key (invariant 2), even a sensitive, unextractable derived key."""
    raw, h = ks
    _, b = base(raw, h)
    t = secret_template(32, KeyType.AES, SENSITIVE=True, EXTRACTABLE=False, WRAP=True)
    rv, kek = derive(raw, h, b, t, null_param(raw, generate("P-256")))
    assert_rv(rv, "CKR_OK")
    assert bbool(raw.get_attribute(h, kek, VALUE_KNOWN)) is True
    target = raw.generate_key(h, Mechanism.AES_KEY_GEN,
                              {A.VALUE_LEN: 32, A.TOKEN: False, A.SENSITIVE: True,
                               A.EXTRACTABLE: True})
    rv, _, _ = raw.call_out("C_WrapKey", h, raw.mechanism(Mechanism.AES_KEY_WRAP).ptr, kek,
                            target, capacity=64)
    assert_rv(rv, NOT_PERMITTED)


# -- key pairs ---------------------------------------------------------------------------------

def test_one_purpose_under_strict(ks):
    raw, h = ks
    mine = generate("P-256")
    t = private_template("P-256", mine, SIGN=True, DECRYPT=True)
    t_rv = raw.template(t)
    out = raw.ffi.new("CK_OBJECT_HANDLE *")
    assert_rv(raw.call("C_CreateObject", h, t_rv.ptr, t_rv.count, out),
              "CKR_TEMPLATE_INCONSISTENT")
    signer = raw.create_object(h, private_template("P-256", mine, SIGN=True, DERIVE=True))
    t_rv = raw.template({A.DECRYPT: True})
    assert_rv(raw.call("C_SetAttributeValue", h, signer, t_rv.ptr, t_rv.count),
              "CKR_TEMPLATE_INCONSISTENT")
    assert_rv(raw.call("C_CopyObject", h, signer, t_rv.ptr, t_rv.count, out),
              "CKR_TEMPLATE_INCONSISTENT")
    assert bbool(raw.get_attribute(h, signer, A.DECRYPT)) is False


def test_pair_states_move_together(ks):
    raw, h = ks
    mine, priv = base(raw, h, SIGN=True)
    pub = public_key(raw, h, mine)
    _, stranger = base(raw, h)  # another key: never moved

    def states():
        return [ulong(raw.get_attribute(h, o, STATE)) for o in (priv, pub, stranger)]

    raw.set_attributes(h, priv, {STATE: SUSPENDED})
    assert states() == [SUSPENDED, SUSPENDED, ACTIVE]
    raw.set_attributes(h, pub, {STATE: ACTIVE})
    assert states() == [ACTIVE, ACTIVE, ACTIVE]
    raw.set_attributes(h, pub, {STATE: COMPROMISED})
    assert states() == [COMPROMISED, COMPROMISED, ACTIVE]


def test_destroying_the_private_key_deactivates_its_public_key(ks):
    """SP 800-57 Part 1 7.2: at the end of its originator-usage period a private signature key
    is destroyed while its public key is deactivated, and still verifies."""
    raw, h = ks
    mine, priv = base(raw, h, SIGN=True)
    pub = public_key(raw, h, mine)
    raw.set_attributes(h, priv, {STATE: DEACTIVATED})
    assert ulong(raw.get_attribute(h, pub, STATE)) == ACTIVE  # deactivation is not followed
    raw.set_attributes(h, priv, {STATE: DESTROYED})
    assert ulong(raw.get_attribute(h, pub, STATE)) == DEACTIVATED
    assert raw.get_attributes(h, priv, [A.VALUE]).rv != 0  # no private value any more


def test_pair_moves_are_recorded(ks, module):
    raw, h = ks
    mine, priv = base(raw, h, SIGN=True)
    pub = public_key(raw, h, mine)
    raw.set_attributes(h, priv, {STATE: SUSPENDED})
    uid = raw.get_attribute(h, priv, A.UNIQUE_ID).decode()
    pub_uid = raw.get_attribute(h, pub, A.UNIQUE_ID).decode()
    db = module.token_env.token_dir / f"token-{module.slot}.sqlite"
    moves = [r for r in records(db) if r.get("event") == "transition"
             and r.get("object") == pub_uid]
    assert [r.get("detail") for r in moves] == [f"active -> suspended: pair of {uid}"]


def test_a_user_change_never_moves_a_governed_partner(gov):  # noqa: F811 - the fixture
    """The manager's pair moves together; a user's public-key copy of a governed key, when
    the user suspends it, suspends the copy only."""
    raw = gov.raw
    h = gov.login(CKU_KS_MANAGER)
    mine = generate("P-256")
    priv = raw.create_object(h, private_template("P-256", mine, TOKEN=True, SIGN=True))
    pub = public_key(raw, h, mine, TOKEN=True)
    try:
        assert gov.flag(h, priv, GOVERNED) and gov.flag(h, pub, GOVERNED)
        h = gov.login(CKU_USER)
        copy = public_key(raw, h, mine)
        raw.set_attributes(h, copy, {STATE: SUSPENDED})
        assert [gov.ulong(h, o, STATE) for o in (priv, pub, copy)] == \
            [ACTIVE, ACTIVE, SUSPENDED]
        h = gov.login(CKU_KS_MANAGER)
        raw.set_attributes(h, priv, {STATE: SUSPENDED})
        assert gov.ulong(h, pub, STATE) == SUSPENDED
    finally:
        h = gov.login(CKU_KS_MANAGER)
        for o in (priv, pub):
            raw.destroy_object(h, o)


def test_base_key_derive_template_is_imposed(ks):
    """The base key's CKA_DERIVE_TEMPLATE applies to every key derived from it (base 4.9):
    its attributes are set, and a template that contradicts them is inconsistent."""
    raw, h = ks
    _, b = base(raw, h, DERIVE_TEMPLATE={A.SENSITIVE: True, A.EXTRACTABLE: False})
    theirs = generate("P-256")
    rv, k = derive(raw, h, b, {A.CLASS: ObjectClass.SECRET_KEY, A.TOKEN: False,
                               A.VALUE_LEN: 32}, null_param(raw, theirs))
    assert_rv(rv, "CKR_OK")
    assert bbool(raw.get_attribute(h, k, A.SENSITIVE)) is True
    assert bbool(raw.get_attribute(h, k, A.EXTRACTABLE)) is False
    rv, _ = derive(raw, h, b, secret_template(32), null_param(raw, theirs))
    assert_rv(rv, "CKR_TEMPLATE_INCONSISTENT")
