"""The token keeps the wrap policy and audit-failure setting it was initialised under (its
policy floor; README, "Configuration"): KEYSTEAD_CONF is the caller's, so a process whose own
configuration says `wrap_policy = compat` or `audit_failure = log` gets the token's `strict`
and `refuse` when the SO initialised the token under them. Each configuration is its own
process (tests/attacks/floor_worker.py) on one token directory."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.keywrap import aes_key_unwrap

from .floor_worker import KEK_VALUE

ROOT = Path(__file__).resolve().parents[2]
CKR_KEY_FUNCTION_NOT_PERMITTED = 0x68
STRICT = ""
WEAK = "wrap_policy = compat\naudit_failure = log\naudit_mode = per-op\n"


class Tokens:
    """One token directory and a configuration file per profile."""

    def __init__(self, base: Path) -> None:
        self.base = base
        self.dir = base / "tokens"
        self.dir.mkdir()

    def run(self, profile: str, action: str, label: str = "floor") -> dict:
        name = "weak" if profile == WEAK else "strict"
        conf = self.base / f"{name}.conf"
        conf.write_text(f"token_dir = {self.dir}\npin_kdf_cost = fast\n"
                        f"log_file = {self.base / name}.log\nlog_level = error\n{profile}")
        env = dict(os.environ, KEYSTEAD_CONF=str(conf), FLOOR_TOKENS=str(self.dir))
        proc = subprocess.run([sys.executable, "-m", "tests.attacks.floor_worker", action, label],
                              cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0, proc.stderr
        return json.loads(proc.stdout.strip().splitlines()[-1])

    def log(self, profile: str) -> str:
        path = self.base / f"{'weak' if profile == WEAK else 'strict'}.log"
        return path.read_text() if path.exists() else ""

    def set_floor(self, sql: str) -> None:
        (db,) = self.dir.glob("token-*.sqlite")
        con = sqlite3.connect(db)
        con.execute(sql)
        con.commit()
        con.close()


@pytest.fixture()
def tokens(tmp_path: Path) -> Tokens:
    return Tokens(tmp_path)


def check_value(key: bytes) -> str:
    enc = Cipher(algorithms.AES(key), modes.ECB()).encryptor()
    return (enc.update(bytes(16)) + enc.finalize())[:3].hex()


def test_a_strict_token_stays_strict_under_a_compat_configuration(tokens: Tokens) -> None:
    tokens.run(STRICT, "init")
    got = tokens.run(WEAK, "wrap")
    assert got["rv"] == CKR_KEY_FUNCTION_NOT_PERMITTED, "a known KEK must not wrap a secret"
    assert not got["ecb_wrap"], "C_GetMechanismInfo follows the token's profile"
    lines = [json.loads(x) for x in tokens.log(WEAK).splitlines()]
    said = [x["msg"] for x in lines if x.get("msg", "").startswith("policy:")]
    assert len(said) == 1
    assert "wrap_policy = strict" in said[0] and "audit_failure = refuse" in said[0]
    (refused,) = [x for x in lines if x.get("fn") == "C_WrapKey"]  # the log says which rule
    assert refused["rv"] == "CKR_KEY_FUNCTION_NOT_PERMITTED" and "rule 3" in refused["why"]


def test_a_compat_token_runs_compat_and_a_stricter_configuration_wins(tokens: Tokens) -> None:
    made = tokens.run(WEAK, "init")
    got = tokens.run(WEAK, "wrap")
    assert got["rv"] == 0 and got["ecb_wrap"]
    value = aes_key_unwrap(KEK_VALUE, bytes.fromhex(got["blob"]))
    assert check_value(value) == made["check"], "compat is PKCS#11's rules: the attack works"
    assert "policy:" not in tokens.log(WEAK)
    assert tokens.run(STRICT, "wrap")["rv"] == CKR_KEY_FUNCTION_NOT_PERMITTED


def test_a_refuse_token_refuses_unrecorded_uses_under_audit_failure_log(tokens: Tokens) -> None:
    tokens.run(STRICT, "init")
    got = tokens.run(WEAK, "audit")
    assert got["refused"] == 1, "a use the full trail cannot hold is refused"


def test_a_log_token_goes_ahead_unrecorded(tokens: Tokens) -> None:
    tokens.run(WEAK, "init")
    got = tokens.run(WEAK, "audit")
    assert got == {"ok": 20000, "refused": 0}


@pytest.mark.parametrize("sql", [
    "UPDATE meta SET value = 0 WHERE key = 'policy_floor'",
    "UPDATE meta SET value = 99 WHERE key = 'policy_floor'",
    "UPDATE meta SET value = 'compat' WHERE key = 'policy_floor'",
    "DELETE FROM meta WHERE key = 'policy_floor'",
], ids=["weakened", "not-a-floor", "not-an-integer", "deleted"])
def test_an_altered_or_missing_floor_reads_strict(tokens: Tokens, sql: str) -> None:
    tokens.run(STRICT, "init")
    tokens.set_floor(sql)
    assert tokens.run(WEAK, "wrap")["rv"] == CKR_KEY_FUNCTION_NOT_PERMITTED


def test_a_token_without_a_floor_records_the_so_configuration_at_the_so_login(
        tokens: Tokens) -> None:
    """A token made before floors: strict until the SO's next login records the SO's
    configuration (here compat: the SO chose it); an authenticated floor then serves."""
    tokens.run(STRICT, "init")
    tokens.set_floor("DELETE FROM meta WHERE key = 'policy_floor'")
    assert tokens.run(WEAK, "wrap")["rv"] == CKR_KEY_FUNCTION_NOT_PERMITTED
    assert tokens.run(STRICT, "so-login")["rv"] == 0
    assert tokens.run(WEAK, "wrap")["rv"] == CKR_KEY_FUNCTION_NOT_PERMITTED
    tokens.set_floor("DELETE FROM meta WHERE key = 'policy_floor'")
    assert tokens.run(WEAK, "so-login")["rv"] == 0
    assert tokens.run(WEAK, "wrap")["rv"] == 0
