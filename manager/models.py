"""Catalogue records: a named key, its versions, their transitions (SP 800-130 metadata)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from .lifecycle import State
from .policy import KeyPolicy, KeyType


@dataclass
class KeyRecord:
    """A named key: what it is for, how it is made, which version is current, its policy."""

    id: int
    name: str
    key_type: KeyType
    algorithm: str
    length_bits: int
    security_strength: int
    operations: tuple[str, ...]
    owner: str
    module: str
    token_label: str
    policy: KeyPolicy
    created_at: datetime
    current_version: int | None = None
    min_encrypt_version: int = 1
    min_decrypt_version: int = 1


@dataclass
class VersionRecord:
    """One version of a key: one object in a PKCS#11 token, with every lifecycle date."""

    id: int
    key_id: int
    version: int
    state: State
    object_id: str
    generated_at: datetime
    unique_id: str | None = None
    activation_date: datetime | None = None
    activated_at: datetime | None = None
    protect_end: datetime | None = None
    protect_stopped_at: datetime | None = None
    process_start: datetime | None = None
    process_end: datetime | None = None
    suspended_at: datetime | None = None
    deactivated_at: datetime | None = None
    compromised_at: datetime | None = None
    compromise_occurred_at: datetime | None = None
    destroy_scheduled_at: datetime | None = None
    destroy_due: datetime | None = None
    destroyed_at: datetime | None = None
    usage_count: int = 0

    DATE_FIELDS = (
        "generated_at", "activation_date", "activated_at", "protect_end", "protect_stopped_at",
        "process_start", "process_end", "suspended_at", "deactivated_at", "compromised_at",
        "compromise_occurred_at", "destroy_scheduled_at", "destroy_due", "destroyed_at",
    )


@dataclass
class TransitionRecord:
    """One lifecycle transition of one version: when, who, why."""

    version_id: int
    from_state: State | None
    to_state: State
    at: datetime
    actor: str
    reason: str


@dataclass
class AuditRecord:
    """One hash-chained manager audit record."""

    seq: int
    at: datetime
    actor: str
    action: str
    key_name: str | None
    version: int | None
    reason: str
    result: str
    details: dict = field(default_factory=dict)
    prev_hash: str = ""
    hash: str = ""
