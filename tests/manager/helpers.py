"""Helpers shared by the manager and CLI tests: one manager token per module, provisioned
once per test session in the module's (root conftest) token directory."""

from __future__ import annotations

from pathlib import Path

from keystead.manager import KeyManager, ManualClock, SQLiteCatalogue, open_token
from keystead.softhsm_bridge.provision import Token, load, provision
from keystead.softhsm_bridge.vendor import set_manager_pin

MANAGER_SO_PIN = "mgr-so-1234"
MANAGER_PIN = "mgr-user-5678"
MANAGER_GOV_PIN = "mgr-manager-9012"  # keystead's manager credential (docs/authority.md)
_TOKENS: dict[tuple[str, str], Token] = {}


def manager_token(module, label: str = "manager") -> Token:
    """A token labelled ``label`` in the module under test, provisioned once per session."""
    key = (module.name, label)
    if key not in _TOKENS:
        token = provision(module.info, None, label=label, so_pin=MANAGER_SO_PIN,
                          user_pin=MANAGER_PIN)
        if module.info.kind == "keystead":
            set_manager_pin(load(module.info), token.slot_id, MANAGER_SO_PIN, MANAGER_GOV_PIN)
        _TOKENS[key] = token
    return _TOKENS[key]


def make_manager(module, token: Token, catalogue: Path, clock: ManualClock | None = None,
                 actor: str = "tester") -> KeyManager:
    """A KeyManager on ``catalogue`` and the token, as the CLI would build it."""
    return manager_for(module.info, token.label, catalogue, clock, actor)


def manager_for(info, label: str, catalogue: Path, clock: ManualClock | None = None,
                actor: str = "tester") -> KeyManager:
    """A KeyManager on module ``info`` (a ModuleInfo or name), token ``label``."""
    from keystead.softhsm_bridge import resolve

    info = resolve(info) if isinstance(info, str) else info
    return KeyManager(
        SQLiteCatalogue(catalogue, create=True), open_token(info, label, MANAGER_PIN),
        clock=clock, actor=actor, module_name=info.name, token_label=label)


def raw_key(module, token: Token, object_id_hex: str,
            as_manager: bool = False) -> tuple[int, int | None]:
    """(raw session logged in as user, handle of the object with that CKA_ID or None).

    ``as_manager``: on keystead's token, logged in with the manager credential instead (what
    it takes to destroy or change a key the CLI made: docs/authority.md)."""
    from keystead.softhsm_bridge.ck import CKU_KS_MANAGER
    from keystead.softhsm_bridge.errors import check
    from keystead.softhsm_bridge.provision import find_slot
    from keystead.softhsm_bridge.session import login

    raw = module.raw
    session = raw.open_session(find_slot(module.info, token.serial), rw=True)
    if as_manager and module.info.kind == "keystead":
        check(raw.login(session, CKU_KS_MANAGER, MANAGER_GOV_PIN), "C_Login(manager)")
    else:
        login(token, session, "user")
    found = raw.find_objects(session, {0x102: bytes.fromhex(object_id_hex)})  # CKA_ID
    return session, (found[0] if found else None)


def token_may(module, token: Token, object_id_hex: str, what: str = "Encrypt") -> bool:
    """Whether the token itself lets an application start AES-GCM ``what`` ("Encrypt" or
    "Decrypt") with the key: what an application bypassing the manager would get."""
    from keystead.softhsm_bridge.errors import PKCS11Error

    raw = module.raw
    session, handle = raw_key(module, token, object_id_hex)
    try:
        assert handle is not None, "the key object is missing from the token"
        try:
            raw.op_init(what, session, 0x1087, handle, raw.gcm(b"\0" * 12, b"", 128))
        except PKCS11Error:
            return False
        return True
    finally:
        raw.close_session(session)  # also ends the operation just started


def token_may_encrypt(module, token: Token, object_id_hex: str) -> bool:
    return token_may(module, token, object_id_hex, "Encrypt")
