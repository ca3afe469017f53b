"""The strict wrap policy for RSA key transport and private keys (docs/policy.md, "Key
pairs"), against keystead with the default profile: an RSA public key is an untrusted KEK
unless the SO trusts it; a trusted one wraps secrets only with OAEP or RSA-AES and only as
strong ones; a private key that unwraps never decrypts and the reverse; what a private key
unwraps is known; a private key leaves only wrapped, as a data key, under a strong enough KEK.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from keystead.core import lib
from keystead.softhsm_bridge.ck import CKA_KS_VALUE_KNOWN, KeyType, ObjectClass
from keystead.softhsm_bridge.ck import Attribute as A
from keystead.softhsm_bridge.errors import rv_name

from tests.conformance import rsa_support as rs

from .actor import Actor, Refused
from .instances import Instance

RSA_GEN = lib.CKM_RSA_PKCS_KEY_PAIR_GEN
EC_GEN = lib.CKM_EC_KEY_PAIR_GEN


@pytest.fixture
def actor(strict_keystead: Instance) -> Iterator[Actor]:
    a = Actor(strict_keystead.raw, strict_keystead.token, strict_keystead.kind)
    a.login_user()
    try:
        yield a
    finally:
        a.close()


def refused(code: str, fn, *args) -> None:
    with pytest.raises(Refused) as err:
        fn(*args)
    assert rv_name(err.value.rv) == code, rv_name(err.value.rv)


def oaep(a: Actor):
    return rs.oaep_params(a.raw.ffi, "sha256")


def pair(a: Actor, bits: int = 2048, **private) -> tuple[int, int]:
    """A key pair generated in the token: the private key sensitive, decrypt and unwrap."""
    pub = {A.TOKEN: False, A.MODULUS_BITS: bits, A.ENCRYPT: True, A.WRAP: True}
    priv = {A.TOKEN: False, A.SENSITIVE: True, A.DECRYPT: True, A.UNWRAP: True,
            **{A[k]: v for k, v in private.items()}}
    return a.call("C_GenerateKeyPair", a.raw.generate_key_pair, a.h, RSA_GEN, pub, priv)


def trusted_public(a: Actor, key: rsa.RSAPrivateKey) -> int:
    """The SO imports the public key as a token object and trusts it."""
    label = f"trusted-rsa-{os.urandom(4).hex()}"
    t = {**rs.public_template(key.public_key(), TOKEN=True, PRIVATE=False), A.LABEL: label,
         A.TRUSTED: True}
    a.as_so("SO: C_CreateObject(TRUSTED=true)", lambda h: a.raw.create_object(h, t))
    return a.find_token_object(label)


def test_untrusted_public_key_wraps_no_secret(actor: Actor) -> None:
    key = rsa.generate_private_key(65537, 3072)
    pub = actor.raw.create_object(actor.h, rs.public_template(key.public_key()))
    secret = actor.generate(16, EXTRACTABLE=True, SENSITIVE=True)
    refused("CKR_KEY_FUNCTION_NOT_PERMITTED", actor.wrap, rs.RSA_OAEP, pub, secret,
            oaep(actor).ptr)
    known = actor.create(os.urandom(16), EXTRACTABLE=True, SENSITIVE=False)
    assert len(actor.wrap(rs.RSA_OAEP, pub, known, oaep(actor).ptr)) == 384


def test_trusted_public_key_wraps_with_oaep_and_strength(actor: Actor) -> None:
    key = rsa.generate_private_key(65537, 3072)  # 128-bit strength
    pub = trusted_public(actor, key)
    aes128 = actor.generate(16, EXTRACTABLE=True, SENSITIVE=True)
    blob = actor.wrap(rs.RSA_OAEP, pub, aes128, oaep(actor).ptr)
    assert len(key.decrypt(blob, rs.oaep_padding("sha256"))) == 16
    other = actor.generate(16, EXTRACTABLE=True, SENSITIVE=True)
    refused("CKR_MECHANISM_INVALID", actor.wrap, rs.RSA_PKCS, pub, other)
    refused("CKR_MECHANISM_INVALID", actor.wrap, rs.RSA_X_509, pub, other)
    aes256 = actor.generate(32, EXTRACTABLE=True, SENSITIVE=True)
    refused("CKR_WRAPPING_KEY_SIZE_RANGE", actor.wrap, rs.RSA_OAEP, pub, aes256,
            oaep(actor).ptr)
    param = rs.rsa_aes_params(actor.raw.ffi, 256, oaep(actor))
    assert len(actor.wrap(rs.RSA_AES_WRAP, pub, other, param.ptr)) == 384 + 24


def test_trusted_rsa_2048_is_too_weak_for_aes_128(actor: Actor) -> None:
    pub = trusted_public(actor, rsa.generate_private_key(65537, 2048))  # 112-bit strength
    aes128 = actor.generate(16, EXTRACTABLE=True, SENSITIVE=True)
    refused("CKR_WRAPPING_KEY_SIZE_RANGE", actor.wrap, rs.RSA_OAEP, pub, aes128,
            oaep(actor).ptr)


def _modulus_key(a: Actor, pub: int) -> rsa.RSAPublicKey:
    n = int.from_bytes(a.raw.get_attribute(a.h, pub, A.MODULUS), "big")
    e = int.from_bytes(a.raw.get_attribute(a.h, pub, A.PUBLIC_EXPONENT), "big")
    return rsa.RSAPublicNumbers(e, n).public_key()


def test_private_key_that_unwraps_never_decrypts(actor: Actor) -> None:
    pub, priv = pair(actor)
    public = _modulus_key(actor, pub)
    blob = public.encrypt(os.urandom(32), rs.oaep_padding("sha256"))
    new = actor.unwrap(rs.RSA_OAEP, priv, blob, oaep(actor).ptr, WRAP=True)
    ct = public.encrypt(b"data", rs.oaep_padding("sha256"))
    refused("CKR_KEY_FUNCTION_NOT_PERMITTED", actor.decrypt, rs.RSA_OAEP, priv, ct,
            oaep(actor).ptr)
    # what a private key unwraps arrives as a data key (anyone with the public key may have
    # made the blob): it wraps no secret; it stays secret (a trusted public key wraps secrets
    # for this private key: test below)
    assert actor.raw.get_attribute(actor.h, new, CKA_KS_VALUE_KNOWN) == b"\x00"
    secret = actor.generate(16, EXTRACTABLE=True, SENSITIVE=True)
    refused("CKR_KEY_FUNCTION_NOT_PERMITTED", actor.wrap, lib.CKM_AES_KEY_WRAP, new, secret)


def test_secret_through_a_trusted_public_key_stays_secret(actor: Actor) -> None:
    """The SO trusts the public half of a token pair; a secret key wrapped under it and
    unwrapped by the private half must not come out known, or it would leave under any known
    key (a hostile review found this: it leaked the value)."""
    pub, priv = pair(actor, bits=3072, TOKEN=True)  # a token object: the SO step logs out
    public = _modulus_key(actor, pub)
    label = f"trusted-rsa-{os.urandom(4).hex()}"
    t = {**rs.public_template(public, TOKEN=True, PRIVATE=False), A.LABEL: label,
         A.TRUSTED: True}
    actor.as_so("SO: C_CreateObject(TRUSTED=true)", lambda h: actor.raw.create_object(h, t))
    trusted = actor.find_token_object(label)
    secret = actor.generate(16, EXTRACTABLE=True, SENSITIVE=True)
    blob = actor.wrap(rs.RSA_OAEP, trusted, secret, oaep(actor).ptr)
    back = actor.unwrap(rs.RSA_OAEP, priv, blob, oaep(actor).ptr, EXTRACTABLE=True)
    assert actor.raw.get_attribute(actor.h, back, CKA_KS_VALUE_KNOWN) == b"\x00"
    mine = actor.create(os.urandom(16), WRAP=True, EXTRACTABLE=True, SENSITIVE=False)
    refused("CKR_KEY_FUNCTION_NOT_PERMITTED", actor.wrap, lib.CKM_AES_KEY_WRAP, mine, back)


def test_private_key_that_decrypts_never_unwraps(actor: Actor) -> None:
    pub, priv = pair(actor)
    public = _modulus_key(actor, pub)
    ct = public.encrypt(b"data", rs.oaep_padding("sha256"))
    assert actor.decrypt(rs.RSA_OAEP, priv, ct, oaep(actor).ptr) == b"data"
    blob = public.encrypt(os.urandom(32), rs.oaep_padding("sha256"))
    refused("CKR_KEY_FUNCTION_NOT_PERMITTED", actor.unwrap, rs.RSA_OAEP, priv, blob,
            oaep(actor).ptr)


def test_pkcs1_does_not_unwrap_under_a_secret_private_key(actor: Actor) -> None:
    pub, priv = pair(actor)
    blob = _modulus_key(actor, pub).encrypt(os.urandom(16), padding.PKCS1v15())
    refused("CKR_MECHANISM_INVALID", actor.unwrap, rs.RSA_PKCS, priv, blob)


def _unwrap_private(a: Actor, kek: int, blob: bytes, key_type: int = KeyType.RSA) -> int:
    t = {A.CLASS: ObjectClass.PRIVATE_KEY, A.KEY_TYPE: key_type, A.TOKEN: False,
         A.DECRYPT: True, A.UNWRAP: True}
    return a.call("C_UnwrapKey", a.raw.unwrap_key, a.h, lib.CKM_AES_KEY_WRAP_KWP, kek, blob, t)


def test_private_key_leaves_wrapped_and_comes_back(actor: Actor) -> None:
    pub, priv = pair(actor, EXTRACTABLE=True)
    kek = actor.generate(16, WRAP=True, UNWRAP=True, ENCRYPT=False, DECRYPT=False,
                         SENSITIVE=True, EXTRACTABLE=False)
    blob = actor.wrap(lib.CKM_AES_KEY_WRAP_KWP, kek, priv)
    back = _unwrap_private(actor, kek, blob)
    assert actor.raw.get_attribute(actor.h, back, A.SENSITIVE) == b"\x01"
    public = _modulus_key(actor, pub)
    ct = public.encrypt(b"round trip", rs.oaep_padding("sha256"))
    assert actor.decrypt(rs.RSA_OAEP, back, ct, oaep(actor).ptr) == b"round trip"
    # the wrapped key is a data key, here and in the copy: neither unwraps
    blob2 = public.encrypt(os.urandom(16), rs.oaep_padding("sha256"))
    refused("CKR_KEY_FUNCTION_NOT_PERMITTED", actor.unwrap, rs.RSA_OAEP, priv, blob2,
            oaep(actor).ptr)


def test_a_private_key_that_unwraps_never_leaves(actor: Actor) -> None:
    pub, priv = pair(actor, EXTRACTABLE=True)
    blob = _modulus_key(actor, pub).encrypt(os.urandom(16), rs.oaep_padding("sha256"))
    actor.unwrap(rs.RSA_OAEP, priv, blob, oaep(actor).ptr)
    kek = actor.generate(32, WRAP=True, UNWRAP=True, ENCRYPT=False, DECRYPT=False,
                         SENSITIVE=True, EXTRACTABLE=False)
    refused("CKR_KEY_NOT_WRAPPABLE", actor.wrap, lib.CKM_AES_KEY_WRAP_KWP, kek, priv)


def test_private_key_needs_a_strong_enough_kek(actor: Actor) -> None:
    pub = {A.TOKEN: False, A.EC_PARAMS: bytes.fromhex("06052b81040022")}  # P-384: 192 bits
    priv = {A.TOKEN: False, A.SENSITIVE: True, A.EXTRACTABLE: True, A.SIGN: True}
    _, ec_priv = actor.call("C_GenerateKeyPair", actor.raw.generate_key_pair, actor.h, EC_GEN,
                            pub, priv)
    kek128 = actor.generate(16, WRAP=True, UNWRAP=True, ENCRYPT=False, DECRYPT=False,
                         SENSITIVE=True, EXTRACTABLE=False)
    refused("CKR_WRAPPING_KEY_SIZE_RANGE", actor.wrap, lib.CKM_AES_KEY_WRAP_KWP, kek128,
            ec_priv)
    kek256 = actor.generate(32, WRAP=True, UNWRAP=True, ENCRYPT=False, DECRYPT=False,
                         SENSITIVE=True, EXTRACTABLE=False)
    assert actor.wrap(lib.CKM_AES_KEY_WRAP_KWP, kek256, ec_priv)
