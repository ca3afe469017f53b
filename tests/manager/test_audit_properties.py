"""Property: any single change to any stored audit record is detected and named."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st
from keystead.manager import AuditRecord
from keystead.manager.audit import seal, verify_chain

FIELDS = ("at", "actor", "action", "key_name", "version", "reason", "result", "details")


def build(n: int) -> tuple[list[AuditRecord], tuple[int, str]]:
    records: list[AuditRecord] = []
    head = None
    for i in range(n):
        rec = seal(AuditRecord(seq=0, at=datetime(2026, 1, 1, tzinfo=UTC) + timedelta(i),
                               actor="a", action="encrypt", key_name="k", version=1,
                               reason=f"r{i}", result="ok", details={"i": i}), head)
        head = (rec.seq, rec.hash)
        records.append(rec)
    return records, head


@settings(max_examples=200, deadline=None)
@given(n=st.integers(2, 12), data=st.data())
def test_any_edit_is_named(n, data):
    records, head = build(n)
    victim = data.draw(st.integers(0, n - 1))
    field = data.draw(st.sampled_from(FIELDS))
    forged = copy.deepcopy(records)
    rec = forged[victim]
    if field == "at":
        rec.at += timedelta(seconds=1)
    elif field == "version":
        rec.version = (rec.version or 0) + 1
    elif field == "details":
        rec.details = {**rec.details, "extra": True}
    else:
        setattr(rec, field, getattr(rec, field) + "x")
    report = verify_chain(forged, head)
    assert not report.ok
    assert report.problems[0].startswith(f"record {rec.seq}")


@settings(max_examples=100, deadline=None)
@given(n=st.integers(3, 12), data=st.data())
def test_any_deletion_or_swap_is_detected(n, data):
    records, head = build(n)
    i = data.draw(st.integers(0, n - 2))
    deleted = records[:i] + records[i + 1:]
    assert not verify_chain(deleted, head).ok
    swapped = records[:i] + [records[i + 1], records[i]] + records[i + 2:]
    assert not verify_chain(swapped, head).ok
    assert verify_chain(records, head).ok
