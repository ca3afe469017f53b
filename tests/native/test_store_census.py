"""The census cannot be spliced (docs/store.md, "Deletion and replay: the census").

The census is a sum of keyed elements, one per authentication record, and its sums are in the
file: the difference of two observed sums is exactly the change made between them. An attacker
with file access and no PIN snapshots the store before a change (a) and after it (b), and
later (c) puts back the rows and row MACs of (a) and writes the census C_c - C_b + C_a: the
change is undone while every later record stays. The stored census carries a tag under the
MAC key, so such a sum is refused, with whichever observed tag, and so is an untagged one.

Each test runs the change and the later record through PKCS#11 in fresh module processes
(tests/native/census_worker.py), splices the file with sqlite3 while no module is open on it,
then checks that the next use is refused with CKR_DEVICE_ERROR and that the change is not
undone.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import sqlite3
import struct
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from keystead.core import lib

from tests.native.store_support import Store, ok
from tests.robustness.support import ROOT, provision_token
from tests.robustness.support import USER_PIN as P11_USER_PIN

# The authenticated tables and the columns that name a row.
TABLES = {"counters": ("handle", "name"), "value_roles": ("fp",),
          "attributes": ("handle", "type"), "row_macs": ("kind", "ref")}
Snapshot = dict[str, Any]


class Token:
    def __init__(self, tmp_path: Path) -> None:
        self.dir = tmp_path / "tokens"
        self.dir.mkdir()
        self.serial, self.env = provision_token(self.dir)
        (self.db,) = self.dir.glob("token-*.sqlite")

    def run(self, step: str, *args: str) -> dict[str, Any]:
        done = subprocess.run([sys.executable, "-m", "tests.native.census_worker", step,
                               self.serial, *args], cwd=ROOT, env=self.env,
                              capture_output=True, text=True, timeout=120, check=False)
        assert done.returncode == 0, done.stderr[-3000:]
        out: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
        return out

    def ok(self, step: str, *args: str) -> dict[str, Any]:
        out = self.run(step, *args)
        assert out["rv"] == "CKR_OK", (step, out)
        return out

    def handle(self, label: str) -> str:
        """The object's handle, read from the file (a refused object is not found)."""
        con = sqlite3.connect(self.db)
        (h,) = con.execute("SELECT handle FROM objects WHERE label = ?",
                           (label.encode(),)).fetchone()
        con.close()
        return str(h)

    def snap(self) -> Snapshot:
        con = sqlite3.connect(self.db)
        s: Snapshot = {t: set(con.execute(f"SELECT * FROM {t}").fetchall()) for t in TABLES}
        (s["census"],) = con.execute("SELECT value FROM meta WHERE key = 'auth_census'").fetchone()
        con.close()
        return s

    def census(self, value: bytes) -> None:
        con = sqlite3.connect(self.db)
        con.execute("UPDATE meta SET value = ? WHERE key = 'auth_census'", (value,))
        con.commit()
        con.close()

    def splice(self, a: Snapshot, b: Snapshot) -> None:
        """Put back every authenticated row that changed from a to b, as it was in a."""
        con = sqlite3.connect(self.db)
        for table, key in TABLES.items():
            names = [r[1] for r in con.execute(f"PRAGMA table_info({table})")]
            where = " AND ".join(f"{names[i]} = ?" for i in range(len(key)))
            for row in b[table] - a[table]:
                con.execute(f"DELETE FROM {table} WHERE {where}", row[:len(key)])
            for row in a[table] - b[table]:
                marks = ",".join("?" * len(row))
                con.execute(f"INSERT OR REPLACE INTO {table} VALUES ({marks})", row)
        con.commit()
        con.close()


def le(b: bytes) -> int:
    return int.from_bytes(b[:32], "little")


def spliced_sum(a: Snapshot, b: Snapshot, c: Snapshot) -> bytes:
    total = le(c["census"]) - le(b["census"]) + le(a["census"])
    return (total % (1 << 256)).to_bytes(32, "little")


def forgeries(a: Snapshot, b: Snapshot, c: Snapshot) -> list[bytes]:
    """The spliced sum with every tag the attacker has seen, and without one; and every whole
    census seen (a valid pair, but not of this mix of old and later records)."""
    s = spliced_sum(a, b, c)
    seen = (c, b, a)
    return [s + x["census"][32:] for x in seen] + [s] + [x["census"] for x in seen]


@pytest.fixture
def token(tmp_path: Path) -> Token:
    return Token(tmp_path)


def attack(token: Token, change: tuple[str, ...], later: tuple[str, ...]) -> list[bytes]:
    """a, the change, b, a later record, c; then the rows of a put back. Returns the census
    values to try, each written in turn by the caller."""
    a = token.snap()
    token.ok(*change)
    b = token.snap()
    token.ok(*later)
    c = token.snap()
    token.splice(a, b)
    return forgeries(a, b, c)


def test_a_spliced_usage_count_does_not_count_again(token: Token) -> None:
    assert token.ok("limited")["ok"] == 1
    census = attack(token, ("use", "k", "3"), ("later", "later"))
    for value in census:
        token.census(value)
        out = token.run("use", token.handle("k"), "5")
        assert out["ok"] == 0, out  # the limit was used up: no use comes back
        assert set(out["codes"]) == {lib.CKR_DEVICE_ERROR}, out
        later = token.run("use", token.handle("later"), "1")
        assert later["codes"] == [lib.CKR_DEVICE_ERROR], later  # refused while it fails
        # Nothing is written on a census that fails: a write would tag a sum that is not the
        # set's, a new forgery to splice with.
        made = token.run("later", "x")
        assert made.get("code") == lib.CKR_DEVICE_ERROR, made
        assert token.snap()["census"] == value


def test_a_spliced_suspension_is_not_undone(token: Token) -> None:
    token.ok("manager")
    token.ok("governed")
    assert token.ok("use", "g", "1")["ok"] == 1
    census = attack(token, ("suspend",), ("later", "later"))
    for value in census:
        token.census(value)
        out = token.run("use", token.handle("g"), "1")
        assert out["codes"] == [lib.CKR_DEVICE_ERROR], out


def test_a_spliced_role_is_not_erased(token: Token) -> None:
    token.ok("kw")
    a = token.snap()
    blob = token.ok("wrap")["blob"]
    assert token.run("unwrap_by_decrypt", blob)["rv"] != "CKR_OK"  # the wrap fixed the roles
    b = token.snap()
    token.ok("later", "later")
    c = token.snap()
    token.splice(a, b)
    assert a["counters"] != b["counters"] or a["value_roles"] != b["value_roles"]
    for value in forgeries(a, b, c):
        token.census(value)
        out = token.run("unwrap_by_decrypt", blob, token.handle("kek"))
        assert out.get("code") == lib.CKR_DEVICE_ERROR and "out" not in out, out


def test_a_spliced_gcm_reservation_never_repeats_an_iv(token: Token) -> None:
    token.ok("later", "g")
    token.ok("use", "g", "1")  # the data role is fixed now
    a = token.snap()
    first = token.ok("gcm", "g", "3")["ivs"]
    b = token.snap()
    token.ok("later", "later")
    c = token.snap()
    token.splice(a, b)
    for value in forgeries(a, b, c):
        token.census(value)
        out = token.run("gcm", token.handle("g"), "3")
        assert out.get("code") == lib.CKR_DEVICE_ERROR, out
        assert not set(out["ivs"]) & set(first), out


def test_the_census_is_tagged_from_birth(token: Token) -> None:
    assert len(token.snap()["census"]) == 64


# ---- the earlier format: an untagged census, upgraded once at login --------------------


def mac_key(db: Path, token_key: bytes) -> bytes:
    con = sqlite3.connect(db)
    (sealed,) = con.execute("SELECT value FROM meta WHERE key = 'auth_token_id'").fetchone()
    con.close()
    token_id = AESGCM(token_key).decrypt(sealed[:12], sealed[12:], b"keystead token id v1")
    return hmac.new(token_key, b"keystead store auth v1" + token_id, hashlib.sha256).digest()


def field(b: bytes) -> bytes:
    return struct.pack(">Q", len(b)) + b


def untagged_census(db: Path, token_key: bytes) -> bytes:
    """The census as the earlier format wrote it: the sum of the v1 elements, no tag."""
    key = mac_key(db, token_key)
    con = sqlite3.connect(db)
    total = 0
    for kind, ref, mac in con.execute("SELECT kind, ref, mac FROM row_macs"):
        msg = field(b"keystead census v1") + struct.pack(">Q", kind) + field(ref) + field(mac)
        total += int.from_bytes(hmac.new(key, msg, hashlib.sha256).digest(), "little")
    con.close()
    return (total % (1 << 256)).to_bytes(32, "little")


def token_key_of(db: Path) -> bytes:
    with Store(db, create=False) as s:
        rv, key = s.login(lib.CKU_USER, P11_USER_PIN.encode())
        ok(rv)
    return bytes(key)


def test_an_untagged_census_that_verifies_is_upgraded_once(token: Token) -> None:
    assert token.ok("limited")["ok"] == 1
    key = token_key_of(token.db)
    token.census(untagged_census(token.db, key))  # the store as the earlier format left it
    assert token.ok("use", "k", "1")["ok"] == 1
    upgraded = token.snap()["census"]
    assert len(upgraded) == 64
    assert token.ok("use", "k", "1")["ok"] == 1  # and it keeps verifying
    assert token.snap()["census"] != upgraded


def test_an_untagged_census_that_fails_is_refused_and_stays_refused(token: Token) -> None:
    assert token.ok("limited")["ok"] == 1
    key = token_key_of(token.db)
    wrong = bytearray(untagged_census(token.db, key))
    wrong[0] ^= 1
    token.census(bytes(wrong))
    for _ in range(2):
        out = token.run("use", token.handle("k"), "1")
        assert out["codes"] == [lib.CKR_DEVICE_ERROR], out
        assert token.snap()["census"] == bytes(wrong)  # never upgraded, never written
