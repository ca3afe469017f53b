"""The performance goals (docs/bench.md), each computed from the report's rows: measured
value, target, met or not (None where a row it needs was not measured).

The goal lines are measured as they are stated (the KW goals through python-pkcs11), on the
default, untuned rows. Informative lines follow them: the same KW ratios at the PKCS#11 boundary
(rows ``kw-*-aes256-raw``), which show what the module does without python-pkcs11's own
per-call Python work; they are marked ``informative`` in the JSON.
"""

from __future__ import annotations

from typing import Any

from .options import BenchOptions
from .workloads import KEYSTEAD

GOALS = (
    ("gcm-1MiB-vs-openssl", "AES-256-GCM encrypt 1 MiB, keystead / OpenSSL", 0.7),
    ("gcm-64B-vs-softhsm2", "AES-256-GCM encrypt 64 B, keystead / SoftHSMv2", 2.0),
    ("bulk-64B-msgs-per-s", "bulk call, 64 B, messages/s on one core", 1.5e6),
    ("kw-wrap-vs-softhsm2", "KW wrap through python-pkcs11, keystead / SoftHSMv2", 3.0),
    ("kw-unwrap-vs-softhsm2", "KW unwrap through python-pkcs11, keystead / SoftHSMv2", 3.0),
    ("threads-scaling", "1 MiB GCM, N threads / 1 thread (python-pkcs11)", 1.8),
    ("threads-scaling-bulk", "1 MiB GCM, bulk call on N / 1 threads", 1.8),
    ("rsa-sign-pkcs1-vs-openssl", "RSA-2048 sign PKCS#1 v1.5 (python-pkcs11), keystead / "
     "cryptography", 0.9),
    ("rsa-sign-pss-vs-openssl", "RSA-2048 sign PSS (python-pkcs11), keystead / cryptography",
     0.9),
    ("rsa-oaep-vs-openssl", "RSA-2048 OAEP decrypt (python-pkcs11), keystead / cryptography",
     0.9),
    ("rsa-keygen-vs-openssl", "RSA-2048 key generation (python-pkcs11, median), keystead / "
     "cryptography", 0.9),
    ("ecdsa-sign-vs-openssl", "ECDSA P-256 sign (python-pkcs11), keystead / cryptography", 0.8),
    ("ed25519-sign-vs-openssl", "Ed25519 sign (python-pkcs11), keystead / cryptography", 0.8),
    ("p256-keygen-boundary-vs-openssl", "P-256 key generation at the PKCS#11 boundary "
     "(median), keystead / cryptography", 0.7),
    ("ecdh-boundary-vs-openssl", "ECDH P-256 C_DeriveKey at the PKCS#11 boundary, keystead / "
     "cryptography", 0.7),
)

#: Informative lines: not goals as stated, shown after them.
INFORMATIVE = (
    ("kw-wrap-boundary-vs-softhsm2",
     "(informative) KW wrap at the PKCS#11 boundary, keystead / SoftHSMv2", 3.0),
    ("kw-unwrap-boundary-vs-softhsm2",
     "(informative) KW unwrap at the PKCS#11 boundary, keystead / SoftHSMv2", 3.0),
    ("kw-unwrap-destroy-boundary-vs-softhsm2",
     "(informative) KW unwrap + destroy at the PKCS#11 boundary, keystead / SoftHSMv2", 3.0),
)


def _by_name(rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {r["name"]: r for r in rows}


def _ratio(rows: dict[str, dict[str, Any]], name: str, label: str) -> float | None:
    row = rows.get(name)
    return None if row is None else row["ratios"].get(label)


def _rate(rows: dict[str, dict[str, Any]], name: str, client: str) -> float | None:
    row = rows.get(name)
    cell = None if row is None else row["results"].get(client)
    return None if not cell else cell.get("msgs_per_s")


def goals(rows: list[dict[str, Any]], opts: BenchOptions) -> list[dict[str, Any]]:
    """One entry per goal, then per informative line: id, what, target, measured (or None),
    met (or None), informative."""
    by = _by_name(rows)
    n = max(1, opts.threads)

    def scaling(prefix: str) -> float | None:
        one, many = _rate(by, f"{prefix}-1t", KEYSTEAD), _rate(by, f"{prefix}-{n}t", KEYSTEAD)
        return many / one if n > 1 and one and many else None
    measured = {
        "gcm-1MiB-vs-openssl": _ratio(by, "gcm-encrypt-1MiB", "keystead/openssl"),
        "gcm-64B-vs-softhsm2": _ratio(by, "gcm-encrypt-64B", "keystead/softhsm2"),
        "bulk-64B-msgs-per-s": _rate(by, "bulk-encrypt-64B", KEYSTEAD),
        "kw-wrap-vs-softhsm2": _ratio(by, "kw-wrap-aes256", "keystead/softhsm2"),
        "kw-unwrap-vs-softhsm2": _ratio(by, "kw-unwrap-aes256", "keystead/softhsm2"),
        "threads-scaling": scaling("gcm-encrypt-1MiB"),
        "threads-scaling-bulk": scaling("bulk-encrypt-1MiB"),
        "kw-wrap-boundary-vs-softhsm2": _ratio(by, "kw-wrap-aes256-raw", "keystead/softhsm2"),
        "kw-unwrap-boundary-vs-softhsm2": _ratio(by, "kw-unwrap-aes256-raw",
                                                 "keystead/softhsm2"),
        "kw-unwrap-destroy-boundary-vs-softhsm2": _ratio(by, "kw-unwrap-destroy-raw",
                                                         "keystead/softhsm2"),
    }
    for gid, row in (("rsa-sign-pkcs1-vs-openssl", "rsa2048-sign-pkcs1"),
                     ("rsa-sign-pss-vs-openssl", "rsa2048-sign-pss"),
                     ("rsa-oaep-vs-openssl", "rsa2048-decrypt-oaep"),
                     ("rsa-keygen-vs-openssl", "rsa2048-keygen"),
                     ("ecdsa-sign-vs-openssl", "ecdsa-p256-sign"),
                     ("ed25519-sign-vs-openssl", "ed25519-sign"),
                     ("p256-keygen-boundary-vs-openssl", "p256-keygen-raw"),
                     ("ecdh-boundary-vs-openssl", "ecdh-p256-derive-raw")):
        measured[gid] = _ratio(by, row, "keystead/openssl")
    out = []
    for informative, table in ((False, GOALS), (True, INFORMATIVE)):
        for gid, what, target in table:
            value = measured[gid]
            out.append({"id": gid, "what": what, "target": target, "measured": value,
                        "met": None if value is None else value >= target,
                        "informative": informative})
    return out


__all__ = ["GOALS", "INFORMATIVE", "goals"]
