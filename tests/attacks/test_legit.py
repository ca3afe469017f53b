"""The flows the strict wrap policy must keep working (README): python-pkcs11's default
templates, exporting a key under a KEK generated in the token, a backup under a KEK the SO
trusts, moving a key between two tokens under a KEK the SO imported into both, and
pkcs11-tool's keygen. All against keystead with the default profile."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import keystead
import pytest
from keystead.softhsm_bridge import session as bridge_session
from keystead.softhsm_bridge.config import make_token_env
from keystead.softhsm_bridge.errors import rv_name, rv_of
from pkcs11 import Attribute, KeyType, Mechanism, ObjectClass

from .actor import Actor, random_key
from .instances import SO_PIN, USER_PIN, Instance

DATA = b"the quick brown fox jumps over the lazy dog" * 3


@pytest.fixture
def user(strict_keystead: Instance):
    """A python-pkcs11 user session on the strict instance's main token."""
    s = bridge_session.open_session(strict_keystead.token, rw=True, login_as="user")
    try:
        yield s
    finally:
        bridge_session.close_all(strict_keystead.token)


def test_default_templates_encrypt_decrypt(user) -> None:
    key = user.generate_key(KeyType.AES, 256)  # ENCRYPT, DECRYPT, WRAP, UNWRAP, SIGN, VERIFY
    iv = user.generate_random(128)
    ct = key.encrypt(DATA, mechanism_param=iv)  # python-pkcs11's default: CBC-PAD
    assert ct != DATA and key.decrypt(ct, mechanism_param=iv) == DATA
    # one key, one purpose: a key that encrypted data does not then wrap keys
    other = user.generate_key(KeyType.AES, 256)
    with pytest.raises(Exception) as err:
        key.wrap_key(other)
    assert rv_name(rv_of(err.value)) == "CKR_KEY_FUNCTION_NOT_PERMITTED"


def test_export_under_generated_kek_and_back(user) -> None:
    kek = user.generate_key(KeyType.AES, 256)  # default template, used only to wrap
    key = user.generate_key(KeyType.AES, 256, template={Attribute.EXTRACTABLE: True})
    iv = user.generate_random(128)
    ct = key.encrypt(DATA, mechanism_param=iv)
    blob = kek.wrap_key(key)  # python-pkcs11's default: CKM_AES_KEY_WRAP
    assert len(blob) == 40
    back = kek.unwrap_key(ObjectClass.SECRET_KEY, KeyType.AES, blob)
    assert back[Attribute.SENSITIVE] and back.decrypt(ct, mechanism_param=iv) == DATA


def _public_kek(raw, h: int, label: str) -> int:
    return raw.generate_key(h, Mechanism.AES_KEY_GEN, {
        Attribute.CLASS: ObjectClass.SECRET_KEY, Attribute.KEY_TYPE: KeyType.AES,
        Attribute.VALUE_LEN: 32, Attribute.TOKEN: True, Attribute.PRIVATE: False,
        Attribute.WRAP: True, Attribute.UNWRAP: True, Attribute.ENCRYPT: False,
        Attribute.DECRYPT: False, Attribute.SENSITIVE: True, Attribute.EXTRACTABLE: False,
        Attribute.LABEL: label})


def test_backup_under_trusted_kek(strict_keystead: Instance) -> None:
    a = Actor(strict_keystead.raw, strict_keystead.token, strict_keystead.kind)
    label = f"backup-kek-{os.urandom(4).hex()}"
    a.token_objects.append(label)
    try:
        a.login_user()
        _public_kek(a.raw, a.h, label)
        # the SO logs in with no user logged in in this application, trusts the KEK, leaves
        a.as_so("SO: C_SetAttributeValue(TRUSTED=true)", lambda h: a.raw.set_attributes(
            h, a.raw.find_objects(h, {Attribute.LABEL: label})[0], {Attribute.TRUSTED: True}))
        kek = a.find_token_object(label)
        key = a.generate(EXTRACTABLE=True, SENSITIVE=True, WRAP_WITH_TRUSTED=True,
                         ENCRYPT=True, DECRYPT=True)
        ct = a.encrypt(Mechanism.AES_CBC_PAD, key, DATA, bytes(16))
        untrusted = a.generate(WRAP=True, UNWRAP=True, ENCRYPT=False, DECRYPT=False)
        with pytest.raises(Exception, match="CKR_KEY_NOT_WRAPPABLE"):
            a.wrap(Mechanism.AES_KEY_WRAP, untrusted, key)
        blob = a.wrap(Mechanism.AES_KEY_WRAP, kek, key)
        a.raw.destroy_object(a.h, key)
        back = a.unwrap(Mechanism.AES_KEY_WRAP, kek, blob, SENSITIVE=True, DECRYPT=True)
        assert a.decrypt(Mechanism.AES_CBC_PAD, back, ct, bytes(16)) == DATA
    finally:
        a.close()


def test_move_between_tokens(strict_keystead: Instance) -> None:
    a = strict_keystead.actor()
    b = a.peer
    assert b is not None
    shared = random_key()  # the transport KEK, imported by the SO of each token
    try:
        label_a, label_b = a.so_import_trusted(shared), b.so_import_trusted(shared)
        a.login_user()
        b.login_user()
        kt_a, kt_b = a.find_token_object(label_a), b.find_token_object(label_b)
        key = a.generate(EXTRACTABLE=True, SENSITIVE=True, ENCRYPT=True, DECRYPT=True)
        ct = a.encrypt(Mechanism.AES_CBC_PAD, key, DATA, bytes(16))
        blob = a.wrap(Mechanism.AES_KEY_WRAP, kt_a, key)
        moved = b.unwrap(Mechanism.AES_KEY_WRAP, kt_b, blob, SENSITIVE=True, DECRYPT=True)
        assert b.decrypt(Mechanism.AES_CBC_PAD, moved, ct, bytes(16)) == DATA
    finally:
        a.close()


@pytest.mark.skipif(shutil.which("pkcs11-tool") is None, reason="needs opensc")
def test_pkcs11_tool_keygen_encrypt_decrypt(tmp_path: Path) -> None:
    env_cfg = make_token_env("keystead", tmp_path)  # no wrap_policy line: the default
    assert "wrap_policy" not in env_cfg.conf_path.read_text()
    env = env_cfg.env()

    def tool(*args: str) -> str:
        proc = subprocess.run(["pkcs11-tool", "--module", keystead.module_path(), *args],
                              capture_output=True, text=True, env=env, timeout=60,
                              check=False)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        return proc.stdout

    tool("--init-token", "--slot-index", "0", "--label", "legit", "--so-pin", SO_PIN)
    user = ["--token-label", "legit", "--login", "--pin", USER_PIN]
    tool("--token-label", "legit", "--login", "--login-type", "so", "--so-pin", SO_PIN,
         "--init-pin", "--pin", USER_PIN)
    assert "Key generated" in tool(*user, "--keygen", "--key-type", "aes:32", "--label", "k")
    plain, ct, back = tmp_path / "plain", tmp_path / "ct", tmp_path / "back"
    plain.write_bytes(DATA)
    iv = "000102030405060708090a0b0c0d0e0f"
    tool(*user, "--encrypt", "-m", "AES-CBC-PAD", "--iv", iv, "--label", "k",
         "-i", str(plain), "-o", str(ct))
    tool(*user, "--decrypt", "-m", "AES-CBC-PAD", "--iv", iv, "--label", "k",
         "-i", str(ct), "-o", str(back))
    assert back.read_bytes() == DATA and ct.read_bytes() != DATA
