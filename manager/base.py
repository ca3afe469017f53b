"""Shared plumbing of the manager: transactions that always carry their audit record, and
the one place where a version changes state (:meth:`ManagerBase.move`)."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import TypeVar

from . import lifecycle
from .clock import Clock, SystemClock
from .errors import IntegrityError, ManagerError, NotFound, OperationRefused
from .lifecycle import State
from .models import AuditRecord, KeyRecord, TransitionRecord, VersionRecord
from .policy import PolicyTable
from .specs import KeySpec, spec_of
from .store import Catalogue, CatalogueTx
from .tokenport import TokenPort, Windows

T = TypeVar("T")


def default_actor() -> str:
    """``KEYSTEAD_ACTOR``, else the login name."""
    actor = os.environ.get("KEYSTEAD_ACTOR")
    if actor:
        return actor
    import getpass  # here: start-up time (docs/manager.md)

    try:
        return getpass.getuser()
    except (KeyError, OSError):  # pragma: no cover - no passwd entry
        return f"uid:{os.getuid()}"


def os_identity() -> dict[str, str]:
    """The operating-system user and host, recorded beside the claimed actor."""
    import getpass

    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # pragma: no cover - no passwd entry
        user = f"uid:{os.getuid()}"
    # the node name is what socket.gethostname() returns (both are uname(2)'s), without
    # importing socket: start-up time (docs/manager.md)
    return {"os_user": f"{user} (uid {os.getuid()})", "host": os.uname().nodename}


def new_object_id() -> bytes:
    """A fresh CKA_ID for a token object (random, so catalogues sharing a token never clash)."""
    import uuid  # here: it imports platform, which no read-only command needs

    return uuid.uuid4().bytes


def windows_of(ver: VersionRecord) -> Windows:
    return Windows(
        protect_start=ver.activated_at or ver.activation_date,
        protect_end=ver.protect_end,
        process_start=ver.process_start,
        process_end=ver.process_end,
    )


class ManagerBase:
    """State and helpers shared by the manager's parts (lifecycle, rotation, envelope)."""

    def __init__(
        self,
        catalogue: Catalogue,
        token: TokenPort | None = None,
        *,
        clock: Clock | None = None,
        actor: str | None = None,
        policy: PolicyTable | None = None,
        module_name: str = "keystead",
        token_label: str = "keystead",
    ) -> None:
        self.catalogue = catalogue
        self._token = token
        self.clock = clock or SystemClock()
        self.actor = actor or default_actor()
        self.policy = policy or PolicyTable()
        self.module_name = module_name
        self.token_label = token_label
        self._identity: dict[str, str] | None = None  # on the first record: start-up time

    # ---- plumbing
    @property
    def token(self) -> TokenPort:
        if self._token is None:
            raise OperationRefused("no token is configured for this operation")
        return self._token

    def now(self) -> datetime:
        return self.clock.now()

    def audit(self, tx: CatalogueTx, action: str, key: str | None, version: int | None,
              reason: str = "", result: str = "ok", **details: object) -> AuditRecord:
        """Append one audit record inside ``tx`` (so it commits with the change). Records
        made under a clock other than the wall clock say so (``details["clock"]``)."""
        if not isinstance(self.clock, SystemClock):
            details.setdefault("clock", "manual")
        if self._identity is None:
            self._identity = os_identity()
        details.update(self._identity)
        rec = AuditRecord(seq=0, at=self.now(), actor=self.actor, action=action, key_name=key,
                          version=version, reason=reason, result=result, details=dict(details))
        return tx.append_audit(rec)

    def audited(self, action: str, key: str | None, version: int | None, reason: str,
                body: Callable[[CatalogueTx], T]) -> T:
        """Run ``body`` in one write transaction. If it raises an expected error (or an
        OSError, e.g. an output file that cannot be written), the change rolls back and a
        record of the refusal or failure is appended in a transaction of its own."""
        try:
            with self.catalogue.transaction() as tx:
                return body(tx)
        except (ManagerError, OSError) as exc:
            self.record_failure(action, key, version, reason, exc)
            raise

    def record_failure(self, action: str, key: str | None, version: int | None, reason: str,
                       exc: BaseException) -> None:
        """Append one record of a refusal or failure, once per exception (an exception
        already recorded deeper down is not recorded again)."""
        if getattr(exc, "_keystead_audited", False):
            return
        if isinstance(exc, IntegrityError):
            result = f"failed: {exc}"
        elif isinstance(exc, OSError):
            result = f"failed: {exc.strerror or exc}"
        else:
            result = f"refused: {exc}"
        with self.catalogue.transaction() as tx:
            self.audit(tx, action, key, version, reason, result=result)
        with contextlib.suppress(AttributeError, TypeError):
            exc._keystead_audited = True  # type: ignore[attr-defined]

    @contextmanager
    def reading(self) -> Iterator[CatalogueTx]:
        with self.catalogue.snapshot() as tx:
            yield tx

    # ---- lookups
    def load_key(self, tx: CatalogueTx, name: str) -> KeyRecord:
        key = tx.key_by_name(name)
        if key is None:
            raise NotFound(f"no key named {name!r}")
        return key

    def load_version(self, tx: CatalogueTx, key: KeyRecord, version: int | None) -> VersionRecord:
        """``version`` of ``key``, or its current version when None."""
        number = key.current_version if version is None else version
        if number is None:
            raise NotFound(f"key {key.name!r} has no current version")
        ver = tx.version(key.id, number)
        if ver is None:
            raise NotFound(f"key {key.name!r} has no version {number}")
        return ver

    def spec(self, key: KeyRecord) -> KeySpec:
        return spec_of(key.key_type, key.algorithm)

    def check_token(self, key: KeyRecord) -> None:
        """Refuse to touch a key that lives on another module or token than ours."""
        if key.module != self.module_name or key.token_label != self.token_label:
            raise OperationRefused(
                f"key {key.name!r} lives on module {key.module} token {key.token_label!r}, "
                f"not on {self.module_name} token {self.token_label!r}"
            )

    # ---- the one place where a version changes state
    def move(self, tx: CatalogueTx, key: KeyRecord, ver: VersionRecord, target: State,
             reason: str, *, occurred_at: datetime | None = None) -> VersionRecord:
        """Move ``ver`` to ``target`` along an edge of the lifecycle table: set the dates,
        record the transition and its audit record, then make the token agree.

        Raises IllegalTransition (no edge), TokenFailure (the token refused).
        """
        lifecycle.transition(ver.state, target, key.key_type.value)
        if target is State.ACTIVE and ver.destroy_due is not None:
            raise OperationRefused(
                f"{key.name} v{ver.version} is scheduled for destruction; it cannot become "
                "active (cancel the destruction first)")
        now = self.now()
        before = ver.state
        self._stamp(key, ver, target, now, occurred_at)
        ver.state = target
        tx.update_version(ver)
        tx.add_transition(TransitionRecord(ver.id, before, target, now, self.actor, reason))
        details: dict[str, object] = {"from": before.value, "to": target.value}
        if occurred_at is not None:
            details["occurred_at"] = occurred_at.isoformat()
        self.audit(tx, f"transition:{target.value}", key.name, ver.version, reason, **details)
        self.check_token(key)
        oid = bytes.fromhex(ver.object_id)
        self.token.apply_state(oid, self.spec(key), target, windows_of(ver), reason)
        if target is State.DESTROYED:  # the material goes; the catalogue keeps the history
            self.token.destroy(oid)
        return ver

    @staticmethod
    def _stamp(key: KeyRecord, ver: VersionRecord, target: State, now: datetime,
               occurred_at: datetime | None) -> None:
        """Set the lifecycle dates SP 800-130 asks us to keep for ``target``."""
        if target is State.ACTIVE and ver.activated_at is None:
            ver.activated_at = now
            ver.protect_end = now + key.policy.oup
            ver.process_start = now
            ver.process_end = ver.protect_end + key.policy.rup_extra
        elif target is State.SUSPENDED:
            ver.suspended_at = now
        elif target is State.DEACTIVATED:
            ver.deactivated_at = now
        elif target is State.COMPROMISED:
            ver.compromised_at = now
            ver.compromise_occurred_at = occurred_at or now
        elif target is State.DESTROYED:
            ver.destroyed_at = now
            ver.destroy_due = None
        if target in (State.DEACTIVATED, State.COMPROMISED, State.DESTROYED) and (
            ver.protect_stopped_at is None and ver.activated_at is not None
        ):
            ver.protect_stopped_at = now
