"""The manager over a real token (keystead's and SoftHSMv2): creation, envelope
encryption, rotation, minimum versions, compromise, scheduled destruction."""

from __future__ import annotations

from datetime import timedelta

import pytest
from keystead.manager import (
    AlreadyExists,
    IntegrityError,
    KeyManager,
    KeyType,
    NotFound,
    OperationRefused,
    PolicyViolation,
    State,
)

from .helpers import raw_key, token_may_encrypt

YEAR = timedelta(days=365)


def test_create_records_metadata(km: KeyManager):
    key = km.create_key("payments/dek", owner="payments-team")
    view = km.show("payments/dek")
    v1 = view.versions[0]
    assert (key.algorithm, key.length_bits, key.security_strength) == ("AES", 256, 256)
    assert key.owner == "payments-team" and key.operations == ("encrypt", "decrypt")
    assert v1.state is State.ACTIVE and v1.activated_at == km.now()
    assert v1.protect_end == km.now() + 2 * YEAR
    assert v1.process_end == v1.protect_end + 3 * YEAR
    assert [t.to_state for t in view.history[1]] == [State.PRE_ACTIVATION, State.ACTIVE]
    with pytest.raises(AlreadyExists):
        km.create_key("payments/dek")


def test_create_longer_than_policy_refused(km: KeyManager):
    with pytest.raises(PolicyViolation, match="exceeds the policy maximum 2y"):
        km.create_key("too/long", oup=3 * YEAR)
    with pytest.raises(NotFound):
        km.show("too/long")
    refused = km.audit_records()[-1]
    assert (refused.action, refused.key_name) == ("key:create", "too/long")
    assert refused.result.startswith("refused: originator-usage period 3y exceeds")
    with pytest.raises(PolicyViolation, match="'nonsense' is not a key type"):
        km.create_key("x", "nonsense")


def test_envelope_roundtrip_and_binding(km: KeyManager):
    km.create_key("app/dek")
    blob = km.encrypt("app/dek", b"secret", aad=b"ctx", subject="row 1")
    assert km.decrypt(blob, aad=b"ctx") == b"secret"
    with pytest.raises(IntegrityError):
        km.decrypt(blob, aad=b"other")
    tampered = bytearray(blob)
    tampered[-1] ^= 1
    with pytest.raises(IntegrityError):
        km.decrypt(bytes(tampered), aad=b"ctx")
    with pytest.raises(IntegrityError):
        km.decrypt(b"nonsense", aad=b"ctx")
    with pytest.raises(OperationRefused, match="belongs to key"):
        km.decrypt(blob, aad=b"ctx", key_name="other/key")
    assert km.show("app/dek").versions[0].usage_count == 1


def test_rotation_old_version_keeps_decrypting(km: KeyManager):
    km.create_key("app/dek")
    old = km.encrypt("app/dek", b"v1 data")
    v2 = km.rotate("app/dek")
    assert v2.version == 2 and v2.state is State.ACTIVE
    new = km.encrypt("app/dek", b"v2 data")
    versions = km.show("app/dek").versions
    assert [v.state for v in versions] == [State.DEACTIVATED, State.ACTIVE]
    assert km.decrypt(old) == b"v1 data" and km.decrypt(new) == b"v2 data"
    assert new[:4] == b"KSE1" and old != new


def test_minimum_versions(km: KeyManager):
    km.create_key("app/dek")
    old = km.encrypt("app/dek", b"v1")
    km.rotate("app/dek")
    with pytest.raises(PolicyViolation, match="past the current version"):
        km.set_policy("app/dek", min_decrypt_version=3)
    km.set_policy("app/dek", min_decrypt_version=2)
    with pytest.raises(OperationRefused, match="below the minimum decryption version 2"):
        km.decrypt(old)
    with pytest.raises(PolicyViolation, match="goes down only when confirmed"):
        km.set_policy("app/dek", min_decrypt_version=1)
    assert km.decrypt(km.encrypt("app/dek", b"v2")) == b"v2"
    # lowering is possible, confirmed, and the audit says from what to what
    km.set_policy("app/dek", min_decrypt_version=1, allow_lower=True, reason="restore v1")
    assert km.decrypt(old) == b"v1"
    rec = [r for r in km.audit_records() if r.action == "key:policy"][-1]
    assert rec.details["changed"]["min_decrypt_version"] == [2, 1]
    assert rec.reason == "restore v1"


def test_suspended_key_blocked_in_manager_and_token(module, mtoken, km: KeyManager):
    km.create_key("app/dek")
    blob = km.encrypt("app/dek", b"x")
    oid = km.show("app/dek").versions[0].object_id
    assert token_may_encrypt(module, mtoken, oid)
    km.suspend("app/dek", reason="investigating")
    with pytest.raises(OperationRefused, match="suspended"):
        km.encrypt("app/dek", b"y")
    with pytest.raises(OperationRefused, match="without an override"):
        km.decrypt(blob)
    assert not token_may_encrypt(module, mtoken, oid)  # the token refuses applications too
    assert km.decrypt(blob, override=True, reason="incident 7") == b"x"
    km.resume("app/dek")
    assert token_may_encrypt(module, mtoken, oid)


def test_compromise_workflow(km: KeyManager, clock):
    km.create_key("app/dek")
    blob = km.encrypt("app/dek", b"order 1", subject="order 1")
    clock.advance(timedelta(days=2))
    km.encrypt("app/dek", b"order 2", subject="order 2")
    clock.advance(timedelta(days=3))
    occurred = km.now() - timedelta(days=3)
    old, new = km.compromise("app/dek", occurred_at=occurred, reason="key file leaked")
    assert old.state is State.COMPROMISED and old.compromise_occurred_at == occurred
    assert new is not None and new.version == 2 and new.state is State.ACTIVE
    assert km.show("app/dek").key.current_version == 2
    with pytest.raises(OperationRefused, match="without an override"):
        km.decrypt(blob)
    with pytest.raises(OperationRefused, match="needs a reason"):
        km.decrypt(blob, override=True)
    assert km.decrypt(blob, override=True, reason="re-encrypt order 1") == b"order 1"
    override = [r for r in km.audit_records() if r.action == "decrypt:override"]
    assert len(override) == 1 and override[0].reason == "re-encrypt order 1"
    assert [r.reason for r in km.affected("app/dek", 1)] == ["order 1", "order 2"]
    assert [r.reason for r in km.affected("app/dek", 1, since_compromise=True)] == ["order 2"]
    assert km.affected("app/dek", 2) == []
    # the override was temporary: still refused without it, and the refusal is on record
    with pytest.raises(OperationRefused):
        km.decrypt(blob)
    last = km.audit_records()[-1]
    assert (last.action, last.version) == ("decrypt", 1)
    assert last.result == ("refused: app/dek v1 is compromised; "
                           "it cannot process without an override")


def test_scheduled_destruction(module, mtoken, km: KeyManager, clock):
    km.create_key("app/dek")
    km.rotate("app/dek")
    (sched,) = km.schedule_destroy("app/dek", 1, reason="retired")
    assert sched.destroy_due == km.now() + timedelta(days=30)  # the default wait
    assert km.run_due() == []
    km.cancel_destroy("app/dek", 1)
    with pytest.raises(NotFound, match="no destruction is scheduled"):
        km.cancel_destroy("app/dek", 1)
    km.schedule_destroy("app/dek", 1, after=timedelta(days=7))
    clock.advance(timedelta(days=7))
    done = km.run_due()
    assert [(d.action, d.version, d.result) for d in done] == [("destroy", 1, "ok")]
    v1 = km.show("app/dek").versions[0]
    assert v1.state is State.DESTROYED and v1.destroyed_at == km.now()
    session, handle = raw_key(module, mtoken, v1.object_id)
    module.raw.close_session(session)
    assert handle is None  # the token object is gone; the metadata and history stay
    assert [t.to_state for t in km.show("app/dek").history[1]][-1] is State.DESTROYED


def test_hmac_keys(km: KeyManager):
    km.create_key("api/mac", KeyType.SYMMETRIC_AUTHENTICATION)
    version, tag = km.mac("api/mac", b"message", subject="webhook")
    assert version == 1 and len(tag) == 32
    assert km.verify_mac("api/mac", 1, b"message", tag)
    assert not km.verify_mac("api/mac", 1, b"messagf", tag)
    with pytest.raises(OperationRefused, match="cannot encrypt"):
        km.encrypt("api/mac", b"x")


def test_usage_limit_enforced(km: KeyManager):
    km.create_key("small/dek", usage_limit=2)
    km.encrypt("small/dek", b"1")
    km.encrypt("small/dek", b"2")
    with pytest.raises(OperationRefused, match="usage limit 2"):
        km.encrypt("small/dek", b"3")
    assert km.show("small/dek").versions[0].usage_count == 2


def test_capability_note(km: KeyManager):
    km.create_key("app/dek")
    view = km.show("app/dek", token_usage=True)
    expected = "keystead token" if km.token.enforces_lifecycle else "foreign token"
    assert view.capability_note.startswith(expected)


#: What ``show(token_usage=True)`` reads from the token, by who enforces the lifecycle.
TOKEN_COUNTERS = {True: {"token_usage_count", "token_gcm_invocations"}, False: set()}


def test_token_counters(km: KeyManager):
    km.create_key("app/dek")
    km.decrypt(km.encrypt("app/dek", b"x"))
    usage = km.show("app/dek", token_usage=True).token_usage[1]
    assert set(usage) == TOKEN_COUNTERS[km.token.enforces_lifecycle]
    assert all(isinstance(n, int) and n >= 0 for n in usage.values())
