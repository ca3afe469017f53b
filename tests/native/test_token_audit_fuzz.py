"""Fuzzing the audit verifier: keystead.token_audit.verify reads records an attacker may have
written into the token file, so any value of any SQLite type in any column, rows deleted or
added, and a damaged audit_state must give a report naming a problem, never an exception
(its docstring: "Never raises for a damaged trail"). The trail is a real one, made by
pkcs11-tool against the installed module; each example damages a copy of it.
"""

from __future__ import annotations

import contextlib
import shutil
import sqlite3
import subprocess
from pathlib import Path

import keystead
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from keystead import token_audit

pytestmark = pytest.mark.skipif(shutil.which("pkcs11-tool") is None, reason="needs opensc")

COLUMNS = (*token_audit.COLUMNS, "chain", "mac")
STATE_COLUMNS = ("next_seq", "key", "chain")
VALUES = st.one_of(
    st.none(),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.floats(allow_nan=False),
    st.text(max_size=40),
    st.binary(max_size=40),
)


@pytest.fixture(scope="module")
def trail(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, bytes]:
    """A token database with a trail of a few records, and its initial audit key."""
    base = tmp_path_factory.mktemp("audit-fuzz")
    conf = base / "ks.conf"
    conf.write_text(f"token_dir = {base}\npin_kdf_cost = fast\n")
    env = {"KEYSTEAD_CONF": str(conf), "PATH": "/usr/bin:/bin"}
    tool = ["pkcs11-tool", "--module", keystead.module_path(), "--slot-index", "0"]
    subprocess.run([*tool, "--init-token", "--label", "fuzz", "--so-pin", "12345678"],
                   env=env, capture_output=True, check=True)
    subprocess.run([*tool, "--init-pin", "--so-pin", "12345678", "--pin", "1234"],
                   env=env, capture_output=True, check=True)
    subprocess.run([*tool, "--login", "--pin", "1234", "--keygen", "--key-type", "aes:16"],
                   env=env, capture_output=True, check=True)
    db = base / "token-0.sqlite"
    key = token_audit.read_key(f"{db}.audit-key")
    assert token_audit.verify(db, key).ok
    return db, key


def damaged_copy(src: Path, dst: Path, sql: str, params: tuple[object, ...]) -> None:
    shutil.copyfile(src, dst)
    with sqlite3.connect(dst) as db:
        # The schema's NOT NULL and CHECK constraints are the writer's, not the attacker's.
        db.execute("PRAGMA ignore_check_constraints = ON")
        db.execute("PRAGMA writable_schema = ON")
        # NOT NULL cannot be switched off: that damage cannot be written.
        with contextlib.suppress(sqlite3.IntegrityError):
            db.execute(sql, params)


def rows(path: Path) -> list[tuple[object, ...]]:
    with sqlite3.connect(path) as db:
        return db.execute("SELECT * FROM audit ORDER BY rowid").fetchall()


@settings(max_examples=300, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(column=st.sampled_from(COLUMNS), seq=st.integers(min_value=1, max_value=4),
       value=VALUES)
def test_any_value_in_any_record_is_reported_not_raised(trail, tmp_path, column, seq, value):
    db, key = trail
    copy = tmp_path / "copy.sqlite"
    damaged_copy(db, copy, f"UPDATE audit SET {column} = ? WHERE seq = ?", (value, seq))
    with sqlite3.connect(copy) as c:
        changed = c.execute(f"SELECT {column} FROM audit WHERE seq = ?", (seq,)).fetchone()
    with sqlite3.connect(db) as c:
        original = c.execute(f"SELECT {column} FROM audit WHERE seq = ?", (seq,)).fetchone()
    report = token_audit.verify(copy, key)
    if changed != original or type(changed[0]) is not type(original[0]):
        assert not report.ok


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(column=st.sampled_from(STATE_COLUMNS), value=VALUES)
def test_any_audit_state_is_reported_not_raised(trail, tmp_path, column, value):
    db, key = trail
    copy = tmp_path / "copy.sqlite"
    damaged_copy(db, copy, f"UPDATE audit_state SET {column} = ?", (value,))
    report = token_audit.verify(copy, key)
    assert isinstance(report.ok, bool)


@settings(max_examples=100, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seq=st.integers(min_value=-3, max_value=10), values=st.lists(VALUES, min_size=13,
                                                                   max_size=13))
def test_inserted_records_are_reported_not_raised(trail, tmp_path, seq, values):
    db, key = trail
    copy = tmp_path / "copy.sqlite"
    cols = ", ".join(COLUMNS)
    damaged_copy(db, copy, f"INSERT OR REPLACE INTO audit({cols}) VALUES({', '.join('?' * 13)})",
                 (seq, *values[1:]))
    report = token_audit.verify(copy, key)
    unchanged = rows(copy) == rows(db)
    assert unchanged or not report.ok
