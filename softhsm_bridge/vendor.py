"""keystead's vendor features, reached from the Python side.

Only keystead's module has these; callers check the module kind first (the manager does:
``Pkcs11Token.enforces_lifecycle``).
"""

from __future__ import annotations

import os
from pathlib import Path

from keystead import token_audit

AUDIT_KEY_ENV = "KEYSTEAD_AUDIT_KEY"


def _token_dir() -> Path | None:
    """The token directory keystead's module reads, from KEYSTEAD_CONF or the default."""
    conf = os.environ.get("KEYSTEAD_CONF")
    if conf:
        for line in Path(conf).read_text(encoding="utf-8").splitlines():
            key, sep, value = line.partition("=")
            if sep and key.strip() == "token_dir":
                value = value.strip()
                return None if value == ":memory:" else Path(value)
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "keystead" / "tokens"


def token_database(raw, session: int) -> Path | None:
    """The database file of the token behind ``session``, or None for in-memory tokens."""
    tdir = _token_dir()
    if tdir is None:
        return None
    return tdir / f"token-{raw.session_info(session)['slot']}.sqlite"


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
    db = token_database(raw, session)
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


__all__ = ["AUDIT_KEY_ENV", "token_database", "verify_token_audit"]
