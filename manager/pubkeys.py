"""Public keys read from a token: checked, exported (PEM, DER, JWK) and used to verify.

A token describes a public key by its SubjectPublicKeyInfo (CKA_PUBLIC_KEY_INFO, PKCS#11
3.0 4.8) or, where it leaves that empty (PKCS#11 2.40 tokens such as SoftHSMv2 2.6.1), by
its components: CKA_MODULUS and CKA_PUBLIC_EXPONENT, or CKA_EC_PARAMS and CKA_EC_POINT (a
DER OCTET STRING, or the raw point; 3.0 is ambiguous for Edwards and Montgomery curves).
Either way the key must be of the algorithm and size the catalogue records.

Verification is local, with the ``cryptography`` package over this public key, on every
token alike: a public key is no secret, so nothing is gained by sending the message to the
token, and the same code then verifies on tokens that lack a mechanism (SoftHSMv2 has no
hashed ECDSA) and streams any size of input (docs/manager.md, "Signing").
"""

from __future__ import annotations

import base64
import hashlib
import json

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa, utils, x25519

from .errors import IntegrityError
from .keypairs import CURVES, EC, ED25519, PSS, RSA, X25519

PublicKey = (rsa.RSAPublicKey | ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey
             | x25519.X25519PublicKey)
_EC_CURVES = {256: ec.SECP256R1(), 384: ec.SECP384R1(), 521: ec.SECP521R1()}
_HASHES = {"sha256": hashes.SHA256(), "sha384": hashes.SHA384(), "sha512": hashes.SHA512()}


def _point(value: bytes, raw_len: int) -> bytes:
    """The point bytes of CKA_EC_POINT: as given when ``raw_len`` long, else the content of
    a DER OCTET STRING (short or long form length) of that length."""
    if len(value) == raw_len:
        return value
    if len(value) >= 2 and value[0] == 0x04:
        if value[1] < 0x80:
            body = value[2:]
            declared = value[1]
        else:
            n = value[1] & 0x7F
            body = value[2 + n:]
            declared = int.from_bytes(value[2:2 + n], "big")
        if declared == len(body) == raw_len:
            return body
    raise IntegrityError("the token's CKA_EC_POINT is not a point of the key's curve")


def load_public(material: dict[str, bytes], algorithm: str, length_bits: int) -> PublicKey:
    """The public key the token described (:func:`.keypair_token.public_material`).

    Raises IntegrityError when it is missing, malformed, or not of ``algorithm`` and
    ``length_bits``.
    """
    try:
        if "spki" in material:
            key = serialization.load_der_public_key(material["spki"])
        elif algorithm == RSA and "n" in material and "e" in material:
            key = rsa.RSAPublicNumbers(int.from_bytes(material["e"], "big"),
                                       int.from_bytes(material["n"], "big")).public_key()
        elif algorithm == EC and "point" in material:
            coord = (length_bits + 7) // 8
            key = ec.EllipticCurvePublicKey.from_encoded_point(
                _EC_CURVES[length_bits], _point(material["point"], 1 + 2 * coord))
        elif algorithm == ED25519 and "point" in material:
            key = ed25519.Ed25519PublicKey.from_public_bytes(_point(material["point"], 32))
        elif algorithm == X25519 and "point" in material:
            key = x25519.X25519PublicKey.from_public_bytes(_point(material["point"], 32))
        else:
            raise IntegrityError("the token gives neither CKA_PUBLIC_KEY_INFO nor the "
                                 "public key's components")
    except (ValueError, TypeError) as exc:
        raise IntegrityError(f"the token's public key does not parse: {exc}") from None
    _check_kind(key, algorithm, length_bits)
    return key  # type: ignore[return-value]


def _check_kind(key: object, algorithm: str, length_bits: int) -> None:
    ok = {
        RSA: isinstance(key, rsa.RSAPublicKey) and key.key_size == length_bits,
        EC: isinstance(key, ec.EllipticCurvePublicKey) and key.curve.key_size == length_bits,
        ED25519: isinstance(key, ed25519.Ed25519PublicKey),
        X25519: isinstance(key, x25519.X25519PublicKey),
    }.get(algorithm, False)
    if not ok:
        raise IntegrityError(f"the token's public key is not the {algorithm} key of "
                             f"{length_bits} bits the catalogue records")


# ---- export

def spki_der(key: PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.DER,
                            serialization.PublicFormat.SubjectPublicKeyInfo)


def spki_pem(key: PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.PEM,
                            serialization.PublicFormat.SubjectPublicKeyInfo)


def b64url(data: bytes) -> str:
    """base64url without padding (RFC 7515 2, as RFC 7517/7518 use it)."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _uint(value: int) -> bytes:
    """RFC 7518 6.3.1.1: the unsigned big-endian octets, as few as the value needs."""
    return value.to_bytes(max(1, (value.bit_length() + 7) // 8), "big")


def jwk(key: PublicKey, *, signing: bool, length_bits: int) -> dict[str, str]:
    """The public key as a JWK (RFC 7517): ``kty`` RSA (RFC 7518 6.3.1: ``n``, ``e``), EC
    (6.2.1: ``crv``, ``x``, ``y``, each the full coordinate length) or OKP (RFC 8037 2:
    ``crv``, ``x``); ``use`` "sig" or "enc" (RFC 7517 4.2: key agreement is encryption);
    ``alg`` where one algorithm fits the key (ES256/ES384/ES512, RFC 7518 3.4; EdDSA,
    RFC 8037 3.1; ECDH-ES, RFC 7518 4.6); ``kid`` the RFC 7638 thumbprint (SHA-256)."""
    out: dict[str, str]
    if isinstance(key, rsa.RSAPublicKey):
        nums = key.public_numbers()
        out = {"kty": "RSA", "n": b64url(_uint(nums.n)), "e": b64url(_uint(nums.e))}
        alg = None  # PS256 or RS256: the scheme is chosen at signing
        required = ("e", "kty", "n")
    elif isinstance(key, ec.EllipticCurvePublicKey):
        nums = key.public_numbers()
        size = (length_bits + 7) // 8
        out = {"kty": "EC", "crv": CURVES[length_bits][0],
               "x": b64url(nums.x.to_bytes(size, "big")),
               "y": b64url(nums.y.to_bytes(size, "big"))}
        alg = {256: "ES256", 384: "ES384", 521: "ES512"}[length_bits] if signing else "ECDH-ES"
        required = ("crv", "kty", "x", "y")
    else:
        raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        crv = "Ed25519" if isinstance(key, ed25519.Ed25519PublicKey) else "X25519"
        out = {"kty": "OKP", "crv": crv, "x": b64url(raw)}
        alg = "EdDSA" if signing else "ECDH-ES"
        required = ("crv", "kty", "x")
    canonical = json.dumps({k: out[k] for k in required}, separators=(",", ":"),
                           sort_keys=True)  # RFC 7638 3.2
    out["kid"] = b64url(hashlib.sha256(canonical.encode("utf-8")).digest())
    out["use"] = "sig" if signing else "enc"
    if alg is not None:
        out["alg"] = alg
    return out


# ---- verification

def verify(key: PublicKey, signature: bytes, *, scheme: str, hash_name: str | None,
           digest: bytes | None, message: bytes | None) -> bool:
    """True when ``signature`` is valid: over ``digest`` (prehashed with ``hash_name``)
    for RSA and ECDSA, over ``message`` for Ed25519. False for any invalid signature,
    malformed ones included."""
    try:
        if isinstance(key, ed25519.Ed25519PublicKey):
            key.verify(signature, message or b"")
            return True
        algo = utils.Prehashed(_HASHES[hash_name or "sha256"])
        if isinstance(key, rsa.RSAPublicKey):
            pad = (padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32)
                   if scheme == PSS else padding.PKCS1v15())
            key.verify(signature, digest or b"", pad, algo)
        elif isinstance(key, ec.EllipticCurvePublicKey):
            key.verify(signature, digest or b"", ec.ECDSA(algo))
        else:
            return False
        return True
    except (InvalidSignature, ValueError):
        return False


def ecdsa_der(raw_signature: bytes) -> bytes:
    """PKCS#11's ECDSA signature (r || s, each the order's length) as DER (X9.62)."""
    half = len(raw_signature) // 2
    if half == 0 or len(raw_signature) != 2 * half:
        raise IntegrityError("the token's ECDSA signature has an odd length")
    return utils.encode_dss_signature(int.from_bytes(raw_signature[:half], "big"),
                                      int.from_bytes(raw_signature[half:], "big"))
