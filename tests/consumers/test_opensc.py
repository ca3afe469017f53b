"""OpenSC pkcs11-tool with key pairs and certificates: generation, signatures, objects written
and read back, ECDH, its self-test, and unwrapping (README, "Moving from SoftHSMv2")."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from pkcs11 import Mechanism

from .certs import self_signed
from .support import BOTH, Target, configs, tool_missing

pytestmark = tool_missing("pkcs11-tool")

M = Mechanism
SOFTHSM_OAEP = ("SoftHSMv2 2.6.1 refuses RSA-PKCS-OAEP with SHA-256 (C_DecryptInit: "
                "CKR_ARGUMENTS_BAD), and --test decrypts with it")


def _public_key(target: Target, key_id: str) -> object:
    der = target.work / f"pub-{key_id}.der"
    target.user("--read-object", "--type", "pubkey", "--id", key_id, "-o", str(der))
    return serialization.load_der_public_key(der.read_bytes())


@configs(*BOTH)
def test_rsa_keypairgen_sign_verify(target: Target) -> None:
    target.need(M.RSA_PKCS_KEY_PAIR_GEN, M.SHA256_RSA_PKCS)
    out = target.user("--keypairgen", "--key-type", "rsa:2048", "--id", "01", "--label", "rsa",
                      "--usage-sign").stdout
    assert "Private Key Object; RSA" in out and "Public Key Object; RSA 2048 bits" in out
    data, sig = target.work / "data", target.work / "sig"
    data.write_bytes(os.urandom(300))
    target.user("--sign", "-m", "SHA256-RSA-PKCS", "--id", "01", "-i", str(data), "-o", str(sig))
    out = target.user("--verify", "-m", "SHA256-RSA-PKCS", "--id", "01", "-i", str(data),
                      "--signature-file", str(sig)).stdout
    assert "Signature is valid" in out
    pub = _public_key(target, "01")
    assert isinstance(pub, rsa.RSAPublicKey) and pub.key_size == 2048
    pub.verify(sig.read_bytes(), data.read_bytes(), padding.PKCS1v15(), hashes.SHA256())


@configs(*BOTH)
def test_ec_keypairgen_sign_verify(target: Target) -> None:
    target.need(M.EC_KEY_PAIR_GEN, M.ECDSA)
    out = target.user("--keypairgen", "--key-type", "EC:prime256v1", "--id", "02",
                      "--label", "ec", "--usage-sign").stdout
    assert "Private Key Object; EC" in out and "Public Key Object; EC" in out
    data, digest, sig = (target.work / n for n in ("data", "digest", "sig"))
    data.write_bytes(os.urandom(300))
    digest.write_bytes(hashlib.sha256(data.read_bytes()).digest())
    target.user("--sign", "-m", "ECDSA", "--id", "02", "-i", str(digest), "-o", str(sig),
                "--signature-format", "openssl")
    out = target.user("--verify", "-m", "ECDSA", "--id", "02", "-i", str(digest),
                      "--signature-file", str(sig), "--signature-format", "openssl").stdout
    assert "Signature is valid" in out
    pub = _public_key(target, "02")
    assert isinstance(pub, ec.EllipticCurvePublicKey) and pub.curve.name == "secp256r1"
    pub.verify(sig.read_bytes(), data.read_bytes(), ec.ECDSA(hashes.SHA256()))


@configs(*BOTH)
def test_write_and_read_certificate_private_and_public_key(target: Target) -> None:
    """A key pair and its certificate made outside, written with --write-object: the
    certificate and public key read back byte for byte, the private key signs."""
    target.need(M.RSA_PKCS_KEY_PAIR_GEN, M.SHA256_RSA_PKCS)
    target.need_certificates()
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    cert = self_signed(key, "imported")
    w = target.work
    (w / "cert.der").write_bytes(cert.public_bytes(serialization.Encoding.DER))
    (w / "key.der").write_bytes(key.private_bytes(serialization.Encoding.DER,
                                                  serialization.PrivateFormat.PKCS8,
                                                  serialization.NoEncryption()))
    spki = key.public_key().public_bytes(serialization.Encoding.DER,
                                         serialization.PublicFormat.SubjectPublicKeyInfo)
    (w / "pub.der").write_bytes(spki)
    # The README's commands ask each key for its one purpose (--usage-sign).
    target.user("--write-object", str(w / "cert.der"), "--type", "cert", "--id", "03",
                "--label", "imported")
    for kind, name in (("privkey", "key.der"), ("pubkey", "pub.der")):
        target.user("--write-object", str(w / name), "--type", kind, "--id", "03",
                    "--label", "imported", "--usage-sign")
    target.user("--read-object", "--type", "cert", "--id", "03", "-o", str(w / "back.der"))
    assert x509.load_der_x509_certificate((w / "back.der").read_bytes()) == cert
    target.user("--read-object", "--type", "pubkey", "--id", "03", "-o", str(w / "pub2.der"))
    assert (w / "pub2.der").read_bytes() == spki
    listing = target.user("--list-objects").stdout
    assert "Certificate Object; type = X.509 cert" in listing
    assert "subject:    DN: CN=imported" in listing
    (w / "data").write_bytes(b"signed by an imported key")
    target.user("--sign", "-m", "SHA256-RSA-PKCS", "--id", "03", "--type", "privkey",
                "-i", str(w / "data"), "-o", str(w / "sig"))
    key.public_key().verify((w / "sig").read_bytes(), b"signed by an imported key",
                            padding.PKCS1v15(), hashes.SHA256())


@configs(*BOTH)
def test_ecdh_derive_agrees_with_cryptography(target: Target) -> None:
    target.need(M.EC_KEY_PAIR_GEN, M.ECDH1_DERIVE)
    target.user("--keypairgen", "--key-type", "EC:prime256v1", "--id", "04", "--label", "ecdh",
                "--usage-derive")
    peer = ec.generate_private_key(ec.SECP256R1())
    peer_der = target.work / "peer.der"
    peer_der.write_bytes(peer.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo))
    secret = target.work / "secret"
    target.user("--derive", "-m", "ECDH1-DERIVE", "--id", "04", "-i", str(peer_der),
                "-o", str(secret))
    mine = _public_key(target, "04")
    assert isinstance(mine, ec.EllipticCurvePublicKey)
    assert secret.read_bytes() == peer.exchange(ec.ECDH(), mine)


def _pair_for_self_test(target: Target, check: bool = True) -> tuple[int, str]:
    """The RSA pair pkcs11-tool --test needs: one private key that signs and decrypts."""
    proc = target.user("--keypairgen", "--key-type", "rsa:2048", "--id", "05",
                       "--label", "selftest", "--usage-sign", "--usage-decrypt", check=check)
    return proc.returncode, proc.stdout + proc.stderr


@configs("keystead-compat", "softhsm2")
def test_self_test_signs_and_decrypts_with_one_rsa_pair(target: Target,
                                                        request: pytest.FixtureRequest) -> None:
    """pkcs11-tool --test signs, verifies and decrypts with the one RSA pair it finds."""
    if target.kind == "softhsm2":
        request.applymarker(pytest.mark.xfail(strict=True, reason=SOFTHSM_OAEP))
    target.need(M.RSA_PKCS_KEY_PAIR_GEN, M.RSA_PKCS, M.SHA256_RSA_PKCS, M.RSA_PKCS_OAEP)
    _pair_for_self_test(target)
    proc = target.user("--test", check=False)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0 and "No errors" in out, out


@configs("keystead-strict")
def test_self_test_pair_is_refused_under_strict(target: Target) -> None:
    """One key, one purpose (README, "Key lifecycle in the token", key pairs): a private key
    that both signs and decrypts is CKR_TEMPLATE_INCONSISTENT under strict, so the pair that
    --test needs is never made. (The mechanisms are those --test would use the pair with.)"""
    target.need(M.RSA_PKCS_KEY_PAIR_GEN, M.RSA_PKCS, M.SHA256_RSA_PKCS, M.RSA_PKCS_OAEP)
    rc, out = _pair_for_self_test(target, check=False)
    assert rc != 0 and "CKR_TEMPLATE_INCONSISTENT" in out, out
    (line,) = target.refused("C_GenerateKeyPair")  # the log says why, and what to do
    assert line["rv"] == "CKR_TEMPLATE_INCONSISTENT"
    assert line["attr"] in ("0x00000104", "0x00000105")  # CKA_ENCRYPT or CKA_DECRYPT
    assert "one key, one purpose" in line["why"] and "wrap_policy = compat" in line["why"]


def _wrap_then_unwrap(target: Target) -> tuple[int, str]:
    target.user("--keygen", "--key-type", "aes:32", "--id", "10", "--label", "kek",
                "--usage-wrap")
    target.user("--keygen", "--key-type", "aes:32", "--id", "11", "--label", "data-key",
                "--extractable")
    wrapped: Path = target.work / "wrapped"
    target.user("--wrap", "-m", "AES-KEY-WRAP", "--id", "10", "--application-id", "11",
                "-o", str(wrapped))
    assert len(wrapped.read_bytes()) == 40
    # pkcs11-tool's unwrap template says CKA_SENSITIVE false and CKA_EXTRACTABLE false.
    proc = target.user("--unwrap", "-m", "AES-KEY-WRAP", "--id", "10", "-i", str(wrapped),
                       "--key-type", "AES:", "--application-id", "12",
                       "--application-label", "unwrapped", check=False)
    return proc.returncode, proc.stdout + proc.stderr


@configs("keystead-compat", "softhsm2")
def test_unwrap_of_a_non_sensitive_key(target: Target) -> None:
    rc, out = _wrap_then_unwrap(target)
    assert rc == 0 and "Key unwrapped" in out, out
    listing = target.user("--list-objects", "--type", "secrkey").stdout
    assert "unwrapped" in listing


@configs("keystead-strict")
def test_unwrap_of_a_non_sensitive_key_is_refused_under_strict(target: Target) -> None:
    """Sticky sensitivity (README, "Wrap policy", rule 4): CKR_TEMPLATE_INCONSISTENT, and
    the log line names the attribute and the rule."""
    rc, out = _wrap_then_unwrap(target)
    assert rc != 0 and "CKR_TEMPLATE_INCONSISTENT" in out, out
    (line,) = target.refused("C_UnwrapKey")
    assert line["attr"] == "0x00000103"  # CKA_SENSITIVE
    assert "rule 4" in line["why"] and "wrap_policy = compat" in line["why"], line


@pytest.mark.parametrize(("curve", "oid"), [("prime256v1", "06082a8648ce3d030107"),
                                         ("secp384r1", "06052b81040022")])
@configs(*BOTH)
def test_ec_keypairgen_curves(target: Target, curve: str, oid: str) -> None:
    target.need(M.EC_KEY_PAIR_GEN)
    out = target.user("--keypairgen", "--key-type", f"EC:{curve}", "--id", "06",
                      "--label", curve, "--usage-sign").stdout
    assert f"EC_PARAMS:  {oid}" in out, out


@configs("keystead-strict", "keystead-compat", "softhsm2")
def test_wrap_with_a_key_generated_without_the_wrap_usage(target: Target) -> None:
    """Usage defaults (README, "Moving from SoftHSMv2"): SoftHSMv2 gives a generated AES key
    CKA_WRAP unless told otherwise, keystead only when asked (--usage-wrap), whatever the
    wrap policy: C_WrapKey is CKR_KEY_FUNCTION_NOT_PERMITTED."""
    target.user("--keygen", "--key-type", "aes:32", "--id", "20", "--label", "no-wrap-usage")
    target.user("--keygen", "--key-type", "aes:32", "--id", "21", "--label", "target",
                "--extractable")
    proc = target.user("--wrap", "-m", "AES-KEY-WRAP", "--id", "20", "--application-id", "21",
                       "-o", str(target.work / "wrapped"), check=False)
    out = proc.stdout + proc.stderr
    if target.kind == "softhsm2":
        assert proc.returncode == 0 and "Key wrapped" in out, out
    else:
        assert proc.returncode != 0 and "CKR_KEY_FUNCTION_NOT_PERMITTED" in out, out
