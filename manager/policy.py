"""Cryptoperiod policy as data: SP 800-57 Part 1 Rev. 5 Table 1, per-key overrides, policy files.

Table 1 ("Suggested cryptoperiods for key types") gives each key type an originator-usage
period (OUP) and, for keys that also process, a recipient-usage period (RUP) that may run past
the end of the OUP. We store the RUP as the time it may extend past the OUP: Table 1's
"RUP <= OUP + 3 years" becomes ``rup_extra_max = 3y``. Where the table gives a range
("1-3 years") its upper end is the bound. A policy file may only tighten the table.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import timedelta
from enum import StrEnum
from pathlib import Path

from .durations import format_duration, parse_duration
from .errors import PolicyViolation

YEAR = timedelta(days=365)


class KeyType(StrEnum):
    """The key types of SP 800-57 Part 1 Rev. 5, section 5.1.1 and Table 1."""

    PRIVATE_SIGNATURE = "private-signature"
    PUBLIC_SIGNATURE_VERIFICATION = "public-signature-verification"
    SYMMETRIC_AUTHENTICATION = "symmetric-authentication"
    PRIVATE_AUTHENTICATION = "private-authentication"
    PUBLIC_AUTHENTICATION = "public-authentication"
    SYMMETRIC_DATA_ENCRYPTION = "data-encryption"
    SYMMETRIC_KEY_WRAPPING = "key-wrapping"
    SYMMETRIC_RBG = "rbg"
    SYMMETRIC_MASTER = "master"
    PRIVATE_KEY_TRANSPORT = "private-key-transport"
    PUBLIC_KEY_TRANSPORT = "public-key-transport"
    SYMMETRIC_KEY_AGREEMENT = "symmetric-key-agreement"
    PRIVATE_STATIC_KEY_AGREEMENT = "private-static-key-agreement"
    PUBLIC_STATIC_KEY_AGREEMENT = "public-static-key-agreement"
    PRIVATE_EPHEMERAL_KEY_AGREEMENT = "private-ephemeral-key-agreement"
    PUBLIC_EPHEMERAL_KEY_AGREEMENT = "public-ephemeral-key-agreement"
    SYMMETRIC_AUTHORIZATION = "symmetric-authorization"
    PRIVATE_AUTHORIZATION = "private-authorization"
    PUBLIC_AUTHORIZATION = "public-authorization"

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True)
class Cryptoperiod:
    """One row of the policy table.

    ``oup_max`` None means Table 1 sets no fixed bound (e.g. "several years", "upon
    reseeding", "one transaction"); the manager then refuses to create such keys by default.
    ``rup_extra_max`` is how long processing may continue after the OUP ends (0 when the key
    type does not process, or its cryptoperiod is a single period).
    """

    key_type: KeyType
    oup_max: timedelta | None
    rup_extra_max: timedelta
    table_text: str

    def describe(self) -> str:
        oup = format_duration(self.oup_max) if self.oup_max is not None else "n/a"
        extra = format_duration(self.rup_extra_max)
        return f"{self.key_type.value}: OUP <= {oup}, RUP <= OUP + {extra}"


def _row(kt: KeyType, oup_years: float | None, rup_extra_years: float, text: str) -> Cryptoperiod:
    oup = None if oup_years is None else timedelta(days=round(365 * oup_years))
    return Cryptoperiod(kt, oup, timedelta(days=round(365 * rup_extra_years)), text)


K = KeyType
#: SP 800-57 Part 1 Rev. 5, Table 1 (section 5.3.6), upper ends of each suggested range.
TABLE_1: dict[KeyType, Cryptoperiod] = {
    r.key_type: r
    for r in (
        _row(K.PRIVATE_SIGNATURE, 3, 0, "1-3 years"),
        _row(K.PUBLIC_SIGNATURE_VERIFICATION, None, 3,
             "several years (depends on key size); keystead: it verifies until at most "
             "3 years after its private key's OUP ends"),
        _row(K.SYMMETRIC_AUTHENTICATION, 2, 3, "OUP <= 2 years; RUP <= OUP + 3 years"),
        _row(K.PRIVATE_AUTHENTICATION, 2, 0, "1-2 years"),
        _row(K.PUBLIC_AUTHENTICATION, 2, 0, "1-2 years"),
        _row(K.SYMMETRIC_DATA_ENCRYPTION, 2, 3, "OUP <= 2 years; RUP <= OUP + 3 years"),
        _row(K.SYMMETRIC_KEY_WRAPPING, 2, 3, "OUP <= 2 years; RUP <= OUP + 3 years"),
        _row(K.SYMMETRIC_RBG, None, 0, "see SP 800-90 (upon reseeding)"),
        _row(K.SYMMETRIC_MASTER, 1, 0, "about 1 year"),
        _row(K.PRIVATE_KEY_TRANSPORT, 2, 0, "<= 2 years"),
        _row(K.PUBLIC_KEY_TRANSPORT, 2, 0, "1-2 years"),
        _row(K.SYMMETRIC_KEY_AGREEMENT, 2, 0, "1-2 years"),
        _row(K.PRIVATE_STATIC_KEY_AGREEMENT, 2, 0, "1-2 years"),
        _row(K.PUBLIC_STATIC_KEY_AGREEMENT, 2, 0, "1-2 years"),
        _row(K.PRIVATE_EPHEMERAL_KEY_AGREEMENT, None, 0, "one key-agreement transaction"),
        _row(K.PUBLIC_EPHEMERAL_KEY_AGREEMENT, None, 0, "one key-agreement transaction"),
        _row(K.SYMMETRIC_AUTHORIZATION, 2, 0, "<= 2 years"),
        _row(K.PRIVATE_AUTHORIZATION, 2, 0, "<= 2 years"),
        _row(K.PUBLIC_AUTHORIZATION, 2, 0, "<= 2 years"),
    )
}

#: Key pairs: the manager keeps a pair as one version named by its private key's type; its
#: public key's type (SP 800-57 Part 1 Rev. 5, 5.1.1). The pair's cryptoperiod takes the
#: originator-usage period from the private key's row and the recipient-usage period (how
#: long the public key still verifies after the private key stops) from the public key's.
KEY_PAIR_PUBLIC: dict[KeyType, KeyType] = {
    K.PRIVATE_SIGNATURE: K.PUBLIC_SIGNATURE_VERIFICATION,
    K.PRIVATE_STATIC_KEY_AGREEMENT: K.PUBLIC_STATIC_KEY_AGREEMENT,
}

#: SP 800-38D 8.3: at most 2^32 invocations of GCM with random 96-bit IVs per key.
GCM_INVOCATION_LIMIT = 2**32
#: Rotate when this fraction of a version's usage limit is spent.
DEFAULT_ROTATE_AT = 0.9
#: How long a scheduled destruction waits by default, and the range a key's policy may set
#: without the short-wait flag (the 7 to 30 days that AWS KMS allows for key deletion).
DEFAULT_DESTROY_WAIT = timedelta(days=30)
MIN_DESTROY_WAIT = timedelta(days=7)
MAX_DESTROY_WAIT = timedelta(days=30)


@dataclass(frozen=True)
class KeyPolicy:
    """The periods and limits one key lives by; checked against its :class:`Cryptoperiod`."""

    oup: timedelta
    rup_extra: timedelta
    usage_limit: int = 0
    rotate_at: float = DEFAULT_ROTATE_AT
    auto_rotate: bool = True
    #: How long a scheduled destruction waits (7 to 30 days; shorter only with
    #: ``short_destroy_wait``, a flag meant for test environments whose changes are audited).
    destroy_wait: timedelta = DEFAULT_DESTROY_WAIT
    short_destroy_wait: bool = False

    def check_destroy_wait(self, wait: timedelta) -> None:
        """Raise PolicyViolation unless a destruction may wait ``wait``."""
        if wait < timedelta(0):
            raise PolicyViolation("the waiting period cannot be negative")
        if wait < MIN_DESTROY_WAIT and not self.short_destroy_wait:
            raise PolicyViolation(
                f"a destruction waits at least {format_duration(MIN_DESTROY_WAIT)}; a shorter "
                "wait needs the key's short-destroy-wait policy flag (test environments: "
                "`keystead key policy set NAME --short-destroy-wait`)")


class PolicyTable:
    """Cryptoperiod bounds per key type: Table 1, optionally tightened by a policy file."""

    def __init__(self, rows: dict[KeyType, Cryptoperiod] | None = None) -> None:
        self.rows = dict(TABLE_1 if rows is None else rows)

    def rule(self, key_type: KeyType) -> Cryptoperiod:
        """The bounds for ``key_type``; for a key pair (named by its private key's type,
        :data:`KEY_PAIR_PUBLIC`) the private key's OUP, bounded by the public key's period
        too when that is fixed, and the public key's RUP extension."""
        row = self.rows[key_type]
        public = KEY_PAIR_PUBLIC.get(key_type)
        if public is None:
            return row
        pub = self.rows[public]
        oup = row.oup_max if pub.oup_max is None or row.oup_max is None else min(
            row.oup_max, pub.oup_max)
        return Cryptoperiod(key_type, oup, pub.rup_extra_max,
                            f"{row.table_text}; {public.value}: {pub.table_text}")

    def default_policy(self, key_type: KeyType, usage_limit: int = 0) -> KeyPolicy:
        """The longest periods the table allows for ``key_type``.

        Raises PolicyViolation when the table has no fixed bound for it.
        """
        rule = self.rule(key_type)
        if rule.oup_max is None:
            raise PolicyViolation(
                f"{key_type.value} keys have no fixed cryptoperiod in SP 800-57 Table 1 "
                f"({rule.table_text}); the manager does not create them"
            )
        return KeyPolicy(oup=rule.oup_max, rup_extra=rule.rup_extra_max, usage_limit=usage_limit)

    def check(self, key_type: KeyType, policy: KeyPolicy) -> KeyPolicy:
        """Return ``policy`` if it lies within the bounds for ``key_type``.

        Raises PolicyViolation with the reason (which bound, by how much) otherwise.
        """
        rule = self.rule(key_type)
        name = key_type.value
        if rule.oup_max is None:
            raise PolicyViolation(f"{name} keys have no fixed cryptoperiod ({rule.table_text})")
        if policy.oup <= timedelta(0):
            raise PolicyViolation("the originator-usage period must be longer than zero")
        if policy.oup > rule.oup_max:
            raise PolicyViolation(
                f"originator-usage period {format_duration(policy.oup)} exceeds the policy "
                f"maximum {format_duration(rule.oup_max)} for {name} keys "
                f"(SP 800-57 Part 1 Rev. 5 Table 1: {rule.table_text})"
            )
        if policy.rup_extra < timedelta(0) or policy.rup_extra > rule.rup_extra_max:
            raise PolicyViolation(
                f"recipient-usage period OUP + {format_duration(policy.rup_extra)} exceeds the "
                f"policy maximum OUP + {format_duration(rule.rup_extra_max)} for {name} keys "
                f"(SP 800-57 Part 1 Rev. 5 Table 1: {rule.table_text})"
            )
        if policy.usage_limit < 0:
            raise PolicyViolation("the usage limit cannot be negative")
        if not 0.0 < policy.rotate_at <= 1.0:
            raise PolicyViolation("rotate-at must be a fraction in (0, 1]")
        if policy.destroy_wait > MAX_DESTROY_WAIT:
            raise PolicyViolation(
                f"the destruction wait {format_duration(policy.destroy_wait)} exceeds "
                f"{format_duration(MAX_DESTROY_WAIT)}")
        policy.check_destroy_wait(policy.destroy_wait)
        return policy

    def with_overrides(self, key_type: KeyType, base: KeyPolicy, **changes: object) -> KeyPolicy:
        """``base`` with ``changes`` applied (None values ignored), checked against the table."""
        clean = {k: v for k, v in changes.items() if v is not None}
        return self.check(key_type, replace(base, **clean))  # type: ignore[arg-type]


def load_policy_file(path: str | Path, base: PolicyTable | None = None) -> PolicyTable:
    """Read a TOML policy file that tightens the table, one section per key type::

        [data-encryption]
        oup = "1y"
        rup_extra = "1y"

    Every section must name a :class:`KeyType`, every field must be ``oup`` or ``rup_extra``,
    and no value may exceed Table 1. Raises PolicyViolation naming the file and the key.
    """
    path = Path(path)
    import tomllib  # here: only `--policy` reads TOML

    table = base or PolicyTable()
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise PolicyViolation(f"{path}: cannot read policy file: {exc}") from exc
    rows = dict(table.rows)
    for section, fields in data.items():
        try:
            key_type = KeyType(section)
        except ValueError:
            raise PolicyViolation(f"{path}: [{section}] is not a key type") from None
        if not isinstance(fields, dict):
            raise PolicyViolation(f"{path}: {section} must be a table")
        rows[key_type] = _tightened(path, section, rows[key_type], fields)
    return PolicyTable(rows)


def _tightened(path: Path, section: str, row: Cryptoperiod, fields: dict) -> Cryptoperiod:
    changes: dict[str, timedelta] = {}
    for field, raw in fields.items():
        if field not in ("oup", "rup_extra"):
            raise PolicyViolation(f"{path}: {section}.{field} is not a policy field")
        try:
            value = parse_duration(str(raw))
        except ValueError as exc:
            raise PolicyViolation(f"{path}: {section}.{field}: {exc}") from None
        bound = row.oup_max if field == "oup" else row.rup_extra_max
        if bound is None or value > bound:
            raise PolicyViolation(
                f"{path}: {section}.{field} = {raw} is looser than SP 800-57 Table 1 "
                f"({row.table_text})"
            )
        changes[field + "_max"] = value
    return replace(row, **changes)  # type: ignore[arg-type]
