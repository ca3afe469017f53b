"""The manager's hash-chained audit: record hashing, appending, verification.

Each record's hash is SHA-256 over the previous record's hash and a canonical encoding of
the record (sequence number included), so editing, deleting, reordering or inserting a
record breaks the chain at a record we can name. A separate head (last sequence number and
hash) is updated in the same transaction, so truncation is caught too; an attacker who can
rewrite the whole database can rewrite the chain, which is why ``audit verify`` prints the
head for the operator to record elsewhere and accepts ``expect_head`` to compare.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass, field

from .models import AuditRecord

GENESIS = "0" * 64


def record_hash(prev_hash: str, rec: AuditRecord) -> str:
    """SHA-256 (hex) binding ``rec``'s content and sequence number to ``prev_hash``."""
    body = json.dumps(
        [
            rec.seq,
            rec.at.isoformat(),
            rec.actor,
            rec.action,
            rec.key_name,
            rec.version,
            rec.reason,
            rec.result,
            rec.details,
        ],
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    )
    return hashlib.sha256(prev_hash.encode("ascii") + b"\n" + body.encode("utf-8")).hexdigest()


def seal(rec: AuditRecord, head: tuple[int, str] | None) -> AuditRecord:
    """Fill ``rec``'s seq, prev_hash and hash so that it follows ``head`` (seq, hash)."""
    last_seq, last_hash = head if head is not None else (0, GENESIS)
    rec.seq = last_seq + 1
    rec.prev_hash = last_hash
    rec.hash = record_hash(last_hash, rec)
    return rec


@dataclass
class ChainReport:
    """The result of verifying a chain: ``ok``, how many records, the head, the problems."""

    records: int = 0
    head_seq: int = 0
    head_hash: str = GENESIS
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def verify_chain(
    records: Iterable[AuditRecord],
    head: tuple[int, str] | None,
    expect_head: str | None = None,
) -> ChainReport:
    """Check every link of ``records`` (in seq order) and the stored ``head``.

    Returns a report naming each broken record: ``record 7: contents altered``,
    ``record 9 missing``, ``record 12 does not follow record 11``. Never raises on bad data.
    """
    report = ChainReport()
    prev_seq, prev_hash = 0, GENESIS
    for rec in records:
        report.records += 1
        if rec.seq != prev_seq + 1:
            if rec.seq > prev_seq + 1:
                missing = f"{prev_seq + 1}" if rec.seq == prev_seq + 2 else (
                    f"{prev_seq + 1}-{rec.seq - 1}")
                report.problems.append(
                    f"record {missing} missing (deleted): "
                    f"sequence jumps from {prev_seq} to {rec.seq}"
                )
            else:
                report.problems.append(f"record {rec.seq} out of sequence after {prev_seq}")
        if rec.prev_hash != prev_hash:
            report.problems.append(
                f"record {rec.seq} does not follow record {prev_seq} (reordered or inserted)"
            )
        if record_hash(rec.prev_hash, rec) != rec.hash:
            report.problems.append(f"record {rec.seq}: contents altered (hash mismatch)")
        prev_seq, prev_hash = rec.seq, rec.hash
    report.head_seq, report.head_hash = prev_seq, prev_hash
    stored_seq, stored_hash = head if head is not None else (0, GENESIS)
    if (stored_seq, stored_hash) != (prev_seq, prev_hash):
        report.problems.append(
            f"chain head says record {stored_seq} but the log ends at record {prev_seq} "
            "(records deleted or appended outside the manager)"
        )
    if expect_head is not None and expect_head != prev_hash:
        report.problems.append(
            f"head hash {prev_hash[:16]}... differs from the expected {expect_head[:16]}..."
        )
    return report
