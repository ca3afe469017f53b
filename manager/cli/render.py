"""Turning manager results into tables for people and JSON for programs."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime, timedelta
from enum import Enum
from typing import Any

import click

from ..durations import format_duration
from ..models import AuditRecord, KeyRecord, TransitionRecord, VersionRecord
from ..rotation import DueAction


def plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, timedelta):
        return format_duration(value)
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, bytes):
        return value.hex()
    return value


def emit_json(obj: Any) -> None:
    click.echo(json.dumps(obj, indent=2, sort_keys=True, default=plain))


def when(value: datetime | None) -> str:
    return "-" if value is None else value.strftime("%Y-%m-%d %H:%M:%SZ")


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    """A plain aligned table."""
    cells = [[str(h) for h in headers]] + [["-" if c is None else str(c) for c in r] for r in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    for n, row in enumerate(cells):
        click.echo("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
        if n == 0:
            click.echo("  ".join("-" * w for w in widths))


def key_dict(key: KeyRecord) -> dict[str, Any]:
    p = key.policy
    return {
        "name": key.name, "type": key.key_type.value, "algorithm": key.algorithm,
        "length_bits": key.length_bits, "security_strength": key.security_strength,
        "operations": list(key.operations), "owner": key.owner, "module": key.module,
        "token": key.token_label, "created_at": key.created_at,
        "current_version": key.current_version,
        "min_encrypt_version": key.min_encrypt_version,
        "min_decrypt_version": key.min_decrypt_version,
        "policy": {"oup": p.oup, "rup_extra": p.rup_extra, "usage_limit": p.usage_limit,
                   "rotate_at": p.rotate_at, "auto_rotate": p.auto_rotate},
    }


def version_dict(ver: VersionRecord) -> dict[str, Any]:
    out: dict[str, Any] = {"version": ver.version, "state": ver.state.value,
                           "object_id": ver.object_id, "unique_id": ver.unique_id,
                           "usage_count": ver.usage_count}
    for f in VersionRecord.DATE_FIELDS:
        out[f] = getattr(ver, f)
    return out


def transition_dict(tr: TransitionRecord) -> dict[str, Any]:
    return {"from": tr.from_state.value if tr.from_state else None, "to": tr.to_state.value,
            "at": tr.at, "actor": tr.actor, "reason": tr.reason}


def audit_dict(rec: AuditRecord) -> dict[str, Any]:
    return {"seq": rec.seq, "at": rec.at, "actor": rec.actor, "action": rec.action,
            "key": rec.key_name, "version": rec.version, "reason": rec.reason,
            "result": rec.result, "details": rec.details, "hash": rec.hash}


def due_dict(d: DueAction) -> dict[str, Any]:
    return {"action": d.action, "key": d.key, "version": d.version, "reason": d.reason,
            "result": d.result, "new_version": d.new_version}


def versions_table(versions: Sequence[VersionRecord]) -> None:
    table(
        ["VERSION", "STATE", "ACTIVATED", "PROTECT END", "PROCESS END", "USES", "DESTROY DUE"],
        [[v.version, v.state.value, when(v.activated_at or v.activation_date),
          when(v.protect_end), when(v.process_end), v.usage_count, when(v.destroy_due)]
         for v in versions],
    )


def audit_table(records: Sequence[AuditRecord]) -> None:
    table(
        ["SEQ", "TIME", "ACTOR", "ACTION", "KEY", "VER", "RESULT", "REASON"],
        [[r.seq, when(r.at), r.actor, r.action, r.key_name, r.version, r.result, r.reason]
         for r in records],
    )
