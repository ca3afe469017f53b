"""ECDH and X25519/X448 (crypto/ecdh.h).

Known answers: the CAVP KAS ECC ZZ-only validity vectors (P-256, P-384, P-521, both roles)
and RFC 7748 5.2 (X25519, X448), from cryptography_vectors. Cross-checks: random key pairs
against ``cryptography``'s exchange, both point forms and both ECDH variants. Negative cases
written from SEC 1, SP 800-56A 5.6.2.3 and RFC 7748: points off the curve, of another curve,
of the wrong length or form, infinity, low-order X25519/X448 values; keys that are not ECDH
keys. Each is one exact ks_status, never a crash.
"""

from __future__ import annotations

import hashlib

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa, x448, x25519
from keystead.core import ffi, lib

from tests.native.kex_support import (
    CURVE_IDS,
    PRIME_CURVES,
    ecdh,
    exchange,
    generate,
    pkcs8,
    public_value,
)
from tests.vectors.pyca import load_pyca

CURVES = list(CURVE_IDS)
FAX_CURVES = {"EC": "P-256", "ED": "P-384", "EE": "P-521"}  # the files' parameter sets
ZZ_FILES = ("asymmetric/ECDH/KASValidityTest_ECCStaticUnified_NOKC_ZZOnly_init.fax",
            "asymmetric/ECDH/KASValidityTest_ECCStaticUnified_NOKC_ZZOnly_resp.fax")


def zz_vectors():
    for path in ZZ_FILES:
        for section, vec in load_pyca(path):
            curve = FAX_CURVES.get(section.get("_", "")[:2])
            if curve is not None and vec.has("Z"):
                yield curve, section["_"].split(" - ")[1], vec


ZZ = list(zz_vectors())


def point(curve: str, x: bytes, y: bytes) -> bytes:
    """The uncompressed point; CAVP writes P-521's coordinates with extra zero bytes."""
    size = lib.ks_ecdh_secret_len(CURVE_IDS[curve])
    return b"\x04" + b"".join(int.from_bytes(c, "big").to_bytes(size, "big") for c in (x, y))


@pytest.mark.parametrize("curve, sha, vec", ZZ, ids=[f"{c}-{v}" for c, _, v in ZZ])
def test_cavp_zz_vectors(curve: str, sha: str, vec) -> None:
    """Each vector: the IUT's private key d and the CAVS public key give Z. Results 1 and 2
    (the CAVS key fails public-key validation) must be refused; 8 (Z changed) must differ;
    5, 6 and 7 concern the IUT's own public key and the d/Q pairing, which are checked at key
    import and not by the primitive (it takes d alone): Z is then whatever d gives, checked
    against cryptography (a changed d outside [1, n - 1] makes no key at all)."""
    with vec:
        vec.int("COUNT")
        vec.hex("dsCAVS")
        peer = point(curve, vec.hex("QsCAVSx"), vec.hex("QsCAVSy"))
        d = int.from_bytes(vec.hex("dsIUT"), "big")
        vec.hex("QsIUTx")
        vec.hex("QsIUTy")
        z = vec.hex("Z")
        hash_zz = vec.hex("CAVSHashZZ")
        result = vec.text("Result")
    code = int(result.split("(")[1].split()[0])
    try:
        key = ec.derive_private_key(d, PRIME_CURVES[curve])
    except ValueError:
        assert code == 7  # a changed d out of [1, n - 1]: no private key to give the token
        return
    st, got = ecdh(pkcs8(key), peer)
    if code in (1, 2):
        assert (st, got) == (lib.KS_ERR_ARGS, b"")
        return
    assert st == lib.KS_OK
    peer_key = ec.EllipticCurvePublicKey.from_encoded_point(PRIME_CURVES[curve], peer)
    assert got == key.exchange(ec.ECDH(), peer_key)
    if code in (0, 13):
        assert got == z
        assert hashlib.new(sha.lower(), z).digest() == hash_zz
    elif code == 8:
        assert got != z


def test_zz_vectors_cover_the_curves_and_failures() -> None:
    assert {c for c, _, _ in ZZ} == set(FAX_CURVES.values())
    codes = {v.text("Result").split("(")[1].split()[0] for _, _, v in ZZ}
    assert {"0", "1", "2", "8", "13"} <= codes


RFC7748 = [(name, vec) for name in ("X25519", "X448")
           for _, vec in load_pyca(f"asymmetric/{name}/rfc7748.txt")]


@pytest.mark.parametrize("curve, vec", RFC7748, ids=[f"{c}-{v}" for c, v in RFC7748])
def test_rfc7748_vectors(curve: str, vec) -> None:
    cls = x25519.X25519PrivateKey if curve == "X25519" else x448.X448PrivateKey
    with vec:
        vec.int("COUNT")
        key = cls.from_private_bytes(vec.hex("INPUT_SCALAR"))
        assert ecdh(pkcs8(key), vec.hex("INPUT_U")) == (lib.KS_OK, vec.hex("OUTPUT_U"))


@pytest.mark.parametrize("curve", CURVES)
def test_matches_cryptography(curve: str) -> None:
    for _ in range(5):
        a, b = generate(curve), generate(curve)
        want = exchange(a, b)
        assert ecdh(pkcs8(a), public_value(b)) == (lib.KS_OK, want)
        assert ecdh(pkcs8(a), public_value(b), cofactor=True) == (lib.KS_OK, want)
        assert ecdh(pkcs8(b), public_value(a)) == (lib.KS_OK, want)
        if curve in PRIME_CURVES:
            assert ecdh(pkcs8(a), public_value(b, compressed=True)) == (lib.KS_OK, want)
        assert len(want) == lib.ks_ecdh_secret_len(CURVE_IDS[curve])


@pytest.mark.parametrize("curve", CURVES)
def test_curve_of(curve: str) -> None:
    der = pkcs8(generate(curve))
    assert lib.ks_ecdh_curve_of(ffi.NULL, der, len(der)) == CURVE_IDS[curve]


@pytest.mark.parametrize("curve", list(PRIME_CURVES))
def test_bad_points(curve: str) -> None:
    a, b = generate(curve), generate(curve)
    der = pkcs8(a)
    good = public_value(b)
    size = lib.ks_ecdh_secret_len(CURVE_IDS[curve])
    off_curve = good[:-1] + bytes([good[-1] ^ 1])
    bad = {
        "off the curve": off_curve,
        "infinity": b"\x00",
        "hybrid form": b"\x06" + good[1:],
        "wrong prefix": b"\x05" + good[1:],
        "short": good[:-1],
        "long": good + b"\x00",
        "empty": b"",
        "compressed, x not on the curve": b"\x02" + b"\xff" * size,
        "x beyond the field": b"\x04" + b"\xff" * (2 * size),
        "DER OCTET STRING (the token unwraps it, not the primitive)":
            b"\x04" + bytes([len(good)]) + good if len(good) < 128 else b"\x04\x81" + bytes(
                [len(good)]) + good,
    }
    for other in PRIME_CURVES:
        if other != curve:
            bad[f"a point of {other}"] = public_value(generate(other))
    for what, peer in bad.items():
        assert ecdh(der, peer) == (lib.KS_ERR_ARGS, b""), what


# Low-order u-coordinates (RFC 7748 5, 6: Z all zero), little-endian as RFC 7748 encodes
# them: 0, 1, p - 1, and p and p + 1 (which decode to 0 and 1); for X25519 also a point of
# order 8, given as its byte string.
P25519 = 2**255 - 19
P448 = 2**448 - 2**224 - 1
LOW_ORDER = {
    "X25519": [u.to_bytes(32, "little") for u in (0, 1, P25519 - 1, P25519, P25519 + 1)]
    + [bytes.fromhex("e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800")],
    "X448": [u.to_bytes(56, "little") for u in (0, 1, P448 - 1, P448, P448 + 1)],
}


@pytest.mark.parametrize("curve", ["X25519", "X448"])
def test_low_order_values_refused(curve: str) -> None:
    key = generate(curve)
    pub_cls = x25519.X25519PublicKey if curve == "X25519" else x448.X448PublicKey
    for raw in LOW_ORDER[curve]:
        with pytest.raises(ValueError):  # cryptography refuses them too
            key.exchange(pub_cls.from_public_bytes(raw))
        assert ecdh(pkcs8(key), raw) == (lib.KS_ERR_ARGS, b""), raw.hex()


@pytest.mark.parametrize("curve", ["X25519", "X448"])
def test_montgomery_bad_lengths(curve: str) -> None:
    key = generate(curve)
    good = public_value(generate(curve))
    for peer in (b"", good[:-1], good + b"\x01", b"\x04" + bytes([len(good)]) + good):
        assert ecdh(pkcs8(key), peer) == (lib.KS_ERR_ARGS, b"")
    other = "X448" if curve == "X25519" else "X25519"
    assert ecdh(pkcs8(key), public_value(generate(other)))[0] == lib.KS_ERR_ARGS


def test_keys_that_are_no_ecdh_keys() -> None:
    peer = public_value(generate("P-256"))
    for key in (ec.generate_private_key(ec.SECP256K1()),
                ed25519.Ed25519PrivateKey.generate(),
                rsa.generate_private_key(65537, 1024)):
        der = key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
        assert ecdh(der, peer) == (lib.KS_ERR_KEY_LEN, b"")
        assert lib.ks_ecdh_curve_of(ffi.NULL, der, len(der)) == lib.KS_ECDH_NONE
    der = pkcs8(generate("P-256"))
    for broken in (b"", b"\x30\x00", der[:-1], der + b"\x00", b"\xff" * 40):
        assert ecdh(broken, peer) == (lib.KS_ERR_KEY_LEN, b"")


def test_output_too_small_and_null_arguments() -> None:
    a, b = generate("P-384"), generate("P-384")
    assert ecdh(pkcs8(a), public_value(b), max_out=47) == (lib.KS_ERR_LEN, b"")
    assert ecdh(pkcs8(a), public_value(b), max_out=48)[0] == lib.KS_OK
    out = ffi.new("uint8_t[66]")
    n = ffi.new("size_t *")
    der = pkcs8(a)
    assert lib.ks_ecdh_derive(ffi.NULL, n, 66, ffi.NULL, der, len(der), 0, b"x", 1) == \
        lib.KS_ERR_ARGS
    assert lib.ks_ecdh_derive(out, ffi.NULL, 66, ffi.NULL, der, len(der), 0, b"x", 1) == \
        lib.KS_ERR_ARGS
    assert lib.ks_ecdh_derive(out, n, 66, ffi.NULL, der, len(der), 0, ffi.NULL, 0) == \
        lib.KS_ERR_ARGS
    assert lib.ks_ecdh_derive(out, n, 66, ffi.NULL, ffi.NULL, 0, 0, b"x", 1) == \
        lib.KS_ERR_KEY_LEN


def ecdh_prepared(prepared, peer: bytes, cofactor: bool = False) -> tuple[int, bytes]:
    """ks_ecdh_derive on a prepared key's EVP_PKEY (the token's path: crypto/pkey_prep.h)."""
    out = ffi.new("uint8_t[66]")
    out_len = ffi.new("size_t *")
    st = lib.ks_ecdh_derive(out, out_len, 66, lib.ks_pkey_evp(prepared), ffi.NULL, 0,
                            int(cofactor), peer, len(peer))
    return st, bytes(out[0 : out_len[0]])


@pytest.mark.parametrize("curve", CURVES)
def test_prepared_key_matches_cryptography_again_and_again(curve: str) -> None:
    """A prepared key (prime curves: its scalar read once and kept with it) gives
    cryptography's Z on every call, with other peers in between, and refuses bad points
    after it has kept its scalar as before."""
    a = generate(curve)
    der = pkcs8(a)
    prepared = lib.ks_pkey_prepare(der, len(der), 1)
    assert prepared != ffi.NULL
    try:
        for _ in range(3):
            b = generate(curve)
            want = exchange(a, b)
            assert ecdh_prepared(prepared, public_value(b)) == (lib.KS_OK, want)
            assert ecdh_prepared(prepared, public_value(b), cofactor=True) == (lib.KS_OK, want)
            if curve in PRIME_CURVES:
                assert ecdh_prepared(prepared, public_value(b, compressed=True)) == (lib.KS_OK,
                                                                                     want)
                good = public_value(b)
                off_curve = good[:-1] + bytes([good[-1] ^ 1])
                for peer in (off_curve, b"\x00", b"\x06" + good[1:], good[:-1]):
                    assert ecdh_prepared(prepared, peer) == (lib.KS_ERR_ARGS, b"")
    finally:
        lib.ks_pkey_free(prepared)


@pytest.mark.parametrize("curve", list(PRIME_CURVES))
def test_prepared_key_with_a_short_scalar(curve: str) -> None:
    """A private scalar with leading zero bytes (d = 1, d = 2^64 + 3) still gives Z padded
    to the field size."""
    for d in (1, 2**64 + 3):
        a = ec.derive_private_key(d, PRIME_CURVES[curve])
        b = generate(curve)
        der = pkcs8(a)
        prepared = lib.ks_pkey_prepare(der, len(der), 1)
        try:
            st, z = ecdh_prepared(prepared, public_value(b))
            assert (st, z) == (lib.KS_OK, exchange(a, b))
            assert len(z) == lib.ks_ecdh_secret_len(CURVE_IDS[curve])
        finally:
            lib.ks_pkey_free(prepared)
