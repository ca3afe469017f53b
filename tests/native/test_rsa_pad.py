"""RSA encryption paddings at the primitive layer (crypto/rsa_pad.h, crypto/rsa.h).

Known answers: the implicit-rejection vectors of draft-irtf-cfrg-rsa-guidance appendix B.1
(tests/vectors/rsa_pkcs1_implicit_rejection.txt), the PKCS#1 v2.1 OAEP and v1.5 encryption
vectors and the OAEP SHA-2 vectors (every hash and MGF1 pair) of `cryptography_vectors`.
Cross-checks with `cryptography` both ways: OAEP for every hash, MGF1 hash, label and length
class; PKCS#1 v1.5 for every length; implicit rejection against `cryptography`'s OpenSSL
(3.2 and later rejects implicitly with the same algorithm) on random ciphertexts.
Negative: every malformed padding is KS_ERR_AUTH (one status) with the output wiped;
oversize messages and bad lengths KS_ERR_LEN.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from keystead.core import ffi, lib

from tests.native import rsa_support as rs
from tests.native.crypto_support import rng
from tests.vectors.loader import load

HASHES = list(rs.MDS)
LABELS = [b"", b"L", bytes(range(200))]


@functools.cache
def keypair(bits: int) -> tuple[rsa.RSAPrivateKey, rs.Key, rs.Key]:
    priv = rsa.generate_private_key(65537, bits)
    return (priv, rs.Key(rs.pkcs8(priv), private=True),
            rs.Key(rs.spki(priv.public_key()), private=False))


def oaep(md: str, mgf: str, label: bytes) -> padding.OAEP:
    return padding.OAEP(mgf=padding.MGF1(rs.MDS[mgf][1]()), algorithm=rs.MDS[md][1](),
                        label=label or None)


# ---- known answers --------------------------------------------------------------------

def _ir_vectors() -> tuple[bytes, list]:
    blocks = load("rsa_pkcs1_implicit_rejection.txt")
    with blocks[0] as head:
        der = head.hex("PrivateKey")
    return der, blocks[1:]


_IR_KEY, _IR_CASES = _ir_vectors()


@pytest.mark.parametrize("vec", _IR_CASES, ids=str)
def test_implicit_rejection_draft_vectors(vec) -> None:
    key = rs.Key(_IR_KEY, private=True)
    with vec:
        vec.text("Case")
        st, msg = rs.decrypt_pkcs1(key, vec.hex("Ciphertext"), implicit=True)
        assert st == lib.KS_OK
        assert msg == vec.hex("Plaintext")


def _vector_dir() -> Path:
    vectors = pytest.importorskip("cryptography_vectors")
    return Path(vectors.__file__).parent / "asymmetric" / "RSA"


def test_oaep_pkcs1_v21_vectors() -> None:
    vectors = rs.load_crypt_vectors(_vector_dir() / "pkcs-1v2-1d2-vec" / "oaep-vect.txt")
    assert len(vectors) == 60
    for v in vectors:
        st, msg = rs.decrypt_oaep(rs.Key(v.key_der, True), v.ciphertext, "sha1", "sha1", b"")
        assert (st, msg) == (lib.KS_OK, v.message)


@pytest.mark.parametrize("name", sorted(p.name for p in (_vector_dir() / "oaep-custom")
                                        .glob("*.txt")))
def test_oaep_sha2_vectors(name: str) -> None:
    vectors = rs.load_crypt_vectors(_vector_dir() / "oaep-custom" / name)
    assert vectors
    for v in vectors:
        st, msg = rs.decrypt_oaep(rs.Key(v.key_der, True), v.ciphertext, v.md, v.mgf, b"")
        assert (st, msg) == (lib.KS_OK, v.message), (name, v.md, v.mgf)


def test_pkcs1_v15_vectors() -> None:
    vectors = rs.load_crypt_vectors(_vector_dir() / "pkcs1v15crypt-vectors.txt")
    assert len(vectors) == 299  # 15 keys, 20 messages each, one missing in the file
    for v in vectors:
        key = rs.Key(v.key_der, True)
        for implicit in (False, True):
            assert rs.decrypt_pkcs1(key, v.ciphertext, implicit) == (lib.KS_OK, v.message)


# ---- cross-checks with cryptography, both ways ------------------------------------------

@pytest.mark.parametrize("md", HASHES)
@pytest.mark.parametrize("mgf", HASHES)
def test_oaep_both_ways(md: str, mgf: str) -> None:
    priv, key, pub = keypair(2048)
    r = rng(f"oaep {md} {mgf}")
    most = lib.ks_rsa_oaep_max_msg(key.k, rs.MDS[md][0])
    assert most == key.k - 2 * rs.MDS[md][1].digest_size - 2
    for label in LABELS:
        for n in (0, 1, most // 2, most):
            msg = r.randbytes(n)
            ct = priv.public_key().encrypt(msg, oaep(md, mgf, label))
            assert rs.decrypt_oaep(key, ct, md, mgf, label) == (lib.KS_OK, msg)
            st, ours = rs.encrypt_oaep(pub, msg, md, mgf, label)
            assert st == lib.KS_OK
            assert priv.decrypt(ours, oaep(md, mgf, label)) == msg
        assert rs.encrypt_oaep(pub, bytes(most + 1), md, mgf, label)[0] == lib.KS_ERR_LEN


@pytest.mark.parametrize("bits", [1024, 2048, 3072])
def test_pkcs1_both_ways_every_length(bits: int) -> None:
    priv, key, pub = keypair(bits)
    r = rng(f"pkcs1 {bits}")
    most = lib.ks_rsa_pkcs1_max_msg(key.k)
    assert most == key.k - 11
    for n in list(range(0, 40)) + [most - 1, most]:
        msg = r.randbytes(n)
        ct = priv.public_key().encrypt(msg, padding.PKCS1v15())
        assert rs.decrypt_pkcs1(key, ct, implicit=False) == (lib.KS_OK, msg)
        assert rs.decrypt_pkcs1(key, ct, implicit=True) == (lib.KS_OK, msg)
        st, ours = rs.encrypt_pkcs1(pub, msg)
        assert st == lib.KS_OK
        assert priv.decrypt(ours, padding.PKCS1v15()) == msg
    assert rs.encrypt_pkcs1(pub, bytes(most + 1))[0] == lib.KS_ERR_LEN


@pytest.mark.parametrize("bits", [1024, 2048, 2049])
def test_implicit_rejection_agrees_with_openssl(bits: int) -> None:
    """cryptography's OpenSSL (3.2+) rejects implicitly with the draft's algorithm: for
    random ciphertexts (almost all malformed) both give the same synthetic message."""
    priv, key, _ = keypair(bits)
    n = priv.private_numbers().public_numbers.n
    r = rng(f"ir {bits}")
    for _ in range(60):
        ct = (r.randrange(n)).to_bytes(key.k, "big")
        expected = priv.decrypt(ct, padding.PKCS1v15())
        assert rs.decrypt_pkcs1(key, ct, implicit=True) == (lib.KS_OK, expected)
        assert rs.decrypt_pkcs1(key, ct, implicit=False)[0] in (lib.KS_OK, lib.KS_ERR_AUTH)


# ---- negative cases: one status for every malformed padding ------------------------------

def _pkcs1_em(k: int, msg: bytes, ps_len: int | None = None) -> bytearray:
    ps_len = k - 3 - len(msg) if ps_len is None else ps_len
    return bytearray(b"\x00\x02" + b"\x5a" * ps_len + b"\x00" + msg)


@pytest.mark.parametrize("k", [64, 256, 257, 512])
def test_pkcs1_every_malformed_padding_is_one_status(k: int) -> None:
    good = _pkcs1_em(k, b"message")
    assert rs.pkcs1_decode(bytes(good), None) == (lib.KS_OK, b"message")
    bad: list[bytes] = []
    for first in (0x01, 0x80, 0xFF):
        em = bytearray(good)
        em[0] = first
        bad.append(bytes(em))
    for second in (0x00, 0x01, 0x03, 0xFF):
        em = bytearray(good)
        em[1] = second
        bad.append(bytes(em))
    bad.append(b"\x00\x02" + b"\x5a" * (k - 2))              # no separator
    for ps_len in range(0, 8):                                # PS shorter than 8 bytes
        em = bytearray(good)
        em[2 + ps_len] = 0
        bad.append(bytes(em))
    for em in bad:
        assert len(em) == k
        assert rs.pkcs1_decode(em, None) == (lib.KS_ERR_AUTH, b"")
        st, synth = rs.pkcs1_decode(em, bytes(32))
        assert st == lib.KS_OK and len(synth) <= k - 11
    # the shortest valid PS (8 bytes) and the longest message; an empty message
    longest = bytes(1 + i % 255 for i in range(k - 11))
    assert rs.pkcs1_decode(bytes(_pkcs1_em(k, longest, 8)), None) == (lib.KS_OK, longest)
    assert rs.pkcs1_decode(bytes(_pkcs1_em(k, b"")), None) == (lib.KS_OK, b"")


def test_implicit_rejection_is_deterministic_and_keyed() -> None:
    em = b"\x00\x01" + bytes(254)
    a = rs.pkcs1_decode(em, bytes(32))
    assert a == rs.pkcs1_decode(em, bytes(32))
    assert a != rs.pkcs1_decode(em, b"\x01" + bytes(31))


@pytest.mark.parametrize("md", HASHES)
def test_oaep_every_malformed_padding_is_one_status(md: str) -> None:
    k = 256
    h = rs.MDS[md][1].digest_size
    msg = b"secret"
    body = bytes(k - 2 * h - 2 - len(msg)) + b"\x01" + msg
    label = b"label"
    assert rs.oaep_decode(rs.oaep_em(k, body, md, label), md, md, label) == (lib.KS_OK, msg)
    bad = [
        rs.oaep_em(k, body, md, label, first=1),             # Y != 0
        rs.oaep_em(k, body, md, label, first=0x80),
        rs.oaep_em(k, body, md, b"other"),                   # lHash' != lHash
        rs.oaep_em(k, bytes(len(body)), md, label),          # no 0x01
        rs.oaep_em(k, body.replace(b"\x01", b"\x02", 1), md, label),  # 0x02 separator
        rs.oaep_em(k, b"\x03" + body[1:], md, label),        # non-zero PS byte first
    ]
    for em in bad:
        assert rs.oaep_decode(em, md, md, label) == (lib.KS_ERR_AUTH, b"")
    # wrong MGF1 hash for the block: also the one status
    other = "sha256" if md != "sha256" else "sha1"
    assert rs.oaep_decode(rs.oaep_em(k, body, md, label), md, other, label)[0] \
        == lib.KS_ERR_AUTH
    # the longest message (no PS) and the empty message
    longest = bytes(range(256))[: k - 2 * h - 2]
    assert rs.oaep_decode(rs.oaep_em(k, b"\x01" + longest, md, b""), md, md, b"") \
        == (lib.KS_OK, longest)
    empty = bytes(k - 2 * h - 2) + b"\x01"
    assert rs.oaep_decode(rs.oaep_em(k, empty, md, b""), md, md, b"") == (lib.KS_OK, b"")


def test_random_blocks_decode_to_one_status() -> None:
    r = rng("random blocks")
    for _ in range(200):
        em = r.randbytes(256)
        assert rs.pkcs1_decode(em, None)[0] in (lib.KS_OK, lib.KS_ERR_AUTH)
        assert rs.oaep_decode(em, "sha256", "sha256", b"") == (lib.KS_ERR_AUTH, b"")


# ---- lengths and arguments ------------------------------------------------------------------

def test_raw_lengths_and_modulus() -> None:
    priv, key, pub = keypair(2048)
    n = priv.private_numbers().public_numbers.n
    assert key.k == pub.k == 256
    for data in (b"", bytes(255), bytes(257)):
        assert rs.raw(key, data, private=True)[0] == lib.KS_ERR_LEN
        assert rs.raw(pub, data, private=False)[0] == lib.KS_ERR_LEN
    for value in (n, n + 1, 2**2048 - 1):
        assert rs.raw(key, value.to_bytes(256, "big"), private=True)[0] == lib.KS_ERR_LEN
        assert rs.raw(pub, value.to_bytes(256, "big"), private=False)[0] == lib.KS_ERR_LEN
    m = (n - 1).to_bytes(256, "big")
    st, c = rs.raw(pub, m, private=False)
    assert st == lib.KS_OK and rs.raw(key, c, private=True) == (lib.KS_OK, m)


def test_decoders_refuse_small_output_and_bad_sizes() -> None:
    out = ffi.new("uint8_t[]", 300)
    n = ffi.new("size_t *")
    em = bytes(256)
    assert lib.ks_rsa_pkcs1_decode(out, n, 244, em, 256, ffi.NULL) == lib.KS_ERR_LEN
    assert lib.ks_rsa_pkcs1_decode(out, n, 300, em, 63, ffi.NULL) == lib.KS_ERR_LEN
    assert lib.ks_rsa_oaep_decode(out, n, 300, em, 256, lib.KS_MD_SHA256, lib.KS_MD_NONE,
                                  ffi.NULL, 0) == lib.KS_ERR_ARGS
    # SHA-512 OAEP needs k >= 130
    assert lib.ks_rsa_oaep_max_msg(129, lib.KS_MD_SHA512) == 0
    assert lib.ks_rsa_oaep_max_msg(130, lib.KS_MD_SHA512) == 0
    assert lib.ks_rsa_oaep_max_msg(131, lib.KS_MD_SHA512) == 1


def test_key_parsing() -> None:
    priv, key, pub = keypair(2048)
    with pytest.raises(ValueError):
        rs.Key(rs.pkcs8(priv) + b"\x00", private=True)
    with pytest.raises(ValueError):
        rs.Key(rs.spki(priv.public_key()), private=True)
    with pytest.raises(ValueError):
        rs.Key(os.urandom(64), private=False)
    from cryptography.hazmat.primitives.asymmetric import ec
    with pytest.raises(ValueError):
        rs.Key(rs.pkcs8(ec.generate_private_key(ec.SECP256R1())), private=True)  # type: ignore[arg-type]


def _decode_key(em: bytes, lens: list[int], kdk: bytes) -> tuple[int, bytes]:
    out = ffi.new("uint8_t[]", 64)
    n = ffi.new("size_t *")
    arr = ffi.new("size_t[]", lens)
    st = lib.ks_rsa_pkcs1_decode_key(out, n, 64, arr, len(lens), em, len(em), kdk)
    return st, bytes(out[0 : n[0]])


def test_decode_key_of_an_expected_length() -> None:
    """C_UnwrapKey under implicit rejection: a valid block whose key has an expected length
    gives the key; any other block a synthetic key of an expected length, the same each time
    for the same key derivation key."""
    k, kdk = 256, bytes(range(32))
    aes = [16, 24, 32]
    for n in aes:
        key = bytes(range(1, n + 1))
        assert _decode_key(bytes(_pkcs1_em(k, key)), aes, kdk) == (lib.KS_OK, key)
        assert _decode_key(bytes(_pkcs1_em(k, key)), [n], kdk) == (lib.KS_OK, key)
    odd = bytes(_pkcs1_em(k, bytes(20)))
    bad = [odd, b"\x00\x01" + bytes(254), bytes(_pkcs1_em(k, bytes(16), 7)).rjust(k, b"\0")]
    seen = set()
    for em in bad:
        st, got = _decode_key(em[:k], aes, kdk)
        assert st == lib.KS_OK and len(got) in aes
        assert _decode_key(em[:k], aes, kdk) == (st, got)
        assert _decode_key(em[:k], aes, b"\x01" * 32)[1] != got
        seen.add(got)
        st, got = _decode_key(em[:k], [16], kdk)
        assert st == lib.KS_OK and len(got) == 16
    # the synthetic length follows the key derivation key: over many keys, every length
    lengths = {len(_decode_key(odd, aes, bytes([i]) * 32)[1]) for i in range(40)}
    assert lengths == set(aes)
    assert _decode_key(odd, [0], kdk)[0] == lib.KS_ERR_LEN
    assert _decode_key(odd, [246], kdk)[0] == lib.KS_ERR_LEN
