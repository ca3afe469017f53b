"""Cryptoperiod policy: SP 800-57 Table 1 as data, overrides within bounds, policy files."""

from __future__ import annotations

from datetime import timedelta

import pytest
from keystead.manager import TABLE_1, KeyPolicy, KeyType, PolicyTable, PolicyViolation
from keystead.manager.durations import format_duration, parse_duration
from keystead.manager.policy import load_policy_file

YEAR = timedelta(days=365)


def test_every_key_type_has_a_row():
    assert set(TABLE_1) == set(KeyType)


@pytest.mark.parametrize("kt", [KeyType.SYMMETRIC_DATA_ENCRYPTION,
                                KeyType.SYMMETRIC_KEY_WRAPPING,
                                KeyType.SYMMETRIC_AUTHENTICATION])
def test_symmetric_keys_oup_2y_rup_plus_3y(kt):
    # SP 800-57 Part 1 Rev. 5 Table 1: OUP up to 2 years, RUP up to OUP + 3 years.
    row = TABLE_1[kt]
    assert row.oup_max == 2 * YEAR and row.rup_extra_max == 3 * YEAR


def test_other_rows():
    assert TABLE_1[KeyType.PRIVATE_SIGNATURE].oup_max == 3 * YEAR
    assert TABLE_1[KeyType.SYMMETRIC_MASTER].oup_max == YEAR
    assert TABLE_1[KeyType.PRIVATE_EPHEMERAL_KEY_AGREEMENT].oup_max is None


def test_longer_than_policy_is_refused_with_reason():
    table = PolicyTable()
    base = table.default_policy(KeyType.SYMMETRIC_DATA_ENCRYPTION)
    with pytest.raises(PolicyViolation, match=r"originator-usage period 3y exceeds .* 2y"):
        table.with_overrides(KeyType.SYMMETRIC_DATA_ENCRYPTION, base, oup=3 * YEAR)
    with pytest.raises(PolicyViolation, match=r"OUP \+ 4y exceeds .* OUP \+ 3y"):
        table.with_overrides(KeyType.SYMMETRIC_DATA_ENCRYPTION, base, rup_extra=4 * YEAR)
    ok = table.with_overrides(KeyType.SYMMETRIC_DATA_ENCRYPTION, base, oup=YEAR)
    assert ok == KeyPolicy(oup=YEAR, rup_extra=3 * YEAR)


def test_types_without_fixed_period_are_not_created():
    with pytest.raises(PolicyViolation, match="no fixed cryptoperiod"):
        PolicyTable().default_policy(KeyType.SYMMETRIC_RBG)


def test_policy_file_tightens(tmp_path):
    f = tmp_path / "policy.toml"
    f.write_text('[data-encryption]\noup = "1y"\nrup_extra = "180d"\n')
    table = load_policy_file(f)
    row = table.rule(KeyType.SYMMETRIC_DATA_ENCRYPTION)
    assert (row.oup_max, row.rup_extra_max) == (YEAR, timedelta(days=180))
    with pytest.raises(PolicyViolation, match="exceeds"):
        table.check(KeyType.SYMMETRIC_DATA_ENCRYPTION, KeyPolicy(2 * YEAR, timedelta(0)))


@pytest.mark.parametrize("text, message", [
    ('[data-encrypt]\noup = "1y"\n', r"\[data-encrypt\] is not a key type"),
    ('[data-encryption]\nlifetime = "1y"\n', r"data-encryption.lifetime is not a policy field"),
    ('[data-encryption]\noup = "3y"\n', r"data-encryption.oup = 3y is looser"),
    ('[data-encryption]\noup = "soon"\n', r"data-encryption.oup: 'soon' is not a duration"),
    ('[data-encryption\n', "cannot read policy file"),
])
def test_policy_file_errors_name_file_and_key(tmp_path, text, message):
    f = tmp_path / "bad.toml"
    f.write_text(text)
    with pytest.raises(PolicyViolation, match=message) as info:
        load_policy_file(f)
    assert str(f) in str(info.value)


@pytest.mark.parametrize("text, seconds", [
    ("2y", 2 * 365 * 86400), ("90d", 90 * 86400), ("12h", 43200), ("1d12h", 129600),
    ("0", 0), ("30min", 1800), ("45s", 45), ("1w", 604800), ("18mo", 18 * 30 * 86400),
    ("1y6mo", (365 + 180) * 86400), ("P1Y6M", (365 + 180) * 86400), ("P2W", 14 * 86400),
    ("P1DT12H", 129600), ("PT30M", 1800), ("p90d", 90 * 86400)])
def test_durations(text, seconds):
    assert parse_duration(text) == timedelta(seconds=seconds)
    assert parse_duration(format_duration(timedelta(seconds=seconds))).total_seconds() == seconds


@pytest.mark.parametrize("bad", ["", "2", "y", "2x", "1d 2h", "-1d", "P", "PT", "P1H",
                                 "P1Y2", "99999999y"])
def test_bad_durations(bad):
    with pytest.raises(ValueError):
        parse_duration(bad)


@pytest.mark.parametrize("ambiguous", ["18m", "1y6m", "m"])
def test_bare_m_is_ambiguous(ambiguous):
    """`--oup 18m` used to mean 18 minutes; months or minutes must be said."""
    with pytest.raises(ValueError, match="ambiguous|not a duration"):
        parse_duration(ambiguous)
    if ambiguous != "m":
        with pytest.raises(ValueError, match="ambiguous"):
            parse_duration(ambiguous)
