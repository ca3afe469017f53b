"""The catalogue's storage interface.

The manager talks to storage only through :class:`Catalogue` and the :class:`CatalogueTx`
it hands out. ``transaction()`` is a serialising write transaction (SQLite: BEGIN
IMMEDIATE; PostgreSQL later: SERIALIZABLE): a change and its audit record commit together
or not at all. ``snapshot()`` is a read-only view.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple, Protocol

from .models import AuditRecord, KeyRecord, TransitionRecord, VersionRecord


class KeyRow(NamedTuple):
    """One line of `key list`: what the table shows of a key and its current version."""

    name: str
    key_type: str
    algorithm: str
    length_bits: int
    current_version: int | None
    state: str | None
    protect_end: datetime | None
    owner: str


@dataclass(frozen=True)
class AuditFilter:
    """Which audit records to return; every field optional."""

    key_name: str | None = None
    version: int | None = None
    actor: str | None = None
    action: str | None = None  # an action or a family: "override" matches "decrypt:override"
    since: datetime | None = None
    until: datetime | None = None
    limit: int | None = None
    since_seq: int | None = None


class CatalogueTx(Protocol):
    """Operations available inside one transaction or snapshot."""

    def key_by_name(self, name: str) -> KeyRecord | None: ...
    def key_by_id(self, key_id: int) -> KeyRecord: ...
    def all_keys(self) -> list[KeyRecord]: ...
    def insert_key(self, key: KeyRecord) -> KeyRecord: ...
    def update_key(self, key: KeyRecord) -> None: ...
    def keys_with_current(self) -> list[tuple[KeyRecord, VersionRecord | None]]: ...
    def key_rows(self) -> list[KeyRow]: ...
    def key_fields(self) -> list[tuple[dict[str, Any], dict[str, Any] | None]]: ...

    def versions(self, key_id: int) -> list[VersionRecord]: ...
    def version(self, key_id: int, version: int) -> VersionRecord | None: ...
    def insert_version(self, ver: VersionRecord) -> VersionRecord: ...
    def update_version(self, ver: VersionRecord) -> None: ...
    def add_usage(self, version_id: int, count: int) -> int: ...
    def give_back_usage(self, version_id: int, expected: int, count: int) -> bool: ...

    def add_transition(self, tr: TransitionRecord) -> None: ...
    def transitions(self, version_id: int) -> list[TransitionRecord]: ...

    def audit_head(self) -> tuple[int, str] | None: ...
    def append_audit(self, rec: AuditRecord) -> AuditRecord: ...
    def audit_records(self, flt: AuditFilter | None = None) -> Iterator[AuditRecord]: ...


class Catalogue(Protocol):
    """A place to keep the catalogue and the audit."""

    def transaction(self) -> AbstractContextManager[CatalogueTx]: ...
    def snapshot(self) -> AbstractContextManager[CatalogueTx]: ...
    def close(self) -> None: ...
