"""The manager's hash-chained audit: appended with each change, tampering detected and
named (edit, delete, reorder, insert, truncate)."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime

import pytest
from keystead.manager import AuditFilter, AuditRecord, KeyManager, SQLiteCatalogue
from keystead.manager.audit import verify_chain


def chain(path, n: int = 6) -> SQLiteCatalogue:
    cat = SQLiteCatalogue(path, create=True)
    with cat.transaction() as tx:
        for i in range(1, n + 1):
            tx.append_audit(AuditRecord(
                seq=0, at=datetime(2026, 1, i, tzinfo=UTC), actor=f"actor{i % 2}",
                action="encrypt" if i % 2 else "rotate", key_name=f"k{i % 3}", version=i,
                reason=f"r{i}", result="ok", details={"i": i}))
    return cat


def verify(cat: SQLiteCatalogue):
    with cat.snapshot() as tx:
        return verify_chain(tx.audit_records(), tx.audit_head())


def sql(path, statement: str, *args) -> None:
    con = sqlite3.connect(path)
    with con:
        con.execute(statement, args)
    con.close()


def test_intact_chain(tmp_path):
    report = verify(chain(tmp_path / "c.db"))
    assert report.ok and report.records == 6 and report.head_seq == 6


def test_edit_detected(tmp_path):
    cat = chain(tmp_path / "c.db")
    sql(tmp_path / "c.db", "UPDATE audit SET reason = 'innocent' WHERE seq = 3")
    assert verify(cat).problems == ["record 3: contents altered (hash mismatch)"]


def test_delete_detected(tmp_path):
    cat = chain(tmp_path / "c.db")
    sql(tmp_path / "c.db", "DELETE FROM audit WHERE seq = 4")
    problems = verify(cat).problems
    assert problems[0] == "record 4 missing (deleted): sequence jumps from 3 to 5"
    assert "record 5 does not follow record 3 (reordered or inserted)" in problems


def test_reorder_detected(tmp_path):
    cat = chain(tmp_path / "c.db")
    con = sqlite3.connect(tmp_path / "c.db")
    with con:
        rows = {r[0]: r[1:] for r in con.execute(
            "SELECT seq, at, actor, action, key_name, version, reason, result, details, "
            "prev_hash, hash FROM audit WHERE seq IN (2, 3)")}
        con.execute("DELETE FROM audit WHERE seq IN (2, 3)")
        for seq, other in ((2, 3), (3, 2)):
            con.execute("INSERT INTO audit VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                        (seq, *rows[other]))
    con.close()
    problems = verify(cat).problems
    assert any(p.startswith("record 2 ") for p in problems)
    assert any(p.startswith("record 3 ") for p in problems)


def test_insert_detected(tmp_path):
    cat = chain(tmp_path / "c.db")
    con = sqlite3.connect(tmp_path / "c.db")
    with con:  # make room after record 2 and slip a forged record in
        for seq in range(6, 2, -1):
            con.execute("UPDATE audit SET seq = ? WHERE seq = ?", (seq + 1, seq))
        con.execute("INSERT INTO audit SELECT 3, at, 'mallory', action, key_name, version, "
                    "'forged', result, details, hash, hash FROM audit WHERE seq = 2")
    con.close()
    problems = verify(cat).problems
    # The forgery is named first; the renumbered originals no longer match their hashes.
    assert problems[0] == "record 3: contents altered (hash mismatch)"
    assert "record 4: contents altered (hash mismatch)" in problems
    assert problems[-1].startswith("chain head says record 6 but the log ends at record 7")


def test_truncation_detected_by_head(tmp_path):
    cat = chain(tmp_path / "c.db")
    sql(tmp_path / "c.db", "DELETE FROM audit WHERE seq = 6")
    assert verify(cat).problems == [
        "chain head says record 6 but the log ends at record 5 "
        "(records deleted or appended outside the manager)"]


def test_expected_head(tmp_path):
    cat = chain(tmp_path / "c.db")
    head = verify(cat).head_hash
    with cat.snapshot() as tx:
        good = verify_chain(tx.audit_records(), tx.audit_head(), expect_head=head)
        bad = verify_chain(tx.audit_records(), tx.audit_head(), expect_head="0" * 64)
    assert good.ok and not bad.ok


def test_filters(tmp_path):
    cat = chain(tmp_path / "c.db")
    with cat.snapshot() as tx:
        def seqs(**kw):
            return [r.seq for r in tx.audit_records(AuditFilter(**kw))]

        assert seqs(actor="actor1") == [1, 3, 5]
        assert seqs(action="rotate") == [2, 4, 6]
        assert seqs(key_name="k0") == [3, 6]
        assert seqs(since=datetime(2026, 1, 3, tzinfo=UTC),
                    until=datetime(2026, 1, 4, tzinfo=UTC)) == [3, 4]
        assert seqs(limit=2) == [5, 6]


def test_every_change_has_its_record(km: KeyManager):
    km.create_key("app/dek")
    km.suspend("app/dek", reason="investigating")
    km.resume("app/dek")
    km.rotate("app/dek")
    actions = [r.action for r in km.audit_records()]
    assert actions == ["key:create", "version:generate", "transition:active",
                       "transition:suspended", "transition:active", "version:generate",
                       "transition:active", "transition:deactivated", "rotate"]
    suspended = km.audit_records(AuditFilter(action="transition:suspended"))[0]
    assert (suspended.actor, suspended.reason, suspended.version) == (
        "tester", "investigating", 1)
    result = km.verify_audit()
    assert result.chain.ok and result.chain.records == 9


def test_token_audit_hook_reports_honestly(km: KeyManager):
    report = km.verify_token_audit()
    if not report.available:
        assert report.message == "token audit: not available on this module"
    assert report.ok


def test_refused_change_rolls_back_but_is_recorded(km: KeyManager):
    km.create_key("app/dek")
    with pytest.raises(Exception, match="not suspended"):
        km.resume("app/dek")
    last = km.audit_records()[-1]
    assert last.action == "transition:active" and last.result.startswith("refused")
    assert km.show("app/dek").versions[0].state.value == "active"
