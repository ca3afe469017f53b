"""The manager's hash-chained audit: record hashing, appending, verification.

Each record's hash is SHA-256 over the previous record's hash and a canonical encoding of
the record (sequence number included), so editing, deleting, reordering or inserting a
record breaks the chain at a record we can name. A separate head (last sequence number and
hash) is updated in the same transaction, so truncation is caught too; an attacker who can
rewrite the whole database can rewrite the chain, which is why ``audit verify`` prints the
head as a checkpoint ``SEQ:HASH`` for the operator to keep elsewhere, and accepts it back
(``expect_head``) to check that the chain still passes through that record.
"""

from __future__ import annotations

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
    import hashlib  # here: loading OpenSSL is start-up time that listing keys does not need

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


def parse_checkpoint(text: str) -> tuple[int | None, str]:
    """``"SEQ:HASH"`` (what ``audit verify`` prints as the head) -> (seq, hash); a bare
    ``HASH`` -> (None, hash), meaning whichever record has that hash.

    Raises ValueError on anything else.
    """
    seq, sep, digest = text.strip().rpartition(":")
    digest = digest.lower()
    if (sep and (not seq.isdigit() or int(seq) < 1)) or len(digest) != 64 or any(
            c not in "0123456789abcdef" for c in digest):
        raise ValueError(f"{text!r} is not a checkpoint SEQ:HASH (as `audit verify` prints "
                         "the head, e.g. 42: and 64 hex digits)")
    return (int(seq) if sep else None), digest


def verify_chain(
    records: Iterable[AuditRecord],
    head: tuple[int, str] | None,
    expect_head: str | None = None,
    *,
    start: tuple[int, str] | None = None,
) -> ChainReport:
    """Check every link of ``records`` (in seq order) and the stored ``head``.

    ``expect_head`` is a checkpoint ``SEQ:HASH`` recorded earlier (kept off the machine):
    the chain must still pass through record SEQ with that hash, however many records were
    appended since. ``start`` (seq, prev_hash) verifies a range: ``records`` then begin at
    record ``seq``, whose predecessor's hash is ``prev_hash``.

    Returns a report naming each broken record: ``record 7: contents altered``,
    ``record 9 missing``, ``record 12 does not follow record 11``. Never raises on bad data.
    """
    report = ChainReport()
    prev_seq, prev_hash = (start[0] - 1, start[1]) if start is not None else (0, GENESIS)
    checkpoint: tuple[int | None, str] | None = None
    if expect_head is not None:
        try:
            checkpoint = parse_checkpoint(expect_head)
        except ValueError as exc:
            report.problems.append(str(exc))
    seen_checkpoint = False
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
        if checkpoint is not None and checkpoint[0] is None and rec.hash == checkpoint[1]:
            seen_checkpoint = True
        elif checkpoint is not None and rec.seq == checkpoint[0]:
            seen_checkpoint = True
            if rec.hash != checkpoint[1]:
                report.problems.append(
                    f"record {rec.seq} has hash {rec.hash[:16]}..., not the checkpoint's "
                    f"{checkpoint[1][:16]}... (the log was rewritten since the checkpoint)")
        prev_seq, prev_hash = rec.seq, rec.hash
    report.head_seq, report.head_hash = prev_seq, prev_hash
    stored_seq, stored_hash = head if head is not None else (0, GENESIS)
    if (stored_seq, stored_hash) != (prev_seq, prev_hash):
        report.problems.append(
            f"chain head says record {stored_seq} but the log ends at record {prev_seq} "
            "(records deleted or appended outside the manager)"
        )
    if checkpoint is not None and not seen_checkpoint:
        which = f"record {checkpoint[0]}" if checkpoint[0] else f"record {checkpoint[1][:16]}..."
        report.problems.append(
            f"the checkpoint's {which} is not in the log "
            f"(it ends at record {prev_seq}: truncated or rewritten)")
    return report
