"""Real PKCS#11 consumers against each module: OpenSC pkcs11-tool and GnuTLS p11tool.

Each test gets its own fresh token directory and runs the tools in subprocesses with the
module's configuration variable set, exactly as a user would on a new machine.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest
from keystead.softhsm_bridge.config import TokenEnv, make_token_env
from keystead.softhsm_bridge.modules import KNOWN_MODULES, ModuleInfo, resolve

SO_PIN, USER_PIN, LABEL = "12345678", "87654321", "consumer"
IV = "000102030405060708090a0b0c0d0e0f"

pytestmark = pytest.mark.skipif(shutil.which("pkcs11-tool") is None
                                or shutil.which("p11tool") is None,
                                reason="opensc and gnutls-bin are installed by the README setup")


@dataclass
class Consumer:
    info: ModuleInfo
    env: TokenEnv
    work: Path

    def run(self, *args: str, extra_env: dict[str, str] | None = None,
            check: bool = True) -> subprocess.CompletedProcess[str]:
        env = self.env.env()
        env.update(extra_env or {})
        proc = subprocess.run(list(args), capture_output=True, text=True, env=env, timeout=300,
                              check=False)
        if check:
            assert proc.returncode == 0, f"{args[0]} failed: {proc.stdout}\n{proc.stderr}"
        return proc

    def tool(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return self.run("pkcs11-tool", "--module", self.info.path, *args, check=check)

    def user(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return self.tool("--token-label", LABEL, "--login", "--pin", USER_PIN, *args,
                         check=check)

    def p11tool(self, *args: str, login: bool = False) -> subprocess.CompletedProcess[str]:
        extra = {"GNUTLS_PIN": USER_PIN, "GNUTLS_SO_PIN": SO_PIN}
        base = ["p11tool", "--provider", self.info.path] + (["--login"] if login else [])
        return self.run(*base, *args, extra_env=extra)

    def init(self) -> None:
        self.tool("--init-token", "--slot-index", "0", "--label", LABEL, "--so-pin", SO_PIN)
        self.tool("--token-label", LABEL, "--login", "--login-type", "so", "--so-pin", SO_PIN,
                  "--init-pin", "--pin", USER_PIN)


@pytest.fixture(params=list(KNOWN_MODULES), ids=list(KNOWN_MODULES))
def consumer(request, tmp_path):
    info = resolve(request.param)
    env = make_token_env(info.kind, tmp_path)
    yield Consumer(info, env, tmp_path)
    shutil.rmtree(env.token_dir.parent, ignore_errors=True)


def test_init_token_on_fresh_directory(consumer):
    out = consumer.tool("--init-token", "--slot-index", "0", "--label", LABEL,
                        "--so-pin", SO_PIN)
    assert "successfully initialized" in out.stdout
    slots = consumer.tool("--list-token-slots").stdout
    assert f"token label        : {LABEL}" in slots
    assert "uninitialized" in slots.lower() or slots.count("Slot ") >= 2


def test_init_pin_then_user_login(consumer):
    consumer.init()
    out = consumer.user("--list-objects")
    assert out.returncode == 0
    bad = consumer.tool("--token-label", LABEL, "--login", "--pin", "wrong-pin", "--list-objects",
                        check=False)
    assert bad.returncode != 0 and "CKR_PIN_INCORRECT" in bad.stdout + bad.stderr


def test_keygen_aes_and_list_objects(consumer):
    consumer.init()
    out = consumer.user("--keygen", "--key-type", "aes:32", "--label", "tool-key")
    assert "Key generated" in out.stdout
    listing = consumer.user("--list-objects").stdout
    assert "Secret Key Object; AES length 32" in listing and "tool-key" in listing


def test_encrypt_decrypt_cbc_pad(consumer):
    consumer.init()
    consumer.user("--keygen", "--key-type", "aes:32", "--label", "cbc-key")
    plain = consumer.work / "plain"
    plain.write_bytes(os.urandom(100))
    ct, back = consumer.work / "ct", consumer.work / "back"
    consumer.user("--encrypt", "-m", "AES-CBC-PAD", "--iv", IV, "--label", "cbc-key",
                  "-i", str(plain), "-o", str(ct))
    assert ct.stat().st_size == 112  # 100 bytes padded to 7 blocks
    consumer.user("--decrypt", "-m", "AES-CBC-PAD", "--iv", IV, "--label", "cbc-key",
                  "-i", str(ct), "-o", str(back))
    assert back.read_bytes() == plain.read_bytes()


def test_pkcs11_tool_self_test(consumer):
    consumer.init()
    consumer.user("--keygen", "--key-type", "aes:16", "--label", "test-key")
    out = consumer.user("--test")
    assert "No errors" in out.stdout


def test_p11tool_lists_tokens(consumer):
    consumer.init()
    out = consumer.p11tool("--list-tokens").stdout
    assert f"Label: {LABEL}" in out


def test_p11tool_lists_objects_made_by_pkcs11_tool(consumer):
    consumer.init()
    consumer.user("--keygen", "--key-type", "aes:32", "--label", "seen-by-gnutls")
    out = consumer.p11tool("--list-all", f"pkcs11:token={LABEL}", login=True).stdout
    assert "seen-by-gnutls" in out and "Secret key" in out


def test_p11tool_writes_key_pkcs11_tool_sees(consumer):
    consumer.init()
    consumer.p11tool("--write", "--secret-key", bytes(range(32)).hex(), "--label", "from-gnutls",
                     f"pkcs11:token={LABEL}", login=True)
    listing = consumer.user("--list-objects", "--type", "secrkey").stdout
    assert "from-gnutls" in listing


def test_p11tool_generates_random(consumer):
    consumer.init()
    cmd = ["p11tool", "--provider", consumer.info.path, "--generate-random", "32",
           f"pkcs11:token={LABEL}"]
    first = subprocess.run(cmd, capture_output=True, env=consumer.env.env(), timeout=300,
                           check=True).stdout
    second = subprocess.run(cmd, capture_output=True, env=consumer.env.env(), timeout=300,
                            check=True).stdout
    assert len(first) == 32 and len(second) == 32 and first != second
