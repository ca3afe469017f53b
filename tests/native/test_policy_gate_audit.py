"""The policy gate records every permitted use of a key's value in the token's audit trail,
C_DigestKey included (native/p11/guard.h; README, "Key lifecycle in the token")."""

from __future__ import annotations

import subprocess
import sys

from keystead import token_audit

CHILD = r"""
import os, sys
from keystead.softhsm_bridge.provision import prepare, provision
from keystead.softhsm_bridge.modules import resolve
from keystead.softhsm_bridge.ck import Attribute as A, KeyType, Mechanism, ObjectClass
from keystead.softhsm_bridge.raw import open_raw
from keystead.softhsm_bridge.ck import CKA_KS_USAGE_COUNT
info = resolve("keystead")
prepare(info, sys.argv[1])
tok = provision(info, None, label="gate", so_pin="12345678", user_pin="87654321")
raw = open_raw(info.path)
h = raw.open_session(tok.slot_id)
raw.login(h, 1, "87654321")
key = raw.create_object(h, {A.CLASS: ObjectClass.SECRET_KEY, A.KEY_TYPE: KeyType.AES,
                            A.TOKEN: True, A.VALUE: os.urandom(32), A.LABEL: "digested"})
for _ in range(2):
    raw.check("C_DigestInit", h, raw.mechanism(Mechanism.SHA256).ptr)
    raw.check("C_DigestKey", h, key)
    rv, _, _ = raw.call_out("C_DigestFinal", h, capacity=32)
    assert rv == 0, rv
count = int.from_bytes(raw.get_attribute(h, key, CKA_KS_USAGE_COUNT), "little")
raw.logout(h)  # the use counts reach the trail
print(tok.slot_id, count)
"""


def test_a_permitted_digest_key_is_counted_and_audited(tmp_path):
    tokens = tmp_path / "tokens"
    out = subprocess.run([sys.executable, "-c", CHILD, str(tokens)], capture_output=True,
                         text=True, timeout=120, check=True)
    slot, count = (int(x) for x in out.stdout.split()[-2:])
    assert count == 2
    uses = [r for r in token_audit.records(tokens / f"token-{slot}.sqlite")
            if r["event"] == "use" and r["detail"] == "C_DigestKey"]
    assert sum(int(r["count"]) for r in uses) == 2, uses
    assert all(r["mechanism"] == 0x250 for r in uses)  # CKM_SHA256
