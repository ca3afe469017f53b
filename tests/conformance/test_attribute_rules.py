"""The attribute rules of PKCS#11 3.0 re-derived from the spec for data objects and secret
keys, one test per rule: the derived attributes of a key (4.7 and 4.10, table 18 with its
footnotes: CKA_LOCAL, CKA_KEY_GEN_MECHANISM, CKA_ALWAYS_SENSITIVE, CKA_NEVER_EXTRACTABLE) as
C_GenerateKey, C_CreateObject, C_CopyObject, C_UnwrapKey and C_SetAttributeValue leave them;
CKA_ALLOWED_MECHANISMS (4.7) at creation and in every function that uses a key; and
C_SessionCancel (5.6), which ends exactly the operations its flags name.
"""

from __future__ import annotations

import os

import pytest
from keystead.softhsm_bridge.ck import CK_UNAVAILABLE_INFORMATION, KeyType, Mechanism, ObjectClass
from keystead.softhsm_bridge.ck import Attribute as A
from keystead.softhsm_bridge.errors import CKR_OK
from keystead.softhsm_bridge.modules import KEYSTEAD

from .support import aes_key, assert_rv, generic_key, ulong

KW = Mechanism.AES_KEY_WRAP
CKF_ENCRYPT, CKF_DECRYPT, CKF_DIGEST = 0x100, 0x200, 0x400
CKF_SIGN, CKF_VERIFY = 0x800, 0x2000
CKF_FIND_OBJECTS = 0x40  # CKF_FIND_OBJECTS of C_SessionCancel (3.0 table 10 ... 5.6)
CKF_MESSAGE_ENCRYPT = 0x2


def _deviates(request, module, reason: str) -> None:
    """A SoftHSMv2 deviation measured by this test: a strict xfail with the reason."""
    if module.kind != KEYSTEAD:
        request.applymarker(pytest.mark.xfail(reason=reason, strict=True))


def _bool(raw, h, obj, attr) -> bool:
    return raw.get_attribute(h, obj, attr) == b"\x01"


def _derived(raw, h, obj) -> tuple[bool, int, bool, bool]:
    return (_bool(raw, h, obj, A.LOCAL), ulong(raw.get_attribute(h, obj, A.KEY_GEN_MECHANISM)),
            _bool(raw, h, obj, A.ALWAYS_SENSITIVE), _bool(raw, h, obj, A.NEVER_EXTRACTABLE))


def _gen(raw, h, **extra):
    t = {A.CLASS: ObjectClass.SECRET_KEY, A.KEY_TYPE: KeyType.AES, A.TOKEN: False,
         A.VALUE_LEN: 16, A.ENCRYPT: True, A.DECRYPT: True}
    t.update({A[k]: v for k, v in extra.items()})
    return raw.generate_key(h, Mechanism.AES_KEY_GEN, t)


def _kek(raw, h):
    return raw.create_object(h, {A.CLASS: ObjectClass.SECRET_KEY, A.KEY_TYPE: KeyType.AES,
                                 A.TOKEN: False, A.WRAP: True, A.UNWRAP: True,
                                 A.VALUE: os.urandom(16)})


def _mechs(*mechs: int) -> bytes:
    return b"".join(int(m).to_bytes(8, "little") for m in mechs)


# -- derived attributes (4.7, 4.10 table 18) ---------------------------------------------------

@pytest.mark.parametrize(("sensitive", "extractable"),
                         [(False, True), (True, True), (False, False), (True, False)])
def test_generate_derives_from_the_template(raw, rsession, sensitive, extractable):
    k = _gen(raw, rsession, SENSITIVE=sensitive, EXTRACTABLE=extractable)
    assert _derived(raw, rsession, k) == (True, Mechanism.AES_KEY_GEN, sensitive,
                                          not extractable)


def test_create_is_not_local_and_never_always_sensitive(raw, rsession):
    """A key given to C_CreateObject was outside the token: not local, no generation
    mechanism (4.7: CK_UNAVAILABLE_INFORMATION unless CKA_LOCAL), and its history is not
    that of a key always sensitive and never extractable, whatever the template says."""
    k = raw.create_object(rsession, aes_key(os.urandom(16), SENSITIVE=True, EXTRACTABLE=False))
    assert _derived(raw, rsession, k) == (False, CK_UNAVAILABLE_INFORMATION, False, False)


def test_unwrap_is_not_local_always_sensitive_or_never_extractable(raw, rsession):
    """5.18 C_UnwrapKey: the new key's CKA_ALWAYS_SENSITIVE and CKA_NEVER_EXTRACTABLE are
    false, and CKA_LOCAL is false (4.7)."""
    kek = _kek(raw, rsession)
    k = raw.create_object(rsession, aes_key(os.urandom(16)))
    wrapped = raw.wrap_key(rsession, KW, kek, k)
    back = raw.unwrap_key(rsession, KW, kek, wrapped, {
        A.CLASS: ObjectClass.SECRET_KEY, A.KEY_TYPE: KeyType.AES, A.TOKEN: False,
        A.SENSITIVE: True, A.EXTRACTABLE: False})
    assert _derived(raw, rsession, back) == (False, CK_UNAVAILABLE_INFORMATION, False, False)


def test_copy_keeps_the_history(raw, rsession):
    """4.7: CKA_LOCAL is true for "a copy of a key which had its CKA_LOCAL set"; the copy is
    the same key, so its generation mechanism and history come along."""
    k = _gen(raw, rsession, SENSITIVE=True, EXTRACTABLE=False)
    c = raw.copy_object(rsession, k, {A.LABEL: "copy"})
    assert _derived(raw, rsession, c) == (True, Mechanism.AES_KEY_GEN, True, True)


def test_copy_made_sensitive_was_not_always_sensitive(raw, rsession):
    k = _gen(raw, rsession, SENSITIVE=False, EXTRACTABLE=True)
    c = raw.copy_object(rsession, k, {A.SENSITIVE: True, A.EXTRACTABLE: False})
    assert _bool(raw, rsession, c, A.SENSITIVE) and not _bool(raw, rsession, c, A.EXTRACTABLE)
    assert _derived(raw, rsession, c) == (True, Mechanism.AES_KEY_GEN, False, False)


def test_never_extractable_stays_false_once_extractable(raw, rsession):
    k = _gen(raw, rsession, EXTRACTABLE=True)
    raw.set_attributes(rsession, k, {A.EXTRACTABLE: False})
    assert not _bool(raw, rsession, k, A.NEVER_EXTRACTABLE)


def test_always_sensitive_true_until_never(raw, rsession):
    k = _gen(raw, rsession, SENSITIVE=True)
    assert _bool(raw, rsession, k, A.ALWAYS_SENSITIVE)
    assert_rv(raw.call("C_SetAttributeValue", rsession, k,
                       *_tmpl(raw, {A.SENSITIVE: False})), "CKR_ATTRIBUTE_READ_ONLY")
    assert _bool(raw, rsession, k, A.ALWAYS_SENSITIVE) and _bool(raw, rsession, k, A.SENSITIVE)


def _tmpl(raw, attrs):
    t = raw.template(attrs)
    _keep.append(t)
    return t.ptr, t.count


_keep: list = []


@pytest.mark.parametrize("attr", [A.LOCAL, A.KEY_GEN_MECHANISM, A.ALWAYS_SENSITIVE,
                                  A.NEVER_EXTRACTABLE],
                         ids=["LOCAL", "KEY_GEN_MECHANISM", "ALWAYS_SENSITIVE",
                              "NEVER_EXTRACTABLE"])
def test_derived_attributes_are_the_tokens(raw, rsession, attr):
    """Table 18 footnotes [2,4,6]: never in a template of C_GenerateKey or C_UnwrapKey, never
    changed by C_SetAttributeValue or C_CopyObject."""
    value = (Mechanism.AES_KEY_GEN).to_bytes(8, "little") if attr == A.KEY_GEN_MECHANISM \
        else b"\x01"
    m = raw.mechanism(Mechanism.AES_KEY_GEN)
    t = raw.template({A.CLASS: ObjectClass.SECRET_KEY, A.KEY_TYPE: KeyType.AES,
                      A.TOKEN: False, A.VALUE_LEN: 16, attr: value})
    oh = raw.ffi.new("CK_OBJECT_HANDLE *")
    assert_rv(raw.call("C_GenerateKey", rsession, m.ptr, t.ptr, t.count, oh),
              "CKR_ATTRIBUTE_READ_ONLY")
    k = _gen(raw, rsession)
    assert_rv(raw.call("C_SetAttributeValue", rsession, k, *_tmpl(raw, {attr: value})),
              "CKR_ATTRIBUTE_READ_ONLY")
    assert_rv(raw.call("C_CopyObject", rsession, k, *_tmpl(raw, {attr: value}), oh),
              "CKR_ATTRIBUTE_READ_ONLY")
    kek = _kek(raw, rsession)
    wrapped = raw.wrap_key(rsession, KW, kek, raw.create_object(rsession,
                                                               aes_key(os.urandom(16))))
    um = raw.mechanism(KW)
    ut = raw.template({A.CLASS: ObjectClass.SECRET_KEY, A.KEY_TYPE: KeyType.AES,
                       A.TOKEN: False, attr: value})
    assert_rv(raw.call("C_UnwrapKey", rsession, um.ptr, kek, wrapped, len(wrapped), ut.ptr,
                       ut.count, oh), "CKR_ATTRIBUTE_READ_ONLY")


# -- CKA_ALLOWED_MECHANISMS (4.7) ----------------------------------------------------------------

def test_allowed_mechanisms_read_back_exactly(request, module, raw, rsession):
    _deviates(request, module, "SoftHSMv2 2.6.1 returns CKA_ALLOWED_MECHANISMS sorted (it "
              "keeps a set), not the array the key was made with")
    want = _mechs(Mechanism.AES_CBC_PAD, Mechanism.AES_GCM, Mechanism.AES_ECB)
    k = raw.create_object(rsession, aes_key(os.urandom(16), ALLOWED_MECHANISMS=want))
    assert raw.get_attribute(rsession, k, A.ALLOWED_MECHANISMS) == want


@pytest.mark.parametrize("length", [1, 7, 12])
def test_allowed_mechanisms_not_whole_mechanisms(raw, rsession, length):
    """The number of mechanisms is ulValueLen / sizeof(CK_MECHANISM_TYPE): a length that is
    not a multiple is no list of mechanisms."""
    t = raw.template(aes_key(os.urandom(16), ALLOWED_MECHANISMS=bytes(length)))
    oh = raw.ffi.new("CK_OBJECT_HANDLE *")
    assert_rv(raw.call("C_CreateObject", rsession, t.ptr, t.count, oh),
              "CKR_ATTRIBUTE_VALUE_INVALID")


def test_allowed_mechanisms_absent_restricts_nothing(raw, rsession):
    k = raw.create_object(rsession, aes_key(os.urandom(16)))
    assert len(raw.encrypt(rsession, Mechanism.AES_ECB, k, bytes(16))) == 16
    assert raw.get_attribute(rsession, k, A.ALLOWED_MECHANISMS) == b""


def test_allowed_mechanisms_empty_restricts_nothing(request, module, raw, rsession):
    """An empty array is a list of no mechanisms, the value a key reads when it was made
    without the attribute: no restriction (as absent), not an invalid value."""
    _deviates(request, module, "SoftHSMv2 2.6.1 refuses an empty CKA_ALLOWED_MECHANISMS at "
              "C_CreateObject with CKR_ATTRIBUTE_VALUE_INVALID, although its own keys made "
              "without the attribute read back empty")
    k = raw.create_object(rsession, aes_key(os.urandom(16), ALLOWED_MECHANISMS=b""))
    assert len(raw.encrypt(rsession, Mechanism.AES_ECB, k, bytes(16))) == 16
    assert raw.get_attribute(rsession, k, A.ALLOWED_MECHANISMS) == b""


def test_allowed_mechanisms_not_modifiable(raw, rsession):
    """No footnote 8 in table 18: C_SetAttributeValue and C_CopyObject cannot change it."""
    k = raw.create_object(rsession, aes_key(os.urandom(16),
                                            ALLOWED_MECHANISMS=_mechs(Mechanism.AES_ECB)))
    new = {A.ALLOWED_MECHANISMS: _mechs(Mechanism.AES_ECB, Mechanism.AES_CBC)}
    assert_rv(raw.call("C_SetAttributeValue", rsession, k, *_tmpl(raw, new)),
              "CKR_ATTRIBUTE_READ_ONLY")
    oh = raw.ffi.new("CK_OBJECT_HANDLE *")
    assert_rv(raw.call("C_CopyObject", rsession, k, *_tmpl(raw, new), oh),
              "CKR_ATTRIBUTE_READ_ONLY")


@pytest.mark.parametrize("what", ["Encrypt", "Decrypt"])
def test_allowed_mechanisms_enforced_by_cipher_init(raw, rsession, what):
    k = raw.create_object(rsession, aes_key(os.urandom(16),
                                            ALLOWED_MECHANISMS=_mechs(Mechanism.AES_CBC_PAD)))
    m = raw.mechanism(Mechanism.AES_ECB)
    assert_rv(raw.call(f"C_{what}Init", rsession, m.ptr, k), "CKR_MECHANISM_INVALID")
    ok = raw.mechanism(Mechanism.AES_CBC_PAD, bytes(16))
    assert_rv(raw.call(f"C_{what}Init", rsession, ok.ptr, k), "CKR_OK")


@pytest.mark.parametrize("what", ["Sign", "Verify"])
def test_allowed_mechanisms_enforced_by_mac_init(raw, rsession, what):
    k = raw.create_object(rsession, generic_key(os.urandom(32), ALLOWED_MECHANISMS=_mechs(
        Mechanism.SHA256_HMAC)))
    m = raw.mechanism(Mechanism.SHA512_HMAC)
    assert_rv(raw.call(f"C_{what}Init", rsession, m.ptr, k), "CKR_MECHANISM_INVALID")
    ok = raw.mechanism(Mechanism.SHA256_HMAC)
    assert_rv(raw.call(f"C_{what}Init", rsession, ok.ptr, k), "CKR_OK")


def _kek_allowing(raw, h, *mechs):
    return raw.create_object(h, {
        A.CLASS: ObjectClass.SECRET_KEY, A.KEY_TYPE: KeyType.AES, A.TOKEN: False,
        A.WRAP: True, A.UNWRAP: True, A.VALUE: os.urandom(16),
        A.ALLOWED_MECHANISMS: _mechs(*mechs)})


def test_allowed_mechanisms_enforced_for_the_wrapping_key(raw, rsession):
    """C_WrapKey and C_UnwrapKey use the wrapping key with their mechanism: its
    CKA_ALLOWED_MECHANISMS applies as in every Init."""
    k = raw.create_object(rsession, aes_key(os.urandom(16)))
    allowed, other = _kek_allowing(raw, rsession, KW), _kek_allowing(raw, rsession,
                                                                    Mechanism.AES_ECB)
    wrapped = raw.wrap_key(rsession, KW, allowed, k)
    rv, _, _ = raw.call_out("C_WrapKey", rsession, raw.mechanism(KW).ptr, other, k, capacity=64)
    assert_rv(rv, "CKR_MECHANISM_INVALID")
    target = {A.CLASS: ObjectClass.SECRET_KEY, A.KEY_TYPE: KeyType.AES, A.TOKEN: False}
    raw.unwrap_key(rsession, KW, allowed, wrapped, target)
    ut, oh = raw.template(target), raw.ffi.new("CK_OBJECT_HANDLE *")
    assert_rv(raw.call("C_UnwrapKey", rsession, raw.mechanism(KW).ptr, other, wrapped,
                       len(wrapped), ut.ptr, ut.count, oh), "CKR_MECHANISM_INVALID")


# -- C_SessionCancel (5.6) ----------------------------------------------------------------------

@pytest.fixture
def v3(module, raw, xfail_quirk):
    xfail_quirk(module, "no-v3-interface")
    assert raw.has_v3, "C_GetInterface gave no PKCS#11 3.0 function list"
    return raw


def _cancel(raw, h, flags):
    return raw.call("C_SessionCancel", h, flags)


def test_cancel_nothing_active_is_ok(v3, rsession):
    for flags in (0, CKF_ENCRYPT, CKF_ENCRYPT | CKF_DECRYPT | CKF_DIGEST | CKF_SIGN |
                  CKF_VERIFY | CKF_FIND_OBJECTS | CKF_MESSAGE_ENCRYPT):
        assert_rv(_cancel(v3, rsession, flags), "CKR_OK")


def test_cancel_bad_session(v3):
    assert_rv(_cancel(v3, 0x7FFF_FFF0, CKF_ENCRYPT), "CKR_SESSION_HANDLE_INVALID")


def test_cancel_ends_only_the_named_operations(v3, rsession):
    raw, h = v3, rsession
    k = raw.create_object(h, aes_key(os.urandom(16)))
    mac = raw.create_object(h, generic_key(os.urandom(32)))
    raw.op_init("Encrypt", h, Mechanism.AES_ECB, k)
    raw.op_init("Decrypt", h, Mechanism.AES_ECB, k)
    raw.op_init("Digest", h, Mechanism.SHA256, 0)
    raw.op_init("Sign", h, Mechanism.SHA256_HMAC, mac)
    raw.op_init("Verify", h, Mechanism.SHA256_HMAC, mac)
    raw.check("C_FindObjectsInit", h, raw.ffi.NULL, 0)
    live = {CKF_ENCRYPT: "Encrypt", CKF_DECRYPT: "Decrypt", CKF_DIGEST: "Digest",
            CKF_SIGN: "Sign", CKF_VERIFY: "Verify", CKF_FIND_OBJECTS: "Find"}
    for flag in (CKF_DECRYPT, CKF_SIGN, CKF_FIND_OBJECTS, CKF_DIGEST | CKF_VERIFY,
                 CKF_ENCRYPT):
        assert_rv(_cancel(raw, h, flag), "CKR_OK")
        for f in [f for f in live if f & flag]:
            del live[f]
        for f, what in {CKF_ENCRYPT: "Encrypt", CKF_DECRYPT: "Decrypt", CKF_DIGEST: "Digest",
                        CKF_SIGN: "Sign", CKF_VERIFY: "Verify",
                        CKF_FIND_OBJECTS: "Find"}.items():
            want = CKR_OK if f in live else "CKR_OPERATION_NOT_INITIALIZED"
            assert_rv(_probe(raw, h, what), want)


def _probe(raw, h, what):
    """A call that continues the operation without ending it."""
    if what == "Find":
        oh, n = raw.ffi.new("CK_OBJECT_HANDLE[1]"), raw.ulong_ptr()
        return raw.call("C_FindObjects", h, oh, 0, n)
    if what in ("Digest", "Sign", "Verify"):
        return raw.call(f"C_{what}Update", h, b"", 0)
    return raw.call_out(f"C_{what}Update", h, b"", 0, capacity=16)[0]


def test_cancel_ends_message_encryption(v3, rsession):
    raw, h = v3, rsession
    k = raw.create_object(h, aes_key(os.urandom(16)))
    raw.check("C_MessageEncryptInit", h, raw.mechanism(Mechanism.AES_GCM).ptr, k)
    raw.op_init("Encrypt", h, Mechanism.AES_ECB, k)
    assert_rv(_cancel(raw, h, CKF_MESSAGE_ENCRYPT), "CKR_OK")
    assert_rv(raw.call("C_MessageEncryptFinal", h), "CKR_OPERATION_NOT_INITIALIZED")
    assert_rv(_probe(raw, h, "Encrypt"), CKR_OK)  # the other kind is untouched


def test_allowed_mechanisms_enforced_by_digest_key(request, module, raw, rsession):
    """C_DigestKey uses the key with the digest mechanism: outside the key's
    CKA_ALLOWED_MECHANISMS the key cannot be digested (5.12 lists CKR_KEY_INDIGESTIBLE, not
    CKR_MECHANISM_INVALID, for C_DigestKey)."""
    _deviates(request, module, "SoftHSMv2 2.6.1 digests a key whatever its "
              "CKA_ALLOWED_MECHANISMS (CKR_OK)")
    h = rsession
    k = raw.create_object(h, aes_key(os.urandom(16), ALLOWED_MECHANISMS=_mechs(
        Mechanism.AES_ECB)))
    raw.op_init("Digest", h, Mechanism.SHA256, 0)
    assert_rv(raw.call("C_DigestKey", h, k), "CKR_KEY_INDIGESTIBLE")
    allowed = raw.create_object(h, aes_key(os.urandom(16), ALLOWED_MECHANISMS=_mechs(
        Mechanism.SHA256)))
    raw.op_init("Digest", h, Mechanism.SHA256, 0)
    assert_rv(raw.call("C_DigestKey", h, allowed), "CKR_OK")
    raw.final("Digest", h)
