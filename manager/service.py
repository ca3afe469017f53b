"""The key manager's facade: everything an admin or an application asks of the manager.

``KeyManager`` combines the lifecycle operations here with rotation (:mod:`.rotation`) and
envelope encryption (:mod:`.envelope`). Every change is one write transaction carrying its
audit record; every refusal raises a :class:`~keystead.manager.errors.ManagerError`.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from . import audit as audit_chain
from .base import ManagerBase, new_object_id, windows_of
from .datakey import DataKeyMixin
from .doctor import DoctorMixin
from .envelope import EnvelopeMixin
from .errors import AlreadyExists, ManagerError, NotFound, OperationRefused, PolicyViolation
from .lifecycle import State
from .models import AuditRecord, KeyRecord, TransitionRecord, VersionRecord
from .names import check_key_name
from .policy import GCM_INVOCATION_LIMIT, MIN_DESTROY_WAIT, KeyPolicy, KeyType
from .rotation import RotationMixin
from .signing import SignMixin
from .specs import spec_for
from .store import AuditFilter, CatalogueTx, KeyRow
from .stream import StreamMixin
from .tokenport import TOKEN_AUDIT_UNAVAILABLE, TokenAuditReport

#: The latest time the manager accepts (dates past it overflow with the periods added).
LATEST_DATE = datetime(9000, 1, 1, tzinfo=UTC)


@dataclass
class KeyView:
    """A key with its versions, each version's transition history and token counters."""

    key: KeyRecord
    versions: list[VersionRecord]
    history: dict[int, list[TransitionRecord]]
    token_usage: dict[int, dict[str, int]] = field(default_factory=dict)
    capability_note: str = ""


@dataclass
class AuditVerification:
    """``audit verify``: the manager chain, and the token's own chain where there is one."""

    chain: audit_chain.ChainReport
    token: TokenAuditReport

    @property
    def ok(self) -> bool:
        return self.chain.ok and self.token.ok


class KeyManager(RotationMixin, DoctorMixin, StreamMixin, DataKeyMixin, SignMixin,
                 EnvelopeMixin, ManagerBase):
    """Named keys, their versions and their SP 800-57 lifecycle over one PKCS#11 token.

    Construct with a catalogue (:class:`~keystead.manager.sqlite_store.SQLiteCatalogue`), a
    token port (:class:`~keystead.manager.pkcs11_token.Pkcs11Token`; None for read-only
    use), and optionally a clock, the actor name and a policy table. One instance per
    thread: it holds one SQLite connection and one PKCS#11 session. Processes may share a
    catalogue freely.
    """

    # ---- creation
    def create_key(
        self,
        name: str,
        key_type: KeyType | str = KeyType.SYMMETRIC_DATA_ENCRYPTION,
        *,
        length_bits: int | None = None,
        algorithm: str | None = None,
        owner: str | None = None,
        oup: timedelta | None = None,
        rup_extra: timedelta | None = None,
        usage_limit: int | None = None,
        auto_rotate: bool = True,
        activate_at: datetime | None = None,
        reason: str = "created",
    ) -> KeyRecord:
        """Create key ``name`` and its version 1.

        Version 1 is active at once unless ``activate_at`` lies in the future, in which case
        it waits in pre-activation until ``rotate --due`` (or ``activate``) runs after that
        time. Periods default to the policy maximum; longer ones raise PolicyViolation with
        the reason. Raises AlreadyExists if the name is taken. ``algorithm`` chooses a key
        pair's algorithm (:mod:`.keypairs`: RSA, EC, Ed25519, X25519), ``length_bits`` its
        size (RSA modulus bits, EC curve 256/384/521).
        """
        def body(tx: CatalogueTx) -> KeyRecord:
            try:
                kt = KeyType(key_type)
            except ValueError:
                raise PolicyViolation(f"{key_type!r} is not a key type") from None
            spec, length = spec_for(kt, length_bits, algorithm)
            check_key_name(name)
            limit = usage_limit
            if limit is None and spec.algorithm == "AES" and "encrypt" in spec.operations:
                limit = GCM_INVOCATION_LIMIT
            policy = self.policy.with_overrides(
                kt, self.policy.default_policy(kt), oup=oup, rup_extra=rup_extra,
                usage_limit=limit, auto_rotate=auto_rotate)
            if tx.key_by_name(name) is not None:
                raise AlreadyExists(f"a key named {name!r} already exists")
            key = tx.insert_key(KeyRecord(
                id=0, name=name, key_type=kt, algorithm=spec.algorithm, length_bits=length,
                security_strength=spec.strength(length), operations=spec.operations,
                owner=owner or self.actor, module=self.module_name,
                token_label=self.token_label, policy=policy, created_at=self.now()))
            self.audit(tx, "key:create", name, None, reason, key_type=kt.value,
                       algorithm=spec.algorithm, length_bits=length,
                       oup_seconds=int(policy.oup.total_seconds()),
                       rup_extra_seconds=int(policy.rup_extra.total_seconds()))
            self.new_version(tx, key, activate_at=activate_at, reason=reason)
            return key

        return self.audited("key:create", name, None, reason, body)

    def new_version(self, tx: CatalogueTx, key: KeyRecord, *, activate_at: datetime | None,
                    reason: str) -> VersionRecord:
        """Generate the next version in the token, make it current, activate it if due.

        The (key, version) pair is unique in the catalogue, so two concurrent writers can
        never both create version N: the second fails and rolls back.
        """
        self.check_token(key)
        now = self.now()
        if activate_at is not None and activate_at >= LATEST_DATE:
            raise PolicyViolation(
                f"activation time {activate_at.date().isoformat()} is too far in the future")
        existing = tx.versions(key.id)
        number = max((v.version for v in existing), default=0) + 1
        oid = new_object_id()
        ver = VersionRecord(
            id=0, key_id=key.id, version=number, state=State.PRE_ACTIVATION,
            object_id=oid.hex(), generated_at=now, activation_date=activate_at or now)
        if activate_at is not None and activate_at > now:
            ver.protect_end = activate_at + key.policy.oup
            ver.process_start = activate_at
            ver.process_end = ver.protect_end + key.policy.rup_extra
        tx.insert_version(ver)
        tx.add_transition(TransitionRecord(ver.id, None, State.PRE_ACTIVATION, now, self.actor,
                                           reason))
        self.audit(tx, "version:generate", key.name, number, reason, object_id=ver.object_id)
        label = f"{key.name}/v{number}"
        try:
            ver.unique_id = self.token.generate(self.spec(key), key.length_bits, oid, label,
                                                State.PRE_ACTIVATION, windows_of(ver))
            tx.update_version(ver)
            key.current_version = number
            tx.update_key(key)
            if activate_at is None or activate_at <= now:
                self.move(tx, key, ver, State.ACTIVE, reason)
        except BaseException:
            with contextlib.suppress(ManagerError):  # the catalogue rolls back; no orphan
                self.token.destroy(oid)
            raise
        return ver

    # ---- manual transitions
    def transition(self, name: str, target: State | str, version: int | None = None, *,
                   reason: str, occurred_at: datetime | None = None) -> VersionRecord:
        """Move a version to ``target`` along any edge of the lifecycle table, at once.

        The general form behind activate/suspend/resume/deactivate; to ``destroyed`` it
        destroys immediately (admins normally use :meth:`schedule_destroy`). Raises
        IllegalTransition when the table has no such edge.
        """
        goal = State(target)

        def body(tx: CatalogueTx) -> VersionRecord:
            key = self.load_key(tx, name)
            ver = self.load_version(tx, key, version)
            return self.move(tx, key, ver, goal, reason, occurred_at=occurred_at)

        return self.audited(f"transition:{goal.value}", name, version, reason, body)

    def _transition(self, name: str, version: int | None, target: State, reason: str,
                    expect: State | None, hint: str = "") -> VersionRecord:
        action = f"transition:{target.value}"

        def body(tx: CatalogueTx) -> VersionRecord:
            key = self.load_key(tx, name)
            ver = self.load_version(tx, key, version)
            if expect is not None and ver.state is not expect:
                raise OperationRefused(
                    f"{name} v{ver.version} is {ver.state.value}, not {expect.value}{hint}")
            return self.move(tx, key, ver, target, reason)

        return self.audited(action, name, version, reason, body)

    def activate(self, name: str, version: int | None = None,
                 reason: str = "activated") -> VersionRecord:
        """pre-activation -> active. Raises IllegalTransition / OperationRefused otherwise."""
        return self._transition(name, version, State.ACTIVE, reason, State.PRE_ACTIVATION,
                                " (use resume for a suspended key)")

    def suspend(self, name: str, version: int | None = None,
                reason: str = "suspended") -> VersionRecord:
        """active -> suspended: protection stops, processing needs an override."""
        return self._transition(name, version, State.SUSPENDED, reason, None)

    def resume(self, name: str, version: int | None = None,
               reason: str = "resumed") -> VersionRecord:
        """suspended -> active."""
        return self._transition(name, version, State.ACTIVE, reason, State.SUSPENDED,
                                " (use activate for a pre-activation key)")

    def deactivate(self, name: str, version: int | None = None,
                   reason: str = "deactivated") -> VersionRecord:
        """-> deactivated: no more protection; processing until the recipient period ends."""
        return self._transition(name, version, State.DEACTIVATED, reason, None)

    def compromise(self, name: str, version: int | None = None, *,
                   occurred_at: datetime | None = None, reason: str,
                   replace: bool = True) -> tuple[VersionRecord, VersionRecord | None]:
        """Mark a version compromised (with when the compromise occurred). It stops
        protecting at once and processes only with an audited override. If it was the
        current version and ``replace`` is true, a new version becomes current.

        Returns (compromised version, new version or None).
        """
        def body(tx: CatalogueTx) -> tuple[VersionRecord, VersionRecord | None]:
            if not reason:
                raise PolicyViolation("a compromise needs a reason")
            key = self.load_key(tx, name)
            ver = self.load_version(tx, key, version)
            when = occurred_at or self.now()
            if when > self.now():
                raise PolicyViolation(
                    f"the compromise cannot have occurred in the future ({when.isoformat()})")
            if when < ver.generated_at.replace(microsecond=0):
                raise PolicyViolation(
                    f"the compromise cannot have occurred ({when.isoformat()}) before "
                    f"{name} v{ver.version} existed ({ver.generated_at.isoformat()})")
            self.move(tx, key, ver, State.COMPROMISED, reason, occurred_at=when)
            fresh = None
            if replace and key.current_version == ver.version:
                fresh = self.new_version(tx, key, activate_at=None,
                                         reason=f"replaces compromised v{ver.version}")
            return ver, fresh

        return self.audited("transition:compromised", name, version, reason, body)

    # ---- destruction
    def schedule_destroy(self, name: str, version: int | None = None, *,
                         after: timedelta | None = None,
                         reason: str = "destruction scheduled") -> list[VersionRecord]:
        """Schedule destruction of one version (or, with ``version`` None, every version not
        yet destroyed) ``after`` from now (default: the key's destruction wait, 30 days
        unless its policy says 7 to 30; shorter only with the key's short-wait flag).

        A scheduled version stops protecting at once: an active or suspended version is
        deactivated (it still processes, within its recipient-usage period, until it is
        destroyed). ``rotate --due`` destroys it when due; until then :meth:`cancel_destroy`
        cancels the destruction (the version stays deactivated). Returns the versions.
        """
        def body(tx: CatalogueTx) -> list[VersionRecord]:
            key = self.load_key(tx, name)
            wait = key.policy.destroy_wait if after is None else after
            key.policy.check_destroy_wait(wait)
            targets = self._targets(tx, key, version)
            due = self.now() + wait
            for ver in targets:
                if ver.state in (State.ACTIVE, State.SUSPENDED):
                    self.move(tx, key, ver, State.DEACTIVATED, f"destruction scheduled: {reason}")
                ver.destroy_scheduled_at = self.now()
                ver.destroy_due = due
                tx.update_version(ver)
                details: dict[str, object] = {"due": due.isoformat(),
                                              "wait_seconds": int(wait.total_seconds())}
                if wait < MIN_DESTROY_WAIT:
                    details["short_destroy_wait"] = True
                self.audit(tx, "destroy:schedule", name, ver.version, reason, **details)
            return targets

        return self.audited("destroy:schedule", name, version, reason, body)

    def cancel_destroy(self, name: str, version: int | None = None,
                       reason: str = "destruction cancelled") -> list[VersionRecord]:
        """Cancel scheduled destruction of one version or all. Raises NotFound when nothing
        is scheduled."""

        def body(tx: CatalogueTx) -> list[VersionRecord]:
            key = self.load_key(tx, name)
            targets = [v for v in self._targets(tx, key, version) if v.destroy_due]
            if not targets:
                raise NotFound(f"no destruction is scheduled for {name}")
            for ver in targets:
                ver.destroy_due = None
                ver.destroy_scheduled_at = None
                tx.update_version(ver)
                self.audit(tx, "destroy:cancel", name, ver.version, reason)
            return targets

        return self.audited("destroy:cancel", name, version, reason, body)

    def _targets(self, tx: CatalogueTx, key: KeyRecord,
                 version: int | None) -> list[VersionRecord]:
        if version is not None:
            ver = self.load_version(tx, key, version)
            if ver.state is State.DESTROYED:
                raise OperationRefused(f"{key.name} v{version} is already destroyed")
            return [ver]
        live = [v for v in tx.versions(key.id) if v.state is not State.DESTROYED]
        if not live:
            raise OperationRefused(f"every version of {key.name} is already destroyed")
        return live

    # ---- policy
    def set_policy(self, name: str, *, oup: timedelta | None = None,
                   rup_extra: timedelta | None = None, usage_limit: int | None = None,
                   rotate_at: float | None = None, auto_rotate: bool | None = None,
                   min_encrypt_version: int | None = None,
                   min_decrypt_version: int | None = None,
                   destroy_wait: timedelta | None = None,
                   short_destroy_wait: bool | None = None,
                   allow_lower: bool = False,
                   reason: str = "policy changed") -> KeyRecord:
        """Change a key's periods, limits, destruction wait or minimum versions, within the
        policy bounds; the audit record lists what changed, from what to what.

        New periods apply to versions activated from now on. Minimum versions may not pass
        the current version, and go down only with ``allow_lower`` (the CLI asks first).
        ``short_destroy_wait`` allows destruction waits under 7 days (test environments).
        Raises PolicyViolation with the reason.
        """

        def body(tx: CatalogueTx) -> KeyRecord:
            key = self.load_key(tx, name)
            before = _policy_details(key)
            key.policy = self.policy.with_overrides(
                key.key_type, key.policy, oup=oup, rup_extra=rup_extra,
                usage_limit=usage_limit, rotate_at=rotate_at, auto_rotate=auto_rotate,
                destroy_wait=destroy_wait, short_destroy_wait=short_destroy_wait)
            latest = key.current_version or 0
            for label, value, attr in (("encryption", min_encrypt_version, "min_encrypt_version"),
                                       ("decryption", min_decrypt_version, "min_decrypt_version")):
                if value is None:
                    continue
                if value < getattr(key, attr) and not allow_lower:
                    raise PolicyViolation(f"the minimum {label} version goes down only when "
                                          f"confirmed (now {getattr(key, attr)})")
                if value > latest:
                    raise PolicyViolation(f"the minimum {label} version {value} is past the "
                                          f"current version {latest}")
                setattr(key, attr, value)
            if key.min_decrypt_version > key.min_encrypt_version:
                key.min_encrypt_version = key.min_decrypt_version
            tx.update_key(key)
            after = _policy_details(key)
            changed = {k: [before[k], after[k]] for k in after if before[k] != after[k]}
            self.audit(tx, "key:policy", name, None, reason, changed=changed, **after)
            return key

        return self.audited("key:policy", name, None, reason, body)

    # ---- queries
    def list_keys(self) -> list[tuple[KeyRecord, VersionRecord | None]]:
        """Every key with its current version (None when it has none)."""
        with self.reading() as tx:
            return tx.keys_with_current()

    def key_fields(self) -> list[tuple[dict[str, Any], dict[str, Any] | None]]:
        """Every key and its current version as column values, by name (one query, no
        records built; `key list --json`)."""
        with self.reading() as tx:
            return tx.key_fields()

    def key_rows(self) -> list[KeyRow]:
        """What `key list` shows of every key, by name (one query, no records built)."""
        with self.reading() as tx:
            return tx.key_rows()

    def show(self, name: str, *, token_usage: bool = False) -> KeyView:
        """The key, its versions and their history; token counters if asked and available."""
        with self.reading() as tx:
            key = self.load_key(tx, name)
            versions = tx.versions(key.id)
            history = {v.version: tx.transitions(v.id) for v in versions}
        view = KeyView(key, versions, history)
        if token_usage and self._token is not None:
            view.capability_note = self.token.capability_note
            for v in versions:
                if v.state is not State.DESTROYED:
                    view.token_usage[v.version] = self.token.usage(bytes.fromhex(v.object_id))
        return view

    def affected(self, name: str, version: int, *,
                 since_compromise: bool = False) -> list[AuditRecord]:
        """What the audit says ``version`` of ``name`` protected (its encryptions, MACs and
        signatures).

        With ``since_compromise``, only what it protected from when its compromise occurred
        (what an attacker holding the key may also have forged); raises OperationRefused
        when the version is not compromised.
        """
        with self.reading() as tx:
            key = self.load_key(tx, name)
            ver = self.load_version(tx, key, version)
            since = None
            if since_compromise:
                if ver.compromise_occurred_at is None:
                    raise OperationRefused(f"{name} v{version} is not compromised")
                since = ver.compromise_occurred_at
            records = tx.audit_records(AuditFilter(key_name=name, version=version, since=since))
            return [r for r in records
                    if r.action in ("encrypt", "mac", "sign") and r.result == "ok"]

    def audit_records(self, flt: AuditFilter | None = None) -> list[AuditRecord]:
        with self.reading() as tx:
            return list(tx.audit_records(flt))

    def verify_audit(self, expect_head: str | None = None, *, since: int | None = None,
                     with_token: bool = True,
                     token_checkpoint: object = None) -> AuditVerification:
        """Verify the manager's chain (from record ``since`` when given: a range whose
        first link is taken from the record before it); on keystead's token, the token's
        own chain as well (against the auditor's ``token_checkpoint``, a
        ``keystead.token_audit.Checkpoint``). ``expect_head`` is a checkpoint ``SEQ:HASH``
        the chain must still pass through."""
        with self.reading() as tx:
            start = None
            if since is not None and since > 1:
                anchor = next(iter(tx.audit_records(AuditFilter(since_seq=since - 1))), None)
                if anchor is None or anchor.seq != since - 1:
                    raise NotFound(f"the audit has no record {since - 1} to start from")
                start = (since, anchor.hash)
            flt = AuditFilter(since_seq=since) if since is not None else None
            report = audit_chain.verify_chain(tx.audit_records(flt), tx.audit_head(),
                                              expect_head, start=start)
        token_report = (self.verify_token_audit(token_checkpoint) if with_token
                        else TOKEN_AUDIT_UNAVAILABLE)
        return AuditVerification(report, token_report)

    def verify_token_audit(self, checkpoint: object = None) -> TokenAuditReport:
        """Hook: ask the token to verify its own audit chain (keystead's vendor function)."""
        if self._token is None:
            return TOKEN_AUDIT_UNAVAILABLE
        return self.token.verify_audit(checkpoint) if checkpoint else self.token.verify_audit()

    def close(self) -> None:
        if self._token is not None:
            self._token.close()
        self.catalogue.close()


def _policy_details(key: KeyRecord) -> dict[str, object]:
    p: KeyPolicy = key.policy
    return {
        "oup_seconds": int(p.oup.total_seconds()),
        "rup_extra_seconds": int(p.rup_extra.total_seconds()),
        "usage_limit": p.usage_limit,
        "rotate_at": p.rotate_at,
        "auto_rotate": p.auto_rotate,
        "min_encrypt_version": key.min_encrypt_version,
        "min_decrypt_version": key.min_decrypt_version,
        "destroy_wait_seconds": int(p.destroy_wait.total_seconds()),
        "short_destroy_wait": p.short_destroy_wait,
    }
