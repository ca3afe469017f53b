"""Java's SunPKCS11 provider (OpenJDK 17) with key pairs in the token: KeyPairGenerator and
Signature, keytool -genkeypair making a private key entry with its certificate, and a PKCS#12
key and certificate stored with KeyStore.setKeyEntry (java/Consumer.java does the Java side)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from pkcs11 import Mechanism

from .certs import self_signed
from .support import BOTH, USER_PIN, Target, configs, tool_missing

pytestmark = tool_missing("java", "javac", "keytool")

M = Mechanism
SOURCE = Path(__file__).with_name("java") / "Consumer.java"
ALGS = {
    "RSA": ((M.RSA_PKCS_KEY_PAIR_GEN, M.SHA256_RSA_PKCS),
            ["-keyalg", "RSA", "-keysize", "2048", "-sigalg", "SHA256withRSA"]),
    "EC": ((M.EC_KEY_PAIR_GEN, M.ECDSA),
           ["-keyalg", "EC", "-groupname", "secp256r1", "-sigalg", "SHA256withECDSA"]),
}


@pytest.fixture(scope="session")
def classes(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Consumer.java compiled once for the session."""
    out = tmp_path_factory.mktemp("java-classes")
    subprocess.run(["javac", "-d", str(out), str(SOURCE)], check=True, capture_output=True,
                   timeout=300)
    return out


def sunpkcs11_config(target: Target) -> Path:
    """SunPKCS11's configuration: the module and the slot of the token (by ID: SoftHSMv2's
    slot IDs change from process to process, so the test reads it first)."""
    cfg = target.work / "sunpkcs11.cfg"
    cfg.write_text(f"name = consumer\nlibrary = {target.module}\nslot = {target.slot_id()}\n")
    return cfg


def consumer(target: Target, classes: Path, *args: str) -> str:
    cfg = sunpkcs11_config(target)
    return target.run("java", "-cp", str(classes), "Consumer", str(cfg), USER_PIN, *args).stdout


def keytool(target: Target, *args: str) -> str:
    cfg = sunpkcs11_config(target)
    return target.run("keytool", "-keystore", "NONE", "-storetype", "PKCS11",
                      "-providerClass", "sun.security.pkcs11.SunPKCS11", "-providerArg", str(cfg),
                      "-storepass", USER_PIN, *args).stdout


@pytest.mark.parametrize("alg", sorted(ALGS))
@configs(*BOTH)
def test_keypairgenerator_and_signature(target: Target, classes: Path, alg: str) -> None:
    target.need(*ALGS[alg][0])
    out = consumer(target, classes, "keypair", alg)
    assert "generated sun.security.pkcs11.P11Key" in out
    assert f"verified SHA256with{'RSA' if alg == 'RSA' else 'ECDSA'} by Sun" in out


@pytest.mark.parametrize("alg", sorted(ALGS))
@configs(*BOTH)
def test_keytool_genkeypair_makes_a_private_key_entry(target: Target, classes: Path,
                                                       alg: str) -> None:
    mechs, opts = ALGS[alg]
    target.need(*mechs)
    target.need_certificates()
    alias = f"keytool-{alg.lower()}"
    keytool(target, "-genkeypair", "-alias", alias, *opts, "-dname", f"CN={alias}",
            "-validity", "30")
    assert f"{alias}, PrivateKeyEntry" in keytool(target, "-list")
    out = consumer(target, classes, "entry", alias)
    assert f"entry {alias}: CN={alias}" in out and "verified" in out
    listing = target.user("--list-objects").stdout
    assert "Certificate Object; type = X.509 cert" in listing and alias in listing


@configs(*BOTH)
def test_setkeyentry_stores_a_key_and_certificate(target: Target, classes: Path) -> None:
    target.need(*ALGS["RSA"][0])
    target.need_certificates()
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    p12 = target.work / "entry.p12"
    p12.write_bytes(pkcs12.serialize_key_and_certificates(
        b"entry", key, self_signed(key, "from-pkcs12"), None,
        serialization.BestAvailableEncryption(USER_PIN.encode())))
    out = consumer(target, classes, "import", str(p12), "imported")
    assert "entry imported: CN=from-pkcs12" in out and "verified SHA256withRSA" in out


def test_java_is_openjdk_17() -> None:
    java = shutil.which("java")
    assert java is not None
    version = subprocess.run([java, "-version"], capture_output=True, text=True, check=True)
    assert 'version "17.' in version.stderr
