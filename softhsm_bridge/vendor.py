"""keystead's vendor features, reached from the Python side.

Only keystead's module has these; callers check the module kind first (the manager does:
``Pkcs11Token.enforces_lifecycle``).
"""

from __future__ import annotations

import ctypes
import os
from pathlib import Path

from keystead import token_audit

from .errors import BridgeError

AUDIT_KEY_ENV = "KEYSTEAD_AUDIT_KEY"


def token_path(slot: int) -> Path | None:
    """The database file of keystead's token in ``slot``, or None for in-memory tokens.

    Asks the module's own configuration and slot code (through :mod:`keystead.core`), so the
    answer is the file the module opens: KEYSTEAD_CONF, relative and ``~/`` paths, the
    XDG_DATA_HOME rules and the file naming are never written twice. Raises BridgeError
    when the configuration is invalid or the slot has no token file.
    """
    from keystead.core import ffi, lib

    cfg = ffi.new("ks_config *")
    err = ffi.new("char[512]")
    if lib.ks_config_load(cfg, err, len(err)) != 0:
        raise BridgeError(ffi.string(err).decode(errors="replace"))
    if cfg.in_memory:
        return None
    entries = ffi.new("ks_slot_entry[]", lib.KS_MAX_SLOTS)
    count = ffi.new("size_t *")
    if lib.ks_slots_scan(cfg, entries, lib.KS_MAX_SLOTS, count) != 0:
        raise BridgeError(f"cannot read the token directory {ffi.string(cfg.token_dir).decode()}")
    for entry in entries[0:count[0]]:
        if entry.id == slot and entry.initialized:
            return Path(ffi.string(entry.path).decode())
    raise BridgeError(f"no initialised keystead token in slot {slot}")


def token_database(raw, session: int) -> Path | None:
    """The database file of the token behind ``session``, or None for in-memory tokens."""
    return token_path(raw.session_info(session)["slot"])


def verify_token_audit(raw, session: int,
                       checkpoint: token_audit.Checkpoint | None = None) -> tuple[bool, str]:
    """Verify the audit trail of the keystead token behind ``session``.

    The initial verification key is read from ``KEYSTEAD_AUDIT_KEY`` (the auditor's copy,
    kept off the machine) or else from the file C_InitToken wrote beside the token database;
    the message says which. With the auditor's checkpoint (``SEQ:HASH`` kept from an
    earlier run), a trail cut back and given an older header fails too. Returns
    ``(ok, message)``; the message names the first record at fault, or ends with the
    trail's current checkpoint for the auditor to keep. Never raises for a damaged trail.
    """
    try:
        db = token_database(raw, session)
    except BridgeError as exc:
        return False, str(exc)
    if db is None:
        return False, "in-memory token: its trail does not outlive the process"
    if not db.exists():
        return False, f"no token database at {db}"
    key_file = os.environ.get(AUDIT_KEY_ENV)
    source = "auditor's key"
    if not key_file:
        key_file = f"{db}.audit-key"
        source = f"key file on this machine ({key_file}); keep a copy off it and set "
        source += AUDIT_KEY_ENV
    try:
        key = token_audit.read_key(key_file)
    except token_audit.AuditKeyError as exc:
        return False, str(exc)
    report = token_audit.verify(db, key, checkpoint)
    if report.ok:
        against = f", and against checkpoint {checkpoint.seq}" if checkpoint else ""
        return True, (f"{report.records} records verified with the {source}{against}; "
                      f"checkpoint {report.checkpoint}")
    return False, f"{report.problems[0]} (checked with the {source})"


def init_manager_pin(raw, session: int, pin: str | bytes) -> int:
    """KS_InitManagerPIN: the SO, logged in on ``session`` (a RW session of ``raw``'s module,
    e.g. a python-pkcs11 ``Session.handle``), sets the manager's PIN (docs/authority.md).
    Returns the CK_RV. The vendor function is found in the module ``raw`` loaded: loading
    the same path again gives the same instance, so the session handle is valid there."""
    fn = ctypes.CDLL(raw.path).KS_InitManagerPIN
    fn.argtypes = [ctypes.c_ulong, ctypes.c_char_p, ctypes.c_ulong]
    fn.restype = ctypes.c_ulong
    data = pin.encode("utf-8") if isinstance(pin, str) else bytes(pin)
    return int(fn(session, data, len(data)))


def set_manager_pin(raw, slot: int, so_pin: str, pin: str) -> None:
    """The SO sets the manager's PIN on the keystead token in ``slot`` (closing the
    application's sessions on it first and after: the login state is the application's).
    Raises the mapped PKCS11Error."""
    from .ck import CKU_SO
    from .errors import check

    raw.close_all_sessions(slot)
    try:
        h = raw.open_session(slot, rw=True)
        check(raw.login(h, CKU_SO, so_pin), "C_Login(SO)")
        check(init_manager_pin(raw, h, pin), "KS_InitManagerPIN")
    finally:
        raw.close_all_sessions(slot)


__all__ = ["AUDIT_KEY_ENV", "init_manager_pin", "set_manager_pin", "token_database",
           "token_path", "verify_token_audit"]
