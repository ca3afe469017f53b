"""Verify the audit trail of a keystead token (see native/token/audit.h for the construction
and native/token/audit_file.h for the file).

The trail lives beside the token's database, in ``<database>.audit``: a 4096-byte header (the
token's current state: next sequence number, end of the records, last chain value) and the
records after it (version 2: then zero bytes the token allocated ahead, up to the file's size,
so the records end at the header's ``end``, not at the file's end; version 1 had none), each
the canonical encoding ``enc_i`` (eleven length-prefixed fields), its chain value and its seal.
Record ``i`` is chained
(``chain_i = SHA-256("keystead audit chain" || chain_{i-1} || enc_i)``) and sealed with the
forward-secure epoch key ``k_i`` (``mac_i = HMAC-SHA-256(k_i, chain_i)``,
``k_{i+1} = SHA-256("keystead audit evolve" || k_i)``). Given the initial key ``k_1`` that
C_InitToken wrote to ``<database>.audit-key``, :func:`verify` recomputes every chain value and
seal and names the first record that was edited, deleted, reordered or inserted.

Someone who can write the file may cut records off its end and put back a header saved
earlier: the trail is then whole as far as it goes. An auditor who kept a checkpoint (the
sequence number and chain value of the last record seen, :attr:`AuditReport.checkpoint`) and
passes it to :func:`verify` finds that too.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import struct
import time
from dataclasses import dataclass, field
from pathlib import Path

CHAIN_LABEL = b"keystead audit chain"
EVOLVE_LABEL = b"keystead audit evolve"
COLUMNS = ("seq", "time", "pid", "user", "session", "event", "object", "mechanism", "rv",
           "count", "detail")
_INT_FIELDS = frozenset(("seq", "pid", "session", "mechanism", "rv", "count"))

MAGIC = b"keystead-audit\n\x00"
VERSION = 2
VERSIONS = (1, 2)  # version 1: the file ends at the records' end; 2: zero bytes may follow
HEADER_SIZE = 4096
_OFF_ACTIVE = 128
_OFF_SLOT0 = 192
_SLOT_STRIDE = 128
_MAX_ENCODING = 2048  # the token never writes a longer record
_ATTEMPTS = 5  # reads of a trail that changed while it was read (a token in use)
_SETTLE_POLLS = 20  # 10 ms each: how long an append may sit between its write and commit
_SCAN_CHUNK = 1 << 20  # bytes read at once when checking the space after the records


class AuditKeyError(ValueError):
    """The initial verification key file is missing or malformed."""


class AuditFileError(ValueError):
    """The file is not a keystead audit trail (missing, too short, wrong magic or version)."""


class CheckpointError(ValueError):
    """A checkpoint is not ``SEQ:HASH`` (a sequence number and 64 hex digits)."""


@dataclass(frozen=True)
class Checkpoint:
    """The sequence number of a record and its chain value: kept by an auditor, it pins the
    trail's history up to that record."""

    seq: int
    chain: bytes

    def __str__(self) -> str:
        return f"{self.seq}:{self.chain.hex()}"


def parse_checkpoint(text: str) -> Checkpoint:
    """``SEQ:HASH`` as printed by ``keystead audit verify``. Raises CheckpointError."""
    seq, sep, digest = text.strip().partition(":")
    try:
        chain = bytes.fromhex(digest)
        number = int(seq, 10)
    except ValueError:
        chain, number = b"", -1
    if not sep or number < 1 or len(chain) != 32:
        raise CheckpointError(f"{text!r} is not a checkpoint SEQ:HASH (a record number and "
                              "the 64 hex digits of its chain value)")
    return Checkpoint(number, chain)


@dataclass
class AuditReport:
    """The result of a verification: ``ok``, the records checked, and the problems found."""

    records: int = 0
    problems: list[str] = field(default_factory=list)
    checkpoint: Checkpoint | None = None  # the last record's, when the trail verifies

    @property
    def ok(self) -> bool:
        return not self.problems


@dataclass(frozen=True)
class _State:
    next_seq: int
    end: int
    chain: bytes


@dataclass(frozen=True)
class _Record:
    offset: int
    fields: list[bytes]
    encoding: bytes
    chain: bytes
    mac: bytes


def audit_path(db_path: str | Path) -> Path:
    """The trail file of the token database at db_path."""
    return Path(f"{db_path}.audit")


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
    """The canonical encoding of a record's fields (text, in COLUMNS order)."""
    out = bytearray()
    for value in values:
        data = value.encode("utf-8")
        out += len(data).to_bytes(4, "big") + data
    return bytes(out)


class _Trail:
    """An open trail file read on demand (os.pread): a damaged ``end`` or a huge sparse file
    costs no memory, and a file cut while it is read gives short reads, never a signal (as
    an mmap would). Slicing gives bytes; ``len`` is the size when it was opened."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.size = 0  # set once the header is read: a size never older than the header
        self.version = VERSION

    def state_now(self) -> _State | None:
        """The header's state as it is now, None when the header cannot be read whole."""
        header = self.header()
        return _state(header) if len(header) == HEADER_SIZE else None

    def __len__(self) -> int:
        return self.size

    def __getitem__(self, key: slice | int) -> bytes | int:
        if isinstance(key, int):
            return os.pread(self.fd, 1, key)[0]
        start, stop, _ = key.indices(self.size)
        return os.pread(self.fd, max(0, stop - start), start) if stop > start else b""

    def header(self) -> bytes:
        return os.pread(self.fd, HEADER_SIZE, 0)

    def current_size(self) -> int:
        return os.fstat(self.fd).st_size


def _check_header(path: Path, header: bytes) -> int:
    """The trail's version; raises AuditFileError unless header starts a trail of a version
    this reader knows."""
    if len(header) < HEADER_SIZE or header[:16] != MAGIC:
        raise AuditFileError(f"{path} is not a keystead audit trail")
    version, header_size = struct.unpack_from("<II", header, 16)
    if version not in VERSIONS or header_size != HEADER_SIZE:
        known = " or ".join(str(v) for v in VERSIONS)
        raise AuditFileError(f"{path}: audit trail version {version} is not {known}")
    return int(version)


def _open(db_path: str | Path) -> tuple[_Trail, bytes]:
    """The trail file and its header; the caller closes the file's descriptor. Raises
    AuditFileError (the descriptor closed) when the file is missing, unreadable or not a
    trail."""
    path = audit_path(db_path)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except (OSError, ValueError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else str(exc)
        raise AuditFileError(f"no audit trail at {path} ({reason})") from exc
    try:
        trail = _Trail(fd)
        header = trail.header()
        trail.size = trail.current_size()
        trail.version = _check_header(path, header)
    except OSError as exc:
        os.close(fd)
        raise AuditFileError(f"{path}: cannot be read ({exc.strerror})") from exc
    except AuditFileError:
        os.close(fd)
        raise
    return trail, header


def _state(data: bytes) -> _State:
    """The token's current state from the header (the active slot; the key is not read)."""
    active = data[_OFF_ACTIVE] & 1
    off = _OFF_SLOT0 + _SLOT_STRIDE * active
    next_seq, end = struct.unpack_from("<QQ", data, off)
    return _State(next_seq, end, bytes(data[off + 16:off + 48]))


def _split(encoding: bytes) -> list[bytes] | None:
    """The eleven fields of a canonical encoding, None when it is not one."""
    fields: list[bytes] = []
    pos = 0
    while pos < len(encoding):
        if pos + 4 > len(encoding):
            return None
        n = int.from_bytes(encoding[pos:pos + 4], "big")
        pos += 4
        if pos + n > len(encoding):
            return None
        fields.append(encoding[pos:pos + n])
        pos += n
    return fields if len(fields) == len(COLUMNS) else None


def _records(data: bytes, limit: int) -> tuple[list[_Record], int, str | None]:
    """Parse records from the header up to limit: (records, offset reached, problem)."""
    out: list[_Record] = []
    pos = HEADER_SIZE
    while pos < limit:
        seq = len(out) + 1
        if pos + 4 > limit:
            return out, pos, f"record {seq}: cut short at byte {pos}"
        n = int.from_bytes(data[pos:pos + 4], "big")
        if n > _MAX_ENCODING or pos + 4 + n + 64 > limit:
            return out, pos, f"record {seq}: malformed length at byte {pos} (edited or cut)"
        encoding = bytes(data[pos + 4:pos + 4 + n])
        fields = _split(encoding)
        if fields is None:
            return out, pos, f"record {seq}: malformed fields at byte {pos} (edited)"
        tail = pos + 4 + n
        out.append(_Record(pos, fields, encoding, bytes(data[tail:tail + 32]),
                           bytes(data[tail + 32:tail + 64])))
        pos = tail + 64
    return out, pos, None


def _as_dict(rec: _Record) -> dict[str, object]:
    row: dict[str, object] = {}
    for name, raw in zip(COLUMNS, rec.fields, strict=True):
        text = raw.decode("utf-8", errors="replace")
        if name in _INT_FIELDS:
            try:
                row[name] = int(text)
            except ValueError:
                row[name] = text
        else:
            row[name] = text
    return row


def records(db_path: str | Path) -> list[dict[str, object]]:
    """Every record of the trail, in sequence order, as dictionaries keyed by COLUMNS (the
    integer fields as int). Stops at the first malformed record. Raises AuditFileError."""
    data, header = _open(db_path)
    try:
        found, _, _ = _records(data, min(len(data), _state(header).end))
    except OSError as exc:
        raise AuditFileError(f"{audit_path(db_path)}: cannot be read ({exc.strerror})") from exc
    finally:
        os.close(data.fd)
    return [_as_dict(r) for r in found]


def _sequence_problem(expected: int, field_value: bytes) -> str:
    text = field_value.decode("ascii", errors="replace")
    if not text.isdigit() or text.startswith("0"):
        return f"record {expected}: its sequence number field is damaged (edited)"
    kind = "deleted or reordered" if int(text) > expected else "inserted or reordered"
    return f"record {text}: expected sequence number {expected} ({kind} records)"


def verify(db_path: str | Path, initial_key: bytes,
           checkpoint: Checkpoint | None = None) -> AuditReport:
    """Check the whole trail of the token database at db_path against initial_key.

    Never raises for a missing or damaged trail: every problem is a line in the report, the
    first one naming the record at fault. A token in use may append while the trail is read:
    the records up to the header's ``end`` never change, and a header that moved on while
    they were checked (or bytes past ``end`` that a commit then claims) is read again, so an
    untouched trail in use verifies. With a checkpoint, the trail must reach its record and
    hold the same chain value there: a trail cut and rolled back to an earlier header fails.
    """
    report = AuditReport()
    for attempt in range(_ATTEMPTS):
        try:
            data, header = _open(db_path)
        except AuditFileError as exc:
            return AuditReport(problems=[str(exc)])
        try:
            report, settled = _verify_open(data, header, initial_key, checkpoint)
        except OSError as exc:
            report, settled = AuditReport(problems=[f"the trail cannot be read ({exc})"]), True
        finally:
            os.close(data.fd)
        if settled:
            return report
        time.sleep(0.01 * (attempt + 1))
    return report


def _verify_open(data: _Trail, header: bytes, initial_key: bytes,
                 checkpoint: Checkpoint | None) -> tuple[AuditReport, bool]:
    """One pass over an open trail: (report, whether the header stayed put meanwhile)."""
    report = AuditReport()
    state = _state(header)
    if state.end < HEADER_SIZE:
        report.problems.append("the trail's header is damaged (end of records before them)")
        return report, data.state_now() == state
    found, reached, problem = _records(data, min(len(data), state.end))
    key, chain = initial_key, bytes(32)
    for seq, rec in enumerate(found, start=1):
        report.records += 1
        if rec.fields[0] != str(seq).encode():
            report.problems.append(_sequence_problem(seq, rec.fields[0]))
            return report, True
        chain = hashlib.sha256(CHAIN_LABEL + chain + rec.encoding).digest()
        if not hmac.compare_digest(chain, rec.chain):
            report.problems.append(f"record {seq}: content does not match its chain value "
                                   "(edited, or a record before it was removed)")
            return report, True
        mac = hmac.new(key, chain, hashlib.sha256).digest()
        if not hmac.compare_digest(mac, rec.mac):
            report.problems.append(f"record {seq}: seal does not verify (edited or forged)")
            return report, True
        if (checkpoint is not None and seq == checkpoint.seq
                and not hmac.compare_digest(chain, checkpoint.chain)):
            report.problems.append(f"record {seq}: chain value differs from the checkpoint "
                                   "(the trail was rewritten since the checkpoint was taken)")
            return report, True
        key = hashlib.sha256(EVOLVE_LABEL + key).digest()
    if problem is not None:
        report.problems.append(problem)
    elif len(data) < state.end:
        report.problems.append(
            f"the file ends at byte {len(data)} but the token wrote up to byte {state.end}: "
            "records were deleted from the end")
    elif state.next_seq != len(found) + 1:
        report.problems.append(
            f"the trail ends at record {len(found)} but the token sealed up to record "
            f"{state.next_seq - 1}: records were deleted from the end")
    elif not hmac.compare_digest(state.chain, chain):
        report.problems.append("the token's last chain value does not match the last record")
    elif (extra := _bytes_after(data, reached)) and not _committed_meanwhile(data, state):
        report.problems.append(
            f"{extra} bytes after the last sealed record (added, or "
            "an append cut short by a crash and not yet cleaned up by the next process)")
    elif checkpoint is not None and len(found) < checkpoint.seq:
        report.problems.append(
            f"the trail ends at record {len(found)} but the checkpoint is at record "
            f"{checkpoint.seq}: records were cut from the end and the header rolled back")
    if report.ok:
        report.checkpoint = Checkpoint(len(found), chain) if found else None
        return report, True
    return report, data.state_now() == state


def _bytes_after(data: _Trail, reached: int) -> int:
    """How many bytes past the last record are not the token's: every one in version 1 (the
    file ended there); in version 2, the span from the first non-zero byte after the records
    to the last (the space the token allocated ahead is zero). Holes are skipped."""
    size = data.current_size()
    if data.version == 1 or size <= reached:
        return max(0, size - reached)
    first = last = -1
    pos = reached
    while pos < size:
        try:
            pos = os.lseek(data.fd, pos, os.SEEK_DATA)
        except OSError:
            break  # no data after pos (ENXIO): the rest is a hole
        chunk = os.pread(data.fd, min(_SCAN_CHUNK, size - pos), pos)
        if not chunk:
            break
        if chunk.strip(b"\x00"):
            start = pos + len(chunk) - len(chunk.lstrip(b"\x00"))
            first = start if first < 0 else first
            last = pos + len(chunk.rstrip(b"\x00"))
        pos += len(chunk)
    return 0 if first < 0 else last - first


def _committed_meanwhile(data: _Trail, state: _State) -> bool:
    """Whether the token committed a record since state was read: bytes past ``end`` are
    then (or were, and are overwritten by) its append, written before its commit."""
    for poll in range(_SETTLE_POLLS):
        if data.state_now() != state:
            return True
        if poll + 1 < _SETTLE_POLLS:
            time.sleep(0.01)
    return False


__all__ = ["AuditFileError", "AuditKeyError", "AuditReport", "Checkpoint", "CheckpointError",
           "audit_path", "parse_checkpoint", "read_key", "records", "verify"]
