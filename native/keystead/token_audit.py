"""Verify the audit trail of a keystead token (see native/token/audit.h for the construction).

The trail lives in the token's SQLite database (table ``audit``). Record ``i`` is encoded
canonically, chained (``chain_i = SHA-256("keystead audit chain" || chain_{i-1} || enc_i)``)
and sealed with the forward-secure epoch key ``k_i`` (``mac_i = HMAC-SHA-256(k_i, chain_i)``,
``k_{i+1} = SHA-256("keystead audit evolve" || k_i)``). Given the initial key ``k_1`` that
C_InitToken wrote to ``<token file>.audit-key``, :func:`verify` recomputes every chain value and
seal and names the first record that was edited, deleted, reordered or inserted.
"""

from __future__ import annotations

import hashlib
import hmac
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path

CHAIN_LABEL = b"keystead audit chain"
EVOLVE_LABEL = b"keystead audit evolve"
COLUMNS = ("seq", "time", "pid", "user", "session", "event", "object", "mechanism", "rv",
           "count", "detail")


class AuditKeyError(ValueError):
    """The initial verification key file is missing or malformed."""


@dataclass
class AuditReport:
    """The result of a verification: ``ok``, the records checked, and the problems found."""

    records: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def read_key(path: str | Path) -> bytes:
    """Read an initial key file (64 hex digits). Raises AuditKeyError."""
    try:
        text = Path(path).read_text(encoding="ascii").strip()
        key = bytes.fromhex(text)
    except (OSError, ValueError) as exc:
        raise AuditKeyError(f"{path}: not an audit key file ({exc.__class__.__name__})") from exc
    if len(key) != 32:
        raise AuditKeyError(f"{path}: an audit key is 32 bytes, found {len(key)}")
    return key


def _encode(values: list[str]) -> bytes:
    out = bytearray()
    for value in values:
        data = value.encode("utf-8")
        out += len(data).to_bytes(4, "big") + data
    return bytes(out)


def _text(row: sqlite3.Row) -> list[str]:
    """The row's fields as the C side formatted them before encoding."""
    return [
        str(row["seq"]), row["time"], str(row["pid"]), row["user"], str(row["session"]),
        row["event"], row["object"], str(row["mechanism"]), str(row["rv"]), str(row["count"]),
        row["detail"],
    ]


_TEXT_FIELDS = ("time", "user", "event", "object", "detail")
_INT_FIELDS = ("seq", "pid", "session", "mechanism", "rv", "count")


def _well_formed(row: sqlite3.Row) -> bool:
    """True when every field has the SQLite type the token writes (a damaged file may hold
    any value of any type in any column: SQLite's column types do not enforce it)."""
    return (all(isinstance(row[c], str) for c in _TEXT_FIELDS)
            and all(isinstance(row[c], int) for c in _INT_FIELDS)
            and isinstance(row["chain"], bytes) and isinstance(row["mac"], bytes))


def records(db_path: str | Path) -> list[dict[str, object]]:
    """Every record of the trail, in sequence order, as dictionaries."""
    with sqlite3.connect(f"file:{db_path}?mode=ro", uri=True) as db:
        db.row_factory = sqlite3.Row
        rows = db.execute(f"SELECT {', '.join(COLUMNS)} FROM audit ORDER BY rowid").fetchall()
    return [dict(row) for row in rows]


def verify(db_path: str | Path, initial_key: bytes) -> AuditReport:
    """Check the whole trail of the token database at db_path against initial_key.

    Never raises for a damaged trail: every problem is a line in the report, the first one
    naming the record at fault. Raises sqlite3.Error if the file is not a token database.
    """
    report = AuditReport()
    with sqlite3.connect(f"file:{db_path}?mode=ro", uri=True) as db:
        db.row_factory = sqlite3.Row
        rows = db.execute(
            f"SELECT {', '.join(COLUMNS)}, chain, mac FROM audit ORDER BY rowid").fetchall()
        state = db.execute("SELECT next_seq, chain FROM audit_state WHERE id = 1").fetchone()
    key = initial_key
    chain = bytes(32)
    expected_seq = 1
    for row in rows:
        report.records += 1
        seq = row["seq"]
        if seq != expected_seq:
            kind = "deleted or reordered" if seq > expected_seq else "inserted or reordered"
            report.problems.append(
                f"record {seq}: expected sequence number {expected_seq} ({kind} records)")
            return report
        if not _well_formed(row):
            report.problems.append(f"record {seq}: a field holds a value of the wrong type "
                                   "(edited)")
            return report
        chain = hashlib.sha256(CHAIN_LABEL + chain + _encode(_text(row))).digest()
        if not hmac.compare_digest(chain, bytes(row["chain"])):
            report.problems.append(f"record {seq}: content does not match its chain value "
                                   "(edited, or a record before it was removed)")
            return report
        mac = hmac.new(key, chain, hashlib.sha256).digest()
        if not hmac.compare_digest(mac, bytes(row["mac"])):
            report.problems.append(f"record {seq}: seal does not verify (edited or forged)")
            return report
        key = hashlib.sha256(EVOLVE_LABEL + key).digest()
        expected_seq += 1
    if state is None:
        report.problems.append("no audit state: the trail was never started or was removed")
    elif not isinstance(state["next_seq"], int) or not isinstance(state["chain"], bytes):
        report.problems.append("the audit state holds a value of the wrong type (edited)")
    elif state["next_seq"] != expected_seq:
        report.problems.append(
            f"the trail ends at record {expected_seq - 1} but the token sealed up to record "
            f"{state['next_seq'] - 1}: records were deleted from the end")
    elif not hmac.compare_digest(state["chain"], chain):
        report.problems.append("the token's last chain value does not match the last record")
    return report


__all__ = ["AuditKeyError", "AuditReport", "read_key", "records", "verify"]
