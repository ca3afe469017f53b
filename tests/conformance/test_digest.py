"""PKCS#11 3.0 base specification 5.10: message digesting, with FIPS 180-4 known answers."""

from __future__ import annotations

import hashlib

import pytest
from keystead.softhsm_bridge.ck import Mechanism

from .support import assert_rv, generic_key

HASHES = {Mechanism.SHA256: "sha256", Mechanism.SHA384: "sha384", Mechanism.SHA512: "sha512"}
ABC = {  # FIPS 180-4 examples, message "abc"
    Mechanism.SHA256: "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
    Mechanism.SHA384: "cb00753f45a35e8bb5a03d699ac65007272c32ab0eded1631a8b605a43ff5bed"
                      "8086072ba1e7cc2358baeca134c825a7",
    Mechanism.SHA512: "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a"
                      "2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f",
}
IDS = ["sha256", "sha384", "sha512"]


def _digest(raw, h, mech, data):
    raw.op_init("Digest", h, mech, 0)
    return raw.single("Digest", h, data)


@pytest.mark.requires(Mechanism.SHA256, Mechanism.SHA384, Mechanism.SHA512)
@pytest.mark.parametrize("mech", list(ABC), ids=IDS)
def test_digest_abc(raw, rsession, mech):
    assert _digest(raw, rsession, mech, b"abc").hex() == ABC[mech]


@pytest.mark.parametrize("mech", list(ABC), ids=IDS)
def test_digest_empty(raw, rsession, mech):
    assert _digest(raw, rsession, mech, b"") == hashlib.new(HASHES[mech], b"").digest()


def test_digest_million_a_multi_part(raw, rsession):
    raw.op_init("Digest", rsession, Mechanism.SHA256, 0)
    chunk = b"a" * 10_000
    for _ in range(100):
        raw.update("Digest", rsession, chunk)
    assert raw.final("Digest", rsession).hex() == (
        "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0")


@pytest.mark.parametrize("mech", list(ABC), ids=IDS)
def test_multi_part_equals_single(raw, rsession, mech):
    data = bytes(range(256)) * 3
    for split in (0, 1, 63, 64, 127, 128, 500):
        raw.op_init("Digest", rsession, mech, 0)
        raw.update("Digest", rsession, data[:split])
        raw.update("Digest", rsession, data[split:])
        assert raw.final("Digest", rsession) == hashlib.new(HASHES[mech], data).digest(), split


def test_digest_length_query_and_short_buffer(raw, rsession):
    raw.op_init("Digest", rsession, Mechanism.SHA384, 0)
    rv, _, n = raw.call_out("C_Digest", rsession, b"abc", 3, capacity=None)
    assert_rv(rv, "CKR_OK")
    assert n == 48
    rv, _, n = raw.call_out("C_Digest", rsession, b"abc", 3, capacity=10)
    assert_rv(rv, "CKR_BUFFER_TOO_SMALL")
    assert n == 48
    rv, out, _ = raw.call_out("C_Digest", rsession, b"abc", 3, capacity=48)
    assert_rv(rv, "CKR_OK")
    assert out.hex() == ABC[Mechanism.SHA384]


def test_digest_init_twice(raw, rsession):
    raw.op_init("Digest", rsession, Mechanism.SHA256, 0)
    m = raw.mechanism(Mechanism.SHA256)
    assert_rv(raw.call("C_DigestInit", rsession, m.ptr), "CKR_OPERATION_ACTIVE")


def test_digest_not_initialized(raw, rsession):
    assert_rv(raw.call("C_DigestUpdate", rsession, b"x", 1), "CKR_OPERATION_NOT_INITIALIZED")
    assert_rv(raw.call_out("C_DigestFinal", rsession, capacity=64)[0],
              "CKR_OPERATION_NOT_INITIALIZED")
    assert_rv(raw.call_out("C_Digest", rsession, b"x", 1, capacity=64)[0],
              "CKR_OPERATION_NOT_INITIALIZED")


def test_digest_final_ends_operation(raw, rsession):
    raw.op_init("Digest", rsession, Mechanism.SHA256, 0)
    raw.update("Digest", rsession, b"abc")
    raw.final("Digest", rsession)
    assert_rv(raw.call("C_DigestUpdate", rsession, b"x", 1), "CKR_OPERATION_NOT_INITIALIZED")


def test_digest_wrong_mechanism(raw, rsession):
    m = raw.mechanism(Mechanism.AES_ECB)
    assert_rv(raw.call("C_DigestInit", rsession, m.ptr), "CKR_MECHANISM_INVALID")


def test_digest_key(raw, rsession):
    value = bytes(range(32))
    k = raw.create_object(rsession, generic_key(value, SENSITIVE=False))
    raw.op_init("Digest", rsession, Mechanism.SHA256, 0)
    raw.update("Digest", rsession, b"prefix")
    assert_rv(raw.call("C_DigestKey", rsession, k), "CKR_OK")
    assert raw.final("Digest", rsession) == hashlib.sha256(b"prefix" + value).digest()


def test_digest_key_invalid_handle(raw, rsession):
    raw.op_init("Digest", rsession, Mechanism.SHA256, 0)
    assert_rv(raw.call("C_DigestKey", rsession, 0x7FFF_FF05), "CKR_KEY_HANDLE_INVALID")


def test_digest_without_login(raw, public_session):
    assert _digest(raw, public_session, Mechanism.SHA256, b"abc").hex() == ABC[Mechanism.SHA256]


def test_digest_with_python_pkcs11(session):
    assert session.digest(b"abc", mechanism=Mechanism.SHA512).hex() == ABC[Mechanism.SHA512]



def test_digest_with_unexpected_parameter(module, raw, rsession, xfail_quirk):
    xfail_quirk(module, "digest-param-ignored")
    m = raw.mechanism(Mechanism.SHA256, b"\x00" * 8)
    assert_rv(raw.call("C_DigestInit", rsession, m.ptr), "CKR_MECHANISM_PARAM_INVALID")
