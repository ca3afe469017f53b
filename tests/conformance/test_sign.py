"""PKCS#11 3.0 base specification 5.11-5.13: signing, MACing and verifying, with RFC 4231
(HMAC-SHA-2) and SP 800-38B / RFC 4493 (AES-CMAC) known answers."""

from __future__ import annotations

import pytest
from keystead.softhsm_bridge.ck import Attribute as A
from keystead.softhsm_bridge.ck import KeyType, Mechanism

from .support import aes_key, assert_rv, generic_key

H256, H384, H512, CMAC = (Mechanism.SHA256_HMAC, Mechanism.SHA384_HMAC, Mechanism.SHA512_HMAC,
                          Mechanism.AES_CMAC)
RFC4231 = {  # (key, data) -> {mechanism: mac}
    "tc1": ((b"\x0b" * 20, b"Hi There"), {
        H256: "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7",
        H384: "afd03944d84895626b0825f4ab46907f15f9dadbe4101ec682aa034c7cebc59c"
              "faea9ea9076ede7f4af152e8b2fa9cb6",
        H512: "87aa7cdea5ef619d4ff0b4241a1d6cb02379f4e2ce4ec2787ad0b30545e17cde"
              "daa833b7d6b8a702038b274eaea3f4e4be9d914eeb61f1702e696c203a126854"}),
    "tc2": ((b"Jefe", b"what do ya want for nothing?"), {
        H256: "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
        H384: "af45d2e376484031617f78d2b58a6b1b9c7ef464f5a01b47e42ec3736322445e"
              "8e2240ca5e69e2c78b3239ecfab21649",
        H512: "164b7a7bfcf819e2e395fbe73b56e0a387bd64222e831fd610270cd7ea250554"
              "9758bf75c05a994a6d034f65f8f0e6fdcaeab1a34d4a6b4b636e070a38bce737"}),
    "tc6": ((b"\xaa" * 131, b"Test Using Larger Than Block-Size Key - Hash Key First"), {
        H256: "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54",
        H384: "4ece084485813e9088d2c63a041bc5b44f9ef1012a2b588f3cd11f05033ac4c6"
              "0c2ef6ab4030fe8296248df163f44952",
        H512: "80b24263c7c1a3ebb71493c1dd7be8b49b46d1f41b4aeec1121b013783f8f352"
              "6b56d037e05f2598bd0fd2215d6a1e5295e64f73f63f0aec8b915a985d786598"}),
}
CMAC_KEY = bytes.fromhex("2b7e151628aed2a6abf7158809cf4f3c")
CMAC_MSG = bytes.fromhex("6bc1bee22e409f96e93d7e117393172aae2d8a571e03ac9c9eb76fac45af8e51"
                         "30c81c46a35ce411e5fbc1191a0a52eff69f2445df4f9b17ad2b417be66c3710")
CMAC_VECTORS = {  # SP 800-38B D.1 / RFC 4493 section 4: message length -> tag
    0: "bb1d6929e95937287fa37d129b756746",
    16: "070a16b46b4d4144f79bdd9dd04a287c",
    40: "dfa66747de9ae63030ca32611497c827",
    64: "51f0bebf7e3b9d92fc49741779363cfe",
}


def _sign(raw, h, mech, key, data):
    raw.op_init("Sign", h, mech, key)
    return raw.single("Sign", h, data)


def _verify(raw, h, mech, key, data, sig):
    raw.op_init("Verify", h, mech, key)
    return raw.verify(h, data, sig)


@pytest.mark.parametrize("case", list(RFC4231))
@pytest.mark.parametrize("mech", [H256, H384, H512], ids=["sha256", "sha384", "sha512"])
def test_hmac_rfc4231(module, raw, rsession, case, mech, xfail_quirk):
    (key, data), macs = RFC4231[case]
    if len(key) < raw.mechanism_info(module.slot, mech)[0]:
        xfail_quirk(module, "hmac-min-key-size")
    k = raw.create_object(rsession, generic_key(key))
    assert _sign(raw, rsession, mech, k, data).hex() == macs[mech]
    assert_rv(_verify(raw, rsession, mech, k, data, bytes.fromhex(macs[mech])), "CKR_OK")


@pytest.mark.parametrize("key_type, mech", [(KeyType.SHA256_HMAC, H256),
                                            (KeyType.SHA512_HMAC, H512)],
                         ids=["CKK_SHA256_HMAC", "CKK_SHA512_HMAC"])
def test_hmac_key_types(raw, rsession, key_type, mech):
    (key, data), macs = RFC4231["tc6"]
    k = raw.create_object(rsession, generic_key(key, key_type))
    assert _sign(raw, rsession, mech, k, data).hex() == macs[mech]


@pytest.mark.requires(Mechanism.AES_CMAC)
@pytest.mark.parametrize("length", list(CMAC_VECTORS))
def test_cmac_sp800_38b(raw, rsession, length):
    k = raw.create_object(rsession, aes_key(CMAC_KEY))
    assert _sign(raw, rsession, CMAC, k, CMAC_MSG[:length]).hex() == CMAC_VECTORS[length]


@pytest.mark.parametrize("mech", [H256, CMAC], ids=["hmac", "cmac"])
def test_multi_part_sign_equals_single(raw, rsession, mech):
    k = raw.create_object(rsession, aes_key(CMAC_KEY) if mech == CMAC
                          else generic_key(b"k" * 32))
    data = bytes(range(200))
    single = _sign(raw, rsession, mech, k, data)
    for split in (0, 1, 16, 17, 64, 199):
        raw.op_init("Sign", rsession, mech, k)
        raw.update("Sign", rsession, data[:split])
        raw.update("Sign", rsession, data[split:])
        assert raw.final("Sign", rsession) == single, split
        raw.op_init("Verify", rsession, mech, k)
        raw.update("Verify", rsession, data[:split])
        raw.update("Verify", rsession, data[split:])
        assert_rv(raw.call("C_VerifyFinal", rsession, single, len(single)), "CKR_OK")


@pytest.mark.parametrize("mech", [H256, CMAC], ids=["hmac", "cmac"])
def test_verify_wrong_mac(raw, rsession, mech):
    k = raw.create_object(rsession, aes_key(CMAC_KEY) if mech == CMAC
                          else generic_key(b"k" * 32))
    sig = bytearray(_sign(raw, rsession, mech, k, b"message"))
    sig[0] ^= 1
    assert_rv(_verify(raw, rsession, mech, k, b"message", bytes(sig)), "CKR_SIGNATURE_INVALID")


def test_verify_wrong_length(raw, rsession):
    k = raw.create_object(rsession, generic_key(b"k" * 32))
    assert_rv(_verify(raw, rsession, H256, k, b"message", bytes(5)), "CKR_SIGNATURE_LEN_RANGE")
    assert_rv(_verify(raw, rsession, H256, k, b"message", bytes(64)), "CKR_SIGNATURE_LEN_RANGE")


def test_verify_final_wrong_mac(raw, rsession):
    k = raw.create_object(rsession, generic_key(b"k" * 32))
    raw.op_init("Verify", rsession, H256, k)
    raw.update("Verify", rsession, b"message")
    assert_rv(raw.call("C_VerifyFinal", rsession, bytes(32), 32), "CKR_SIGNATURE_INVALID")


def test_failed_verify_ends_operation(raw, rsession):
    k = raw.create_object(rsession, generic_key(b"k" * 32))
    assert_rv(_verify(raw, rsession, H256, k, b"m", bytes(32)), "CKR_SIGNATURE_INVALID")
    assert_rv(raw.verify(rsession, b"m", bytes(32)), "CKR_OPERATION_NOT_INITIALIZED")


def test_sign_length_query_and_short_buffer(raw, rsession):
    k = raw.create_object(rsession, generic_key(b"k" * 64))
    raw.op_init("Sign", rsession, H512, k)
    rv, _, n = raw.call_out("C_Sign", rsession, b"m", 1, capacity=None)
    assert_rv(rv, "CKR_OK")
    assert n == 64
    rv, _, n = raw.call_out("C_Sign", rsession, b"m", 1, capacity=32)
    assert_rv(rv, "CKR_BUFFER_TOO_SMALL")
    assert n == 64
    rv, out, _ = raw.call_out("C_Sign", rsession, b"m", 1, capacity=64)
    assert_rv(rv, "CKR_OK")
    assert len(out) == 64


@pytest.mark.parametrize("what, attr", [("Sign", "SIGN"), ("Verify", "VERIFY")])
def test_key_function_not_permitted(raw, rsession, what, attr):
    k = raw.create_object(rsession, generic_key(b"k" * 32, **{attr: False}))
    m = raw.mechanism(H256)
    assert_rv(raw.call(f"C_{what}Init", rsession, m.ptr, k), "CKR_KEY_FUNCTION_NOT_PERMITTED")


def test_key_type_inconsistent(raw, rsession):
    aes = raw.create_object(rsession, aes_key(CMAC_KEY))
    generic = raw.create_object(rsession, generic_key(b"k" * 16))
    m = raw.mechanism(H256)
    assert_rv(raw.call("C_SignInit", rsession, m.ptr, aes), "CKR_KEY_TYPE_INCONSISTENT")
    m = raw.mechanism(CMAC)
    assert_rv(raw.call("C_SignInit", rsession, m.ptr, generic), "CKR_KEY_TYPE_INCONSISTENT")


def test_sign_state_errors(raw, rsession):
    k = raw.create_object(rsession, generic_key(b"k" * 32))
    assert_rv(raw.call_out("C_Sign", rsession, b"m", 1, capacity=64)[0],
              "CKR_OPERATION_NOT_INITIALIZED")
    raw.op_init("Sign", rsession, H256, k)
    m = raw.mechanism(H256)
    assert_rv(raw.call("C_SignInit", rsession, m.ptr, k), "CKR_OPERATION_ACTIVE")


def test_sign_and_verify_with_python_pkcs11(session):
    key = session.generate_key(KeyType.GENERIC_SECRET, 256, store=False,
                               template={A.SIGN: True, A.VERIFY: True})
    sig = key.sign(b"data", mechanism=H256)
    assert len(sig) == 32
    assert key.verify(b"data", sig, mechanism=H256)
    assert not key.verify(b"data!", sig, mechanism=H256)


HMAC_GENERAL, CMAC_GENERAL = Mechanism.SHA256_HMAC_GENERAL, Mechanism.AES_CMAC_GENERAL


@pytest.mark.parametrize("mech", [HMAC_GENERAL, CMAC_GENERAL], ids=["hmac", "cmac"])
def test_general_mac_length_has_a_minimum(module, raw, rsession, mech):
    """README, "Mechanisms": a general-length MAC shorter than 8 bytes is refused
    (CKR_MECHANISM_PARAM_INVALID), for signing and verifying alike. A verification of a
    caller-chosen short length is a byte-at-a-time forgery oracle: 1-byte MACs give the
    first byte in 256 tries, then each further byte in 256 more."""
    if module.info.kind != "keystead":
        pytest.skip("the minimum general MAC length is keystead's choice (PKCS#11 lets a "
                    "token constrain it)")
    full_mech = H256 if mech == HMAC_GENERAL else CMAC
    k = raw.create_object(rsession, aes_key(CMAC_KEY) if mech == CMAC_GENERAL
                          else generic_key(b"k" * 32))
    full = _sign(raw, rsession, full_mech, k, b"message")
    size = raw.ffi.sizeof("CK_ULONG")
    for n in (1, 4, 7):
        m = raw.mechanism(mech, n.to_bytes(size, "little"))
        for what in ("Sign", "Verify"):
            assert_rv(raw.call(f"C_{what}Init", rsession, m.ptr, k),
                      "CKR_MECHANISM_PARAM_INVALID")
    for n in (8, len(full)):
        param = n.to_bytes(size, "little")
        raw.op_init("Sign", rsession, mech, k, param)
        assert raw.single("Sign", rsession, b"message") == full[:n]
        raw.op_init("Verify", rsession, mech, k, param)
        assert_rv(raw.verify(rsession, b"message", full[:n]), "CKR_OK")
