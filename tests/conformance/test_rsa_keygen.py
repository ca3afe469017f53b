"""RSA key pair generation (mechanisms 2.1.4, CKM_RSA_PKCS_KEY_PAIR_GEN) against FIPS 186-5:
the conditions of A.1.1 and A.1.3 on every component, checked with Python's integers over
many keys, and the keys cross-checked with the ``cryptography`` package both ways. keystead
makes its keys by A.1.3 (random probable primes) and refuses the public exponents FIPS 186-5
does not allow for new keys (README, the mechanism table)."""

from __future__ import annotations

import math
import secrets

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from keystead.softhsm_bridge.ck import Attribute as A

from . import rsa_support
from .keypair_support import sign, verify
from .pair_support import RSA_GEN, gen_rv, rsa_templates
from .support import assert_rv

CKM_SHA256_RSA_PKCS = 0x0040


@pytest.fixture
def keystead_only(module):
    if module.name != "keystead":
        pytest.skip("keystead's own generator and exponent range")
    return module


def _probably_prime(n: int, rounds: int = 40) -> bool:
    """Miller-Rabin with random bases, far more rounds than FIPS 186-5 asks."""
    if n < 4 or n % 2 == 0:
        return n in (2, 3)
    m, a = n - 1, 0
    while m % 2 == 0:
        m, a = m // 2, a + 1
    for _ in range(rounds):
        z = pow(2 + secrets.randbelow(n - 3), m, n)
        if z in (1, n - 1):
            continue
        for _ in range(a - 1):
            z = z * z % n
            if z == n - 1:
                break
        else:
            return False
    return True


def _components(raw, h, hp, hk) -> dict[str, int]:
    names = {"n": (hp, A.MODULUS), "e": (hp, A.PUBLIC_EXPONENT), "d": (hk, A.PRIVATE_EXPONENT),
             "p": (hk, A.PRIME_1), "q": (hk, A.PRIME_2), "dp": (hk, A.EXPONENT_1),
             "dq": (hk, A.EXPONENT_2), "qinv": (hk, A.COEFFICIENT)}
    return {k: int.from_bytes(raw.get_attribute(h, o, a), "big") for k, (o, a) in names.items()}


def assert_fips_186_5(c: dict[str, int], nlen: int) -> None:
    """Every condition FIPS 186-5 A.1.1 and A.1.3 puts on a key pair of nlen bits."""
    n, e, d, p, q = c["n"], c["e"], c["d"], c["p"], c["q"]
    half = nlen // 2
    assert n == p * q and n.bit_length() == nlen
    assert e % 2 == 1 and 2**16 < e < 2**256
    for prime, bits in ((p, nlen - half), (q, half)):
        # sqrt(2) * 2^(bits - 1) <= prime <= 2^bits - 1, in integers: prime^2 >= 2^(2 bits - 1)
        assert prime * prime >= 2 ** (2 * bits - 1) and prime < 2**bits
        assert math.gcd(e, prime - 1) == 1
        assert _probably_prime(prime)
    assert abs(p - q) > 2 ** (half - 100)
    lam = math.lcm(p - 1, q - 1)
    assert d == pow(e, -1, lam) and 2**half < d < lam
    assert c["dp"] == d % (p - 1) and c["dq"] == d % (q - 1)
    assert c["qinv"] == pow(q, -1, p)


def _generate(raw, h, bits: int, exponent: bytes | None = None, **private):
    """A session key pair; the public key does what the private key's purpose pairs with."""
    pub, priv = rsa_templates(bits, **private)
    pub.update({A.VERIFY: True} if private.get("SIGN") else
               {A.ENCRYPT: True} if private.get("DECRYPT") else {})
    if exponent is not None:
        pub[A.PUBLIC_EXPONENT] = exponent
    return raw.generate_key_pair(h, RSA_GEN, pub, priv)


def test_keys_meet_fips_186_5(keystead_only, raw, rsession):
    """Many 2048-bit keys (and a few larger ones, another exponent) meet every condition."""
    cases = ((2048, 24, None), (3072, 2, None), (2048, 4, b"\x01\x00\x00\x01\x01"),
             (4096, 1, None))
    for bits, count, exponent in cases:
        for _ in range(count):
            hp, hk = _generate(raw, rsession, bits, exponent)
            assert_fips_186_5(_components(raw, rsession, hp, hk), bits)


def test_4096_bits_signs_and_verifies(raw, rsession):
    hp, hk = _generate(raw, rsession, 4096, SIGN=True)
    c = _components(raw, rsession, hp, hk)
    pub = rsa.RSAPublicNumbers(c["e"], c["n"]).public_key()
    assert pub.key_size == 4096
    sig = sign(raw, rsession, CKM_SHA256_RSA_PKCS, hk, b"4096 bits")
    pub.verify(sig, b"4096 bits", padding.PKCS1v15(), hashes.SHA256())


def test_cryptography_loads_and_cross_verifies(raw, rsession):
    """The generated components load in ``cryptography`` (which checks them), and signatures
    agree both ways."""
    hp, hk = _generate(raw, rsession, 2048, SIGN=True)
    c = _components(raw, rsession, hp, hk)
    pubn = rsa.RSAPublicNumbers(c["e"], c["n"])
    key = rsa.RSAPrivateNumbers(c["p"], c["q"], c["d"], c["dp"], c["dq"], c["qinv"],
                                pubn).private_key()
    msg = b"cross-checked"
    sig = sign(raw, rsession, CKM_SHA256_RSA_PKCS, hk, msg)
    key.public_key().verify(sig, msg, padding.PKCS1v15(), hashes.SHA256())
    theirs = key.sign(msg, padding.PKCS1v15(), hashes.SHA256())
    assert_rv(verify(raw, rsession, CKM_SHA256_RSA_PKCS, hp, msg, theirs), "CKR_OK")
    with pytest.raises(InvalidSignature):
        key.public_key().verify(sig, msg + b"!", padding.PKCS1v15(), hashes.SHA256())


def test_oaep_agrees_with_cryptography(raw, rsession, module, xfail_quirk):
    """OAEP (SHA-256) both ways on a generated decryption pair (one key, one purpose)."""
    xfail_quirk(module, "rsa-oaep-sha1-only")
    hp, hk = _generate(raw, rsession, 2048, DECRYPT=True)
    c = _components(raw, rsession, hp, hk)
    pubn = rsa.RSAPublicNumbers(c["e"], c["n"])
    key = rsa.RSAPrivateNumbers(c["p"], c["q"], c["d"], c["dp"], c["dq"], c["qinv"],
                                pubn).private_key()
    oaep = padding.OAEP(padding.MGF1(hashes.SHA256()), hashes.SHA256(), None)
    param = rsa_support.oaep_params(raw.ffi, "sha256")
    ct = pubn.public_key().encrypt(b"to the token", oaep)
    assert raw.decrypt(rsession, rsa_support.RSA_OAEP, hk, ct, param.ptr) == b"to the token"
    ct = raw.encrypt(rsession, rsa_support.RSA_OAEP, hp, b"from the token", param.ptr)
    assert key.decrypt(ct, oaep) == b"from the token"


@pytest.mark.parametrize("exponent", [b"\x03", b"\xff\xff", b"\x01\x00\x00",
                                      b"\x01" + bytes(31) + b"\x01", (1).to_bytes(33, "big")],
                         ids=["three", "65535", "65536", "2^256+1", "one-zero-padded"])
def test_exponents_outside_fips_186_5(keystead_only, raw, rsession, exponent):
    """FIPS 186-5 A.1.1: a new key's e is odd and 2^16 < e < 2^256. 3 and 65535 are odd but
    below that floor; an invalid template value is CKR_ATTRIBUTE_VALUE_INVALID (5.18)."""
    pub, priv = rsa_templates()
    pub[A.PUBLIC_EXPONENT] = exponent
    assert_rv(gen_rv(raw, rsession, RSA_GEN, pub, priv)[0], "CKR_ATTRIBUTE_VALUE_INVALID")


def test_largest_exponent_below_2_256(keystead_only, raw, rsession):
    e = 2**256 - 2**128 + 1  # odd, 256 bits
    hp, hk = _generate(raw, rsession, 2048, e.to_bytes(32, "big"))
    c = _components(raw, rsession, hp, hk)
    assert c["e"] == e
    assert_fips_186_5(c, 2048)
