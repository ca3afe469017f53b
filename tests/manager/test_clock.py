"""Date-driven transitions under a controlled clock: activation, end of the
originator-usage period (rotation or deactivation), end of the recipient-usage period,
scheduled destruction. ``run_due`` is idempotent."""

from __future__ import annotations

from datetime import timedelta

import pytest
from keystead.manager import KeyManager, OperationRefused, State

DAY = timedelta(days=1)


def states(km: KeyManager, name: str) -> list[State]:
    return [v.state for v in km.show(name).versions]


def test_future_activation(km: KeyManager, clock):
    km.create_key("later/dek", activate_at=clock.now() + 10 * DAY)
    assert states(km, "later/dek") == [State.PRE_ACTIVATION]
    with pytest.raises(OperationRefused, match="pre-activation"):
        km.encrypt("later/dek", b"x")
    clock.advance(9 * DAY)
    assert km.run_due() == []
    clock.advance(DAY)
    done = km.run_due()
    assert [(d.action, d.version) for d in done] == [("activate", 1)]
    v1 = km.show("later/dek").versions[0]
    assert v1.state is State.ACTIVE and v1.activated_at == clock.now()
    assert v1.protect_end == clock.now() + timedelta(days=730)
    assert km.run_due() == []  # idempotent


def test_end_of_originator_period_rotates(km: KeyManager, clock):
    km.create_key("app/dek", oup=30 * DAY, rup_extra=60 * DAY)
    clock.advance(30 * DAY - timedelta(seconds=1))
    assert km.due() == []
    clock.advance(timedelta(seconds=1))
    with pytest.raises(OperationRefused, match="outside its originator-usage period"):
        km.encrypt("app/dek", b"x")
    done = km.run_due()
    assert [(d.action, d.version, d.new_version) for d in done] == [("rotate", 1, 2)]
    assert states(km, "app/dek") == [State.DEACTIVATED, State.ACTIVE]
    assert km.show("app/dek").key.current_version == 2
    assert km.run_due() == []  # a second run finds nothing due


def test_no_auto_rotate_deactivates(km: KeyManager, clock):
    km.create_key("manual/dek", oup=10 * DAY, rup_extra=10 * DAY, auto_rotate=False)
    clock.advance(10 * DAY)
    done = km.run_due()
    assert [(d.action, d.version) for d in done] == [("deactivate", 1)]
    assert states(km, "manual/dek") == [State.DEACTIVATED]


def test_end_of_recipient_period_then_destruction(km: KeyManager, clock):
    km.create_key("app/dek", oup=10 * DAY, rup_extra=20 * DAY)
    clock.advance(10 * DAY)
    km.run_due()  # rotate: v1 deactivated, v2 current
    clock.advance(20 * DAY)
    done = km.run_due()
    assert ("schedule-destroy", 1) in [(d.action, d.version) for d in done]
    v1 = km.show("app/dek").versions[0]
    assert v1.destroy_due == clock.now() + 30 * DAY  # the key's destruction wait
    clock.advance(30 * DAY)
    done = km.run_due()
    assert ("destroy", 1) in [(d.action, d.version) for d in done]
    assert states(km, "app/dek")[0] is State.DESTROYED


def test_usage_near_limit_rotates(km: KeyManager):
    km.create_key("busy/dek", usage_limit=10)
    for _ in range(8):
        km.encrypt("busy/dek", b"x")
    assert km.due() == []
    km.encrypt("busy/dek", b"x")  # 9 of 10 = the default 90 % threshold
    done = km.run_due()
    assert [(d.action, d.new_version) for d in done] == [("rotate", 2)]
    assert "usage 9 reached 90% of the limit 10" in done[0].reason


def test_dry_run_changes_nothing(km: KeyManager, clock):
    km.create_key("app/dek", oup=DAY)
    clock.advance(DAY)
    assert [d.action for d in km.due()] == ["rotate"]
    assert states(km, "app/dek") == [State.ACTIVE]


def test_superseded_pre_activation_version_is_not_activated(km: KeyManager, clock):
    km.create_key("later/dek", activate_at=clock.now() + DAY)
    km.rotate("later/dek")  # v2 active now; v1 never became current
    clock.advance(2 * DAY)
    assert km.run_due() == []
    # v1 never protected anything and can never be activated: it is destroyed at once
    assert states(km, "later/dek") == [State.DESTROYED, State.ACTIVE]
    with pytest.raises(OperationRefused, match="destroyed, not pre-activation"):
        km.activate("later/dek", 1)
