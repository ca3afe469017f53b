"""SP 800-57 semantics the manager must get exactly right: scheduled destruction, its wait,
compromise dates; and the names, audit records and checkpoints that go with them."""

from __future__ import annotations

from datetime import timedelta

import pytest
from keystead.manager import (
    IntegrityError,
    KeyManager,
    NotFound,
    OperationRefused,
    PolicyViolation,
    SQLiteCatalogue,
    State,
)
from keystead.manager.errors import SetupError

from .helpers import token_may_encrypt

DAY = timedelta(days=1)


def test_scheduled_version_stops_protecting_at_once(module, mtoken, km: KeyManager, clock):
    """Data encrypted after a destruction was scheduled would be lost when it runs."""
    km.create_key("app/dek")
    blob = km.encrypt("app/dek", b"before")
    (ver,) = km.schedule_destroy("app/dek", 1, reason="retire")
    assert ver.state is State.DEACTIVATED and ver.destroy_due == km.now() + 30 * DAY
    with pytest.raises(OperationRefused, match="deactivated; it cannot encrypt"):
        km.encrypt("app/dek", b"after")
    assert not token_may_encrypt(module, mtoken, ver.object_id)  # applications too
    assert km.decrypt(blob) == b"before"  # it still processes until destroyed
    shown = km.show("app/dek").versions[0]
    assert shown.destroy_due == ver.destroy_due and shown.destroy_scheduled_at == km.now()
    km.create_key("later/dek", activate_at=km.now() + DAY)
    km.schedule_destroy("later/dek", 1)
    with pytest.raises(OperationRefused, match="scheduled for destruction"):
        km.activate("later/dek", 1)
    clock.advance(30 * DAY)
    assert sorted((d.key, d.action, d.result) for d in km.run_due()) == [
        ("app/dek", "destroy", "ok"), ("later/dek", "destroy", "ok")]


def test_destruction_wait_bounds_and_the_audited_short_wait_flag(km: KeyManager):
    km.create_key("app/dek")
    km.rotate("app/dek")
    for short in (timedelta(0), 6 * DAY):
        with pytest.raises(PolicyViolation, match="short-destroy-wait"):
            km.schedule_destroy("app/dek", 1, after=short)
    with pytest.raises(PolicyViolation, match="exceeds 30d"):
        km.set_policy("app/dek", destroy_wait=31 * DAY)
    with pytest.raises(PolicyViolation, match="at least 7d"):
        km.set_policy("app/dek", destroy_wait=3 * DAY)
    assert km.set_policy("app/dek", destroy_wait=7 * DAY).policy.destroy_wait == 7 * DAY
    (ver,) = km.schedule_destroy("app/dek", 1)
    assert ver.destroy_due == km.now() + 7 * DAY
    km.cancel_destroy("app/dek", 1)
    km.set_policy("app/dek", short_destroy_wait=True, reason="staging environment")
    flag = [r for r in km.audit_records() if r.action == "key:policy"][-1]
    assert flag.details["changed"]["short_destroy_wait"] == [False, True]
    assert flag.reason == "staging environment"
    (ver,) = km.schedule_destroy("app/dek", 1, after=timedelta(0))
    sched = [r for r in km.audit_records() if r.action == "destroy:schedule"][-1]
    assert sched.details["short_destroy_wait"] is True and sched.details["wait_seconds"] == 0


def test_compromise_dates_are_checked(km: KeyManager, clock):
    km.create_key("app/dek")
    with pytest.raises(PolicyViolation, match="in the future"):
        km.compromise("app/dek", occurred_at=km.now() + DAY, reason="x")
    with pytest.raises(PolicyViolation, match="before app/dek v1 existed"):
        km.compromise("app/dek", occurred_at=km.now() - DAY, reason="x")
    assert km.show("app/dek").versions[0].state is State.ACTIVE
    refusals = [r for r in km.audit_records() if r.result.startswith("refused")]
    assert len(refusals) == 2


@pytest.mark.parametrize("bad", [
    "a\nb", "a\tb", "pay\u200bments", "p\u0430yments", "a/../b", "a/./b", "a/", "/a", "a//b",
    "", "x" * 129, "a b", "..",
])
def test_key_names_follow_the_grammar(km: KeyManager, bad):
    with pytest.raises(PolicyViolation, match="invalid key name"):
        km.create_key(bad)


def test_good_key_names(km: KeyManager):
    for name in ("payments/dek", "eu-west.1/db_main", "x" * 128, "a.b/c..d"):
        km.create_key(name)


def test_failed_authentications_are_audited(km: KeyManager):
    km.create_key("app/dek")
    blob = km.encrypt("app/dek", b"secret", aad=b"order 1")
    flipped = blob[:-1] + bytes([blob[-1] ^ 1])
    unknown = blob.replace(b"\x00\x00\x00\x01", b"\x00\x00\x00\x09", 1)
    for bad, aad in ((blob, b"order 2"), (flipped, b"order 1"), (unknown, b"order 1"),
                     (b"junk", b"")):
        before = len(km.audit_records())
        with pytest.raises((IntegrityError, NotFound)):
            km.decrypt(bad, aad)
        records = km.audit_records()[before:]
        assert len(records) == 1, records
        assert records[0].action == "decrypt" and records[0].result.startswith(
            ("failed", "refused")), records[0]
    versions = [r.version for r in km.audit_records() if r.action == "decrypt"]
    assert versions == [1, 1, 9, None]


def test_failed_mac_verification_is_audited(km: KeyManager):
    km.create_key("api/mac", "symmetric-authentication")
    _, tag = km.mac("api/mac", b"message")
    assert not km.verify_mac("api/mac", 1, b"messagf", tag)
    last = km.audit_records()[-1]
    assert (last.action, last.result) == ("verify", "failed: tag mismatch")


def test_encrypt_is_recorded_only_after_delivery(km: KeyManager):
    km.create_key("app/dek")

    def cannot_write(blob: bytes) -> None:
        raise OSError(28, "No space left on device")

    with pytest.raises(OSError):
        km.encrypt("app/dek", b"x", deliver=cannot_write)
    records = [r for r in km.audit_records() if r.action == "encrypt"]
    assert [r.result for r in records] == ["failed: No space left on device"]
    delivered = []
    km.encrypt("app/dek", b"y", deliver=delivered.append)
    assert len(delivered) == 1
    assert [r.result for r in km.audit_records() if r.action == "encrypt"][-1] == "ok"


def test_records_carry_the_os_user_and_host(km: KeyManager):
    import os
    import socket

    km.create_key("app/dek")
    rec = km.audit_records()[-1]
    assert rec.actor == "tester"
    assert rec.details["host"] == socket.gethostname()
    assert f"(uid {os.getuid()})" in rec.details["os_user"]


def test_checkpoint_survives_appends_and_catches_rewrites(km: KeyManager, tmp_path):
    km.create_key("app/dek")
    report = km.verify_audit(with_token=False).chain
    checkpoint = f"{report.head_seq}:{report.head_hash}"
    km.rotate("app/dek")  # records appended after the checkpoint
    assert km.verify_audit(checkpoint, with_token=False).chain.ok
    forged = f"{report.head_seq}:{'0' * 64}"
    problems = km.verify_audit(forged, with_token=False).chain.problems
    assert any("rewritten since the checkpoint" in p for p in problems)
    beyond = f"{report.head_seq + 100}:{report.head_hash}"
    assert not km.verify_audit(beyond, with_token=False).chain.ok


def test_range_verification(km: KeyManager):
    km.create_key("app/dek")
    km.rotate("app/dek")
    total = km.verify_audit(with_token=False).chain.records
    ranged = km.verify_audit(since=3, with_token=False).chain
    assert ranged.ok and ranged.records == total - 2
    with km.catalogue.transaction() as tx:  # alter a record inside the range
        tx.c.execute("UPDATE audit SET reason = 'forged' WHERE seq = 4")
    assert "record 4: contents altered" in " ".join(
        km.verify_audit(since=3, with_token=False).chain.problems)
    with pytest.raises(NotFound):
        km.verify_audit(since=total + 5, with_token=False)


def test_missing_catalogue_is_refused(tmp_path):
    path = tmp_path / "typo" / "catalogue.db"
    with pytest.raises(SetupError, match=f"no catalogue at {path}"):
        SQLiteCatalogue(path)
    assert not path.parent.exists()  # nothing made on the way


def test_created_catalogue_is_private(tmp_path):
    path = tmp_path / "new" / "dir" / "catalogue.db"
    SQLiteCatalogue(path, create=True).close()
    assert path.stat().st_mode & 0o777 == 0o600
    assert (tmp_path / "new").stat().st_mode & 0o777 == 0o700
    assert path.parent.stat().st_mode & 0o777 == 0o700


def test_corrupted_catalogue_is_refused(tmp_path):
    path = tmp_path / "catalogue.db"
    path.write_bytes(b"this is not a database" * 100)
    with pytest.raises(SetupError, match="not a readable keystead catalogue"):
        SQLiteCatalogue(path)


def test_activation_far_in_the_future_is_refused(km: KeyManager):
    from datetime import UTC, datetime

    with pytest.raises(PolicyViolation, match="too far in the future"):
        km.create_key("far/dek", activate_at=datetime(9999, 12, 31, tzinfo=UTC))
