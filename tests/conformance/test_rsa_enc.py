"""RSA encryption and key transport (PKCS#11 3.0 mechanisms 2.1.6 CKM_RSA_PKCS, 2.1.8
CKM_RSA_PKCS_OAEP, 2.1.9 CKM_RSA_X_509, 2.1.21 CKM_RSA_AES_KEY_WRAP) against keystead and
SoftHSMv2: cross-checks with `cryptography` both ways for every hash, MGF1 hash, label and
length class; the parameter rules of CK_RSA_PKCS_OAEP_PARAMS and CK_RSA_AES_KEY_WRAP_PARAMS
to the letter; the length rules; every malformed padding one code; the key class each
operation takes; wrap and unwrap, the bring-your-own-key blob of CKM_RSA_AES_KEY_WRAP.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import keywrap, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from keystead.softhsm_bridge import quirks
from keystead.softhsm_bridge.ck import Attribute as A
from keystead.softhsm_bridge.ck import KeyType, ObjectClass

from tests.native.rsa_support import load_crypt_vectors

from . import rsa_support as rs
from .support import aes_key, assert_rv

HASHES = list(rs.HASHES)


@functools.cache
def _private(bits: int) -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(65537, bits)


class Pair:
    """An RSA key pair in the session (imported) and the same key in `cryptography`."""

    def __init__(self, raw, h: int, bits: int = 2048, **priv_extra) -> None:
        self.key = _private(bits)
        self.pub_key = self.key.public_key()
        self.n = self.key.private_numbers().public_numbers.n
        self.e = self.key.private_numbers().public_numbers.e
        self.k = (bits + 7) // 8
        self.priv = raw.create_object(h, rs.private_template(self.key, **priv_extra))
        self.pub = raw.create_object(h, rs.public_template(self.pub_key))

    def raw_encrypt(self, em: bytes) -> bytes:
        """Textbook RSA of a block built by hand (to make malformed paddings)."""
        return pow(int.from_bytes(em, "big"), self.e, self.n).to_bytes(self.k, "big")


@pytest.fixture
def pair(raw, rsession) -> Pair:
    return Pair(raw, rsession)


def _rv(raw, h, what: str, mech: int, key: int, data: bytes, param=None,
        capacity: int | None = 4096) -> tuple[int, bytes, int]:
    m = raw.mechanism(mech, param)
    rv = raw.call(f"C_{what}Init", h, m.ptr, key)
    if rv != 0:
        return rv, b"", 0
    return raw.call_out(f"C_{what}", h, data, len(data), capacity=capacity)


# ---- PKCS#1 v1.5 and raw RSA ----------------------------------------------------------------

def test_pkcs1_both_ways(raw, rsession, pair: Pair) -> None:
    for n in (0, 1, 100, pair.k - 11):
        msg = os.urandom(n)
        ct = raw.encrypt(rsession, rs.RSA_PKCS, pair.pub, msg)
        assert len(ct) == pair.k
        assert pair.key.decrypt(ct, padding.PKCS1v15()) == msg
        theirs = pair.pub_key.encrypt(msg, padding.PKCS1v15())
        assert raw.decrypt(rsession, rs.RSA_PKCS, pair.priv, theirs) == msg


def test_pkcs1_input_too_long(raw, rsession, pair: Pair, module, xfail_quirk) -> None:
    xfail_quirk(module, "rsa-general-error")
    assert_rv(_rv(raw, rsession, "Encrypt", rs.RSA_PKCS, pair.pub, bytes(pair.k - 10))[0],
              "CKR_DATA_LEN_RANGE")


def test_x509_raw_both_ways(raw, rsession, pair: Pair) -> None:
    m = int.from_bytes(os.urandom(pair.k), "big") % pair.n
    msg = m.to_bytes(pair.k, "big")
    ct = raw.encrypt(rsession, rs.RSA_X_509, pair.pub, msg)
    assert ct == pow(m, pair.e, pair.n).to_bytes(pair.k, "big")
    assert raw.decrypt(rsession, rs.RSA_X_509, pair.priv, ct) == msg
    # a shorter input is a big-endian integer (zeros on the left); decryption gives k bytes
    short = b"\x01\x02\x03"
    ct = raw.encrypt(rsession, rs.RSA_X_509, pair.pub, short)
    assert raw.decrypt(rsession, rs.RSA_X_509, pair.priv, ct) == short.rjust(pair.k, b"\0")


def test_x509_input_too_long(raw, rsession, pair: Pair, module) -> None:
    if module.has_quirk("rsa-x509-long-input-exits"):  # never run: it ends the process
        pytest.xfail(quirks.get(module.info, "rsa-x509-long-input-exits").reason)
    assert_rv(_rv(raw, rsession, "Encrypt", rs.RSA_X_509, pair.pub, bytes(pair.k + 1))[0],
              "CKR_DATA_LEN_RANGE")


def test_x509_value_not_below_modulus(raw, rsession, pair: Pair, xfail_quirk, module) -> None:
    xfail_quirk(module, "rsa-general-error")
    assert_rv(_rv(raw, rsession, "Encrypt", rs.RSA_X_509, pair.pub,
                  pair.n.to_bytes(pair.k, "big"))[0], "CKR_DATA_INVALID")


@pytest.mark.parametrize("mech", [rs.RSA_PKCS, rs.RSA_X_509], ids=["pkcs", "x509"])
def test_ciphertext_length_is_the_modulus_length(raw, rsession, pair: Pair, mech, module,
                                                 xfail_quirk) -> None:
    xfail_quirk(module, "rsa-general-error")
    for n in (pair.k - 1, pair.k + 1, 1):
        assert_rv(_rv(raw, rsession, "Decrypt", mech, pair.priv, bytes(n))[0],
                  "CKR_ENCRYPTED_DATA_LEN_RANGE")


def test_ciphertext_not_below_modulus(raw, rsession, pair: Pair, xfail_quirk, module) -> None:
    xfail_quirk(module, "rsa-general-error")
    for mech in (rs.RSA_PKCS, rs.RSA_X_509):
        assert_rv(_rv(raw, rsession, "Decrypt", mech, pair.priv,
                      (pair.n + 1).to_bytes(pair.k, "big"))[0], "CKR_ENCRYPTED_DATA_INVALID")


def _pkcs1_blocks(k: int) -> list[bytes]:
    good = b"\x00\x02" + b"\x5a" * (k - 3 - 16) + b"\x00" + bytes(range(16))
    bad = [b"\x01" + good[1:], b"\x00\x01" + good[2:], b"\x00\x02" + b"\x5a" * (k - 2),
           good[:9] + b"\x00" + good[10:]]
    return bad


def test_pkcs1_malformed_padding_rejected_implicitly(raw, rsession, pair: Pair,
                                                     module) -> None:
    """keystead rejects implicitly (rsa_implicit_rejection = on, the default): every
    malformed block decrypts to the synthetic message of draft-irtf-cfrg-rsa-guidance, the
    one `cryptography`'s OpenSSL (3.2+) computes too. PKCS#11 asks neither way."""
    if module.kind != "keystead":
        pytest.skip("implicit rejection is keystead's (README, RSA encryption)")
    for em in _pkcs1_blocks(pair.k):
        ct = pair.raw_encrypt(em)
        assert raw.decrypt(rsession, rs.RSA_PKCS, pair.priv, ct) == \
            pair.key.decrypt(ct, padding.PKCS1v15())


def test_decrypt_length_query_and_short_buffer(raw, rsession, pair: Pair) -> None:
    msg = b"sixteen byte msg"
    ct = pair.pub_key.encrypt(msg, padding.PKCS1v15())
    rv, _, n = _rv(raw, rsession, "Decrypt", rs.RSA_PKCS, pair.priv, ct, capacity=None)
    assert rv == 0 and len(msg) <= n <= pair.k  # a bound (5.2 allows "somewhat" more)
    rv, _, n = raw.call_out("C_Decrypt", rsession, ct, len(ct), capacity=3)
    assert_rv(rv, "CKR_BUFFER_TOO_SMALL")
    assert len(msg) <= n <= pair.k
    rv, out, n = raw.call_out("C_Decrypt", rsession, ct, len(ct), capacity=n)
    assert (rv, out) == (0, msg)


def test_encrypt_length_query(raw, rsession, pair: Pair) -> None:
    rv, _, n = _rv(raw, rsession, "Encrypt", rs.RSA_PKCS, pair.pub, b"x", capacity=None)
    assert (rv, n) == (0, pair.k)
    rv, _, n = raw.call_out("C_Encrypt", rsession, b"x", 1, capacity=pair.k - 1)
    assert_rv(rv, "CKR_BUFFER_TOO_SMALL")
    assert n == pair.k


# ---- OAEP -----------------------------------------------------------------------------------

@pytest.mark.parametrize("md", HASHES)
@pytest.mark.parametrize("mgf", HASHES)
def test_oaep_every_hash_and_mgf_both_ways(raw, rsession, pair: Pair, md, mgf, module,
                                           xfail_quirk) -> None:
    xfail_quirk(module, "rsa-oaep-sha1-only" if (md, mgf) != ("sha1", "sha1")
                else "rsa-general-error")  # the oversize input at the end
    most = pair.k - 2 * rs.HASHES[md][2].digest_size - 2
    for label in (b"", b"label", bytes(range(256))):
        if label:
            xfail_quirk(module, "rsa-oaep-no-label")
        for n in (0, 1, most):
            msg = os.urandom(n)
            param = rs.oaep_params(raw.ffi, md, mgf, label)
            ct = raw.encrypt(rsession, rs.RSA_OAEP, pair.pub, msg, param.ptr)
            assert pair.key.decrypt(ct, rs.oaep_padding(md, mgf, label)) == msg
            theirs = pair.pub_key.encrypt(msg, rs.oaep_padding(md, mgf, label))
            assert raw.decrypt(rsession, rs.RSA_OAEP, pair.priv, theirs, param.ptr) == msg
        param = rs.oaep_params(raw.ffi, md, mgf, label)
        assert_rv(_rv(raw, rsession, "Encrypt", rs.RSA_OAEP, pair.pub, bytes(most + 1),
                      param.ptr)[0], "CKR_DATA_LEN_RANGE")


def _oaep_bad_params(ffi):
    return {
        "hash-md5": rs.oaep_params(ffi, hex(0x210)),            # CKM_MD5
        "hash-sha3": rs.oaep_params(ffi, hex(0x2B0), "sha256"),  # CKM_SHA3_256
        "hash-0": rs.oaep_params(ffi, "0x0", "sha1"),
        "mgf-0": rs.oaep_params(ffi, "sha1", "0x0"),
        "mgf-sha3": rs.oaep_params(ffi, "sha256", "0x7"),        # CKG_MGF1_SHA3_256
        "source-0-label": rs.oaep_params(ffi, "sha1", source=0, label=b"label"),
        "source-2": rs.oaep_params(ffi, "sha1", source=2),
        "data-null-len-5": rs.oaep_params(ffi, "sha1", data_len=5, null_data=True),
        "data-set-len-0": rs.oaep_params(ffi, "sha1", data_len=0, null_data=False),
    }


BAD_OAEP = ["hash-md5", "hash-sha3", "hash-0", "mgf-0", "mgf-sha3", "source-0-label", "source-2",
            "data-null-len-5", "data-set-len-0"]


@pytest.mark.parametrize("case", BAD_OAEP)
@pytest.mark.parametrize("what", ["Encrypt", "Decrypt"])
def test_oaep_params_checked_to_the_letter(raw, rsession, pair: Pair, case, what, module,
                                           xfail_quirk) -> None:
    xfail_quirk(module, "rsa-oaep-param-codes")
    param = _oaep_bad_params(raw.ffi)[case]
    key = pair.pub if what == "Encrypt" else pair.priv
    m = raw.mechanism(rs.RSA_OAEP, param.ptr)
    assert_rv(raw.call(f"C_{what}Init", rsession, m.ptr, key), "CKR_MECHANISM_PARAM_INVALID")


@pytest.mark.parametrize("what", ["Encrypt", "Decrypt"])
def test_oaep_param_shape(raw, rsession, pair: Pair, what, module, xfail_quirk) -> None:
    xfail_quirk(module, "rsa-oaep-param-codes")
    key = pair.pub if what == "Encrypt" else pair.priv
    for param in (None, b"\x00" * 8):  # none, and a buffer of the wrong size
        m = raw.mechanism(rs.RSA_OAEP, param)
        assert_rv(raw.call(f"C_{what}Init", rsession, m.ptr, key),
                  "CKR_MECHANISM_PARAM_INVALID")


def test_oaep_every_malformed_padding_one_code(raw, rsession, pair: Pair, module,
                                              xfail_quirk) -> None:
    xfail_quirk(module, "rsa-general-error")
    """Y != 0, a wrong label, no 0x01 separator, a random block: CKR_ENCRYPTED_DATA_INVALID."""
    msg = b"key material"
    ct = pair.pub_key.encrypt(msg, rs.oaep_padding("sha1", label=b""))
    cts = [pair.raw_encrypt(b"\x01" + os.urandom(pair.k - 1)),
           pair.raw_encrypt(os.urandom(pair.k - 1).rjust(pair.k, b"\0")),
           bytes([ct[0] ^ 0]) + ct[1:-1] + bytes([ct[-1] ^ 1])]
    param = rs.oaep_params(raw.ffi, "sha1")
    for c in cts:
        c = (int.from_bytes(c, "big") % pair.n).to_bytes(pair.k, "big")
        assert_rv(_rv(raw, rsession, "Decrypt", rs.RSA_OAEP, pair.priv, c, param.ptr)[0],
                  "CKR_ENCRYPTED_DATA_INVALID")


def test_oaep_wrong_label_one_code(raw, rsession, pair: Pair, module, xfail_quirk) -> None:
    xfail_quirk(module, "rsa-oaep-no-label")
    ct = pair.pub_key.encrypt(b"m", rs.oaep_padding("sha1", label=b"one"))
    param = rs.oaep_params(raw.ffi, "sha1", label=b"two")
    assert_rv(_rv(raw, rsession, "Decrypt", rs.RSA_OAEP, pair.priv, ct, param.ptr)[0],
              "CKR_ENCRYPTED_DATA_INVALID")


# ---- keys and classes -----------------------------------------------------------------------

@pytest.mark.parametrize("mech", [rs.RSA_PKCS, rs.RSA_X_509, rs.RSA_OAEP])
def test_each_operation_takes_its_key_class(raw, rsession, pair: Pair, mech, module,
                                            xfail_quirk) -> None:
    """Encryption takes the public key, decryption the private key (5.8, 5.9): the other key
    of the pair, or a secret key, is not the right type of key for the mechanism."""
    param = rs.oaep_params(raw.ffi).ptr if mech == rs.RSA_OAEP else None
    m = raw.mechanism(mech, param)
    aes = raw.create_object(rsession, aes_key(bytes(32)))
    assert_rv(raw.call("C_EncryptInit", rsession, m.ptr, aes), "CKR_KEY_TYPE_INCONSISTENT")
    xfail_quirk(module, "pair-other-key-function-not-permitted")
    assert_rv(raw.call("C_EncryptInit", rsession, m.ptr, pair.priv), "CKR_KEY_TYPE_INCONSISTENT")
    assert_rv(raw.call("C_DecryptInit", rsession, m.ptr, pair.pub), "CKR_KEY_TYPE_INCONSISTENT")


def test_single_part_only(raw, rsession, pair: Pair) -> None:
    m = raw.mechanism(rs.RSA_PKCS)
    assert raw.call("C_EncryptInit", rsession, m.ptr, pair.pub) == 0
    rv, _, _ = raw.call_out("C_EncryptUpdate", rsession, b"abc", 3, capacity=512)
    assert_rv(rv, "CKR_FUNCTION_NOT_SUPPORTED")


# ---- wrap and unwrap ------------------------------------------------------------------------

def _known_aes(raw, h, value: bytes) -> int:
    return raw.create_object(h, aes_key(value))


def _unwrap_template(**extra):
    t = {A.CLASS: ObjectClass.SECRET_KEY, A.KEY_TYPE: KeyType.AES, A.TOKEN: False,
         A.SENSITIVE: False, A.EXTRACTABLE: True, A.ENCRYPT: True}
    for k, v in extra.items():
        t[A[k]] = v
    return t


@pytest.mark.parametrize("md", HASHES)
def test_oaep_wrap_unwrap_cross_checked(raw, rsession, pair: Pair, md, module,
                                        xfail_quirk) -> None:
    if md != "sha1":
        xfail_quirk(module, "rsa-oaep-sha1-only")
    value = os.urandom(32)
    key = _known_aes(raw, rsession, value)
    param = rs.oaep_params(raw.ffi, md)
    blob = raw.wrap_key(rsession, rs.RSA_OAEP, pair.pub, key, param.ptr)
    assert pair.key.decrypt(blob, rs.oaep_padding(md)) == value
    theirs = pair.pub_key.encrypt(value, rs.oaep_padding(md))
    h = raw.unwrap_key(rsession, rs.RSA_OAEP, pair.priv, theirs, _unwrap_template(), param.ptr)
    assert raw.get_attribute(rsession, h, A.VALUE) == value


@pytest.mark.parametrize("size", [16, 24, 32])
def test_pkcs1_wrap_unwrap_cross_checked(raw, rsession, pair: Pair, size) -> None:
    value = os.urandom(size)
    key = _known_aes(raw, rsession, value)
    blob = raw.wrap_key(rsession, rs.RSA_PKCS, pair.pub, key)
    assert pair.key.decrypt(blob, padding.PKCS1v15()) == value
    theirs = pair.pub_key.encrypt(value, padding.PKCS1v15())
    h = raw.unwrap_key(rsession, rs.RSA_PKCS, pair.priv, theirs, _unwrap_template())
    assert raw.get_attribute(rsession, h, A.VALUE) == value


def test_pkcs1_unwrap_of_a_malformed_blob_gives_a_synthetic_key(raw, rsession, pair: Pair,
                                                                module) -> None:
    """Under implicit rejection a malformed blob (here: a valid padding around 20 bytes, no
    AES length) unwraps into an AES key of an AES length, the same each time, so neither the
    code nor the key's length tells it from a valid blob (README, RSA encryption)."""
    if module.kind != "keystead":
        pytest.skip("implicit rejection is keystead's (README, RSA encryption)")
    blob = pair.pub_key.encrypt(os.urandom(20), padding.PKCS1v15())
    keys = [raw.unwrap_key(rsession, rs.RSA_PKCS, pair.priv, blob, _unwrap_template())
            for _ in range(2)]
    values = [raw.get_attribute(rsession, h, A.VALUE) for h in keys]
    assert values[0] == values[1] and len(values[0]) in (16, 24, 32)


def _byok_blob(pub: rsa.RSAPublicKey, target: bytes, aes_bits: int, md: str) -> bytes:
    """What a cloud KMS's import tooling makes (mechanisms 3.0 2.1.21): OAEP of a temporary
    AES key, then the target key under it with KWP (RFC 5649)."""
    tmp = os.urandom(aes_bits // 8)
    return pub.encrypt(tmp, rs.oaep_padding(md)) + keywrap.aes_key_wrap_with_padding(tmp, target)


@pytest.mark.parametrize("aes_bits", [128, 192, 256])
def test_rsa_aes_key_wrap_cross_checked(raw, rsession, pair: Pair, aes_bits, module,
                                        xfail_quirk) -> None:
    xfail_quirk(module, "rsa-aes-key-wrap-missing")
    value = os.urandom(32)
    key = _known_aes(raw, rsession, value)
    param = rs.rsa_aes_params(raw.ffi, aes_bits, rs.oaep_params(raw.ffi, "sha256"))
    blob = raw.wrap_key(rsession, rs.RSA_AES_WRAP, pair.pub, key, param.ptr)
    tmp = pair.key.decrypt(blob[: pair.k], rs.oaep_padding("sha256"))
    assert len(tmp) == aes_bits // 8
    assert keywrap.aes_key_unwrap_with_padding(tmp, blob[pair.k:]) == value
    theirs = _byok_blob(pair.pub_key, value, aes_bits, "sha256")
    h = raw.unwrap_key(rsession, rs.RSA_AES_WRAP, pair.priv, theirs, _unwrap_template(),
                       param.ptr)
    assert raw.get_attribute(rsession, h, A.VALUE) == value


def test_oaep_source_0_without_a_label(raw, rsession, pair: Pair, module) -> None:
    """OpenSC's pkcs11-tool sends source 0 with no label; an empty parameter has no other
    source, so keystead takes it as CKZ_DATA_SPECIFIED (with a label it stays invalid)."""
    if module.kind != "keystead":
        pytest.skip("keystead's reading of an empty OAEP parameter")
    param = rs.oaep_params(raw.ffi, "sha256", source=0)
    ct = pair.key.public_key().encrypt(b"opensc", rs.oaep_padding("sha256"))
    m = raw.mechanism(rs.RSA_OAEP, param.ptr)
    assert_rv(raw.call("C_DecryptInit", rsession, m.ptr, pair.priv), "CKR_OK")
    assert raw.single("Decrypt", rsession, ct) == b"opensc"


def test_rsa_aes_key_wrap_params(raw, rsession, pair: Pair, module, xfail_quirk) -> None:
    xfail_quirk(module, "rsa-aes-key-wrap-missing")
    key = _known_aes(raw, rsession, bytes(32))
    for param in (rs.rsa_aes_params(raw.ffi, 100, rs.oaep_params(raw.ffi)),
                  rs.rsa_aes_params(raw.ffi, 256, None),
                  rs.rsa_aes_params(raw.ffi, 256,
                                    rs.oaep_params(raw.ffi, source=0, label=b"label"))):
        m = raw.mechanism(rs.RSA_AES_WRAP, param.ptr)
        rv, _, _ = raw.call_out("C_WrapKey", rsession, m.ptr, pair.pub, key, capacity=None)
        assert_rv(rv, "CKR_MECHANISM_PARAM_INVALID")


def test_rsa_aes_key_wrap_garbage(raw, rsession, pair: Pair, module, xfail_quirk) -> None:
    xfail_quirk(module, "rsa-aes-key-wrap-missing")
    param = rs.rsa_aes_params(raw.ffi, 256, rs.oaep_params(raw.ffi, "sha256"))
    good = _byok_blob(pair.pub_key, os.urandom(32), 256, "sha256")
    m = raw.mechanism(rs.RSA_AES_WRAP, param.ptr)
    t = raw.template(_unwrap_template())
    out = raw.ffi.new("CK_OBJECT_HANDLE *")
    for blob, want in ((good[:-1], "CKR_WRAPPED_KEY_LEN_RANGE"),
                       (good[: pair.k], "CKR_WRAPPED_KEY_LEN_RANGE"),
                       (good[:-1] + bytes([good[-1] ^ 1]), "CKR_WRAPPED_KEY_INVALID"),
                       (bytes([good[0] ^ 1]) + good[1:], "CKR_WRAPPED_KEY_INVALID")):
        rv = raw.call("C_UnwrapKey", rsession, m.ptr, pair.priv, blob, len(blob), t.ptr,
                      t.count, out)
        assert_rv(rv, want)


# ---- known answers through a session ------------------------------------------------------

def _vectors(name: str) -> list:
    vectors = pytest.importorskip("cryptography_vectors")
    path = Path(vectors.__file__).parent / "asymmetric" / "RSA" / name
    return [v for v in load_crypt_vectors(path)
            if len(v.ciphertext) == 256]  # the 2048-bit keys (keystead takes 2048 to 4096)


@pytest.mark.parametrize("name, mech", [
    ("pkcs-1v2-1d2-vec/oaep-vect.txt", rs.RSA_OAEP),
    ("oaep-custom/oaep-sha256-sha256.txt", rs.RSA_OAEP),
    ("oaep-custom/oaep-sha512-sha1.txt", rs.RSA_OAEP),
    ("pkcs1v15crypt-vectors.txt", rs.RSA_PKCS),
], ids=["oaep-sha1", "oaep-sha256", "oaep-sha512-mgf1-sha1", "pkcs1-v15"])
def test_known_answers(raw, rsession, name, mech, module, xfail_quirk) -> None:
    vectors = _vectors(name)
    assert vectors, name
    handles: dict[bytes, int] = {}
    for v in vectors:
        if (v.md, v.mgf) != ("sha1", "sha1"):
            xfail_quirk(module, "rsa-oaep-sha1-only")
        if v.key_der not in handles:
            key = serialization.load_der_private_key(v.key_der, None)
            handles[v.key_der] = raw.create_object(rsession, rs.private_template(key))
        priv = handles[v.key_der]
        param = rs.oaep_params(raw.ffi, v.md, v.mgf).ptr if mech == rs.RSA_OAEP else None
        assert raw.decrypt(rsession, mech, priv, v.ciphertext, param) == v.message


# ---- raw signatures: CKM_RSA_PKCS over a DigestInfo, CKM_RSA_X_509 -------------------------

SHA256_INFO = bytes.fromhex("3031300d060960864801650304020105000420")


def _sign_rv(raw, h, mech: int, key: int, data: bytes) -> tuple[int, bytes]:
    m = raw.mechanism(mech)
    rv = raw.call("C_SignInit", h, m.ptr, key)
    if rv != 0:
        return rv, b""
    rv, out, _ = raw.call_out("C_Sign", h, data, len(data), capacity=1024)
    return rv, out


def _verify_rv(raw, h, mech: int, key: int, data: bytes, sig: bytes) -> int:
    m = raw.mechanism(mech)
    rv = raw.call("C_VerifyInit", h, m.ptr, key)
    return rv if rv != 0 else raw.verify(h, data, sig)


@pytest.fixture
def signing_pair(raw, rsession) -> Pair:
    p = Pair.__new__(Pair)
    p.key = _private(2048)
    p.pub_key = p.key.public_key()
    p.n, p.e = p.key.private_numbers().public_numbers.n, p.key.private_numbers().public_numbers.e
    p.k = 256
    p.priv = raw.create_object(rsession, rs.private_template(p.key, DECRYPT=False,
                                                             UNWRAP=False, SIGN=True))
    p.pub = raw.create_object(rsession, rs.public_template(p.pub_key, ENCRYPT=False,
                                                           WRAP=False, VERIFY=True))
    return p


def test_pkcs1_signature_over_a_digest_info_both_ways(raw, rsession, signing_pair) -> None:
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import utils

    p = signing_pair
    digest = os.urandom(32)
    rv, sig = _sign_rv(raw, rsession, rs.RSA_PKCS, p.priv, SHA256_INFO + digest)
    assert rv == 0 and len(sig) == 256
    p.pub_key.verify(sig, digest, padding.PKCS1v15(), utils.Prehashed(hashes.SHA256()))
    theirs = p.key.sign(digest, padding.PKCS1v15(), utils.Prehashed(hashes.SHA256()))
    assert _verify_rv(raw, rsession, rs.RSA_PKCS, p.pub, SHA256_INFO + digest, theirs) == 0
    bad = bytes([theirs[0] ^ 1]) + theirs[1:]
    assert_rv(_verify_rv(raw, rsession, rs.RSA_PKCS, p.pub, SHA256_INFO + digest, bad),
              "CKR_SIGNATURE_INVALID")
    assert_rv(_verify_rv(raw, rsession, rs.RSA_PKCS, p.pub, SHA256_INFO + digest, theirs[1:]),
              "CKR_SIGNATURE_LEN_RANGE")


def test_x509_signature_is_the_raw_private_operation(raw, rsession, signing_pair) -> None:
    p = signing_pair
    m = int.from_bytes(os.urandom(255), "big")
    data = m.to_bytes(256, "big")
    rv, sig = _sign_rv(raw, rsession, rs.RSA_X_509, p.priv, data)
    assert rv == 0 and sig == pow(m, p.key.private_numbers().d, p.n).to_bytes(256, "big")
    assert _verify_rv(raw, rsession, rs.RSA_X_509, p.pub, data, sig) == 0


def test_signature_input_too_long(raw, rsession, signing_pair, module, xfail_quirk) -> None:
    xfail_quirk(module, "rsa-general-error")
    assert_rv(_sign_rv(raw, rsession, rs.RSA_PKCS, signing_pair.priv, bytes(246))[0],
              "CKR_DATA_LEN_RANGE")


def test_mechanism_info(raw, module) -> None:
    """Key sizes in bits (mechanisms 2.1: "ulMinKeySize and ulMaxKeySize ... in bits"); every
    mechanism offered, with the functions each serves."""
    from keystead.core import lib

    slot = module.token.slot_id
    assert {rs.RSA_PKCS, rs.RSA_X_509, rs.RSA_OAEP} <= set(raw.mechanism_list(slot))
    for mech in (rs.RSA_PKCS, rs.RSA_X_509, rs.RSA_OAEP):
        lo, hi, flags = raw.mechanism_info(slot, mech)
        assert lo <= 2048 <= 4096 <= hi
        assert flags & (lib.CKF_ENCRYPT | lib.CKF_DECRYPT) == lib.CKF_ENCRYPT | lib.CKF_DECRYPT
    if module.kind != "keystead":
        return
    assert raw.mechanism_info(slot, rs.RSA_OAEP)[:2] == (2048, 4096)
    wrap = lib.CKF_WRAP | lib.CKF_UNWRAP
    assert raw.mechanism_info(slot, rs.RSA_OAEP)[2] & wrap == wrap
    assert raw.mechanism_info(slot, rs.RSA_AES_WRAP)[2] == wrap
    # the strict wrap policy: PKCS#1 v1.5 and raw RSA carry no secret keys (README)
    assert raw.mechanism_info(slot, rs.RSA_PKCS)[2] & wrap == 0
    sign = lib.CKF_SIGN | lib.CKF_VERIFY
    assert raw.mechanism_info(slot, rs.RSA_PKCS)[2] & sign == sign
