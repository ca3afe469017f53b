"""Rotation, manual and due (``keystead rotate --due``), and every other date-driven step.

``run_due`` is what cron runs. It finds candidate actions from a snapshot, then performs
each in its own BEGIN IMMEDIATE transaction after checking again, inside the lock, that it
is still due. Two runs at once therefore never rotate a key twice: the second sees the new
current version and finds nothing due (and the (key, version) uniqueness constraint would
refuse a duplicate version anyway).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from .base import ManagerBase
from .errors import ManagerError, OperationRefused
from .lifecycle import State
from .models import KeyRecord, VersionRecord
from .store import CatalogueTx


@dataclass
class DueAction:
    """One thing ``run_due`` did (or failed to do)."""

    action: str  # activate | rotate | deactivate | schedule-destroy | destroy
    key: str
    version: int
    reason: str
    result: str = "ok"
    new_version: int | None = None


# ---- predicates: each returns a reason string when the action is due, else None

def _activation_due(key: KeyRecord, ver: VersionRecord, now: datetime) -> str | None:
    # Only the current version activates by date: a pre-activation version that a rotation
    # superseded stays where it is until an admin decides.
    if key.current_version != ver.version or ver.state is not State.PRE_ACTIVATION:
        return None
    if ver.destroy_due is not None:  # scheduled for destruction: it never activates
        return None
    if ver.activation_date and ver.activation_date <= now:
        return "activation date reached"
    return None


def _rotation_due(key: KeyRecord, ver: VersionRecord, now: datetime) -> str | None:
    if not key.policy.auto_rotate or key.current_version != ver.version:
        return None
    if ver.state is not State.ACTIVE:
        return None
    if ver.protect_end is not None and now >= ver.protect_end:
        return "originator-usage period ended"
    limit = key.policy.usage_limit
    if limit and ver.usage_count >= limit * key.policy.rotate_at:
        return f"usage {ver.usage_count} reached {key.policy.rotate_at:.0%} of the limit {limit}"
    return None


def _deactivation_due(key: KeyRecord, ver: VersionRecord, now: datetime) -> str | None:
    if _rotation_due(key, ver, now) is not None:
        return None
    if ver.state in (State.ACTIVE, State.SUSPENDED) and ver.protect_end and now >= ver.protect_end:
        return "originator-usage period ended"
    return None


def _process_end_due(key: KeyRecord, ver: VersionRecord, now: datetime) -> str | None:
    if ver.state in (State.DEACTIVATED, State.COMPROMISED) and ver.destroy_due is None and (
        ver.process_end is not None and now >= ver.process_end
    ):
        return "recipient-usage period ended"
    return None


def _destroy_due(key: KeyRecord, ver: VersionRecord, now: datetime) -> str | None:
    if ver.state is not State.DESTROYED and ver.destroy_due is not None and now >= ver.destroy_due:
        return "scheduled destruction is due"
    return None


Predicate = Callable[[KeyRecord, VersionRecord, datetime], str | None]
#: Order matters: activate before rotating, rotate before deactivating what is left.
DUE_CHECKS: tuple[tuple[str, Predicate], ...] = (
    ("activate", _activation_due),
    ("rotate", _rotation_due),
    ("deactivate", _deactivation_due),
    ("schedule-destroy", _process_end_due),
    ("destroy", _destroy_due),
)


class RotationMixin(ManagerBase):
    """Manual rotation and the due-work runner."""

    def rotate(self, name: str, reason: str = "manual rotation") -> VersionRecord:
        """Create the next version, make it current and deactivate the previous current
        version (it keeps processing until its recipient-usage period ends)."""

        def body(tx: CatalogueTx) -> VersionRecord:
            return self._rotate_in(tx, self.load_key(tx, name), reason)

        return self.audited("rotate", name, None, reason, body)

    def _rotate_in(self, tx: CatalogueTx, key: KeyRecord, reason: str) -> VersionRecord:
        old = tx.version(key.id, key.current_version) if key.current_version else None
        fresh = self.new_version(tx, key, activate_at=None, reason=reason)
        if old is not None and old.state in (State.ACTIVE, State.SUSPENDED):
            self.move(tx, key, old, State.DEACTIVATED, f"rotated to v{fresh.version}")
        elif old is not None and old.state is State.PRE_ACTIVATION:
            # never used, and superseded: destroy it so that only one version can activate
            self.move(tx, key, old, State.DESTROYED,
                      f"superseded by v{fresh.version} before activation")
        self.audit(tx, "rotate", key.name, fresh.version, reason,
                   previous=old.version if old else None)
        return fresh

    def due(self) -> list[DueAction]:
        """What ``run_due`` would do now, without doing it."""
        now = self.now()
        found: list[DueAction] = []
        with self.reading() as tx:
            for key in tx.all_keys():
                for ver in tx.versions(key.id):
                    for action, check in DUE_CHECKS:
                        why = check(key, ver, now)
                        if why is not None:
                            found.append(DueAction(action, key.name, ver.version, why))
                            break
        return found

    def run_due(self, destroy_wait: timedelta | None = None,
                progress: Callable[[DueAction], None] | None = None) -> list[DueAction]:
        """Perform every due step: activations, rotations, deactivations at the end of the
        originator-usage period, scheduling destruction at the end of the recipient-usage
        period (after ``destroy_wait``, default each key's destruction wait), and due
        destructions. Idempotent and safe to run concurrently. A failure is
        reported in the returned list (result != "ok") and does not stop the run.
        """
        done: list[DueAction] = []
        for cand in self.due():
            check = dict(DUE_CHECKS)[cand.action]
            try:
                result = self.audited(
                    f"due:{cand.action}", cand.key, cand.version, cand.reason,
                    lambda tx, c=cand, chk=check: self._do_due(tx, c, chk, destroy_wait))
            except ManagerError as exc:
                cand.result = f"failed: {exc}"
                result = cand
            if result is not None:
                done.append(result)
                if progress is not None:
                    progress(result)
        return done

    def _do_due(self, tx: CatalogueTx, cand: DueAction, check: Predicate,
                destroy_wait: timedelta | None) -> DueAction | None:
        key = tx.key_by_name(cand.key)
        ver = tx.version(key.id, cand.version) if key else None
        if key is None or ver is None:
            return None
        why = check(key, ver, self.now())  # again, inside the lock: another run may have won
        if why is None:
            return None
        if cand.action == "activate":
            self.move(tx, key, ver, State.ACTIVE, why)
        elif cand.action == "rotate":
            cand.new_version = self._rotate_in(tx, key, why).version
        elif cand.action == "deactivate":
            self.move(tx, key, ver, State.DEACTIVATED, why)
        elif cand.action == "schedule-destroy":
            ver.destroy_scheduled_at = self.now()
            ver.destroy_due = self.now() + (destroy_wait or key.policy.destroy_wait)
            tx.update_version(ver)
            self.audit(tx, "destroy:schedule", key.name, ver.version, why,
                       due=ver.destroy_due.isoformat())
        elif cand.action == "destroy":
            self.move(tx, key, ver, State.DESTROYED, why)
        else:  # pragma: no cover - DUE_CHECKS and this switch are edited together
            raise OperationRefused(f"unknown due action {cand.action}")
        cand.reason = why
        return cand
