"""PKCS#11 3.0 base specification 5.8-5.9 (encryption, decryption) with AES known answers
(FIPS 197 appendix C, SP 800-38A appendix F, the GCM specification's test cases) and the
operation-state rules of 5.2 (length queries, CKR_BUFFER_TOO_SMALL, errors end operations).
"""

from __future__ import annotations

import os

import pytest
from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from keystead.softhsm_bridge.ck import Attribute as A
from keystead.softhsm_bridge.ck import KeyType, Mechanism
from keystead.softhsm_bridge.session import open_session

from .support import aes_key, assert_rv, generic_key

ECB, CBC, CBC_PAD, CTR, GCM = (Mechanism.AES_ECB, Mechanism.AES_CBC, Mechanism.AES_CBC_PAD,
                               Mechanism.AES_CTR, Mechanism.AES_GCM)
INVALID_OBJECT = 0x7FFF_FF04

FIPS197 = [  # appendix C.1-C.3
    ("000102030405060708090a0b0c0d0e0f", "69c4e0d86a7b0430d8cdb78070b4c55a"),
    ("000102030405060708090a0b0c0d0e0f1011121314151617", "dda97ca4864cdfe06eaf70a0ec0d7191"),
    ("000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f",
     "8ea2b7ca516745bfeafc49904b496089"),
]
FIPS197_PT = bytes.fromhex("00112233445566778899aabbccddeeff")

K38A = bytes.fromhex("2b7e151628aed2a6abf7158809cf4f3c")
P38A = bytes.fromhex("6bc1bee22e409f96e93d7e117393172aae2d8a571e03ac9c9eb76fac45af8e51"
                     "30c81c46a35ce411e5fbc1191a0a52eff69f2445df4f9b17ad2b417be66c3710")
CBC_IV = bytes(range(16))
CBC_CT = bytes.fromhex("7649abac8119b246cee98e9b12e9197d5086cb9b507219ee95db113a917678b2"
                       "73bed6b8e3c1743b7116e69e222295163ff1caa1681fac09120eca307586e1a7")
CTR_CB = bytes.fromhex("f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff")
CTR_CT = bytes.fromhex("874d6191b620e3261bef6864990db6ce9806f66b7970fdff8617187bb9fffdff"
                       "5ae4df3edbd5d35e5b4f09020db03eab1e031dda2fbe03d1792170a0f3009cee")

GCM_K = bytes.fromhex("feffe9928665731c6d6a8f9467308308")
GCM_P = bytes.fromhex("d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72"
                      "1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39")
GCM_A = bytes.fromhex("feedfacedeadbeeffeedfacedeadbeefabaddad2")
GCM_VECTORS = {  # name: (key, iv, aad, plaintext, ciphertext || tag)
    "tc1-empty": (bytes(16), bytes(12), b"", b"",
                  bytes.fromhex("58e2fccefa7e3061367f1d57a4e7455a")),
    "tc2-zero": (bytes(16), bytes(12), b"", bytes(16),
                 bytes.fromhex("0388dace60b6a392f328c2b971b2fe78ab6e47d42cec13bdf53a67b21257bddf")),
    "tc4-aad": (GCM_K, bytes.fromhex("cafebabefacedbaddecaf888"), GCM_A, GCM_P, bytes.fromhex(
        "42831ec2217774244b7221b784d0d49ce3aa212f2c02a4e035c17e2329aca12e21d514b25466931c"
        "7d8f6a5aac84aa051ba30b396a0aac973d58e0915bc94fbc3221a5db94fae95ae7121a47")),
    "tc6-60-byte-iv": (GCM_K, bytes.fromhex(
        "9313225df88406e555909c5aff5269aa6a7a9538534f7da1e4c303d2a318a728c3c0c95156809539"
        "fcf0e2429a6b525416aedbf5a0de6a57a637b39b"), GCM_A, GCM_P, bytes.fromhex(
        "8ce24998625615b603a033aca13fb894be9112a5c3a211a8ba262a3cca7e2ca701e4a9a4fba43c90"
        "ccdcb281d48c7c6fd62875d2aca417034c34aee5619cc5aefffe0bfa462af43c1699d050")),
}


def _init_rv(raw, h, what, mech, key, param=None):
    m = raw.mechanism(mech, param)
    return raw.call(f"C_{what}Init", h, m.ptr, key)


def _key(raw, h, value=K38A, **extra):
    return raw.create_object(h, aes_key(value, **extra))


# -- known answers ----------------------------------------------------------------------------

@pytest.mark.parametrize("key_hex, ct_hex", FIPS197, ids=["aes128", "aes192", "aes256"])
def test_ecb_fips197(raw, rsession, key_hex, ct_hex):
    k = _key(raw, rsession, bytes.fromhex(key_hex))
    assert raw.encrypt(rsession, ECB, k, FIPS197_PT).hex() == ct_hex
    assert raw.decrypt(rsession, ECB, k, bytes.fromhex(ct_hex)) == FIPS197_PT


def test_cbc_sp800_38a(raw, rsession):
    k = _key(raw, rsession)
    assert raw.encrypt(rsession, CBC, k, P38A, CBC_IV) == CBC_CT
    assert raw.decrypt(rsession, CBC, k, CBC_CT, CBC_IV) == P38A


def test_cbc_pad_adds_a_full_block(raw, rsession):
    k = _key(raw, rsession)
    ct = raw.encrypt(rsession, CBC_PAD, k, P38A, CBC_IV)
    assert len(ct) == 80 and ct[:64] == CBC_CT  # PKCS#7 pads a whole block when aligned
    assert raw.decrypt(rsession, CBC_PAD, k, ct, CBC_IV) == P38A


@pytest.mark.requires(Mechanism.AES_CTR)
def test_ctr_sp800_38a(raw, rsession):
    k = _key(raw, rsession)
    assert raw.encrypt(rsession, CTR, k, P38A, raw.ctr(CTR_CB)) == CTR_CT
    assert raw.decrypt(rsession, CTR, k, CTR_CT, raw.ctr(CTR_CB)) == P38A


@pytest.mark.requires(Mechanism.AES_GCM)
@pytest.mark.parametrize("name", list(GCM_VECTORS))
def test_gcm_known_answer(raw, rsession, name):
    key, iv, aad, pt, ct = GCM_VECTORS[name]
    k = _key(raw, rsession, key)
    assert raw.encrypt(rsession, GCM, k, pt, raw.gcm(iv, aad)) == ct
    assert raw.decrypt(rsession, GCM, k, ct, raw.gcm(iv, aad)) == pt


@pytest.mark.parametrize("what", ["Encrypt", "Decrypt"])
def test_gcm_multi_part(raw, rsession, what):
    key, iv, aad, pt, ct = GCM_VECTORS["tc4-aad"]
    k = _key(raw, rsession, key)
    data = pt if what == "Encrypt" else ct
    raw.op_init(what, rsession, GCM, k, raw.gcm(iv, aad))
    out = b"".join(raw.update(what, rsession, data[i:i + 7]) for i in range(0, len(data), 7))
    out += raw.final(what, rsession)
    assert out == (ct if what == "Encrypt" else pt)


@pytest.mark.requires(Mechanism.AES_GCM)
def test_gcm_short_tags(raw, rsession):
    key, iv, aad, pt, _ = GCM_VECTORS["tc4-aad"]
    k = _key(raw, rsession, key)
    for tag_bits in (32, 64, 96, 104, 112, 120, 128):
        ct = raw.encrypt(rsession, GCM, k, pt, raw.gcm(iv, aad, tag_bits))
        assert len(ct) == len(pt) + tag_bits // 8
        # a shorter tag is a prefix of the full one (SP 800-38D 7.1 step 6, MSB_t)
        assert ct == GCM_VECTORS["tc4-aad"][4][:len(ct)]
        assert raw.decrypt(rsession, GCM, k, ct, raw.gcm(iv, aad, tag_bits)) == pt


@pytest.mark.parametrize("mech", [CBC_PAD, CTR, GCM], ids=["cbc_pad", "ctr", "gcm"])
def test_cross_check_with_cryptography(raw, rsession, mech):
    key = os.urandom(32)
    k = _key(raw, rsession, key)
    for n in (0, 1, 15, 16, 17, 31, 33, 64, 100, 257):
        data, iv = os.urandom(n), os.urandom(16)
        if mech == CBC_PAD:
            p = padding.PKCS7(128).padder()
            e = Cipher(algorithms.AES(key), modes.CBC(iv)).encryptor()
            want = e.update(p.update(data) + p.finalize()) + e.finalize()
            param = iv
        elif mech == CTR:
            e = Cipher(algorithms.AES(key), modes.CTR(iv)).encryptor()
            want = e.update(data) + e.finalize()
            param = raw.ctr(iv)
        else:
            e = Cipher(algorithms.AES(key), modes.GCM(iv[:12])).encryptor()
            e.authenticate_additional_data(b"aad")
            want = e.update(data) + e.finalize() + e.tag
            param = raw.gcm(iv[:12], b"aad")
        assert raw.encrypt(rsession, mech, k, data, param) == want, n


@pytest.mark.parametrize("mech", [CBC_PAD, CTR], ids=["cbc_pad", "ctr"])
def test_multi_part_equals_single_part(raw, rsession, mech):
    k = _key(raw, rsession)
    data = os.urandom(100)

    def param():
        return CBC_IV if mech == CBC_PAD else raw.ctr(CTR_CB)

    single = raw.encrypt(rsession, mech, k, data, param())
    for split in (1, 15, 16, 17, 50, 99):
        raw.op_init("Encrypt", rsession, mech, k, param())
        out = raw.update("Encrypt", rsession, data[:split])
        out += raw.update("Encrypt", rsession, data[split:])
        out += raw.final("Encrypt", rsession)
        assert out == single, split
        raw.op_init("Decrypt", rsession, mech, k, param())
        back = raw.update("Decrypt", rsession, single[:split])
        back += raw.update("Decrypt", rsession, single[split:])
        back += raw.final("Decrypt", rsession)
        assert back == data, split


def test_python_pkcs11_and_raw_agree(module, raw, rsession):
    s = open_session(module.token)
    key = s.generate_key(KeyType.AES, 128, store=False,
                         template={A.EXTRACTABLE: True, A.SENSITIVE: False})
    ct = key.encrypt(b"python-pkcs11 data", mechanism=CBC_PAD, mechanism_param=CBC_IV)
    k = _key(raw, rsession, key[A.VALUE])
    assert raw.decrypt(rsession, CBC_PAD, k, ct, CBC_IV) == b"python-pkcs11 data"


# -- operation state (5.2) ----------------------------------------------------------------------

def test_length_query_keeps_operation(raw, rsession):
    k = _key(raw, rsession)
    raw.op_init("Encrypt", rsession, CBC, k, CBC_IV)
    rv, _, n = raw.call_out("C_Encrypt", rsession, P38A, len(P38A), capacity=None)
    assert_rv(rv, "CKR_OK")
    assert n == len(P38A)
    rv, out, _ = raw.call_out("C_Encrypt", rsession, P38A, len(P38A), capacity=n)
    assert_rv(rv, "CKR_OK")
    assert out == CBC_CT


def test_buffer_too_small_keeps_operation(raw, rsession):
    k = _key(raw, rsession)
    raw.op_init("Encrypt", rsession, CBC, k, CBC_IV)
    rv, _, n = raw.call_out("C_Encrypt", rsession, P38A, len(P38A), capacity=16)
    assert_rv(rv, "CKR_BUFFER_TOO_SMALL")
    assert n == len(P38A)
    rv, out, _ = raw.call_out("C_Encrypt", rsession, P38A, len(P38A), capacity=n)
    assert_rv(rv, "CKR_OK")
    assert out == CBC_CT


def test_buffer_too_small_on_decrypt_final(raw, rsession):
    k = _key(raw, rsession)
    ct = raw.encrypt(rsession, CBC_PAD, k, b"x" * 20, CBC_IV)
    raw.op_init("Decrypt", rsession, CBC_PAD, k, CBC_IV)
    first = raw.update("Decrypt", rsession, ct)
    rv, _, n = raw.call_out("C_DecryptFinal", rsession, capacity=0)
    if n > 0:  # some output was held back for the final call
        assert_rv(rv, "CKR_BUFFER_TOO_SMALL")
        rv, last, _ = raw.call_out("C_DecryptFinal", rsession, capacity=n)
    else:
        last = b""
    assert_rv(rv, "CKR_OK")
    assert first + last == b"x" * 20


def test_error_terminates_operation(raw, rsession):
    k = _key(raw, rsession)
    raw.op_init("Encrypt", rsession, ECB, k)
    rv, _, _ = raw.call_out("C_Encrypt", rsession, b"x" * 15, 15, capacity=64)
    assert_rv(rv, "CKR_DATA_LEN_RANGE")
    rv, _, _ = raw.call_out("C_Encrypt", rsession, b"x" * 16, 16, capacity=64)
    assert_rv(rv, "CKR_OPERATION_NOT_INITIALIZED")


def test_final_terminates_operation(raw, rsession):
    k = _key(raw, rsession)
    raw.op_init("Encrypt", rsession, CBC_PAD, k, CBC_IV)
    raw.update("Encrypt", rsession, b"abc")
    raw.final("Encrypt", rsession)
    rv, _, _ = raw.call_out("C_EncryptUpdate", rsession, b"abc", 3, capacity=64)
    assert_rv(rv, "CKR_OPERATION_NOT_INITIALIZED")


@pytest.mark.parametrize("what", ["Encrypt", "Decrypt"])
def test_init_twice_is_operation_active(raw, rsession, what):
    k = _key(raw, rsession)
    raw.op_init(what, rsession, CBC, k, CBC_IV)
    assert_rv(_init_rv(raw, rsession, what, CBC, k, CBC_IV), "CKR_OPERATION_ACTIVE")


@pytest.mark.parametrize("function", ["C_Encrypt", "C_EncryptUpdate", "C_Decrypt",
                                      "C_DecryptUpdate"])
def test_not_initialized(raw, rsession, function):
    rv, _, _ = raw.call_out(function, rsession, bytes(16), 16, capacity=64)
    assert_rv(rv, "CKR_OPERATION_NOT_INITIALIZED")


@pytest.mark.parametrize("function", ["C_EncryptFinal", "C_DecryptFinal"])
def test_final_not_initialized(raw, rsession, function):
    rv, _, _ = raw.call_out(function, rsession, capacity=64)
    assert_rv(rv, "CKR_OPERATION_NOT_INITIALIZED")


# -- refusals at init -----------------------------------------------------------------------------

def test_key_type_inconsistent(raw, rsession):
    k = raw.create_object(rsession, generic_key(bytes(16), ENCRYPT=True, DECRYPT=True))
    assert_rv(_init_rv(raw, rsession, "Encrypt", CBC, k, CBC_IV), "CKR_KEY_TYPE_INCONSISTENT")


@pytest.mark.parametrize("what, attr", [("Encrypt", "ENCRYPT"), ("Decrypt", "DECRYPT")])
def test_key_function_not_permitted(raw, rsession, what, attr):
    k = _key(raw, rsession, **{attr: False})
    assert_rv(_init_rv(raw, rsession, what, CBC, k, CBC_IV), "CKR_KEY_FUNCTION_NOT_PERMITTED")


def test_mechanism_invalid(raw, rsession):
    k = _key(raw, rsession)
    assert_rv(_init_rv(raw, rsession, "Encrypt", 0x7FFF_0003, k), "CKR_MECHANISM_INVALID")
    # a digest mechanism is not an encryption mechanism
    assert_rv(_init_rv(raw, rsession, "Encrypt", Mechanism.SHA256, k), "CKR_MECHANISM_INVALID")


def test_key_handle_invalid(module, raw, rsession, xfail_quirk):
    xfail_quirk(module, "key-handle-object-handle-invalid")
    assert_rv(_init_rv(raw, rsession, "Encrypt", CBC, INVALID_OBJECT, CBC_IV),
              "CKR_KEY_HANDLE_INVALID")


def test_null_mechanism_is_bad(raw, rsession):
    k = _key(raw, rsession)
    assert_rv(raw.call("C_EncryptInit", rsession, raw.ffi.NULL, k), "CKR_ARGUMENTS_BAD")


@pytest.mark.parametrize("param", [bytes(8), bytes(17), None], ids=["iv8", "iv17", "no-iv"])
def test_cbc_bad_iv(module, raw, rsession, param, xfail_quirk):
    xfail_quirk(module, "bad-mechanism-param-code")
    k = _key(raw, rsession)
    assert_rv(_init_rv(raw, rsession, "Encrypt", CBC, k, param), "CKR_MECHANISM_PARAM_INVALID")


def test_gcm_bad_tag_bits(module, raw, rsession, xfail_quirk):
    xfail_quirk(module, "bad-mechanism-param-code")
    k = _key(raw, rsession)
    assert_rv(_init_rv(raw, rsession, "Encrypt", GCM, k, raw.gcm(bytes(12), b"", 136)),
              "CKR_MECHANISM_PARAM_INVALID")


def test_gcm_empty_iv(module, raw, rsession, xfail_quirk):
    xfail_quirk(module, "gcm-empty-iv-accepted")
    k = _key(raw, rsession)
    assert_rv(_init_rv(raw, rsession, "Encrypt", GCM, k, raw.gcm(b"", b"", 128)),
              "CKR_MECHANISM_PARAM_INVALID")


@pytest.mark.parametrize("bits", [0, 129])
def test_ctr_bad_counter_bits(raw, rsession, bits):
    k = _key(raw, rsession)
    assert_rv(_init_rv(raw, rsession, "Encrypt", CTR, k, raw.ctr(CTR_CB, bits)),
              "CKR_MECHANISM_PARAM_INVALID")


# -- refusals of data ----------------------------------------------------------------------

def test_ecb_data_len_range(raw, rsession):
    k = _key(raw, rsession)
    raw.op_init("Encrypt", rsession, ECB, k)
    assert_rv(raw.call_out("C_Encrypt", rsession, bytes(17), 17, capacity=64)[0],
              "CKR_DATA_LEN_RANGE")


def test_cbc_encrypted_data_len_range(raw, rsession):
    k = _key(raw, rsession)
    raw.op_init("Decrypt", rsession, CBC, k, CBC_IV)
    assert_rv(raw.call_out("C_Decrypt", rsession, bytes(20), 20, capacity=64)[0],
              "CKR_ENCRYPTED_DATA_LEN_RANGE")


def test_cbc_pad_bad_padding(module, raw, rsession, xfail_quirk):
    xfail_quirk(module, "bad-padding-general-error")
    k = _key(raw, rsession)
    ct = raw.encrypt(rsession, CBC, k, bytes(32), CBC_IV)  # last byte decrypts to 0x00
    raw.op_init("Decrypt", rsession, CBC_PAD, k, CBC_IV)
    assert_rv(raw.call_out("C_Decrypt", rsession, ct, len(ct), capacity=64)[0],
              "CKR_ENCRYPTED_DATA_INVALID")


def test_gcm_bad_tag(module, raw, rsession, xfail_quirk):
    xfail_quirk(module, "gcm-bad-tag-general-error")
    key, iv, aad, _, ct = GCM_VECTORS["tc4-aad"]
    k = _key(raw, rsession, key)
    bad = ct[:-1] + bytes([ct[-1] ^ 1])
    raw.op_init("Decrypt", rsession, GCM, k, raw.gcm(iv, aad))
    rv, out, _ = raw.call_out("C_Decrypt", rsession, bad, len(bad), capacity=len(bad))
    assert_rv(rv, "CKR_ENCRYPTED_DATA_INVALID")
    assert out == b""


def test_gcm_bad_aad(module, raw, rsession, xfail_quirk):
    xfail_quirk(module, "gcm-bad-tag-general-error")
    key, iv, aad, _, ct = GCM_VECTORS["tc4-aad"]
    k = _key(raw, rsession, key)
    raw.op_init("Decrypt", rsession, GCM, k, raw.gcm(iv, aad + b"!"))
    rv, _, _ = raw.call_out("C_Decrypt", rsession, ct, len(ct), capacity=len(ct))
    assert_rv(rv, "CKR_ENCRYPTED_DATA_INVALID")


def test_gcm_ciphertext_shorter_than_tag(module, raw, rsession, xfail_quirk):
    xfail_quirk(module, "gcm-bad-tag-general-error")
    k = _key(raw, rsession, GCM_K)
    raw.op_init("Decrypt", rsession, GCM, k, raw.gcm(bytes(12)))
    rv, _, _ = raw.call_out("C_Decrypt", rsession, bytes(8), 8, capacity=64)
    assert rv in (0x40, 0x41), rv  # ENCRYPTED_DATA_INVALID or ENCRYPTED_DATA_LEN_RANGE


@pytest.mark.requires(Mechanism.AES_GCM)
def test_gcm_iv_lengths(raw, rsession):
    key = os.urandom(16)
    k = _key(raw, rsession, key)
    for n in (8, 12, 13, 16, 60, 128):
        iv, data = os.urandom(n), os.urandom(40)
        e = Cipher(algorithms.AES(key), modes.GCM(iv)).encryptor()
        e.authenticate_additional_data(b"A")
        want = e.update(data) + e.finalize() + e.tag
        assert raw.encrypt(rsession, GCM, k, data, raw.gcm(iv, b"A")) == want, n


def test_gcm_aad_only(raw, rsession):
    key, aad = os.urandom(32), os.urandom(1000)
    k = _key(raw, rsession, key)
    e = Cipher(algorithms.AES(key), modes.GCM(bytes(12))).encryptor()
    e.authenticate_additional_data(aad)
    e.finalize()
    assert raw.encrypt(rsession, GCM, k, b"", raw.gcm(bytes(12), aad)) == e.tag


def test_gcm_multi_part_bad_tag(module, raw, rsession, xfail_quirk):
    xfail_quirk(module, "gcm-bad-tag-general-error")
    key, iv, aad, _, ct = GCM_VECTORS["tc4-aad"]
    k = _key(raw, rsession, key)
    bad = ct[:-1] + bytes([ct[-1] ^ 0x80])
    raw.op_init("Decrypt", rsession, GCM, k, raw.gcm(iv, aad))
    out = raw.update("Decrypt", rsession, bad[:30])
    out += raw.update("Decrypt", rsession, bad[30:])
    rv, last, _ = raw.call_out("C_DecryptFinal", rsession, capacity=len(bad))
    assert_rv(rv, "CKR_ENCRYPTED_DATA_INVALID")
    assert out + last == b""  # no plaintext is released before the tag is checked


def test_decrypt_length_query(raw, rsession):
    k = _key(raw, rsession)
    ct = raw.encrypt(rsession, CBC_PAD, k, b"x" * 20, CBC_IV)
    raw.op_init("Decrypt", rsession, CBC_PAD, k, CBC_IV)
    rv, _, n = raw.call_out("C_Decrypt", rsession, ct, len(ct), capacity=None)
    assert_rv(rv, "CKR_OK")
    assert n >= 20  # 5.2: a length query may over-estimate for padded modes
    rv, out, _ = raw.call_out("C_Decrypt", rsession, ct, len(ct), capacity=n)
    assert_rv(rv, "CKR_OK")
    assert out == b"x" * 20


def test_encrypt_null_length_pointer_is_bad(raw, rsession):
    k = _key(raw, rsession)
    raw.op_init("Encrypt", rsession, CBC, k, CBC_IV)
    buf = raw.ffi.new("CK_BYTE[64]")
    assert_rv(raw.call("C_Encrypt", rsession, bytes(16), 16, buf, raw.ffi.NULL),
              "CKR_ARGUMENTS_BAD")
