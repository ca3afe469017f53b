"""The role of a key value is the token's, not the process's: fixed in one process, it holds
in another (a second application on the same token) and after a restart."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import keystead
import pytest
from pkcs11 import Attribute, KeyType, Mechanism, ObjectClass

from .actor import Actor, Refused
from .instances import Instance

# Run in a fresh process on the same token: log in, find the key by label, try to use it.
_OTHER_PROCESS = textwrap.dedent("""
    import sys
    from keystead.softhsm_bridge.ck import CKU_USER
    from keystead.softhsm_bridge.errors import rv_name
    from keystead.softhsm_bridge.raw import open_raw
    from pkcs11 import Attribute, Mechanism
    module, serial, pin, label, what = sys.argv[1:6]
    r = open_raw(module)
    slot = next(s for s in r.slot_list(True) if r.token_info(s)["serial"] == serial)
    h = r.open_session(slot, rw=True)
    r.login(h, CKU_USER, pin)
    key = r.find_objects(h, {Attribute.LABEL: label})[0]
    if what == "decrypt":
        m = r.mechanism(Mechanism.AES_ECB)
        print(rv_name(r.call("C_DecryptInit", h, m.ptr, key)))
    else:
        m = r.mechanism(Mechanism.AES_ECB)
        print(rv_name(r.call("C_EncryptInit", h, m.ptr, key)))
""")


def _other_process(inst: Instance, label: str, what: str) -> str:
    assert inst.env is not None
    env = inst.env.env(dict(os.environ))
    proc = subprocess.run([sys.executable, "-c", _OTHER_PROCESS, keystead.module_path(),
                           inst.token.serial, inst.token.user_pin, label, what],
                          env=env, capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout.strip()


def _token_key(a: Actor, label: str) -> int:
    return a.raw.generate_key(a.h, Mechanism.AES_KEY_GEN, {
        Attribute.CLASS: ObjectClass.SECRET_KEY, Attribute.KEY_TYPE: KeyType.AES,
        Attribute.VALUE_LEN: 32, Attribute.TOKEN: True, Attribute.LABEL: label,
        Attribute.WRAP: True, Attribute.DECRYPT: True, Attribute.ENCRYPT: True,
        Attribute.SENSITIVE: True, Attribute.EXTRACTABLE: False})


def test_role_fixed_here_holds_in_another_process(strict_keystead: Instance) -> None:
    a = Actor(strict_keystead.raw, strict_keystead.token, strict_keystead.kind)
    label = f"kek-{os.urandom(4).hex()}"
    a.token_objects.append(label)
    try:
        a.login_user()
        kek = _token_key(a, label)
        a.wrap(Mechanism.AES_KEY_WRAP, kek, a.generate(EXTRACTABLE=True))
        assert _other_process(strict_keystead, label, "decrypt") == \
            "CKR_KEY_FUNCTION_NOT_PERMITTED"
    finally:
        a.close()


def test_role_fixed_in_another_process_holds_here(strict_keystead: Instance) -> None:
    a = Actor(strict_keystead.raw, strict_keystead.token, strict_keystead.kind)
    label = f"data-{os.urandom(4).hex()}"
    a.token_objects.append(label)
    try:
        a.login_user()
        key = _token_key(a, label)
        assert _other_process(strict_keystead, label, "encrypt") == "CKR_OK"
        target = a.generate(EXTRACTABLE=True)
        with pytest.raises(Refused, match="CKR_KEY_FUNCTION_NOT_PERMITTED"):
            a.wrap(Mechanism.AES_KEY_WRAP, key, target)
    finally:
        a.close()
