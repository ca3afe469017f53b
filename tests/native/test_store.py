"""The token store (token/store.h): objects, sealing, find, two connections, in-memory tokens.

Sealing is checked against the bytes on disk: a known key value must never appear in the
database, its WAL or its shared-memory file, and after deletion not even its ciphertext may
remain.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import pytest
from keystead.core import ffi, lib

from tests.native.store_support import (
    Store,
    bbool,
    bytes_on_disk,
    data_object,
    ok,
    rv_name,
    secret_key,
    ulong,
)

KEY_VALUE = bytes.fromhex("6b657973746561642d6b6e6f776e2d6b65792d76616c75652d3332627974657a")


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "token-0.sqlite"


@pytest.fixture
def store(db: Path):
    with Store(db) as s:
        yield s


def test_open_missing_file_without_create_is_device_error(tmp_path: Path) -> None:
    s = Store(tmp_path / "absent.sqlite", create=False)
    assert s.open_rv == lib.CKR_DEVICE_ERROR
    assert not (tmp_path / "absent.sqlite").exists()


def test_database_file_is_private_and_versioned(store: Store, db: Path) -> None:
    assert db.stat().st_mode & 0o777 == 0o600
    con = sqlite3.connect(db)
    assert con.execute("PRAGMA user_version").fetchone()[0] == 2
    assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"meta", "objects", "attributes", "counters", "pin_wraps", "row_macs"} <= tables
    con.close()


def test_newer_schema_is_refused(db: Path) -> None:
    Store(db).close()
    con = sqlite3.connect(db)
    con.execute("PRAGMA user_version = 99")
    con.commit()
    con.close()
    assert Store(db, create=False).open_rv == lib.CKR_DEVICE_ERROR


def test_fresh_store_meta(store: Store) -> None:
    m = store.meta()
    assert (m.initialized, m.user_pin_set, m.so_failures, m.user_failures) == (0, 0, 0, 0)
    assert ffi.buffer(m.label)[:] == b" " * 32
    serial = ffi.buffer(m.serial)[:]
    assert len(serial) == 16 and all(c in b"0123456789ABCDEF" for c in serial)


def test_round_trip_many_attributes(store: Store) -> None:
    key = store.provision()
    items = secret_key(KEY_VALUE, label=b"round trip", id_=b"")
    items += [(0x80000000 | i, os.urandom(i)) for i in range(0, 300, 7)]  # vendor attributes
    items.append((lib.CKA_APPLICATION, b"x" * 70000))
    rv, handle = store.put(items, key)
    ok(rv)
    rv, got, missing = store.load(handle, key)
    ok(rv)
    assert not missing
    uid = got.pop(lib.CKA_UNIQUE_ID)
    assert len(uid) == 32 and all(c in b"0123456789abcdef" for c in uid)
    assert got == dict(items)


def test_unique_id_is_assigned_by_the_store(store: Store) -> None:
    key = store.provision()
    items = secret_key(KEY_VALUE) + [(lib.CKA_UNIQUE_ID, b"chosen-by-caller")]
    h1 = store.put(items, key)[1]
    h2 = store.put(items, key)[1]
    u1 = store.load(h1, key)[1][lib.CKA_UNIQUE_ID]
    u2 = store.load(h2, key)[1][lib.CKA_UNIQUE_ID]
    assert u1 != u2 and b"chosen" not in u1 + u2


def test_load_without_token_key_leaves_sealed_values_out(store: Store) -> None:
    key = store.provision()
    handle = store.put(secret_key(KEY_VALUE), key)[1]
    rv, got, missing = store.load(handle, None)
    ok(rv)
    assert missing and lib.CKA_VALUE not in got
    assert got[lib.CKA_LABEL] == b"k"


def test_sealed_put_needs_the_token_key(store: Store) -> None:
    store.provision()
    assert store.put(secret_key(KEY_VALUE), None)[0] == lib.CKR_USER_NOT_LOGGED_IN
    assert store.put(data_object(b"v", private=True), None)[0] == lib.CKR_USER_NOT_LOGGED_IN
    # A public data object's value is readable without login anyway: stored, not sealed.
    rv, handle = store.put(data_object(b"public value"), None)
    ok(rv)
    assert store.load(handle, None)[1][lib.CKA_VALUE] == b"public value"


def test_wrong_token_key_cannot_open_values(store: Store) -> None:
    key = store.provision()
    handle = store.put(secret_key(KEY_VALUE), key)[1]
    # A key that is not the token's opens neither the token id nor any value.
    assert store.load(handle, bytes(32))[0] == lib.CKR_USER_NOT_LOGGED_IN


def test_known_key_value_never_on_disk(store: Store, db: Path) -> None:
    key = store.provision()
    handle = store.put(secret_key(KEY_VALUE, label=b"secret-one"), key)[1]
    ok(store.update(handle, secret_key(KEY_VALUE, label=b"renamed"), key))
    assert KEY_VALUE not in bytes_on_disk(db)
    assert key not in bytes_on_disk(db)
    assert store.load(handle, key)[1][lib.CKA_VALUE] == KEY_VALUE


def test_deleted_key_leaves_no_trace(store: Store, db: Path) -> None:
    key = store.provision()
    label = b"label-of-a-doomed-key-7f3a"
    handle = store.put(secret_key(KEY_VALUE, label=label), key)[1]
    con = sqlite3.connect(db)
    sealed = con.execute("SELECT value FROM attributes WHERE handle = ? AND sealed = 1",
                         (handle,)).fetchone()[0]
    con.close()
    assert len(sealed) == len(KEY_VALUE) + 28 and sealed in bytes_on_disk(db)
    ok(store.delete(handle))
    disk = bytes_on_disk(db)
    assert sealed not in disk and label not in disk and KEY_VALUE not in disk
    assert store.load(handle, key)[0] == lib.CKR_OBJECT_HANDLE_INVALID
    assert store.delete(handle) == lib.CKR_OBJECT_HANDLE_INVALID


def test_value_dropped_by_update_leaves_no_trace(store: Store, db: Path) -> None:
    """A key moved to the destroyed state keeps its metadata; its sealed value must go."""
    key = store.provision()
    handle = store.put(secret_key(KEY_VALUE, label=b"doomed"), key)[1]
    con = sqlite3.connect(db)
    sealed = con.execute("SELECT value FROM attributes WHERE handle = ? AND sealed = 1",
                         (handle,)).fetchone()[0]
    con.close()
    metadata = [a for a in secret_key(KEY_VALUE, label=b"doomed") if a[0] != lib.CKA_VALUE]
    ok(store.update(handle, metadata, key))
    assert sealed not in bytes_on_disk(db)
    rv, got, missing = store.load(handle, None)
    assert rv == lib.CKR_OK and not missing and lib.CKA_VALUE not in got
    assert got[lib.CKA_LABEL] == b"doomed"


def test_bulk_put_is_one_transaction(store: Store, db: Path) -> None:
    key = store.provision()
    count = 500
    sets = ffi.new("ks_attrs[]", count)
    try:
        for i in range(count):
            lib.ks_attrs_init(sets + i)
            for type_, value in secret_key(KEY_VALUE, label=b"bulk-%d" % i):
                ok(lib.ks_attrs_set(sets + i, type_, value, len(value)))
        handles = ffi.new("CK_OBJECT_HANDLE[]", count)
        assert lib.ks_store_put_objects(store.ptr, ffi.NULL, sets, count, handles) == \
            lib.CKR_USER_NOT_LOGGED_IN
        assert store.find() == (lib.CKR_OK, [])
        ok(lib.ks_store_put_objects(store.ptr, key, sets, count, handles))
    finally:
        for i in range(count):
            lib.ks_attrs_free(sets + i)
    assert store.find()[1] == list(handles)
    assert store.find([(lib.CKA_LABEL, b"bulk-321")])[1] == [handles[321]]
    assert store.load(handles[499], key)[1][lib.CKA_VALUE] == KEY_VALUE
    assert KEY_VALUE not in bytes_on_disk(db)


def test_handles_are_never_reused(store: Store) -> None:
    key = store.provision()
    h1 = store.put(secret_key(KEY_VALUE), key)[1]
    ok(store.delete(h1))
    h2 = store.put(secret_key(KEY_VALUE), key)[1]
    assert h2 > h1


def test_tampered_or_moved_ciphertext_is_refused(store: Store, db: Path) -> None:
    key = store.provision()
    h1 = store.put(secret_key(KEY_VALUE, label=b"a"), key)[1]
    h2 = store.put(secret_key(bytes(32), label=b"b"), key)[1]
    con = sqlite3.connect(db)
    sql = "SELECT value FROM attributes WHERE handle = ? AND type = ?"
    v1 = con.execute(sql, (h1, lib.CKA_VALUE)).fetchone()[0]
    # The value of h1 moved onto h2: the AAD (uid || type) no longer matches.
    con.execute("UPDATE attributes SET value = ? WHERE handle = ? AND type = ?",
                (v1, h2, lib.CKA_VALUE))
    flipped = bytes([v1[0]]) + bytes([v1[1] ^ 1]) + v1[2:]
    con.execute("UPDATE attributes SET value = ? WHERE handle = ? AND type = ?",
                (flipped, h1, lib.CKA_VALUE))
    con.commit()
    con.close()
    assert store.load(h1, key)[0] == lib.CKR_DEVICE_ERROR
    assert store.load(h2, key)[0] == lib.CKR_DEVICE_ERROR


def test_update_replaces_attributes_and_index(store: Store) -> None:
    key = store.provision()
    handle = store.put(secret_key(KEY_VALUE, label=b"old", id_=b"\x01"), key)[1]
    uid = store.load(handle, key)[1][lib.CKA_UNIQUE_ID]
    new = secret_key(KEY_VALUE[::-1], label=b"new", id_=b"\x02")
    ok(store.update(handle, new, key))
    got = store.load(handle, key)[1]
    assert got.pop(lib.CKA_UNIQUE_ID) == uid
    assert got == dict(new)
    assert store.find([(lib.CKA_LABEL, b"old")]) == (lib.CKR_OK, [])
    assert store.find([(lib.CKA_LABEL, b"new")]) == (lib.CKR_OK, [handle])
    assert store.find([(lib.CKA_ID, b"\x02")]) == (lib.CKR_OK, [handle])


def test_update_refusals(store: Store) -> None:
    key = store.provision()
    handle = store.put(secret_key(KEY_VALUE), key)[1]
    assert store.update(handle, [(lib.CKA_LABEL, b"x")], None) == lib.CKR_USER_NOT_LOGGED_IN
    assert store.update(handle + 100, secret_key(KEY_VALUE), key) == \
        lib.CKR_OBJECT_HANDLE_INVALID
    assert store.update(0, secret_key(KEY_VALUE), key) == lib.CKR_OBJECT_HANDLE_INVALID
    assert store.load(handle, key)[1][lib.CKA_VALUE] == KEY_VALUE  # unchanged


def test_find_uses_indexed_attributes(store: Store) -> None:
    key = store.provision()
    k1 = store.put(secret_key(KEY_VALUE, label=b"alpha", id_=b"\x01"), key)[1]
    k2 = store.put(secret_key(KEY_VALUE, label=b"beta", id_=b"\x01", private=False), key)[1]
    d1 = store.put(data_object(b"v", label=b"alpha"), key)[1]
    e1 = store.put(data_object(b"v", label=b""), key)[1]
    assert store.find() == (lib.CKR_OK, [k1, k2, d1, e1])
    assert store.find([(lib.CKA_LABEL, b"alpha")]) == (lib.CKR_OK, [k1, d1])
    assert store.find([(lib.CKA_LABEL, b"")]) == (lib.CKR_OK, [e1])
    assert store.find([(lib.CKA_CLASS, ulong(lib.CKO_SECRET_KEY))]) == (lib.CKR_OK, [k1, k2])
    assert store.find([(lib.CKA_KEY_TYPE, ulong(lib.CKK_AES)), (lib.CKA_PRIVATE, bbool(False))]
                      ) == (lib.CKR_OK, [k2])
    assert store.find([(lib.CKA_ID, b"\x01"), (lib.CKA_LABEL, b"beta")]) == (lib.CKR_OK, [k2])
    # Wrong shapes match nothing; attributes without an index leave the filtering to rules.
    assert store.find([(lib.CKA_CLASS, b"\x03")]) == (lib.CKR_OK, [])
    assert store.find([(lib.CKA_PRIVATE, b"\x07")]) == (lib.CKR_OK, [])
    assert store.find([(lib.CKA_SENSITIVE, bbool(False))]) == (lib.CKR_OK, [k1, k2, d1, e1])


def test_two_connections_see_each_other_at_once(db: Path) -> None:
    with Store(db) as a, Store(db, create=False) as b:
        key = a.provision()
        assert b.changed()
        assert not b.changed()
        rv, handle = a.put(secret_key(KEY_VALUE, label=b"shared"), key)
        ok(rv)
        assert not a.changed()  # its own write
        assert b.changed()
        assert b.find([(lib.CKA_LABEL, b"shared")]) == (lib.CKR_OK, [handle])
        assert b.load(handle, key)[1][lib.CKA_VALUE] == KEY_VALUE
        ok(b.delete(handle))
        assert a.changed()
        assert a.load(handle, key)[0] == lib.CKR_OBJECT_HANDLE_INVALID


def test_objects_survive_reopen(db: Path) -> None:
    with Store(db) as s:
        key = s.provision()
        handle = s.put(secret_key(KEY_VALUE), key)[1]
    with Store(db, create=False) as s:
        assert s.meta().initialized == 1
        assert s.load(handle, key)[1][lib.CKA_VALUE] == KEY_VALUE


def test_value_roles_are_fixed_at_first_use(store: Store) -> None:
    fp = bytes(range(32))
    fixed = ffi.new("int *")
    ok(lib.ks_store_value_role(store.ptr, fp, 0, fixed))
    assert fixed[0] == 0
    ok(lib.ks_store_value_role(store.ptr, fp, 2, fixed))
    assert fixed[0] == 2
    ok(lib.ks_store_value_role(store.ptr, fp, 1, fixed))
    assert fixed[0] == 2


class TestInMemory:
    @pytest.fixture(autouse=True)
    def _reset(self):
        lib.ks_store_memory_reset()
        yield
        lib.ks_store_memory_reset()

    def test_named_memory_token_outlives_its_handles(self) -> None:
        assert Store(":memory:4", create=False).open_rv == lib.CKR_DEVICE_ERROR
        with Store(":memory:4") as s:
            key = s.provision()
            handle = s.put(secret_key(KEY_VALUE), key)[1]
        with Store(":memory:4", create=False) as s:
            assert s.load(handle, key)[1][lib.CKA_VALUE] == KEY_VALUE
        lib.ks_store_memory_reset()
        assert Store(":memory:4", create=False).open_rv == lib.CKR_DEVICE_ERROR

    def test_two_handles_share_one_memory_token(self) -> None:
        with Store(":memory:1") as a, Store(":memory:1", create=False) as b:
            key = a.provision()
            assert b.changed() and not a.changed()
            handle = a.put(secret_key(KEY_VALUE), key)[1]
            assert b.changed()
            assert b.load(handle, key)[1][lib.CKA_VALUE] == KEY_VALUE

    def test_private_memory_store(self) -> None:
        with Store(":memory:") as a, Store(":memory:") as b:
            key = a.provision()
            ok(a.put(secret_key(KEY_VALUE), key)[0])
            assert b.meta().initialized == 0
            assert b.find() == (lib.CKR_OK, [])


def test_bad_handles_and_arguments(store: Store) -> None:
    key = store.provision()
    assert store.load(0, key)[0] == lib.CKR_OBJECT_HANDLE_INVALID
    assert store.load(2**63, key)[0] == lib.CKR_OBJECT_HANDLE_INVALID
    assert store.delete(2**64 - 1) == lib.CKR_OBJECT_HANDLE_INVALID
    assert rv_name(store.counter_add(10**6, b"usage", 1)[0]) == "CKR_OBJECT_HANDLE_INVALID"
    assert store.counter_add(0, b"", 1)[0] == lib.CKR_ARGUMENTS_BAD
    assert store.counter_add(0, b"x" * 65, 1)[0] == lib.CKR_ARGUMENTS_BAD
