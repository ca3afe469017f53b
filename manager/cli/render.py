"""Turning manager results into tables for people and JSON for programs."""

from __future__ import annotations

import functools
import json
import re
import unicodedata
from collections.abc import Sequence
from datetime import datetime, timedelta
from enum import Enum
from typing import Any

import click

from ..durations import format_duration
from ..models import AuditRecord, KeyRecord, TransitionRecord, VersionRecord
from ..rotation import DueAction

#: Unicode categories never printed as they are: controls (Cc: newline, tab, ESC...),
#: format characters (Cf: zero-width, bidi overrides), separators that break lines (Zl, Zp),
#: private-use, surrogates and unassigned code points.
_UNSAFE_CATEGORIES = frozenset({"Cc", "Cf", "Zl", "Zp", "Co", "Cs", "Cn"})


def safe(value: object) -> str:
    """``value`` as text fit for a terminal: every control, format or line-breaking
    character is shown as an escape (``\\n``, ``\\x1b``, ``\\u200b``), so that a name,
    actor or reason can neither forge a line nor move the cursor."""
    text = str(value)
    if text.isascii() and text.isprintable():
        return text
    out = []
    for ch in text:
        if unicodedata.category(ch) in _UNSAFE_CATEGORIES:
            code = ord(ch)
            out.append(f"\\x{code:02x}" if code < 0x100 else
                       f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}")
        else:
            out.append(ch)
    return "".join(out)


#: CK_RV names the user may meet, in words (the code stays, in parentheses).
CKR_WORDS = {
    "CKR_PIN_INCORRECT": "wrong PIN",
    "CKR_PIN_LOCKED": "the PIN is locked after too many wrong attempts",
    "CKR_PIN_LEN_RANGE": "the PIN is too short or too long",
    "CKR_PIN_INVALID": "the PIN has characters the token does not accept",
    "CKR_USER_PIN_NOT_INITIALIZED": "the token has no user PIN yet",
    "CKR_USER_NOT_LOGGED_IN": "not logged in to the token",
    "CKR_TOKEN_NOT_PRESENT": "no such token",
    "CKR_TOKEN_NOT_RECOGNIZED": "the token is not recognised",
    "CKR_TOKEN_WRITE_PROTECTED": "the token is write-protected",
    "CKR_SLOT_ID_INVALID": "no such slot",
    "CKR_KEY_HANDLE_INVALID": "the key object is not in the token",
    "CKR_OBJECT_HANDLE_INVALID": "the object is not in the token",
    "CKR_KEY_FUNCTION_NOT_PERMITTED": "the token does not let this key do that",
    "CKR_KEY_TYPE_INCONSISTENT": "the key is of the wrong type for that",
    "CKR_MECHANISM_INVALID": "the token does not support that mechanism",
    "CKR_ENCRYPTED_DATA_INVALID": "authentication failed (wrong AAD, or the data was altered)",
    "CKR_ENCRYPTED_DATA_LEN_RANGE": "the ciphertext has the wrong length",
    "CKR_ATTRIBUTE_VALUE_INVALID": "the token refused an attribute value",
    "CKR_TEMPLATE_INCONSISTENT": "the token refused the key template",
    "CKR_DEVICE_MEMORY": "the token is out of memory",
    "CKR_DEVICE_ERROR": "the token's storage failed",
    "CKR_GENERAL_ERROR": "the token failed",
    "CKR_FUNCTION_FAILED": "the token could not do that",
    "CKR_ARGUMENTS_BAD": "the token refused the arguments",
    "CKR_SESSION_HANDLE_INVALID": "the session with the token was lost",
    "CKR_CRYPTOKI_NOT_INITIALIZED": "the module is not initialised",
    "CKR_OPERATION_ACTIVE": "the token is busy with another operation",
    "CKR_SESSION_READ_ONLY": "the session is read-only",
}
_CKR = re.compile(r"\bCKR_[A-Z0-9_]+\b")


def humane(message: str) -> str:
    """``message`` with each CKR_* name put in words: ``wrong PIN (CKR_PIN_INCORRECT)``."""
    def words(match: re.Match[str]) -> str:
        name = match.group(0)
        said = CKR_WORDS.get(name, "the token refused")
        return f"{said} ({name})"

    return _CKR.sub(words, message)


def plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, timedelta):
        return format_duration(value)
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, bytes):
        return value.hex()
    return value


def emit_json(obj: Any) -> None:
    """``obj`` as JSON: an object indented, a list one compact element per line (the
    indenting encoder is pure Python: it took 0.7 s for the 1,000 keys of `key list`)."""
    if isinstance(obj, list) and obj:
        click.echo("[\n" + ",\n".join(
            "  " + json.dumps(item, sort_keys=True, default=plain) for item in obj) + "\n]")
        return
    click.echo(json.dumps(obj, indent=2, sort_keys=True, default=plain))


def when(value: datetime | None) -> str:
    return "-" if value is None else value.strftime("%Y-%m-%d %H:%M:%SZ")


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    """A plain aligned table."""
    cells = [[str(h) for h in headers]] + [["-" if c is None else safe(c) for c in r]
                                           for r in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()
             for row in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    click.echo("\n".join(lines))  # one write: a thousand echo calls cost 30 ms


def key_dict(key: KeyRecord) -> dict[str, Any]:
    p = key.policy
    return {
        "name": key.name, "type": key.key_type.value, "algorithm": key.algorithm,
        "length_bits": key.length_bits, "security_strength": key.security_strength,
        "operations": list(key.operations), "owner": key.owner, "module": key.module,
        "token": key.token_label, "created_at": key.created_at,
        "current_version": key.current_version,
        "min_encrypt_version": key.min_encrypt_version,
        "min_decrypt_version": key.min_decrypt_version,
        "policy": {"oup": p.oup, "rup_extra": p.rup_extra, "usage_limit": p.usage_limit,
                   "rotate_at": p.rotate_at, "auto_rotate": p.auto_rotate,
                   "destroy_wait": p.destroy_wait, "short_destroy_wait": p.short_destroy_wait},
    }


@functools.cache
def _period(seconds: int) -> str:
    return format_duration(timedelta(seconds=seconds))


def key_fields_dict(key: dict[str, Any], ver: dict[str, Any] | None) -> dict[str, Any]:
    """``key_dict`` and ``version_dict`` (as "current") from the catalogue's column values
    (``KeyManager.key_fields``), with JSON's types already: `key list --json` builds no
    records and its encoder calls no ``default``. Equal to the records' dicts
    (tests/manager/test_catalogue_queries.py)."""
    out = {
        "name": key["name"], "type": key["key_type"], "algorithm": key["algorithm"],
        "length_bits": key["length_bits"], "security_strength": key["security_strength"],
        "operations": [x for x in key["operations"].split(",") if x], "owner": key["owner"],
        "module": key["module"], "token": key["token_label"],
        "created_at": key["created_at"],
        "current_version": key["current_version"],
        "min_encrypt_version": key["min_encrypt_version"],
        "min_decrypt_version": key["min_decrypt_version"],
        "policy": {"oup": _period(key["oup_seconds"]),
                   "rup_extra": _period(key["rup_extra_seconds"]),
                   "usage_limit": key["usage_limit"], "rotate_at": key["rotate_at"],
                   "auto_rotate": bool(key["auto_rotate"]),
                   "destroy_wait": _period(key["destroy_wait_seconds"]),
                   "short_destroy_wait": bool(key["short_destroy_wait"])},
        "current": None,
    }
    if ver is not None:
        current = {"version": ver["version"], "state": ver["state"],
                   "object_id": ver["object_id"], "unique_id": ver["unique_id"],
                   "usage_count": ver["usage_count"]}
        for f in VersionRecord.DATE_FIELDS:
            current[f] = ver[f]
        out["current"] = current
    return out


def version_dict(ver: VersionRecord) -> dict[str, Any]:
    out: dict[str, Any] = {"version": ver.version, "state": ver.state.value,
                           "object_id": ver.object_id, "unique_id": ver.unique_id,
                           "usage_count": ver.usage_count}
    for f in VersionRecord.DATE_FIELDS:
        out[f] = getattr(ver, f)
    return out


def transition_dict(tr: TransitionRecord) -> dict[str, Any]:
    return {"from": tr.from_state.value if tr.from_state else None, "to": tr.to_state.value,
            "at": tr.at, "actor": tr.actor, "reason": tr.reason}


def audit_dict(rec: AuditRecord) -> dict[str, Any]:
    return {"seq": rec.seq, "at": rec.at, "actor": rec.actor, "action": rec.action,
            "key": rec.key_name, "version": rec.version, "reason": rec.reason,
            "result": rec.result, "details": rec.details, "hash": rec.hash}


def due_dict(d: DueAction) -> dict[str, Any]:
    return {"action": d.action, "key": d.key, "version": d.version, "reason": d.reason,
            "result": d.result, "new_version": d.new_version}


def versions_table(versions: Sequence[VersionRecord]) -> None:
    table(
        ["VERSION", "STATE", "ACTIVATED", "PROTECT END", "PROCESS END", "USES", "DESTROY DUE"],
        [[v.version, v.state.value, when(v.activated_at or v.activation_date),
          when(v.protect_end), when(v.process_end), v.usage_count, when(v.destroy_due)]
         for v in versions],
    )


def audit_table(records: Sequence[AuditRecord]) -> None:
    table(
        ["SEQ", "TIME", "ACTOR", "ACTION", "KEY", "VER", "RESULT", "REASON"],
        [[r.seq, when(r.at), r.actor, r.action, r.key_name, r.version, r.result, r.reason]
         for r in records],
    )
