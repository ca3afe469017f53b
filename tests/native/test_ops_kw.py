"""CKM_AES_KEY_WRAP (RFC 3394) and CKM_AES_KEY_WRAP_KWP (RFC 5649) through token/ops.h as
C_Encrypt/C_Decrypt, and C_WrapKey/C_UnwrapKey (ks_wrap/ks_unwrap) with every wrapping
mechanism.

Known answers: tests/vectors/kw.txt and kwp.txt (RFC 3394 4.1-4.6, RFC 5649 6, CAVP and
ACVP samples, negative ones) through both paths, and KWP again under SoftHSMv2's number
0x210A with alias_softhsm. Cross-checks with `cryptography` for every allowed length up to
1024 and every key size. Errors: lengths, parameters (IV of 8 bytes for KW, 4 for KWP),
single-part only, integrity failures, the wrap-specific key codes, the 5.2 conventions.
"""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives import keywrap
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from keystead.core import lib

from tests.native.ops_support import (
    DECRYPT,
    ENCRYPT,
    KEY_SIZES,
    QUERY,
    Op,
    ctr_mech,
    gcm_mech,
    mechanism,
    rng,
    run_oneshot,
    unwrap,
    wrap,
)
from tests.vectors.loader import load

KW = lib.CKM_AES_KEY_WRAP
KWP = lib.CKM_AES_KEY_WRAP_KWP
PAD_ALIAS = lib.CKM_AES_KEY_WRAP_PAD  # 0x210A, SoftHSMv2's RFC 5649


def check_vector(vec, mtype: int, alias: int = 0) -> None:
    with vec:
        vec.text("Source")
        key = vec.hex("Key")
        ct = vec.hex("Ciphertext")
        result = vec.text("Result")
        pt = vec.hex("Plaintext") if result == "PASS" else None
    mech = mechanism(mtype)
    if pt is not None:
        assert run_oneshot(ENCRYPT, mech, key, pt) == (lib.CKR_OK, ct)
        assert run_oneshot(DECRYPT, mech, key, ct) == (lib.CKR_OK, pt)
        assert wrap(mech, key, pt, alias)[:2] == (lib.CKR_OK, ct)
        assert unwrap(mech, key, ct, alias)[:2] == (lib.CKR_OK, pt)
    else:
        assert run_oneshot(DECRYPT, mech, key, ct)[0] == lib.CKR_ENCRYPTED_DATA_INVALID
        assert unwrap(mech, key, ct, alias)[0] == lib.CKR_WRAPPED_KEY_INVALID


@pytest.mark.parametrize("vec", load("kw.txt"), ids=str)
def test_kw_vectors(vec):
    check_vector(vec, KW)


@pytest.mark.parametrize("vec", load("kwp.txt"), ids=str)
def test_kwp_vectors(vec):
    check_vector(vec, KWP)


@pytest.mark.parametrize("vec", load("kwp.txt"), ids=str)
def test_kwp_vectors_under_softhsm_alias(vec):
    check_vector(vec, PAD_ALIAS, alias=1)


def test_alias_needs_alias_softhsm_for_wrap():
    key, value = bytes(16), bytes(range(20))
    assert wrap(mechanism(PAD_ALIAS), key, value, alias=0)[0] == lib.CKR_MECHANISM_INVALID
    assert unwrap(mechanism(PAD_ALIAS), key, bytes(32), alias=0)[0] == lib.CKR_MECHANISM_INVALID
    assert wrap(mechanism(PAD_ALIAS), key, value, alias=1)[:2] == wrap(
        mechanism(KWP), key, value)[:2]


@pytest.mark.parametrize("key_len", KEY_SIZES)
def test_kw_against_cryptography(key_len):
    r = rng(f"kw-{key_len}")
    kek = r.randbytes(key_len)
    mech = mechanism(KW)
    for n in range(16, 1025, 8):
        value = r.randbytes(n)
        expect = keywrap.aes_key_wrap(kek, value)
        assert run_oneshot(ENCRYPT, mech, kek, value) == (lib.CKR_OK, expect), n
        assert run_oneshot(DECRYPT, mech, kek, expect) == (lib.CKR_OK, value), n


@pytest.mark.parametrize("key_len", KEY_SIZES)
def test_kwp_against_cryptography(key_len):
    r = rng(f"kwp-{key_len}")
    kek = r.randbytes(key_len)
    mech = mechanism(KWP)
    for n in range(1, 1025):
        value = r.randbytes(n)
        expect = keywrap.aes_key_wrap_with_padding(kek, value)
        assert run_oneshot(ENCRYPT, mech, kek, value) == (lib.CKR_OK, expect), n
        assert run_oneshot(DECRYPT, mech, kek, expect) == (lib.CKR_OK, value), n


def test_explicit_iv():
    kek, value = bytes(range(16)), bytes(range(32))
    # The RFC default given explicitly is the default.
    default_kw = run_oneshot(ENCRYPT, mechanism(KW), kek, value)
    assert run_oneshot(ENCRYPT, mechanism(KW, bytes.fromhex("a6a6a6a6a6a6a6a6")), kek, value) == (
        default_kw)
    default_kwp = run_oneshot(ENCRYPT, mechanism(KWP), kek, value[:7])
    assert run_oneshot(ENCRYPT, mechanism(KWP, bytes.fromhex("a65959a6")), kek, value[:7]) == (
        default_kwp)
    # Another IV round-trips, and only under itself.
    for mtype, iv, data in ((KW, b"12345678", value), (KWP, b"abcd", value[:7])):
        rv, wrapped = run_oneshot(ENCRYPT, mechanism(mtype, iv), kek, data)
        assert rv == lib.CKR_OK
        assert run_oneshot(DECRYPT, mechanism(mtype, iv), kek, wrapped) == (lib.CKR_OK, data)
        assert run_oneshot(DECRYPT, mechanism(mtype), kek, wrapped)[0] == (
            lib.CKR_ENCRYPTED_DATA_INVALID)


@pytest.mark.parametrize(
    "mtype,param",
    [(KW, bytes(4)), (KW, bytes(16)), (KW, bytes(7)), (KWP, bytes(8)), (KWP, bytes(3))],
)
def test_bad_iv_parameter(mtype, param):
    for direction in (ENCRYPT, DECRYPT):
        assert Op(direction, mechanism(mtype, param), bytes(16)).rv == (
            lib.CKR_MECHANISM_PARAM_INVALID)
    # A length with no pointer is malformed too.
    broken = mechanism(mtype, None, length=8 if mtype == KW else 4)
    assert Op(ENCRYPT, broken, bytes(16)).rv == lib.CKR_MECHANISM_PARAM_INVALID


@pytest.mark.parametrize("mtype", [KW, KWP])
def test_single_part_only(mtype):
    with Op(ENCRYPT, mechanism(mtype), bytes(16)) as op:
        assert op.update(bytes(16))[0] == lib.CKR_FUNCTION_NOT_SUPPORTED
        assert op.final()[0] == lib.CKR_FUNCTION_NOT_SUPPORTED
    with Op(DECRYPT, mechanism(mtype), bytes(16)) as op:
        assert op.update(bytes(24))[0] == lib.CKR_FUNCTION_NOT_SUPPORTED


def test_length_errors():
    kek = bytes(16)
    for n in (0, 8, 15, 17, 23):
        assert run_oneshot(ENCRYPT, mechanism(KW), kek, bytes(n))[0] == lib.CKR_DATA_LEN_RANGE
    for n in (0, 8, 16, 23, 25):
        assert run_oneshot(DECRYPT, mechanism(KW), kek, bytes(n))[0] == (
            lib.CKR_ENCRYPTED_DATA_LEN_RANGE)
    assert run_oneshot(ENCRYPT, mechanism(KWP), kek, b"")[0] == lib.CKR_DATA_LEN_RANGE
    for n in (0, 8, 15, 17, 20):
        assert run_oneshot(DECRYPT, mechanism(KWP), kek, bytes(n))[0] == (
            lib.CKR_ENCRYPTED_DATA_LEN_RANGE)


def test_length_query_and_short_buffer():
    kek, value = bytes(range(24)), bytes(range(20))
    wrapped = keywrap.aes_key_wrap_with_padding(kek, value)
    with Op(ENCRYPT, mechanism(KWP), kek) as op:
        assert op.oneshot(value, QUERY)[::2] == (lib.CKR_OK, len(wrapped))
        assert op.oneshot(value, len(wrapped) - 1)[::2] == (lib.CKR_BUFFER_TOO_SMALL, 32)
        assert op.oneshot(value, len(wrapped)) == (lib.CKR_OK, wrapped, 32)
    with Op(DECRYPT, mechanism(KWP), kek) as op:
        # The bound is input - 8; the exact length comes back with the plaintext.
        assert op.oneshot(wrapped, QUERY)[::2] == (lib.CKR_OK, 24)
        assert op.oneshot(wrapped, 20)[::2] == (lib.CKR_BUFFER_TOO_SMALL, 24)
        assert op.oneshot(wrapped, 24) == (lib.CKR_OK, value, 20)


def test_wrap_zero_pads_for_whole_block_mechanisms():
    """ECB, CBC and KW pad the key value with zero bytes (mechanisms 3.0, wrap paragraphs)."""
    r = rng("zeropad")
    kek, iv = r.randbytes(16), r.randbytes(16)
    value = r.randbytes(20)
    padded16 = value + bytes(12)
    ecb = Cipher(algorithms.AES(kek), modes.ECB()).encryptor()
    cbc = Cipher(algorithms.AES(kek), modes.CBC(iv)).encryptor()
    cases = [
        (mechanism(lib.CKM_AES_ECB), ecb.update(padded16) + ecb.finalize(), padded16),
        (mechanism(lib.CKM_AES_CBC, iv), cbc.update(padded16) + cbc.finalize(), padded16),
        (mechanism(KW), keywrap.aes_key_wrap(kek, value + bytes(4)), value + bytes(4)),
    ]
    for mech, expect, unwrapped in cases:
        assert wrap(mech, kek, value)[:2] == (lib.CKR_OK, expect)
        rv, _, need = wrap(mech, kek, value, room=QUERY)
        assert (rv, need) == (lib.CKR_OK, len(expect))
        rv, _, need = wrap(mech, kek, value, room=len(expect) - 1)
        assert (rv, need) == (lib.CKR_BUFFER_TOO_SMALL, len(expect))
        assert unwrap(mech, kek, expect)[:2] == (lib.CKR_OK, unwrapped)
    # Too short for KW even after padding: two semiblocks at least.
    assert wrap(mechanism(KW), kek, bytes(8))[0] == lib.CKR_KEY_SIZE_RANGE
    assert wrap(mechanism(KW), kek, bytes(5))[0] == lib.CKR_KEY_SIZE_RANGE
    assert wrap(mechanism(lib.CKM_AES_ECB), kek, b"")[0] == lib.CKR_KEY_SIZE_RANGE


def test_wrap_with_cbc_pad_ctr_and_gcm():
    r = rng("wrapmodes")
    kek, iv, value = r.randbytes(32), r.randbytes(16), r.randbytes(33)
    pad = bytes([15]) * 15
    cbc = Cipher(algorithms.AES(kek), modes.CBC(iv)).encryptor()
    ctr = Cipher(algorithms.AES(kek), modes.CTR(iv)).encryptor()
    gcm_iv = iv[:12]
    cases = [
        (mechanism(lib.CKM_AES_CBC_PAD, iv), cbc.update(value + pad) + cbc.finalize()),
        (ctr_mech(iv), ctr.update(value) + ctr.finalize()),
        (gcm_mech(gcm_iv, b"label"), AESGCM(kek).encrypt(gcm_iv, value, b"label")),
    ]
    for mech, expect in cases:
        assert wrap(mech, kek, value)[:2] == (lib.CKR_OK, expect)
        assert unwrap(mech, kek, expect)[:2] == (lib.CKR_OK, value)
        rv, _, need = unwrap(mech, kek, expect, room=QUERY)
        assert rv == lib.CKR_OK
        assert need >= len(value)


def test_unwrap_failures():
    kek = bytes(range(16))
    value = bytes(range(32))
    gcm = gcm_mech(bytes(12))
    wrapped = wrap(gcm, kek, value)[1]
    assert unwrap(gcm, kek, wrapped[:-1] + bytes([wrapped[-1] ^ 1]))[0] == (
        lib.CKR_WRAPPED_KEY_INVALID)
    assert unwrap(gcm, kek, wrapped[:10])[0] == lib.CKR_WRAPPED_KEY_LEN_RANGE
    cbc_pad = mechanism(lib.CKM_AES_CBC_PAD, bytes(16))
    ecb = Cipher(algorithms.AES(kek), modes.CBC(bytes(16))).encryptor()
    bad_pad = ecb.update(bytes(32)) + ecb.finalize()
    assert unwrap(cbc_pad, kek, bad_pad)[0] == lib.CKR_WRAPPED_KEY_INVALID
    assert unwrap(cbc_pad, kek, bytes(20))[0] == lib.CKR_WRAPPED_KEY_LEN_RANGE
    assert unwrap(mechanism(KW), kek, bytes(20))[0] == lib.CKR_WRAPPED_KEY_LEN_RANGE
    assert unwrap(mechanism(KW), kek, bytes(24))[0] == lib.CKR_WRAPPED_KEY_INVALID
    assert unwrap(mechanism(KWP), kek, bytes(24))[0] == lib.CKR_WRAPPED_KEY_INVALID
    wrapped = wrap(mechanism(KWP), kek, value[:9])[1]
    rv, _, need = unwrap(mechanism(KWP), kek, wrapped, room=len(wrapped) - 9)
    assert (rv, need) == (lib.CKR_BUFFER_TOO_SMALL, len(wrapped) - 8)


def test_wrapping_key_checks():
    value = bytes(16)
    for mtype in (KW, KWP, lib.CKM_AES_ECB):
        mech = mechanism(mtype)
        assert wrap(mech, bytes(16), value, kek_type=lib.CKK_GENERIC_SECRET)[0] == (
            lib.CKR_WRAPPING_KEY_TYPE_INCONSISTENT)
        assert wrap(mech, bytes(20), value)[0] == lib.CKR_WRAPPING_KEY_SIZE_RANGE
        assert unwrap(mech, bytes(16), bytes(32), kek_type=lib.CKK_GENERIC_SECRET)[0] == (
            lib.CKR_UNWRAPPING_KEY_TYPE_INCONSISTENT)
        assert unwrap(mech, bytes(20), bytes(32))[0] == lib.CKR_UNWRAPPING_KEY_SIZE_RANGE
    for mtype in (lib.CKM_AES_CMAC, lib.CKM_SHA256, lib.CKM_SHA256_HMAC, 0x80000001):
        assert wrap(mechanism(mtype), bytes(16), value)[0] == lib.CKR_MECHANISM_INVALID
        assert unwrap(mechanism(mtype), bytes(16), bytes(32))[0] == lib.CKR_MECHANISM_INVALID
    assert wrap(mechanism(KW, bytes(3)), bytes(16), value)[0] == lib.CKR_MECHANISM_PARAM_INVALID
