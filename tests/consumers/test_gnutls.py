"""GnuTLS p11tool and certtool with key pairs in the token: generation, a certificate made
from a pkcs11: URI and written beside its key, and p11tool's signing self-test."""

from __future__ import annotations

import re
import subprocess

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from pkcs11 import Mechanism

from .support import LABEL, SO_PIN, USER_PIN, Target, tool_missing

SPY = "/usr/lib/x86_64-linux-gnu/pkcs11/pkcs11-spy.so"  # OpenSC's logging PKCS#11 proxy

pytestmark = tool_missing("p11tool", "certtool")

M = Mechanism
PINS = {"GNUTLS_PIN": USER_PIN, "GNUTLS_SO_PIN": SO_PIN}
TEMPLATE = 'cn = "{cn}"\nserial = 7\nexpiration_days = 30\nca\ncert_signing_key\nsigning_key\n'

# (p11tool --generate-privkey arguments, its mechanism, the key class)
KEYS = {
    "rsa": (["rsa", "--bits", "2048"], M.RSA_PKCS_KEY_PAIR_GEN, rsa.RSAPublicKey),
    "ecdsa": (["ecdsa", "--curve", "secp256r1"], M.EC_KEY_PAIR_GEN, ec.EllipticCurvePublicKey),
}
# What certtool and p11tool --test-sign sign with (GnuTLS hashes, then signs the digest;
# --test-sign also verifies with the public key in the token).
SIGN = {"rsa": (M.RSA_PKCS,), "ecdsa": (M.ECDSA,)}


def p11tool(target: Target, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return target.run("p11tool", "--provider", target.module, "--login", *args,
                      extra_env=PINS, check=check)


def generate(target: Target, alg: str, label: str) -> object:
    """p11tool --generate-privkey; the public key it prints, parsed."""
    args, mech, cls = KEYS[alg]
    target.need(mech)
    out = p11tool(target, "--generate-privkey", *args, "--label", label,
                  f"pkcs11:token={LABEL}").stdout
    pem = out[out.index("-----BEGIN PUBLIC KEY-----"):]
    pub = serialization.load_pem_public_key(pem.encode())
    assert isinstance(pub, cls)
    return pub


def cases(*, strict_rsa: bool) -> object:
    """(configuration, algorithm): p11tool asks for an RSA key that signs and decrypts (and a
    public key that verifies and encrypts), which keystead refuses under strict (one key,
    one purpose) and makes under compat, as SoftHSMv2 does."""
    pairs = [("keystead-strict", "ecdsa"), ("softhsm2", "ecdsa"), ("softhsm2", "rsa"),
             ("keystead-compat", "rsa")]
    if strict_rsa:
        pairs = [("keystead-strict", "rsa")]
    return pytest.mark.parametrize(("target", "alg"), pairs, indirect=["target"])


@cases(strict_rsa=False)
def test_generate_privkey(target: Target, alg: str) -> None:
    pub = generate(target, alg, f"gen-{alg}")
    listing = p11tool(target, "--list-privkeys", f"pkcs11:token={LABEL}").stdout
    assert f"gen-{alg}" in listing and "Private key" in listing
    exported = p11tool(target, "--export-pubkey",
                       f"pkcs11:token={LABEL};object=gen-{alg};type=public").stdout
    assert serialization.load_pem_public_key(exported.encode()) == pub


@cases(strict_rsa=False)
def test_certtool_self_signed_from_uri_written_and_test_sign(target: Target, alg: str) -> None:
    """certtool signs a certificate with the token's key (a pkcs11: URI), p11tool --write
    stores it beside the key, and --test-sign signs and checks against both."""
    label = f"ca-{alg}"
    target.need(KEYS[alg][1], *SIGN[alg])
    target.need_certificates()
    pub = generate(target, alg, label)
    tmpl = target.work / "cert.tmpl"
    tmpl.write_text(TEMPLATE.format(cn=label))
    cert_pem = target.work / "cert.pem"
    target.run("certtool", "--provider", target.module, "--generate-self-signed",
               "--load-privkey", f"pkcs11:token={LABEL};object={label};type=private",
               "--template", str(tmpl), "--outfile", str(cert_pem), extra_env=PINS)
    cert = x509.load_pem_x509_certificate(cert_pem.read_bytes())
    assert cert.public_key() == pub
    cert.verify_directly_issued_by(cert)  # the token's signature, checked by cryptography
    p11tool(target, "--write", "--load-certificate", str(cert_pem), "--label", label,
            f"pkcs11:token={LABEL}")
    listing = p11tool(target, "--list-all-certs", f"pkcs11:token={LABEL}").stdout
    assert f"Label: {label}" in listing and "X.509 Certificate" in listing
    back = p11tool(target, "--export", f"pkcs11:token={LABEL};object={label};type=cert").stdout
    assert x509.load_pem_x509_certificate(back.encode()) == cert
    out = p11tool(target, "--test-sign", f"pkcs11:token={LABEL};object={label}")
    text = out.stdout + out.stderr
    assert "Verifying against private key parameters... ok" in text, text
    assert "Verifying against public key in the token... ok" in text, text


@cases(strict_rsa=True)
def test_generate_rsa_privkey_is_refused_under_strict(target: Target, alg: str) -> None:
    """One key, one purpose (README, "Key lifecycle in the token", key pairs): the template
    p11tool sends is CKR_TEMPLATE_INCONSISTENT, read from OpenSC's PKCS#11 spy between
    p11tool and the module (GnuTLS reports only "PKCS #11 error"). The mechanisms are those
    the pair is asked for: RSA signatures and decryption."""
    target.need(KEYS[alg][1], M.RSA_PKCS)
    spy_log = target.work / "spy.log"
    proc = target.run("p11tool", "--provider", SPY, "--login", "--generate-privkey",
                      *KEYS[alg][0], "--label", "two-purposes", f"pkcs11:token={LABEL}",
                      extra_env={**PINS, "PKCS11SPY": target.module,
                                 "PKCS11SPY_OUTPUT": str(spy_log)}, check=False)
    assert proc.returncode != 0, proc.stdout
    log = spy_log.read_text()
    call = log[log.index("C_GenerateKeyPair"):]
    assert re.search(r"Returned:\s+\d+ CKR_TEMPLATE_INCONSISTENT", call), call[:3000]
