"""Key pairs and certificates through real consumers, against each module: OpenSC pkcs11-tool
(--keypairgen, --write-object of a certificate and of private keys) and GnuTLS p11tool
(--write of a certificate and a private key, --generate-privkey)."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from .test_consumers import LABEL, USER_PIN, Consumer, consumer  # noqa: F401 - the fixture

pytestmark = pytest.mark.skipif(shutil.which("pkcs11-tool") is None
                                or shutil.which("p11tool") is None
                                or shutil.which("openssl") is None,
                                reason="opensc, gnutls-bin and openssl are installed by setup")


def openssl(*args: str) -> None:
    subprocess.run(["openssl", *args], check=True, capture_output=True, timeout=120)


@pytest.fixture
def files(tmp_path):
    """An EC key with a self-signed certificate and an RSA key, as DER and PEM files."""
    openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-keyout", str(tmp_path / "ec.pem"), "-out", str(tmp_path / "cert.pem"),
            "-subj", "/CN=consumer pair", "-days", "2")
    openssl("x509", "-in", str(tmp_path / "cert.pem"), "-outform", "der",
            "-out", str(tmp_path / "cert.der"))
    openssl("pkey", "-in", str(tmp_path / "ec.pem"), "-outform", "der",
            "-out", str(tmp_path / "ec.der"))
    openssl("genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048",
            "-out", str(tmp_path / "rsa.pem"))
    openssl("pkey", "-in", str(tmp_path / "rsa.pem"), "-outform", "der",
            "-out", str(tmp_path / "rsa.der"))
    return tmp_path


@pytest.mark.parametrize("key_type,shown", [("EC:prime256v1", "Public Key Object; EC"),
                                            ("rsa:2048", "Public Key Object; RSA 2048 bits"),
                                            ("EC:secp384r1", "Public Key Object; EC")])
def test_pkcs11_tool_keypairgen(consumer, key_type, shown):  # noqa: F811
    consumer.init()
    # One usage: keystead's strict policy gives a key of a pair one purpose, and pkcs11-tool
    # asks for every usage when told none (tests/consumers shows both policies).
    out = consumer.user("--keypairgen", "--key-type", key_type, "--usage-sign",
                        "--label", "tool-pair")
    assert "Key pair generated" in out.stdout
    listing = consumer.user("--list-objects").stdout
    assert shown in listing and "Private Key Object" in listing


def test_pkcs11_tool_writes_certificate_and_keys(consumer, files):  # noqa: F811
    consumer.init()
    consumer.user("--write-object", str(files / "cert.der"), "--type", "cert",
                  "--label", "tool-cert", "--id", "0101")
    consumer.user("--write-object", str(files / "ec.der"), "--type", "privkey",
                  "--label", "tool-ec", "--id", "0101")
    consumer.user("--write-object", str(files / "rsa.der"), "--type", "privkey",
                  "--label", "tool-rsa", "--id", "0202")
    listing = consumer.user("--list-objects").stdout
    assert "Certificate Object; type = X.509 cert" in listing
    assert "subject:    DN: CN=consumer pair" in listing
    assert listing.count("Private Key Object") == 2


def test_p11tool_writes_certificate_and_key_and_generates(consumer, files):  # noqa: F811
    consumer.init()
    target = f"pkcs11:token={LABEL}"
    consumer.p11tool("--write", "--load-certificate", str(files / "cert.pem"),
                     "--label", "gnutls-cert", target, login=True)
    # An EC key: p11tool writes an RSA key for signing and decryption at once, which the
    # strict policy refuses (tests/consumers/test_gnutls.py shows it under compat).
    consumer.p11tool("--write", "--load-privkey", str(files / "ec.pem"),
                     "--label", "gnutls-key", target, login=True)
    consumer.p11tool("--generate-privkey", "ECDSA", "--curve", "secp256r1",
                     "--label", "gnutls-gen", target, login=True)
    certs = consumer.p11tool("--list-all-certs", target).stdout
    assert "Label: gnutls-cert" in certs
    keys = consumer.p11tool("--list-privkeys", target, login=True).stdout
    assert "gnutls-key" in keys and "gnutls-gen" in keys
