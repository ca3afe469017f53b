"""crypto/curve.c, crypto/pkey.c and crypto/x509.c at the primitive layer: curve parameters
(RFC 5480 2.1.1.1, RFC 8410 3, PKCS#11 mechanisms 2.3.3), key pairs through libcrypto and
their DER forms, cross-checked with the ``cryptography`` package both ways."""

from __future__ import annotations

import datetime

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa, x448, x25519
from cryptography.x509.oid import NameOID
from keystead.core import ffi, lib

CURVES = {
    "06082a8648ce3d030107": ("KS_CURVE_P256", ec.SECP256R1),
    "06052b81040022": ("KS_CURVE_P384", ec.SECP384R1),
    "06052b81040023": ("KS_CURVE_P521", ec.SECP521R1),
    "06032b6570": ("KS_CURVE_ED25519", ed25519.Ed25519PrivateKey),
    "06032b6571": ("KS_CURVE_ED448", ed448.Ed448PrivateKey),
    "06032b656e": ("KS_CURVE_X25519", x25519.X25519PrivateKey),
    "06032b656f": ("KS_CURVE_X448", x448.X448PrivateKey),
}


def parse(der: bytes) -> tuple[int, int]:
    out = ffi.new("ks_curve *")
    st = lib.ks_curve_from_params(out, der, len(der))
    return st, out[0]


def printable(name: str) -> bytes:
    return bytes([0x13, len(name)]) + name.encode()


@pytest.mark.parametrize("oid", sorted(CURVES))
def test_curve_by_oid_and_back(oid: str) -> None:
    name, _ = CURVES[oid]
    st, c = parse(bytes.fromhex(oid))
    assert (st, c) == (lib.KS_OK, getattr(lib, name))
    n = ffi.new("size_t *")
    assert bytes(ffi.buffer(lib.ks_curve_oid_der(c, n), n[0])) == bytes.fromhex(oid)


@pytest.mark.parametrize("name,curve", [
    ("prime256v1", "KS_CURVE_P256"), ("secp256r1", "KS_CURVE_P256"), ("P-384", "KS_CURVE_P384"),
    ("secp521r1", "KS_CURVE_P521"), ("edwards25519", "KS_CURVE_ED25519"),
    ("edwards448", "KS_CURVE_ED448"), ("curve25519", "KS_CURVE_X25519"),
    ("curve448", "KS_CURVE_X448"),
])
def test_curve_by_printable_name(name: str, curve: str) -> None:
    assert parse(printable(name)) == (lib.KS_OK, getattr(lib, curve))


@pytest.mark.parametrize("der", [
    "", "06", "0600", "06082a8648ce3d0301", "06082a8648ce3d03010700",  # empty..trailing
    "068108" + "2a8648ce3d030107",  # long form for a short length: not DER
    "020101", "1300" + "00",
], ids=["empty", "tag-only", "empty-oid", "short", "trailing", "non-minimal", "integer",
        "string-trailing"])
def test_malformed_params(der: str) -> None:
    assert parse(bytes.fromhex(der))[0] == lib.KS_ERR_ARGS


@pytest.mark.parametrize("der", ["06052b8104000a", "06032a0304", "1306" + b"nosuch".hex(),
                                 "0500", "3003020101"],
                         ids=["secp256k1", "1.2.3.4", "name", "implicitlyCA", "specified"])
def test_other_curves_unsupported(der: str) -> None:
    assert parse(bytes.fromhex(der))[0] == lib.KS_ERR_UNSUPPORTED


def test_curve_lengths() -> None:
    got = {c: (lib.ks_curve_point_len(getattr(lib, c)), lib.ks_curve_scalar_len(getattr(lib, c)))
           for c in ("KS_CURVE_P256", "KS_CURVE_P521", "KS_CURVE_ED448", "KS_CURVE_X448")}
    assert got == {"KS_CURVE_P256": (65, 32), "KS_CURVE_P521": (133, 66),
                   "KS_CURVE_ED448": (57, 57), "KS_CURVE_X448": (56, 56)}
    assert lib.ks_curve_point_len(lib.KS_CURVE_NONE) == 0


class Key:
    """An EVP_PKEY owned by the test (freed when collected)."""

    def __init__(self) -> None:
        self.pp = ffi.new("EVP_PKEY **")

    @property
    def k(self):
        return self.pp[0]

    def __del__(self) -> None:
        if self.pp[0] != ffi.NULL:
            lib.EVP_PKEY_free(self.pp[0])


def pkcs8(key: Key) -> bytes:
    der = ffi.new("uint8_t **")
    n = ffi.new("size_t *")
    assert lib.ks_pkey_pkcs8(key.k, der, n) == lib.KS_OK
    out = bytes(ffi.buffer(der[0], n[0]))
    lib.ks_secure_free(der[0], n[0])
    return out


@pytest.mark.parametrize("oid", sorted(CURVES))
def test_generated_key_loads_in_cryptography(oid: str) -> None:
    name, _ = CURVES[oid]
    key = Key()
    assert lib.ks_pkey_gen_curve(key.pp, getattr(lib, name)) == lib.KS_OK
    assert lib.ks_pkey_curve(key.k) == getattr(lib, name)
    theirs = serialization.load_der_private_key(pkcs8(key), None)
    point = ffi.new("uint8_t[160]")
    n = ffi.new("size_t *")
    assert lib.ks_pkey_public_point(key.k, point, n, 160) == lib.KS_OK
    if isinstance(theirs, ec.EllipticCurvePrivateKey):
        expected = theirs.public_key().public_bytes(serialization.Encoding.X962,
                                                    serialization.PublicFormat.UncompressedPoint)
    else:
        expected = theirs.public_key().public_bytes(serialization.Encoding.Raw,
                                                    serialization.PublicFormat.Raw)
    assert bytes(ffi.buffer(point, n[0])) == expected


#: The group orders n of the prime curves (SEC 2 2.4.2, 2.5.1, 2.6.1).
ORDERS = {
    "KS_CURVE_P256": 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551,
    "KS_CURVE_P384": int("FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFC7634D81F4372DDF"
                         "581A0DB248B0A77AECEC196ACCC52973", 16),
    "KS_CURVE_P521": int("01FF" + "FFFFFFFF" * 7 + "FFFFFFFA51868783BF2F966B7FCC0148F709A5D0"
                         "3BB5C9B8899C47AEBB6FB71E91386409", 16),
}


def gen_values(curve: int) -> tuple[bytes, bytes]:
    priv, point = ffi.new("uint8_t[72]"), ffi.new("uint8_t[160]")
    pn, qn = ffi.new("size_t *"), ffi.new("size_t *")
    assert lib.ks_pkey_gen_curve_values(curve, priv, pn, 72, point, qn, 160) == lib.KS_OK
    return bytes(ffi.buffer(priv, pn[0])), bytes(ffi.buffer(point, qn[0]))


@pytest.mark.parametrize("oid", sorted(CURVES))
def test_generated_values_are_one_key(oid: str) -> None:
    """The private value and the public point written without an EVP_PKEY belong together
    (the point is the private value's, as cryptography computes it), the scalar of a prime
    curve lies in [1, n - 1], and two generations differ."""
    name, cls = CURVES[oid]
    curve = getattr(lib, name)
    priv, point = gen_values(curve)
    assert (len(priv), len(point)) == (lib.ks_curve_scalar_len(curve),
                                       lib.ks_curve_point_len(curve))
    if isinstance(cls, type) and issubclass(cls, ec.EllipticCurve):
        d = int.from_bytes(priv, "big")
        assert 1 <= d < ORDERS[name]
        theirs = ec.derive_private_key(d, cls())
        expected = theirs.public_key().public_bytes(serialization.Encoding.X962,
                                                    serialization.PublicFormat.UncompressedPoint)
    else:
        theirs = cls.from_private_bytes(priv)
        expected = theirs.public_key().public_bytes(serialization.Encoding.Raw,
                                                    serialization.PublicFormat.Raw)
    assert point == expected
    assert gen_values(curve) != (priv, point)


@pytest.mark.parametrize("oid", sorted(CURVES))
def test_generated_der_forms_are_one_key(oid: str) -> None:
    """ks_pkey_gen_curve_der's PKCS#8 and SPKI load in cryptography as the two halves of one
    key, whose public point is the one written beside them."""
    name, cls = CURVES[oid]
    p8, spki, point = (ffi.new("uint8_t[256]") for _ in range(3))
    n8, ns, np_ = (ffi.new("size_t *") for _ in range(3))
    assert lib.ks_pkey_gen_curve_der(getattr(lib, name), p8, n8, spki, ns, point,
                                     np_) == lib.KS_OK
    theirs = serialization.load_der_private_key(bytes(ffi.buffer(p8, n8[0])), None)
    pub = serialization.load_der_public_key(bytes(ffi.buffer(spki, ns[0])))
    der = serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    assert theirs.public_key().public_bytes(*der) == pub.public_bytes(*der)
    if isinstance(cls, type) and issubclass(cls, ec.EllipticCurve):
        raw = pub.public_bytes(serialization.Encoding.X962,
                               serialization.PublicFormat.UncompressedPoint)
    else:
        raw = pub.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    assert bytes(ffi.buffer(point, np_[0])) == raw


def test_generated_values_refuse_short_buffers_and_no_curve() -> None:
    priv, point = ffi.new("uint8_t[72]"), ffi.new("uint8_t[160]")
    pn, qn = ffi.new("size_t *"), ffi.new("size_t *")
    assert lib.ks_pkey_gen_curve_values(lib.KS_CURVE_P256, priv, pn, 31, point, qn,
                                        160) == lib.KS_ERR_ARGS
    assert lib.ks_pkey_gen_curve_values(lib.KS_CURVE_P521, priv, pn, 72, point, qn,
                                        132) == lib.KS_ERR_ARGS
    assert lib.ks_pkey_gen_curve_values(lib.KS_CURVE_NONE, priv, pn, 72, point, qn,
                                        160) == lib.KS_ERR_ARGS


@pytest.mark.parametrize("oid", sorted(CURVES))
def test_key_from_cryptography_private_value(oid: str) -> None:
    name, cls = CURVES[oid]
    if isinstance(cls, type) and issubclass(cls, ec.EllipticCurve):
        theirs = ec.generate_private_key(cls())
        size = (theirs.curve.key_size + 7) // 8
        value = theirs.private_numbers().private_value.to_bytes(size, "big")
    else:
        theirs = cls.generate()
        value = theirs.private_bytes(serialization.Encoding.Raw,
                                     serialization.PrivateFormat.Raw,
                                     serialization.NoEncryption())
    key = Key()
    assert lib.ks_pkey_from_private_value(key.pp, getattr(lib, name), value,
                                          len(value)) == lib.KS_OK
    der = pkcs8(key)
    # the DER written directly (crypto/pkey_der.c) is byte for byte libcrypto's
    assert der == theirs.private_bytes(serialization.Encoding.DER,
                                       serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption())
    mine = serialization.load_der_private_key(der, None)
    assert mine.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    ) == theirs.public_key().public_bytes(serialization.Encoding.DER,
                                          serialization.PublicFormat.SubjectPublicKeyInfo)
    out = ffi.new("uint8_t[66]")
    n = ffi.new("size_t *")
    assert lib.ks_pkey_private_value(key.k, out, n, 66) == lib.KS_OK
    assert bytes(ffi.buffer(out, n[0])) == value


@pytest.mark.parametrize("value", [bytes(32), b"\xff" * 32, b"", b"\x01" * 33],
                         ids=["zero", "above-order", "empty", "long"])
def test_bad_p256_private_value(value: bytes) -> None:
    key = Key()
    assert lib.ks_pkey_from_private_value(key.pp, lib.KS_CURVE_P256, value,
                                          len(value)) == lib.KS_ERR_ARGS


def test_public_point_forms() -> None:
    theirs = ec.generate_private_key(ec.SECP256R1()).public_key()
    for fmt in (serialization.PublicFormat.UncompressedPoint,
                serialization.PublicFormat.CompressedPoint):
        p = theirs.public_bytes(serialization.Encoding.X962, fmt)
        key = Key()
        assert lib.ks_pkey_from_public_point(key.pp, lib.KS_CURVE_P256, p, len(p)) == lib.KS_OK
    off = b"\x04" + (1).to_bytes(32, "big") * 2
    assert lib.ks_pkey_from_public_point(Key().pp, lib.KS_CURVE_P256, off,
                                         len(off)) == lib.KS_ERR_ARGS


@pytest.mark.parametrize("e,ok", [(b"\x01\x00\x01", True), (b"\x00\x01\x00\x01", True),
                                  (b"\x03", False), (b"\xff\xff", False),
                                  (b"\x01\x00\x00", False), (b"\x01", False),
                                  (b"\x01" + bytes(32), False)],
                         ids=["65537", "65537-zero-padded", "3", "65535", "even", "one",
                              "too-long"])
def test_rsa_exponent(e: bytes, ok: bool) -> None:
    """A new key's exponent is odd with 2^16 < e < 2^256 (FIPS 186-5 A.1.1)."""
    key = Key()
    st = lib.ks_pkey_gen_rsa(key.pp, 2048, e, len(e))
    assert st == (lib.KS_OK if ok else lib.KS_ERR_ARGS)
    if ok:
        assert lib.ks_pkey_bits(key.k) == 2048
        theirs = serialization.load_der_private_key(pkcs8(key), None)
        assert isinstance(theirs, rsa.RSAPrivateKey)
        assert theirs.public_key().public_numbers().e == int.from_bytes(e, "big")


@pytest.mark.parametrize("bits,ok", [(512, False), (1023, False), (1024, True), (2049, True),
                                     (16385, False)])
def test_rsa_generation_sizes(bits: int, ok: bool) -> None:
    """The generator makes 1024 to 16384 bits, odd sizes included (p gets the extra bit);
    which sizes a token offers is the mechanism registry's."""
    key = Key()
    st = lib.ks_pkey_gen_rsa(key.pp, bits, ffi.NULL, 0)
    assert st == (lib.KS_OK if ok else lib.KS_ERR_ARGS)
    if ok:
        assert lib.ks_pkey_bits(key.k) == bits
        theirs = serialization.load_der_private_key(pkcs8(key), None)
        assert isinstance(theirs, rsa.RSAPrivateKey) and theirs.key_size == bits


def test_rsa_public_from_cryptography() -> None:
    pn = rsa.generate_private_key(65537, 2048).public_key().public_numbers()
    n = pn.n.to_bytes(256, "big")
    key = Key()
    assert lib.ks_pkey_from_rsa_public(key.pp, n, len(n), b"\x01\x00\x01", 3) == lib.KS_OK
    even = (pn.n + 1).to_bytes(256, "big")
    assert lib.ks_pkey_from_rsa_public(Key().pp, even, 256, b"\x01\x00\x01",
                                       3) == lib.KS_ERR_ARGS


def test_pkcs8_parse_refuses_garbage_and_trailing_bytes() -> None:
    key = Key()
    assert lib.ks_pkey_gen_curve(key.pp, lib.KS_CURVE_ED25519) == lib.KS_OK
    der = pkcs8(key)
    assert lib.ks_pkey_from_pkcs8(Key().pp, der, len(der)) == lib.KS_OK
    for bad in (der + b"\x00", der[:-1], b"\x30\x00", b""):
        assert lib.ks_pkey_from_pkcs8(Key().pp, bad, len(bad)) == lib.KS_ERR_ARGS


def test_x509_fields_match_cryptography() -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "x509 fields")])
    issuer = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "issuer")])
    now = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(issuer)
            .public_key(key.public_key()).serial_number(0xFF01)
            .not_valid_before(now).not_valid_after(now + datetime.timedelta(days=1))
            .sign(key, hashes.SHA256()))
    der = cert.public_bytes(serialization.Encoding.DER)
    f = ffi.new("ks_x509_fields *")
    assert lib.ks_x509_fields_of(f, der, len(der)) == lib.KS_OK
    try:
        def get(d):
            return bytes(ffi.buffer(d.der, d.len))
        assert get(f.subject) == name.public_bytes()
        assert get(f.issuer) == issuer.public_bytes()
        assert get(f.serial) == bytes.fromhex("02030 0ff01".replace(" ", ""))
        assert get(f.spki) == key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    finally:
        lib.ks_x509_fields_free(f)
    for bad in (der + b"\x00", der[:100], b"garbage"):
        g = ffi.new("ks_x509_fields *")
        assert lib.ks_x509_fields_of(g, bad, len(bad)) == lib.KS_ERR_ARGS
        assert g.subject.der == ffi.NULL
