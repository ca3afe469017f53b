"""What the robustness tests share: token provisioning in a subprocess, the key template
every worker creates, and the attribute numbers of keystead's vendor extensions.

Every token operation of these tests runs in child processes: a module reads its token
directory once per process (softhsm_bridge/README.md), and a child that is killed with
SIGKILL must not be the test process itself.
"""

from __future__ import annotations

import hashlib
import importlib
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from keystead.softhsm_bridge.ck import (  # the workers import these from here
    CKA_KS_LIFECYCLE_STATE,  # noqa: F401
    CKA_KS_USAGE_COUNT,  # noqa: F401
    CKA_KS_USAGE_LIMIT,
)

ROOT = Path(__file__).resolve().parents[2]

USER_PIN = "87654321"
SO_PIN = "12345678"
BIG_LIMIT = 10**9  # a limit never reached: it makes the key's counter exact (policy.c)


def key_value(label: str) -> bytes:
    """The AES-256 value of the key labelled ``label`` (derived, so a checker knows it)."""
    return hashlib.sha256(b"keystead-robustness:" + label.encode()).digest()


def key_template(label: str, sensitive: bool, limit: int, ident: bytes) -> dict[int, Any]:
    """The full template of a test key; ``limit`` 0 leaves CKA_KS_USAGE_LIMIT unset."""
    from keystead.softhsm_bridge.ck import Attribute as A
    from keystead.softhsm_bridge.ck import KeyType, ObjectClass

    t: dict[int, Any] = {
        A.CLASS: ObjectClass.SECRET_KEY, A.KEY_TYPE: KeyType.AES, A.TOKEN: True,
        A.PRIVATE: True, A.LABEL: label, A.ID: ident, A.VALUE: key_value(label),
        A.SENSITIVE: sensitive, A.EXTRACTABLE: not sensitive, A.ENCRYPT: True,
        A.DECRYPT: True,
    }
    if limit:
        t[CKA_KS_USAGE_LIMIT] = limit
    return t


def aes_ecb(value: bytes, block: bytes) -> bytes:
    """AES-ECB of one block with the cryptography package (the reference)."""
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

    enc = Cipher(algorithms.AES(value), modes.ECB()).encryptor()
    return enc.update(block) + enc.finalize()


def provision_token(token_dir: Path) -> tuple[str, dict[str, str]]:
    """Provision a fresh keystead token in ``token_dir`` from a child process.

    Returns the token's serial and the environment (KEYSTEAD_CONF) for later children.
    Raises RuntimeError (with the child's stderr) when provisioning fails.
    """
    code = ("import importlib, sys\n"
            "p = importlib.import_module('keystead.softhsm_bridge.provision')\n"
            "t = p.provision('keystead', sys.argv[1], so_pin=sys.argv[2], user_pin=sys.argv[3])\n"
            "print(t.serial)\n")
    done = subprocess.run([sys.executable, "-c", code, str(token_dir), SO_PIN, USER_PIN],
                          capture_output=True, text=True, timeout=60, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"provisioning failed: {done.stderr[-2000:]}")
    serial = done.stdout.strip().splitlines()[-1]
    config = importlib.import_module("keystead.softhsm_bridge.config")
    conf = token_dir.with_name(f"{token_dir.name}.keystead.conf")
    env = config.TokenEnv("keystead", token_dir, conf, "KEYSTEAD_CONF").env()
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")])
    return serial, env


def open_token(serial: str, path: str | None = None) -> tuple[Any, int, int]:
    """In a child: initialise the module (at ``path``, default KEYSTEAD_MODULE or the installed
    one), find the token, open a RW session, log in.

    Returns (RawModule, slot, session). Raises the mapped PKCS11Error on failure.
    """
    from keystead.softhsm_bridge import modules, raw
    from keystead.softhsm_bridge.ck import CKU_USER
    from keystead.softhsm_bridge.errors import check

    r = raw.open_raw(path or modules.resolve("keystead").path, initialize=False)
    r.initialize()
    slot = next(s for s in r.slot_list(True) if r.token_info(s)["serial"] == serial)
    session = r.open_session(slot, rw=True)
    check(r.login(session, CKU_USER, USER_PIN), "C_Login")
    return r, slot, session
