"""Who governs a key (docs/authority.md): the manager user type CKU_KS_MANAGER, its PIN set
by the SO with KS_InitManagerPIN, and CKA_KS_GOVERNED. On a governed key only the manager
changes the lifecycle state, usage limit, override and usage dates; the user PIN uses the key
and nothing more (CKR_ATTRIBUTE_READ_ONLY). Ungoverned keys behave as before.

keystead's vendor extensions: SoftHSMv2's cases are skipped.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from keystead.softhsm_bridge.ck import (
    CKU_KS_MANAGER,
    CKU_SO,
    CKU_USER,
    KS_VENDOR,
    KeyType,
    Mechanism,
    ObjectClass,
)
from keystead.softhsm_bridge.ck import Attribute as A
from keystead.softhsm_bridge.errors import CKR_OK
from keystead.softhsm_bridge.raw import RawModule
from keystead.softhsm_bridge.vendor import init_manager_pin

from .support import assert_rv

VENDOR = KS_VENDOR
STATE = VENDOR | 0x01
PROCESS_START = VENDOR | 0x02
PROCESS_END = VENDOR | 0x03
USAGE_COUNT = VENDOR | 0x04
USAGE_LIMIT = VENDOR | 0x05
OVERRIDE = VENDOR | 0x06
REASON = VENDOR | 0x08
GOVERNED = VENDOR | 0x0A
ACTIVE, SUSPENDED = 1, 2
CKS_RW_USER_FUNCTIONS = 3
MANAGER_PIN = "manager-pin-9012"
ECB = Mechanism.AES_ECB


@dataclass
class Gov:
    raw: RawModule
    slot: int
    so_pin: str
    user_pin: str

    def session(self) -> int:
        return self.raw.open_session(self.slot, rw=True)

    def login(self, who: int, pin: str | None = None) -> int:
        """Every session closed (logging out), then a RW session logged in as ``who``."""
        self.raw.close_all_sessions(self.slot)
        h = self.session()
        pin = pin or {CKU_SO: self.so_pin, CKU_USER: self.user_pin}.get(who, MANAGER_PIN)
        assert_rv(self.raw.login(h, who, pin), CKR_OK)
        return h

    def set_rv(self, h: int, obj: int, attrs: dict[int, object]) -> int:
        t = self.raw.template(attrs)
        return self.raw.call("C_SetAttributeValue", h, obj, t.ptr, t.count)

    def copy_rv(self, h: int, obj: int, attrs: dict[int, object]) -> int:
        t = self.raw.template(attrs)
        out = self.raw.ffi.new("CK_OBJECT_HANDLE *")
        return self.raw.call("C_CopyObject", h, obj, t.ptr, t.count, out)

    def ulong(self, h: int, obj: int, atype: int) -> int:
        return int.from_bytes(self.raw.get_attribute(h, obj, atype), "little")

    def flag(self, h: int, obj: int, atype: int) -> bool:
        return self.raw.get_attribute(h, obj, atype) == b"\x01"

    def encrypt_rv(self, h: int, key: int) -> int:
        m = self.raw.mechanism(ECB)
        return self.raw.call("C_EncryptInit", h, m.ptr, key)

    def encrypt(self, h: int, key: int) -> bytes:
        return self.raw.encrypt(h, ECB, key, bytes(16))

    def generate(self, h: int, label: str, extra: dict[int, object] | None = None) -> int:
        t = {A.CLASS: ObjectClass.SECRET_KEY, A.KEY_TYPE: KeyType.AES, A.VALUE_LEN: 32,
             A.TOKEN: True, A.PRIVATE: True, A.SENSITIVE: True, A.EXTRACTABLE: False,
             A.ENCRYPT: True, A.DECRYPT: True, A.LABEL: label, **(extra or {})}
        return self.raw.generate_key(h, Mechanism.AES_KEY_GEN, t)

    def find(self, h: int, label: str) -> int:
        found = self.raw.find_objects(h, {A.LABEL: label})
        assert len(found) == 1
        return found[0]


@pytest.fixture(scope="module")
def gov_token(module):
    if module.info.kind != "keystead":
        pytest.skip("the manager user type and CKA_KS_GOVERNED are keystead's")
    return module.fresh_token("gov")


@pytest.fixture()
def gov(module, gov_token) -> Iterator[Gov]:
    g = Gov(module.raw, gov_token.slot_id, gov_token.so_pin, gov_token.user_pin)
    h = g.login(CKU_SO)
    assert_rv(init_manager_pin(g.raw, h, MANAGER_PIN), CKR_OK)
    g.raw.close_all_sessions(g.slot)
    try:
        yield g
    finally:
        g.raw.close_all_sessions(g.slot)


def label() -> str:
    return f"gov-{os.urandom(5).hex()}"


def test_manager_pin_is_set_by_the_so_only(module) -> None:
    if module.info.kind != "keystead":
        pytest.skip("keystead's vendor user type")
    tok = module.fresh_token("gov-pin")
    g = Gov(module.raw, tok.slot_id, tok.so_pin, tok.user_pin)
    h = g.session()
    assert_rv(g.raw.login(h, CKU_KS_MANAGER, MANAGER_PIN), "CKR_USER_PIN_NOT_INITIALIZED")
    assert_rv(init_manager_pin(g.raw, h, MANAGER_PIN), "CKR_USER_NOT_LOGGED_IN")
    h = g.login(CKU_USER)
    assert_rv(init_manager_pin(g.raw, h, MANAGER_PIN), "CKR_USER_NOT_LOGGED_IN")
    h = g.login(CKU_SO)
    assert_rv(init_manager_pin(g.raw, h, b"123"), "CKR_PIN_LEN_RANGE")
    assert_rv(init_manager_pin(g.raw, h, MANAGER_PIN), CKR_OK)
    g.raw.close_all_sessions(g.slot)
    h = g.session()
    assert_rv(g.raw.login(h, CKU_KS_MANAGER, "wrong-pin-000"), "CKR_PIN_INCORRECT")
    assert_rv(g.raw.login(h, CKU_KS_MANAGER, MANAGER_PIN), CKR_OK)
    assert g.raw.session_info(h)["state"] == CKS_RW_USER_FUNCTIONS
    # the manager changes its own PIN with C_SetPIN; the user PIN is untouched
    g.raw.set_pin(h, MANAGER_PIN, "manager-pin-new")
    h = g.login(CKU_KS_MANAGER, "manager-pin-new")
    h = g.login(CKU_USER)
    assert_rv(g.raw.login(h, CKU_KS_MANAGER, "manager-pin-new"),
              "CKR_USER_ANOTHER_ALREADY_LOGGED_IN")


def test_keys_the_manager_makes_are_governed_and_usable(gov: Gov) -> None:
    h = gov.login(CKU_KS_MANAGER)
    k = gov.generate(h, label())
    assert gov.flag(h, k, GOVERNED)
    assert len(gov.encrypt(h, k)) == 16  # the manager uses keys as the user does
    h = gov.login(CKU_USER)
    mine = gov.generate(h, label())
    assert not gov.flag(h, mine, GOVERNED)
    t = {A.CLASS: ObjectClass.SECRET_KEY, A.KEY_TYPE: KeyType.AES, A.VALUE_LEN: 32,
         A.TOKEN: False, GOVERNED: True}
    m = gov.raw.mechanism(Mechanism.AES_KEY_GEN)
    tt = gov.raw.template(t)
    out = gov.raw.ffi.new("CK_OBJECT_HANDLE *")
    assert_rv(gov.raw.call("C_GenerateKey", h, m.ptr, tt.ptr, tt.count, out),
              "CKR_ATTRIBUTE_READ_ONLY")


GOVERNING = [
    ("state", {STATE: ACTIVE}),
    ("limit", {USAGE_LIMIT: 0}),
    ("limit-raised", {USAGE_LIMIT: 1000}),
    ("override", {OVERRIDE: True}),
    ("process-start", {PROCESS_START: b"19700101"}),
    ("process-end", {PROCESS_END: b"20991231"}),
    ("start", {A.START_DATE: b"19700101"}),
    ("end", {A.END_DATE: b"20991231"}),
    ("governed", {GOVERNED: False}),
    # what the manager finds the key by (a decoy could take its place) and its purpose
    ("label", {A.LABEL: "renamed"}),
    ("id", {A.ID: b"decoy"}),
    ("encrypt", {A.ENCRYPT: False}),
    ("decrypt", {A.DECRYPT: False}),
    ("wrap", {A.WRAP: True}),
    ("copyable", {A.COPYABLE: False}),
]


@pytest.mark.parametrize(("what", "change"), GOVERNING, ids=[g[0] for g in GOVERNING])
def test_user_cannot_change_what_governs_a_governed_key(gov: Gov, what: str,
                                                        change: dict[int, object]) -> None:
    name = label()
    h = gov.login(CKU_KS_MANAGER)
    k = gov.generate(h, name, {USAGE_LIMIT: 100, PROCESS_START: b"20000101",
                               PROCESS_END: b"20980101", A.START_DATE: b"20000101",
                               A.END_DATE: b"20980101"})
    gov.raw.set_attributes(h, k, {STATE: SUSPENDED, REASON: "investigation"})
    h = gov.login(CKU_USER)
    k = gov.find(h, name)
    assert_rv(gov.set_rv(h, k, change), "CKR_ATTRIBUTE_READ_ONLY")
    assert_rv(gov.copy_rv(h, k, {A.TOKEN: False, **change}), "CKR_ACTION_PROHIBITED")
    assert gov.ulong(h, k, STATE) == SUSPENDED
    assert_rv(gov.encrypt_rv(h, k), "CKR_KEY_FUNCTION_NOT_PERMITTED")
    # the manager may
    h = gov.login(CKU_KS_MANAGER)
    k = gov.find(h, name)
    assert_rv(gov.set_rv(h, k, change), CKR_OK)


def test_only_the_manager_copies_or_destroys_a_governed_key(gov: Gov) -> None:
    name = label()
    h = gov.login(CKU_KS_MANAGER)
    k = gov.generate(h, name)
    c = gov.raw.copy_object(h, k, {A.TOKEN: False})
    assert gov.flag(h, c, GOVERNED)
    h = gov.login(CKU_USER)
    k = gov.find(h, name)
    # a copy would keep today's state and escape a later suspension
    assert_rv(gov.copy_rv(h, k, {A.TOKEN: False}), "CKR_ACTION_PROHIBITED")
    assert_rv(gov.raw.call("C_DestroyObject", h, k), "CKR_ACTION_PROHIBITED")
    h = gov.login(CKU_KS_MANAGER)
    k = gov.find(h, name)
    assert_rv(gov.raw.call("C_DestroyObject", h, k), CKR_OK)


def test_user_sets_the_values_already_held_and_other_attributes(gov: Gov) -> None:
    name = label()
    h = gov.login(CKU_KS_MANAGER)
    k = gov.generate(h, name)
    h = gov.login(CKU_USER)
    k = gov.find(h, name)
    assert_rv(gov.set_rv(h, k, {STATE: ACTIVE, GOVERNED: True, A.LABEL: name,
                                A.EXTRACTABLE: False}), CKR_OK)
    assert_rv(gov.set_rv(h, k, {STATE: SUSPENDED}), "CKR_ATTRIBUTE_READ_ONLY")


def test_ungoverned_keys_keep_their_rules_and_the_manager_may_take_them(gov: Gov) -> None:
    name = label()
    h = gov.login(CKU_USER)
    k = gov.generate(h, name)
    assert_rv(gov.set_rv(h, k, {STATE: SUSPENDED}), CKR_OK)
    assert_rv(gov.set_rv(h, k, {STATE: ACTIVE, USAGE_LIMIT: 5}), CKR_OK)
    assert_rv(gov.set_rv(h, k, {GOVERNED: True}), "CKR_ATTRIBUTE_READ_ONLY")
    h = gov.login(CKU_KS_MANAGER)
    k = gov.find(h, name)
    assert_rv(gov.set_rv(h, k, {GOVERNED: True, STATE: SUSPENDED}), CKR_OK)
    h = gov.login(CKU_USER)
    k = gov.find(h, name)
    assert_rv(gov.set_rv(h, k, {STATE: ACTIVE}), "CKR_ATTRIBUTE_READ_ONLY")


def test_the_so_does_not_govern(gov: Gov) -> None:
    name = label()
    h = gov.login(CKU_KS_MANAGER)
    gov.generate(h, name, {A.PRIVATE: False})
    h = gov.login(CKU_SO)
    k = gov.find(h, name)
    assert_rv(gov.set_rv(h, k, {STATE: SUSPENDED}), "CKR_ATTRIBUTE_READ_ONLY")
