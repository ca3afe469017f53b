"""Fuzzing the audit verifier: keystead.token_audit.verify reads records an attacker may have
written into the trail file, so any byte changed, bytes cut or inserted anywhere, and a
damaged header must give a report naming a problem, never an exception (its docstring:
"Never raises for a damaged trail"). The trail is a real one, made by
pkcs11-tool against the installed module; each example damages a copy of it.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import keystead
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from keystead import token_audit

pytestmark = pytest.mark.skipif(shutil.which("pkcs11-tool") is None, reason="needs opensc")

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


def damaged_copy(db: Path, dst_dir: Path, data: bytes) -> Path:
    """A token database path in dst_dir whose trail file holds data."""
    copy = dst_dir / "copy.sqlite"
    token_audit.audit_path(copy).write_bytes(data)
    return copy


def original(db: Path) -> bytes:
    """The trail's header and records: the zero space the token allocated after them
    (version 2) holds nothing to damage; the file without it is a whole trail too."""
    data = token_audit.audit_path(db).read_bytes()
    return data[:token_audit._state(data[:token_audit.HEADER_SIZE]).end]


@settings(max_examples=400, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_any_changed_byte_of_a_record_is_reported_not_raised(trail, tmp_path, data):
    """Every byte from the first record to the end is covered by a chain value or a seal:
    changing any of them to any other value is found."""
    db, key = trail
    raw = bytearray(original(db))
    pos = data.draw(st.integers(min_value=token_audit.HEADER_SIZE, max_value=len(raw) - 1))
    value = data.draw(st.integers(min_value=0, max_value=255).filter(lambda v: v != raw[pos]))
    raw[pos] = value
    report = token_audit.verify(damaged_copy(db, tmp_path, bytes(raw)), key)
    assert not report.ok


@settings(max_examples=300, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_any_header_damage_is_reported_not_raised(trail, tmp_path, data):
    """The header's magic, version, active slot and state may hold anything: a report, never
    an exception; damage to what the verifier reads (everything but the keys and the lock)
    of the active slot is found."""
    db, key = trail
    raw = bytearray(original(db))
    pos = data.draw(st.integers(min_value=0, max_value=token_audit.HEADER_SIZE - 1))
    value = data.draw(st.integers(min_value=0, max_value=255).filter(lambda v: v != raw[pos]))
    active = raw[128] & 1
    slot = 192 + 128 * active
    raw[pos] = value
    report = token_audit.verify(damaged_copy(db, tmp_path, bytes(raw)), key)
    checked = pos < 24 or slot <= pos < slot + 48 or (pos == 128 and (value ^ active) & 1)
    if checked:
        assert not report.ok


@settings(max_examples=300, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(cut=st.integers(min_value=0, max_value=10_000), extra=st.binary(max_size=300),
       at=st.integers(min_value=0, max_value=10_000))
def test_cut_or_inserted_bytes_are_reported_not_raised(trail, tmp_path, cut, extra, at):
    db, key = trail
    raw = original(db)
    at = token_audit.HEADER_SIZE + at % (len(raw) - token_audit.HEADER_SIZE + 1)
    damaged = raw[:at] + extra + raw[at + cut % 200:]
    report = token_audit.verify(damaged_copy(db, tmp_path, damaged), key)
    if damaged != raw:
        assert not report.ok


def test_records_reads_any_damaged_file_without_raising_unexpectedly(trail, tmp_path):
    db, _ = trail
    raw = original(db)
    for n in (0, 10, token_audit.HEADER_SIZE - 1):
        with pytest.raises(token_audit.AuditFileError):
            token_audit.records(damaged_copy(db, tmp_path, raw[:n]))
    assert token_audit.records(damaged_copy(db, tmp_path, raw[:-1]))[0]["seq"] == 1
