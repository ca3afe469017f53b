"""The catalogue's read paths stay fast with 1,000 keys and tens of thousands of audit records
(docs/manager.md, "Start-up time"): the queries `key show`, `key list` and `audit show` make
use indexes, a catalogue made before those indexes gets them when opened, and stored times
are parsed by shape (not strptime) with anything else refused."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from keystead.manager import KeyManager
from keystead.manager.sqlite_store import (
    _KEYS_WITH_CURRENT,
    SQLiteCatalogue,
    from_text,
    iso_from_text,
    to_text,
)

QUERIES = {
    # key show: each version's history
    "SELECT * FROM transitions WHERE version_id = ? ORDER BY id":
        "USING INDEX transitions_version",
    # key show / key list: a key's versions, a key by name
    "SELECT * FROM versions WHERE key_id = ? AND version = ?": "USING INDEX",
    "SELECT * FROM keys WHERE name = ?": "USING INDEX",
    # audit show --key / key affected
    "SELECT * FROM audit WHERE key_name = ? AND version = ? ORDER BY seq":
        "USING INDEX audit_key",
    # audit show --since --until
    "SELECT * FROM audit WHERE at >= ? AND at <= ? ORDER BY seq": "USING INDEX audit_at",
    # key list: every key with its current version, one join
    _KEYS_WITH_CURRENT: "SEARCH v USING INDEX",
}


def _plan(cat: SQLiteCatalogue, sql: str) -> str:
    rows = cat.conn.execute("EXPLAIN QUERY PLAN " + sql, (1,) * sql.count("?")).fetchall()
    return " / ".join(r[3] for r in rows)


@pytest.mark.parametrize("sql", sorted(QUERIES))
def test_read_queries_use_an_index(tmp_path, sql):
    cat = SQLiteCatalogue(tmp_path / "c.db", create=True)
    try:
        assert QUERIES[sql] in _plan(cat, sql)
    finally:
        cat.close()


def test_an_older_catalogue_gets_the_indexes_when_opened(tmp_path):
    path = tmp_path / "c.db"
    cat = SQLiteCatalogue(path, create=True)
    cat.conn.execute("DROP INDEX transitions_version")
    cat.conn.execute("DROP INDEX audit_at")
    cat.close()
    cat = SQLiteCatalogue(path)
    try:
        names = {r[0] for r in cat.conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'index'")}
        assert {"transitions_version", "audit_at"} <= names
    finally:
        cat.close()


@pytest.mark.parametrize("when", [
    datetime(1970, 1, 1, tzinfo=UTC), datetime(2026, 12, 7, 4, 12, 58, 123456, tzinfo=UTC),
    datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
    datetime(2026, 3, 29, 2, 30, tzinfo=UTC) + timedelta(microseconds=1),
])
def test_times_round_trip(when):
    back = from_text(to_text(when))
    assert back == when and back.tzinfo is UTC
    assert iso_from_text(to_text(when)) == when.isoformat()  # `key list --json`'s shortcut


@pytest.mark.parametrize("text", [
    "", "garbage", "2026-12-07T04:12:58.123456", "2026-12-07 04:12:58.123456Z",
    "2026-12-07T04:12:58.123456+00:00", "2026-12-07T04:12:58,123456Z",
    "2026-13-07T04:12:58.123456Z", "2026-12-07T04:12:5x.123456Z",
    "2026-12-07T04:12:58.12345xZ", "20261207T041258.1234567Z",
])
def test_other_text_is_not_a_time(text):
    with pytest.raises(ValueError):
        from_text(text)
    with pytest.raises(ValueError):
        iso_from_text(text)


def test_key_list_is_one_query(km, tmp_path):
    """`key list` reads every key and its current version in one query, not one per key."""
    for name in ("a/dek", "b/dek", "c/dek"):
        km.create_key(name)
    km.rotate("b/dek")
    statements: list[str] = []
    reader = KeyManager(SQLiteCatalogue(km.catalogue.path), None)
    try:
        reader.catalogue.conn.set_trace_callback(statements.append)
        rows = reader.list_keys()
        selects = [s for s in statements if s.lstrip().upper().startswith("SELECT")]
        assert len(selects) == 1
        statements.clear()
        table = reader.key_rows()  # what the table shows: the same, in one query too
        assert len([s for s in statements if s.lstrip().upper().startswith("SELECT")]) == 1
    finally:
        reader.close()
    assert [(k.name, v.version if v else None) for k, v in rows] == [
        ("a/dek", 1), ("b/dek", 2), ("c/dek", 1)]
    assert [(r.name, r.key_type, r.current_version, r.state, r.protect_end, r.owner)
            for r in table] == [
        (k.name, k.key_type.value, v.version, v.state.value, v.protect_end, k.owner)
        for k, v in rows]


def test_key_list_json_from_column_values_equals_the_records(km, clock):
    """`key list --json` prints column values (no records built); every field equals what
    the records give, for keys in every shape: rotated, suspended, compromised, scheduled
    for destruction, pre-activation, with a changed policy, a key pair, and a time with no
    microseconds."""
    import json

    from keystead.manager.cli import render

    km.create_key("a/dek", owner="alice", usage_limit=1000)
    km.create_key("b/kek", "key-wrapping")
    km.create_key("c/pre", activate_at=clock.now() + timedelta(days=2))
    km.create_key("d/dek")
    km.create_key("e/dek")
    km.create_key("f/sig", "private-signature", algorithm="EC", length_bits=256)
    km.rotate("a/dek")
    km.suspend("d/dek")
    km.compromise("e/dek", reason="test", replace=False)
    km.set_policy("b/kek", usage_limit=5, rotate_at=0.5, auto_rotate=False)
    km.deactivate("b/kek")
    km.schedule_destroy("b/kek", reason="test")
    clock.set(clock.now().replace(microsecond=0) + timedelta(hours=1))
    km.create_key("g/whole-second")
    records = [{**render.key_dict(k), "current": render.version_dict(v) if v else None}
               for k, v in km.list_keys()]
    fields = [render.key_fields_dict(k, v) for k, v in km.key_fields()]
    assert json.loads(json.dumps(records, default=render.plain)) == fields
    assert json.dumps(fields) == json.dumps(json.loads(json.dumps(records,
                                                                  default=render.plain)))
    assert {f["current"]["state"] for f in fields} >= {"active", "suspended", "compromised",
                                                       "pre-activation"}
