"""The SQLite implementation of the catalogue (one file, WAL, BEGIN IMMEDIATE writes)."""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from . import audit
from .errors import Conflict, SetupError
from .lifecycle import State
from .models import AuditRecord, KeyRecord, TransitionRecord, VersionRecord
from .policy import KeyPolicy, KeyType
from .store import AuditFilter, KeyRow

SCHEMA_VERSION = 2

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (k TEXT PRIMARY KEY, v TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS keys (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    key_type TEXT NOT NULL,
    algorithm TEXT NOT NULL,
    length_bits INTEGER NOT NULL,
    security_strength INTEGER NOT NULL,
    operations TEXT NOT NULL,
    owner TEXT NOT NULL,
    module TEXT NOT NULL,
    token_label TEXT NOT NULL,
    oup_seconds INTEGER NOT NULL,
    rup_extra_seconds INTEGER NOT NULL,
    usage_limit INTEGER NOT NULL,
    rotate_at REAL NOT NULL,
    auto_rotate INTEGER NOT NULL,
    created_at TEXT NOT NULL,
    current_version INTEGER,
    min_encrypt_version INTEGER NOT NULL DEFAULT 1,
    min_decrypt_version INTEGER NOT NULL DEFAULT 1,
    destroy_wait_seconds INTEGER NOT NULL DEFAULT 2592000,
    short_destroy_wait INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS versions (
    id INTEGER PRIMARY KEY,
    key_id INTEGER NOT NULL REFERENCES keys(id),
    version INTEGER NOT NULL,
    state TEXT NOT NULL,
    object_id TEXT NOT NULL,
    unique_id TEXT,
    generated_at TEXT NOT NULL,
    activation_date TEXT, activated_at TEXT, protect_end TEXT, protect_stopped_at TEXT,
    process_start TEXT, process_end TEXT, suspended_at TEXT, deactivated_at TEXT,
    compromised_at TEXT, compromise_occurred_at TEXT, destroy_scheduled_at TEXT,
    destroy_due TEXT, destroyed_at TEXT,
    usage_count INTEGER NOT NULL DEFAULT 0,
    UNIQUE (key_id, version)
);
CREATE TABLE IF NOT EXISTS transitions (
    id INTEGER PRIMARY KEY,
    version_id INTEGER NOT NULL REFERENCES versions(id),
    from_state TEXT,
    to_state TEXT NOT NULL,
    at TEXT NOT NULL,
    actor TEXT NOT NULL,
    reason TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS audit (
    seq INTEGER PRIMARY KEY,
    at TEXT NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    key_name TEXT,
    version INTEGER,
    reason TEXT NOT NULL,
    result TEXT NOT NULL,
    details TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS audit_key ON audit (key_name, version);
CREATE INDEX IF NOT EXISTS audit_at ON audit (at);
CREATE INDEX IF NOT EXISTS transitions_version ON transitions (version_id);
CREATE TABLE IF NOT EXISTS audit_head (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    seq INTEGER NOT NULL,
    hash TEXT NOT NULL
);
"""


def make_private_file(path: Path) -> None:
    """Create ``path`` empty with mode 0600; directories made for it get 0700.

    Raises SetupError when it already exists or cannot be made.
    """
    try:
        missing = [p for p in path.parents if not p.exists()]
        for d in reversed(missing):
            d.mkdir(mode=0o700)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        os.fchmod(fd, 0o600)  # whatever the umask said
        os.close(fd)
    except OSError as exc:
        raise SetupError(f"cannot create {path}: {exc.strerror}") from None


def to_text(when: datetime | None) -> str | None:
    """Fixed-width UTC text, so that SQL string comparison orders times correctly."""
    if when is None:
        return None
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def from_text(text: str | None) -> datetime | None:
    """The time :func:`to_text` wrote; ValueError for any other text.

    The shape is checked here and the fields parsed by ``fromisoformat`` (``strptime`` is
    twenty times slower, and `key list` reads seven times per key)."""
    if text is None:
        return None
    if (len(text) != 27 or text[4] != "-" or text[10] != "T" or text[19] != "."
            or text[26] != "Z" or not text[20:26].isdigit()):
        raise ValueError(f"not a catalogue time: {text!r}")
    return datetime.fromisoformat(text)  # the "Z" makes it aware, in UTC


def iso_from_text(text: str | None) -> str | None:
    """``from_text(text).isoformat()`` without the datetime (`key list --json` converts
    seven times per key): ``+00:00`` for the ``Z``, the microseconds left out when zero, as
    ``isoformat`` does. The fields are checked by parsing them once."""
    if text is None:
        return None
    from_text(text)  # the shape and the fields, or ValueError
    head = text[:19] if text[20:26] == "000000" else text[:26]
    return head + "+00:00"


_KEY_COLS = [
    "name", "key_type", "algorithm", "length_bits", "security_strength", "operations", "owner",
    "module", "token_label", "oup_seconds", "rup_extra_seconds", "usage_limit", "rotate_at",
    "auto_rotate", "created_at", "current_version", "min_encrypt_version", "min_decrypt_version",
    "destroy_wait_seconds", "short_destroy_wait",
]
#: Indexes added after schema version 2, with their definitions (made on open): `key show`
#: reads each version's transitions, `audit show --since/--until` a time range.
_ADDED_INDEXES = {
    "audit_at": "audit (at)",
    "transitions_version": "transitions (version_id)",
}
#: Columns added after schema version 1, with their definitions (added on open).
_ADDED_KEY_COLS = {
    "destroy_wait_seconds": "INTEGER NOT NULL DEFAULT 2592000",
    "short_destroy_wait": "INTEGER NOT NULL DEFAULT 0",
}
_VERSION_COLS = ["key_id", "version", "state", "object_id", "unique_id", "usage_count",
                 *VersionRecord.DATE_FIELDS]


def _key_values(k: KeyRecord) -> list:
    return [
        k.name, k.key_type.value, k.algorithm, k.length_bits, k.security_strength,
        ",".join(k.operations), k.owner, k.module, k.token_label,
        int(k.policy.oup.total_seconds()), int(k.policy.rup_extra.total_seconds()),
        k.policy.usage_limit, k.policy.rotate_at, int(k.policy.auto_rotate),
        to_text(k.created_at), k.current_version, k.min_encrypt_version, k.min_decrypt_version,
        int(k.policy.destroy_wait.total_seconds()), int(k.policy.short_destroy_wait),
    ]


def _key_from_row(r: sqlite3.Row) -> KeyRecord:
    policy = KeyPolicy(
        oup=timedelta(seconds=r["oup_seconds"]),
        rup_extra=timedelta(seconds=r["rup_extra_seconds"]),
        usage_limit=r["usage_limit"],
        rotate_at=r["rotate_at"],
        auto_rotate=bool(r["auto_rotate"]),
        destroy_wait=timedelta(seconds=r["destroy_wait_seconds"]),
        short_destroy_wait=bool(r["short_destroy_wait"]),
    )
    return KeyRecord(
        id=r["id"], name=r["name"], key_type=KeyType(r["key_type"]), algorithm=r["algorithm"],
        length_bits=r["length_bits"], security_strength=r["security_strength"],
        operations=tuple(x for x in r["operations"].split(",") if x), owner=r["owner"],
        module=r["module"], token_label=r["token_label"], policy=policy,
        created_at=from_text(r["created_at"]), current_version=r["current_version"],
        min_encrypt_version=r["min_encrypt_version"],
        min_decrypt_version=r["min_decrypt_version"],
    )


def _version_values(v: VersionRecord) -> list:
    return [v.key_id, v.version, v.state.value, v.object_id, v.unique_id, v.usage_count,
            *(to_text(getattr(v, f)) for f in VersionRecord.DATE_FIELDS)]


def _version_from_row(r: sqlite3.Row, p: str = "") -> VersionRecord:
    """A version from its row (``p``: the prefix of its columns in a join)."""
    dates = {f: from_text(r[p + f]) for f in VersionRecord.DATE_FIELDS}
    return VersionRecord(
        id=r[p + "id"], key_id=r[p + "key_id"], version=r[p + "version"],
        state=State(r[p + "state"]), object_id=r[p + "object_id"],
        unique_id=r[p + "unique_id"], usage_count=r[p + "usage_count"], **dates,
    )


#: Every key with its current version in one query (`key list`): the version's columns
#: carry the prefix ``v_``; a key without a current version has them NULL.
_KEYS_WITH_CURRENT = (
    "SELECT k.*, " + ", ".join(f"v.{c} AS v_{c}" for c in ["id", *_VERSION_COLS])
    + " FROM keys k LEFT JOIN versions v ON v.key_id = k.id AND v.version = k.current_version"
    " ORDER BY k.name")
#: The same join, only the columns `key list` shows (no records built).
_KEY_ROWS = (
    "SELECT k.name, k.key_type, k.algorithm, k.length_bits, k.current_version, v.state,"
    " v.protect_end, k.owner FROM keys k"
    " LEFT JOIN versions v ON v.key_id = k.id AND v.version = k.current_version"
    " ORDER BY k.name")


def _audit_from_row(r: sqlite3.Row) -> AuditRecord:
    return AuditRecord(
        seq=r["seq"], at=from_text(r["at"]), actor=r["actor"], action=r["action"],
        key_name=r["key_name"], version=r["version"], reason=r["reason"], result=r["result"],
        details=json.loads(r["details"]), prev_hash=r["prev_hash"], hash=r["hash"],
    )


class SQLiteTx:
    """The :class:`~keystead.manager.store.CatalogueTx` of one SQLite transaction."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.c = conn

    # ---- keys
    def key_by_name(self, name: str) -> KeyRecord | None:
        row = self.c.execute("SELECT * FROM keys WHERE name = ?", (name,)).fetchone()
        return _key_from_row(row) if row else None

    def key_by_id(self, key_id: int) -> KeyRecord:
        row = self.c.execute("SELECT * FROM keys WHERE id = ?", (key_id,)).fetchone()
        return _key_from_row(row)

    def all_keys(self) -> list[KeyRecord]:
        return [_key_from_row(r) for r in self.c.execute("SELECT * FROM keys ORDER BY name")]

    def insert_key(self, key: KeyRecord) -> KeyRecord:
        marks = ",".join("?" * len(_KEY_COLS))
        cur = self.c.execute(
            f"INSERT INTO keys ({','.join(_KEY_COLS)}) VALUES ({marks})", _key_values(key))
        key.id = cur.lastrowid
        return key

    def update_key(self, key: KeyRecord) -> None:
        sets = ",".join(f"{c} = ?" for c in _KEY_COLS)
        self.c.execute(f"UPDATE keys SET {sets} WHERE id = ?", [*_key_values(key), key.id])

    def keys_with_current(self) -> list[tuple[KeyRecord, VersionRecord | None]]:
        """Every key by name with its current version (None when it has none), one query."""
        return [(_key_from_row(r), _version_from_row(r, "v_") if r["v_id"] is not None
                 else None) for r in self.c.execute(_KEYS_WITH_CURRENT)]

    def key_fields(self) -> list[tuple[dict[str, Any], dict[str, Any] | None]]:
        """:meth:`keys_with_current` as each key's and current version's column values
        (times as ISO 8601 text, :func:`iso_from_text`; policy periods in seconds), no
        records built: what `key
        list --json` prints (building 2,000 records was most of its run for 1,000 keys)."""
        cur = self.c.execute(_KEYS_WITH_CURRENT)
        names = [d[0] for d in cur.description]
        split = names.index("v_id")
        out: list[tuple[dict[str, Any], dict[str, Any] | None]] = []
        for row in cur:
            key = dict(zip(names[:split], row[:split], strict=True))
            key["created_at"] = iso_from_text(key["created_at"])
            ver = None
            if row[split] is not None:
                ver = {n[2:]: v for n, v in zip(names[split:], row[split:], strict=True)}
                for f in VersionRecord.DATE_FIELDS:
                    if ver[f] is not None:
                        ver[f] = iso_from_text(ver[f])
            out.append((key, ver))
        return out

    def key_rows(self) -> list[KeyRow]:
        """:meth:`keys_with_current`, only what `key list` shows, in one query."""
        return [KeyRow(r[0], r[1], r[2], r[3], r[4], r[5], from_text(r[6]), r[7])
                for r in self.c.execute(_KEY_ROWS)]

    # ---- versions
    def versions(self, key_id: int) -> list[VersionRecord]:
        rows = self.c.execute(
            "SELECT * FROM versions WHERE key_id = ? ORDER BY version", (key_id,))
        return [_version_from_row(r) for r in rows]

    def version(self, key_id: int, version: int) -> VersionRecord | None:
        row = self.c.execute(
            "SELECT * FROM versions WHERE key_id = ? AND version = ?", (key_id, version)
        ).fetchone()
        return _version_from_row(row) if row else None

    def insert_version(self, ver: VersionRecord) -> VersionRecord:
        marks = ",".join("?" * len(_VERSION_COLS))
        cur = self.c.execute(
            f"INSERT INTO versions ({','.join(_VERSION_COLS)}) VALUES ({marks})",
            _version_values(ver),
        )
        ver.id = cur.lastrowid
        return ver

    def update_version(self, ver: VersionRecord) -> None:
        sets = ",".join(f"{c} = ?" for c in _VERSION_COLS)
        self.c.execute(f"UPDATE versions SET {sets} WHERE id = ?", [*_version_values(ver), ver.id])

    def add_usage(self, version_id: int, count: int) -> int:
        self.c.execute(
            "UPDATE versions SET usage_count = usage_count + ? WHERE id = ?", (count, version_id))
        row = self.c.execute("SELECT usage_count FROM versions WHERE id = ?", (version_id,))
        return row.fetchone()[0]

    def give_back_usage(self, version_id: int, expected: int, count: int) -> bool:
        """Lower the count by ``count`` only if it is still ``expected`` (no use was
        reserved after it); True when it was lowered."""
        cur = self.c.execute(
            "UPDATE versions SET usage_count = usage_count - ? WHERE id = ? AND usage_count = ?",
            (count, version_id, expected))
        return cur.rowcount == 1

    # ---- transitions
    def add_transition(self, tr: TransitionRecord) -> None:
        self.c.execute(
            "INSERT INTO transitions (version_id, from_state, to_state, at, actor, reason) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (tr.version_id, tr.from_state.value if tr.from_state else None, tr.to_state.value,
             to_text(tr.at), tr.actor, tr.reason),
        )

    def transitions(self, version_id: int) -> list[TransitionRecord]:
        rows = self.c.execute(
            "SELECT * FROM transitions WHERE version_id = ? ORDER BY id", (version_id,))
        return [
            TransitionRecord(
                version_id=r["version_id"],
                from_state=State(r["from_state"]) if r["from_state"] else None,
                to_state=State(r["to_state"]), at=from_text(r["at"]), actor=r["actor"],
                reason=r["reason"],
            )
            for r in rows
        ]

    # ---- audit
    def audit_head(self) -> tuple[int, str] | None:
        row = self.c.execute("SELECT seq, hash FROM audit_head WHERE id = 1").fetchone()
        return (row[0], row[1]) if row else None

    def append_audit(self, rec: AuditRecord) -> AuditRecord:
        audit.seal(rec, self.audit_head())
        self.c.execute(
            "INSERT INTO audit (seq, at, actor, action, key_name, version, reason, result, "
            "details, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (rec.seq, to_text(rec.at), rec.actor, rec.action, rec.key_name, rec.version,
             rec.reason, rec.result, json.dumps(rec.details, sort_keys=True), rec.prev_hash,
             rec.hash),
        )
        self.c.execute(
            "INSERT INTO audit_head (id, seq, hash) VALUES (1, ?, ?) "
            "ON CONFLICT (id) DO UPDATE SET seq = excluded.seq, hash = excluded.hash",
            (rec.seq, rec.hash),
        )
        return rec

    def audit_records(self, flt: AuditFilter | None = None) -> Iterator[AuditRecord]:
        flt = flt or AuditFilter()
        where, args = [], []
        for col, val in (("key_name", flt.key_name), ("version", flt.version),
                         ("actor", flt.actor)):
            if val is not None:
                where.append(f"{col} = ?")
                args.append(val)
        if flt.action is not None:  # a family: "override" finds "decrypt:override"
            where.append("(action = ? OR instr(action, ?) = 1 OR "
                         "substr(action, -length(?)) = ?)")
            args.extend([flt.action, flt.action + ":", ":" + flt.action, ":" + flt.action])
        if flt.since_seq is not None:
            where.append("seq >= ?")
            args.append(flt.since_seq)
        if flt.since is not None:
            where.append("at >= ?")
            args.append(to_text(flt.since))
        if flt.until is not None:
            where.append("at <= ?")
            args.append(to_text(flt.until))
        sql = "SELECT * FROM audit"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY seq"
        if flt.limit is not None:
            sql = f"SELECT * FROM ({sql} DESC LIMIT {int(flt.limit)}) ORDER BY seq"
        for row in self.c.execute(sql, args):
            yield _audit_from_row(row)


class SQLiteCatalogue:
    """A catalogue in one SQLite file. Safe for several processes at once.

    Writes take SQLite's write lock up front (BEGIN IMMEDIATE), so a check-then-act sequence
    (is rotation due? then rotate) cannot interleave with another process's.
    """

    def __init__(self, path: str | Path, busy_timeout: float = 60.0, *,
                 create: bool = False) -> None:
        """Open the catalogue at ``path``; with ``create`` make it first if it is missing
        (the file 0600, any directory made for it 0700).

        Raises SetupError naming the path when the file is missing (and ``create`` is
        false) or is not a keystead catalogue.
        """
        self.path = Path(path)
        if not self.path.exists():
            if not create:
                raise SetupError(
                    f"no catalogue at {self.path} (create one with `keystead init`, or point "
                    "--catalogue / KEYSTEAD_CATALOGUE at it)")
            make_private_file(self.path)
        try:
            self.conn = sqlite3.connect(str(self.path), timeout=busy_timeout,
                                        isolation_level=None)
            self.conn.row_factory = sqlite3.Row
            self.conn.execute("PRAGMA journal_mode = WAL")
            self.conn.execute("PRAGMA foreign_keys = ON")
            if create:
                self._create_schema()
            self._check_schema()
        except sqlite3.Error as exc:
            with contextlib.suppress(Exception):
                self.conn.close()
            raise SetupError(f"{self.path} is not a readable keystead catalogue: {exc}") from None

    def _create_schema(self) -> None:
        with self.transaction() as tx:
            for stmt in _SCHEMA.split(";"):
                if stmt.strip():
                    tx.c.execute(stmt)
            tx.c.execute(
                "INSERT OR IGNORE INTO meta (k, v) VALUES ('schema_version', ?)",
                (str(SCHEMA_VERSION),),
            )

    def _check_schema(self) -> None:
        """Refuse a file that is not a catalogue; add the columns newer versions added."""
        tables = {r[0] for r in self.conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table'")}
        missing = {"meta", "keys", "versions", "transitions", "audit", "audit_head"} - tables
        if missing:
            raise SetupError(f"{self.path} is not a keystead catalogue "
                             f"(no table {', '.join(sorted(missing))})")
        cols = {r[1] for r in self.conn.execute("PRAGMA table_info(keys)")}
        todo = [(c, d) for c, d in _ADDED_KEY_COLS.items() if c not in cols]
        indexes = {r[0] for r in self.conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'index'")}
        new_indexes = [(n, d) for n, d in _ADDED_INDEXES.items() if n not in indexes]
        if todo or new_indexes:
            with self.transaction() as tx:
                for col, definition in todo:
                    tx.c.execute(f"ALTER TABLE keys ADD COLUMN {col} {definition}")
                for name, definition in new_indexes:
                    tx.c.execute(f"CREATE INDEX IF NOT EXISTS {name} ON {definition}")
                tx.c.execute("INSERT OR REPLACE INTO meta (k, v) VALUES ('schema_version', ?)",
                             (str(SCHEMA_VERSION),))

    def settings(self) -> dict[str, str]:
        """What ``keystead init`` recorded (module, token label, token directory, ...)."""
        rows = self.conn.execute("SELECT k, v FROM meta WHERE k LIKE 'setting.%'")
        return {r[0].removeprefix("setting."): r[1] for r in rows}

    def record_settings(self, settings: dict[str, str]) -> None:
        with self.transaction() as tx:
            for k, v in settings.items():
                tx.c.execute("INSERT OR REPLACE INTO meta (k, v) VALUES (?, ?)",
                             (f"setting.{k}", v))

    @contextmanager
    def transaction(self) -> Iterator[SQLiteTx]:
        """A write transaction: commits on normal exit, rolls back on any exception.

        Raises Conflict when a uniqueness rule refuses the change (another writer won) or
        the write lock stays taken past the busy timeout.
        """
        try:
            self.conn.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            raise Conflict(f"catalogue {self.path} is busy: {exc}") from exc
        try:
            yield SQLiteTx(self.conn)
        except sqlite3.IntegrityError as exc:
            self.conn.execute("ROLLBACK")
            raise Conflict(f"a concurrent change won: {exc}") from exc
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        self.conn.execute("COMMIT")

    @contextmanager
    def snapshot(self) -> Iterator[SQLiteTx]:
        """A consistent read-only view."""
        self.conn.execute("BEGIN")
        try:
            yield SQLiteTx(self.conn)
        finally:
            self.conn.execute("ROLLBACK")

    def close(self) -> None:
        self.conn.close()
