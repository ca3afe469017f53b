"""``doctor``: the catalogue and the token compared, on keystead and SoftHSMv2; operations
refuse a version whose token object disagrees."""

from __future__ import annotations

import sqlite3
from datetime import timedelta

import pytest
from keystead.manager import KeyManager, OperationRefused
from keystead.softhsm_bridge.ck import CKA_KS_LIFECYCLE_STATE

from .helpers import make_manager, manager_token, raw_key

CKA_ENCRYPT, CKA_WRAP, CKA_END_DATE = 0x104, 0x106, 0x111


def kinds(findings) -> list[tuple[str, str | None, int | None]]:
    return sorted((f.kind, f.key, f.version) for f in findings)


def set_on_token(module, token, object_id: str, attrs: dict) -> None:
    session, handle = raw_key(module, token, object_id)
    try:
        assert handle is not None
        module.raw.set_attributes(session, handle, attrs)
    finally:
        module.raw.close_session(session)


def oid(km: KeyManager, name: str, version: int = 1) -> str:
    return km.show(name).versions[version - 1].object_id


def test_agreeing_catalogue_and_token(km: KeyManager):
    km.create_key("doc/dek", reason="t")
    km.create_key("doc/kek", "key-wrapping", reason="t")
    km.rotate("doc/dek", reason="t")
    km.suspend("doc/kek", reason="t")
    assert [f for f in km.doctor() if f.key and f.key.startswith("doc/")] == []


def test_restored_catalogue_leaves_orphan_then_duplicate(module, tmp_path, clock):
    # A token of its own: --destroy-orphans destroys what this catalogue does not name.
    mtoken = manager_token(module, label="doctor")
    km = make_manager(module, mtoken, tmp_path / "catalogue.db", clock)
    km.create_key("old/dek", reason="t")
    backup = tmp_path / "backup.db"
    with sqlite3.connect(tmp_path / "catalogue.db") as src, sqlite3.connect(backup) as dst:
        src.backup(dst)
    km.rotate("old/dek", reason="t")  # v2 exists on the token, not in the backup
    lost = oid(km, "old/dek", 2)
    restored = make_manager(module, mtoken, backup, clock)
    try:
        found = [f for f in restored.doctor() if f.key == "old/dek"]
        # v1 was deactivated after the copy: the token is ahead of the restored catalogue.
        assert kinds(found) == [("orphan", "old/dek", 2), ("state", "old/dek", 1)]
        orphan = next(f for f in found if f.kind == "orphan")
        assert orphan.object_id == lost and "destroy-orphans" in orphan.repair
        with pytest.raises(OperationRefused, match="old/dek v1: .*keystead doctor"):
            restored.encrypt("old/dek", b"x")
        with restored.catalogue.transaction() as tx:  # a second v2, v1 left as it is
            key = restored.load_key(tx, "old/dek")
            restored.new_version(tx, key, activate_at=clock.now() + timedelta(days=1),
                                 reason="t")
        found = [f for f in restored.doctor() if f.key == "old/dek" and f.version == 2]
        assert kinds(found) == [("duplicate", "old/dek", 2)] and found[0].object_id == lost
        assert "older copy" in found[0].detail
        repaired = restored.doctor(repair=True, destroy_orphans=True)
        assert [f.repaired for f in repaired if f.version == 2] == ["destroyed"]
        assert [f for f in restored.doctor() if f.version == 2] == []
    finally:
        restored.close()
        km.close()


def test_missing_object_is_found_and_refused(km: KeyManager, module, mtoken):
    km.create_key("gone/dek", reason="t")
    session, handle = raw_key(module, mtoken, oid(km, "gone/dek"))
    module.raw.destroy_object(session, handle)
    module.raw.close_session(session)
    found = [f for f in km.doctor() if f.key == "gone/dek"]
    assert kinds(found) == [("missing", "gone/dek", 1)]
    with pytest.raises(OperationRefused, match=r"gone/dek v1: .*run `keystead doctor`"):
        km.encrypt("gone/dek", b"x")


def test_state_that_differs_is_found_refused_and_repaired(km: KeyManager, module, mtoken):
    km.create_key("drift/dek", reason="t")
    blob = km.encrypt("drift/dek", b"x")
    # Suspended behind the manager's back (keystead), or its flag cleared (SoftHSMv2).
    keystead = km.token.enforces_lifecycle
    change = {CKA_KS_LIFECYCLE_STATE: 2} if keystead else {CKA_ENCRYPT: False}
    set_on_token(module, mtoken, oid(km, "drift/dek"), change)
    found = [f for f in km.doctor() if f.key == "drift/dek"]
    assert kinds(found) == [("state", "drift/dek", 1)]
    with pytest.raises(OperationRefused, match="disagrees with the catalogue.*keystead doctor"):
        km.encrypt("drift/dek", b"x")
    with pytest.raises(OperationRefused, match="keystead doctor"):
        km.decrypt(blob)
    assert [f.repaired for f in km.doctor(repair=True) if f.key == "drift/dek"] == ["repaired"]
    assert [f for f in km.doctor() if f.key == "drift/dek"] == []
    assert km.decrypt(km.encrypt("drift/dek", b"y")) == b"y"


def test_dates_that_differ_are_found_and_repaired(km: KeyManager, module, mtoken):
    km.create_key("dates/dek", reason="t")
    set_on_token(module, mtoken, oid(km, "dates/dek"), {CKA_END_DATE: b"20990101"})
    found = [f for f in km.doctor() if f.key == "dates/dek"]
    if not km.token.enforces_lifecycle:  # SoftHSMv2 gives no CK_DATE back: not compared
        assert found == []
        return
    assert kinds(found) == [("dates", "dates/dek", 1)] and "protect_end" in found[0].detail
    km.doctor(repair=True)
    assert [f for f in km.doctor() if f.key == "dates/dek"] == []


def test_flags_beyond_the_purpose_are_found_and_cleared(km: KeyManager, module, mtoken):
    km.create_key("flags/dek", reason="t")
    set_on_token(module, mtoken, oid(km, "flags/dek"), {CKA_WRAP: True})
    found = [f for f in km.doctor() if f.key == "flags/dek"]
    assert kinds(found) == [("flags", "flags/dek", 1)] and "wrap" in found[0].detail
    km.doctor(repair=True)
    assert [f for f in km.doctor() if f.key == "flags/dek"] == []
