"""The authenticated store (docs/store.md): someone who can write the token's SQLite file
without a PIN can neither plant nor change an object, a counter or a role undetected.

Each test writes the file with Python's sqlite3 while no store handle is open on it, as an
attacker with file access would, then opens it again: the store API for the record rules,
fresh module processes (tests/native/store_auth_worker.py) for what PKCS#11 calls see.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from keystead import token_audit
from keystead.core import ffi, lib
from keystead.softhsm_bridge.ck import CKA_KS_LIFECYCLE_STATE

from tests.native.store_support import (
    SO_PIN,
    USER_PIN,
    Store,
    bbool,
    data_object,
    ok,
    secret_key,
    ulong,
)
from tests.robustness.support import ROOT, provision_token
from tests.robustness.support import USER_PIN as P11_USER_PIN

KEY = bytes(range(32))
PLANTED = b"\x42" * 32


def tamper(db: Path, *sql: str, params: tuple[Any, ...] = ()) -> None:
    con = sqlite3.connect(db)
    for i, statement in enumerate(sql):
        cur = con.execute(statement, params if i == 0 else ())
        assert cur.rowcount != 0, statement  # the edit hit a row: the test is real
    con.commit()
    con.close()


def strip(db: Path) -> None:
    """Remove every authentication record: the table, the token id and census, the version."""
    con = sqlite3.connect(db)
    con.execute("DROP TABLE row_macs")
    con.execute("DELETE FROM meta WHERE key IN ('auth_token_id', 'auth_census')")
    con.execute("PRAGMA user_version = 1")
    con.commit()
    con.close()


def downgrade(db: Path, pin: bytes = USER_PIN) -> None:
    """Turn the store into the format written before authentication (schema version 1): the
    same tables without row_macs, without the token id and census in meta, and the key check
    (GCM tag of the empty message under the token key) with its version 1 associated data."""
    with Store(db, create=False) as s:
        rv, key = s.login(lib.CKU_USER, pin)
        ok(rv)
    strip(db)
    iv = os.urandom(12)
    check = iv + AESGCM(key).encrypt(iv, b"", b"keystead token key check v1")
    con = sqlite3.connect(db)
    con.execute("UPDATE meta SET value = ? WHERE key = 'key_check'", (check,))
    con.commit()
    con.close()


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "token-0.sqlite"


def made(db: Path, *objects: list[tuple[int, bytes]]) -> list[int]:
    """A provisioned token holding objects; the handle is closed when this returns."""
    with Store(db) as s:
        key = s.provision()
        handles = []
        for items in objects:
            rv, h = s.put(items, key)
            ok(rv)
            handles.append(h)
        return handles


def user_store(db: Path) -> tuple[Store, bytes]:
    s = Store(db, create=False)
    ok(s.open_rv)
    rv, key = s.login(lib.CKU_USER, USER_PIN)
    if rv == lib.CKR_USER_PIN_NOT_INITIALIZED:
        rv, key = s.login(lib.CKU_SO, SO_PIN)
    ok(rv)
    return s, key


def key_item(**over: bytes) -> list[tuple[int, bytes]]:
    items = dict(secret_key(KEY))
    items[lib.CKA_EXTRACTABLE] = bbool(False)
    items[CKA_KS_LIFECYCLE_STATE] = ulong(1)
    for name, value in over.items():
        items[getattr(lib, name)] = value
    return list(items.items())


ATTR = "UPDATE attributes SET value = ? WHERE handle = 1 AND type = "


@pytest.mark.parametrize("edit", [
    pytest.param((f"UPDATE attributes SET sealed = 0, value = ? WHERE handle = 1 AND type = "
                  f"{lib.CKA_VALUE}", PLANTED), id="planted-unsealed-value"),
    pytest.param((ATTR + str(lib.CKA_SENSITIVE), bbool(False)), id="sensitive-off"),
    pytest.param((ATTR + str(lib.CKA_EXTRACTABLE), bbool(True)), id="extractable-on"),
    pytest.param((ATTR + str(CKA_KS_LIFECYCLE_STATE), ulong(0)), id="lifecycle-back"),
    pytest.param((f"DELETE FROM attributes WHERE handle = 1 AND type = {lib.CKA_SENSITIVE}"
                  " AND ? IS NOT NULL", 1), id="attribute-removed"),
    pytest.param((f"INSERT INTO attributes VALUES(1, {lib.CKA_WRAP}, 0, ?)", bbool(True)),
                 id="attribute-added"),
])
def test_an_altered_key_is_refused_and_the_others_serve(db: Path, edit: tuple[str, Any]) -> None:
    handles = made(db, key_item(), key_item(CKA_LABEL=b"other"))
    assert handles == [1, 2]
    sql, param = edit
    tamper(db, sql, params=(param,))
    s, key = user_store(db)
    with s:
        assert s.load(1, key)[0] == lib.CKR_DEVICE_ERROR
        rv, attrs, _ = s.load(2, key)
        ok(rv)
        assert attrs[lib.CKA_VALUE] == KEY


def test_an_unsealed_secret_is_refused_even_before_login(db: Path) -> None:
    made(db, key_item(CKA_PRIVATE=bbool(False)))
    tamper(db, f"UPDATE attributes SET sealed = 0, value = ? WHERE type = {lib.CKA_VALUE}",
           params=(PLANTED,))
    with Store(db, create=False) as s:
        assert s.load(1, None)[0] == lib.CKR_DEVICE_ERROR


def test_swapped_objects_are_refused(db: Path) -> None:
    """Objects 1 and 2 trade places whole (attribute rows and uid): each is consistent in
    itself, but its MAC names the other handle."""
    made(db, key_item(CKA_LABEL=b"a"), key_item(CKA_LABEL=b"b"))
    con = sqlite3.connect(db)
    (uid1,), (uid2,) = con.execute("SELECT uid FROM objects ORDER BY handle").fetchall()
    for old, new in ((1, 99), (2, 1), (99, 2)):
        con.execute("UPDATE attributes SET handle = ? WHERE handle = ?", (new, old))
    for handle, uid in ((1, "x"), (2, uid1), (1, uid2)):
        con.execute("UPDATE objects SET uid = ? WHERE handle = ?", (uid, handle))
    con.commit()
    con.close()
    s, key = user_store(db)
    with s:
        assert s.load(1, key)[0] == lib.CKR_DEVICE_ERROR
        assert s.load(2, key)[0] == lib.CKR_DEVICE_ERROR


def test_a_replayed_older_object_is_refused(db: Path) -> None:
    """An older version of an object, rows and MAC restored together, breaks the census."""
    (h,) = made(db, key_item(CKA_SENSITIVE=bbool(False), CKA_EXTRACTABLE=bbool(True)))
    con = sqlite3.connect(db)
    old_rows = con.execute("SELECT * FROM attributes WHERE handle = ?", (h,)).fetchall()
    old_mac = con.execute("SELECT * FROM row_macs WHERE kind = 1").fetchall()
    con.close()
    s, key = user_store(db)
    with s:
        items = key_item(CKA_SENSITIVE=bbool(True), CKA_EXTRACTABLE=bbool(False))
        ok(s.update(h, items, key))
    con = sqlite3.connect(db)
    con.execute("DELETE FROM attributes WHERE handle = ?", (h,))
    con.executemany("INSERT INTO attributes VALUES(?, ?, ?, ?)", old_rows)
    con.executemany("INSERT OR REPLACE INTO row_macs VALUES(?, ?, ?)", old_mac)
    con.commit()
    con.close()
    s, key = user_store(db)
    with s:
        assert s.load(h, key)[0] == lib.CKR_DEVICE_ERROR


def counter_case(db: Path) -> tuple[int, Callable[[Store], tuple[int, int]]]:
    (h,) = made(db, key_item())
    s, _ = user_store(db)
    with s:
        assert s.counter_add(h, b"gcm", 4096) == (lib.CKR_OK, 0)
    return h, lambda st: st.counter_add(h, b"gcm", 4096)


@pytest.mark.parametrize("also_mac", [False, True], ids=["row", "row-and-mac"])
def test_a_deleted_gcm_counter_never_gives_numbers_again(db: Path, also_mac: bool) -> None:
    _, reserve = counter_case(db)
    sql = ["DELETE FROM counters WHERE name = 'gcm' AND ? IS NOT NULL"]
    if also_mac:
        sql.append("DELETE FROM row_macs WHERE kind = 2")
    tamper(db, *sql, params=(1,))
    s, _ = user_store(db)
    with s:
        assert reserve(s)[0] == lib.CKR_DEVICE_ERROR


def test_a_lowered_or_replayed_counter_is_refused(db: Path) -> None:
    h, reserve = counter_case(db)
    con = sqlite3.connect(db)
    old = con.execute("SELECT * FROM row_macs WHERE kind = 2").fetchall()
    con.close()
    s, _ = user_store(db)
    with s:
        assert reserve(s) == (lib.CKR_OK, 4096)
    tamper(db, "UPDATE counters SET value = ? WHERE name = 'gcm'", params=(4096,))
    s, _ = user_store(db)
    with s:
        assert reserve(s)[0] == lib.CKR_DEVICE_ERROR  # the value no longer matches its MAC
    con = sqlite3.connect(db)
    con.executemany("INSERT OR REPLACE INTO row_macs VALUES(?, ?, ?)", old)
    con.commit()
    con.close()
    s, _ = user_store(db)
    with s:
        assert reserve(s)[0] == lib.CKR_DEVICE_ERROR  # old value and old MAC: the census


def test_a_deleted_role_is_not_fixed_again(db: Path) -> None:
    made(db)
    fp = b"\x07" * 32
    fixed = ffi.new("int *")
    s, _ = user_store(db)
    with s:
        ok(lib.ks_store_value_role(s.ptr, fp, 1, fixed))
        assert fixed[0] == 1
    tamper(db, "DELETE FROM value_roles WHERE fp = ?", params=(fp,))
    s, _ = user_store(db)
    with s:
        assert lib.ks_store_value_role(s.ptr, fp, 2, fixed) == lib.CKR_DEVICE_ERROR


def test_an_old_store_is_migrated_once_at_the_first_login(db: Path) -> None:
    (h,) = made(db, key_item())
    with Store(db, create=False) as s:
        key = s.login(lib.CKU_USER, USER_PIN)[1]
        ok(s.counter_add(h, b"usage", 3)[0])
    downgrade(db)
    con = sqlite3.connect(db)
    assert con.execute("PRAGMA user_version").fetchone()[0] == 1
    con.close()
    with Store(db, create=False) as s:
        rv, attrs, missing = s.load(h, None)  # before login: readable, not yet migrated
        assert (rv, missing) == (lib.CKR_OK, True)
    with Store(db, create=False) as s:
        assert s.login(lib.CKU_SO, SO_PIN)[0] == lib.CKR_OK  # either PIN unwraps the key
        rv, attrs, _ = s.load(h, key)
        assert rv == lib.CKR_OK and attrs[lib.CKA_VALUE] == KEY
        assert s.counter_add(h, b"usage", 1) == (lib.CKR_OK, 3)
    con = sqlite3.connect(db)
    kinds = sorted(k for (k,) in con.execute("SELECT kind FROM row_macs"))
    con.close()
    assert kinds == [1, 2]  # the object and its counter


def test_an_authenticated_store_is_never_migrated_again(db: Path) -> None:
    made(db, key_item())
    tamper(db, "DELETE FROM meta WHERE key = 'auth_token_id' AND ? IS NOT NULL", params=(1,))
    with Store(db, create=False) as s:
        assert s.login(lib.CKU_USER, USER_PIN)[0] == lib.CKR_DEVICE_ERROR


def test_a_stripped_store_is_never_migrated_again(db: Path) -> None:
    """Every authentication record removed: the key check still says the store was
    authenticated, so the login refuses it rather than authenticate what the file now says."""
    made(db, key_item())
    tamper(db, f"UPDATE attributes SET value = ? WHERE type = {lib.CKA_SENSITIVE}",
           params=(bbool(False),))
    strip(db)
    with Store(db, create=False) as s:
        assert s.login(lib.CKU_USER, USER_PIN)[0] == lib.CKR_DEVICE_ERROR


def test_a_deleted_mac_table_refuses_every_record(db: Path) -> None:
    made(db, key_item(), data_object(b"public", private=False))
    tamper(db, "DELETE FROM row_macs WHERE ? IS NOT NULL", params=(1,))
    s, key = user_store(db)
    with s:
        assert s.load(1, key)[0] == lib.CKR_DEVICE_ERROR
        assert s.load(2, key)[0] == lib.CKR_DEVICE_ERROR  # the census holds for all


def test_public_objects_stay_writable_without_login(db: Path) -> None:
    made(db)
    with Store(db, create=False) as s:
        rv, h = s.put(data_object(b"anyone"), None)
        ok(rv)
        assert s.put(secret_key(KEY, private=False), None)[0] == lib.CKR_USER_NOT_LOGGED_IN
    s, key = user_store(db)
    with s:
        rv, attrs, _ = s.load(h, key)
        assert rv == lib.CKR_OK and attrs[lib.CKA_VALUE] == b"anyone"
        ok(s.update(h, data_object(b"private now", private=True), key))
    with Store(db, create=False) as s:  # now authenticated: no change without the key
        assert s.update(h, data_object(b"x"), None) == lib.CKR_USER_NOT_LOGGED_IN
        assert s.delete(h) == lib.CKR_USER_NOT_LOGGED_IN
    tamper(db, "UPDATE attributes SET value = ? WHERE type = 2", params=(bbool(False),))
    s, key = user_store(db)
    with s:
        assert s.load(h, key)[0] == lib.CKR_DEVICE_ERROR  # made public behind our back


# ---- through PKCS#11, in fresh module processes ----------------------------------------


class Token:
    def __init__(self, tmp_path: Path) -> None:
        self.dir = tmp_path / "tokens"
        self.dir.mkdir()
        self.serial, self.env = provision_token(self.dir)
        self.log = tmp_path / "calls.log"
        conf = Path(self.env["KEYSTEAD_CONF"])
        conf.write_text(conf.read_text() + f"\nlog_file = {self.log}\nlog_level = error\n")
        (self.db,) = self.dir.glob("token-*.sqlite")

    def run(self, step: str, *args: str) -> dict[str, Any]:
        done = subprocess.run([sys.executable, "-m", "tests.native.store_auth_worker", step,
                               self.serial, *args], cwd=ROOT, env=self.env,
                              capture_output=True, text=True, timeout=120, check=False)
        assert done.returncode == 0, done.stderr[-3000:]
        return json.loads(done.stdout.strip().splitlines()[-1])

    def handle(self, label: str) -> int:
        con = sqlite3.connect(self.db)
        (h,) = con.execute("SELECT handle FROM objects WHERE label = ?",
                           (label.encode(),)).fetchone()
        con.close()
        return int(h)


@pytest.fixture
def token(tmp_path: Path) -> Token:
    t = Token(tmp_path)
    assert t.run("keys")["rv"] == "CKR_OK"
    return t


def test_a_planted_key_value_is_refused_reported_and_audited(token: Token) -> None:
    h = token.handle("g")
    tamper(token.db, "UPDATE attributes SET sealed = 0, value = ? WHERE handle = ? AND type = ?",
           params=(PLANTED, h, lib.CKA_VALUE))
    out = token.run("ecb", str(h))
    assert out.get("code") == lib.CKR_DEVICE_ERROR, out
    assert token.run("ecb", "t")["rv"] == "CKR_OK"  # the others serve
    listed = token.run("labels")
    assert set(listed["codes"]) == {"w", "t"}
    lines = [json.loads(line) for line in token.log.read_text().splitlines()]
    assert any("failed verification" in str(line.get("msg", "")) or
               "not sealed" in str(line.get("msg", "")) for line in lines), lines
    records = token_audit.records(token.db)
    assert any(r["event"] == "integrity" and r["rv"] == lib.CKR_DEVICE_ERROR
               for r in records)


def test_a_deleted_gcm_counter_never_reuses_an_iv(token: Token) -> None:
    h = str(token.handle("g"))
    first = token.run("gcm", h, "3")
    assert first["rv"] == "CKR_OK"
    tamper(token.db, "DELETE FROM counters WHERE handle = ? AND name = 'gcm'", params=(h,))
    again = token.run("gcm", h, "3")
    assert again.get("code") == lib.CKR_DEVICE_ERROR, again  # refused, no IV handed out
    assert not set(again["ivs"]) & set(first["ivs"])


def test_a_deleted_role_keeps_wrap_then_decrypt_refused(token: Token) -> None:
    wrapped = token.run("wrap")
    assert wrapped["rv"] == "CKR_OK", wrapped
    refused = token.run("unwrap_by_decrypt", wrapped["blob"])
    assert refused["rv"] != "CKR_OK"
    tamper(token.db, "DELETE FROM counters WHERE name LIKE 'role:%' AND ? IS NOT NULL",
           params=(1,))
    out = token.run("unwrap_by_decrypt", wrapped["blob"])
    assert out["rv"] != "CKR_OK" and "out" not in out, out


def test_a_store_of_the_old_format_migrates_and_works(token: Token) -> None:
    before = token.run("ecb", "t")
    downgrade(token.db, P11_USER_PIN.encode())
    after = token.run("ecb", "t")
    assert after == before
    con = sqlite3.connect(token.db)
    assert con.execute("PRAGMA user_version").fetchone()[0] == 2
    assert con.execute("SELECT count(*) FROM row_macs WHERE kind = 1").fetchone()[0] == 3
    con.close()
    assert token.run("gcm", "g", "2")["rv"] == "CKR_OK"
