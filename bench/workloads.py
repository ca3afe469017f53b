"""The workloads of ``keystead bench``: what each one does, its size, and who can run it."""

from __future__ import annotations

from dataclasses import dataclass

KIB = 1024
MIB = 1024 * 1024

KEYSTEAD = "keystead"
SOFTHSM2 = "softhsm2"
OPENSSL = "openssl"
LIBCRYPTO = "libcrypto"  # the system's libcrypto in-process (key-pair rows only)
CLIENTS = (KEYSTEAD, SOFTHSM2, OPENSSL, LIBCRYPTO)


@dataclass(frozen=True)
class Workload:
    """One row of the report.

    ``kind`` picks the code path: gcm-encrypt, gcm-decrypt, kw-wrap, kw-unwrap (python-pkcs11),
    kw-wrap-raw, kw-unwrap-raw (the same calls at the PKCS#11 boundary), kw-unwrap-destroy-raw
    (an unwrap and the destruction of the unwrapped key, at the boundary), msg-encrypt,
    msg-decrypt, bulk-encrypt, bulk-decrypt, threads (python-pkcs11, a session per thread),
    bulk-threads (one bulk call with ulThreads = threads), and the key-pair kinds pk-*
    (:mod:`.keypairs`). ``size`` is the bytes of one message;
    ``batch`` the messages one timed operation handles (bulk calls); ``threads`` the threads
    of a threads row. The figure of a row is per *message*.
    """

    name: str
    kind: str
    size: int
    batch: int = 1
    threads: int = 1

    @property
    def keystead_only(self) -> bool:
        return self.kind.startswith(("msg-", "bulk-"))


def _size_name(size: int) -> str:
    if size >= MIB:
        return f"{size // MIB}MiB"
    if size >= KIB:
        return f"{size // KIB}KiB"
    return f"{size}B"


def workloads(threads: int, quick: bool) -> list[Workload]:
    """Every row, in report order. ``threads`` > 1 adds the N-thread row; ``quick`` makes the
    bulk batches small (the row names stay the same)."""
    rows: list[Workload] = []
    for kind in ("gcm-encrypt", "gcm-decrypt"):
        rows += [Workload(f"{kind}-{_size_name(s)}", kind, s) for s in (64, 4 * KIB, MIB)]
    rows += [Workload("kw-wrap-aes256", "kw-wrap", 32),
             Workload("kw-unwrap-aes256", "kw-unwrap", 40),
             # The same PKCS#11 calls through the raw cffi layer: the module's cost alone.
             Workload("kw-wrap-aes256-raw", "kw-wrap-raw", 32),
             Workload("kw-unwrap-aes256-raw", "kw-unwrap-raw", 40),
             Workload("kw-unwrap-destroy-raw", "kw-unwrap-destroy-raw", 40)]
    for kind in ("msg-encrypt", "msg-decrypt"):
        rows += [Workload(f"{kind}-{_size_name(s)}", kind, s) for s in (64, 4 * KIB)]
    for kind in ("bulk-encrypt", "bulk-decrypt"):
        for size, batch in ((64, 4096), (4 * KIB, 256)):
            n = max(4, batch // 64) if quick else batch
            rows.append(Workload(f"{kind}-{_size_name(size)}", kind, size, batch=n))
    counts = sorted({1, max(1, threads)})
    rows += [Workload(f"gcm-encrypt-1MiB-{t}t", "threads", MIB, threads=t) for t in counts]
    # The same scaling inside the token: one bulk call of 1 MiB messages on t worker threads.
    per_call = 2 if quick else 16
    rows += [Workload(f"bulk-encrypt-1MiB-{t}t", "bulk-threads", MIB, batch=per_call, threads=t)
             for t in counts]
    return rows + keypair_rows()


def keypair_rows() -> list[Workload]:
    """The key-pair rows (run by :mod:`.keypairs`), in report order."""
    return [Workload("rsa2048-sign-pkcs1", "pk-sign-rsa-pkcs", 64),
            Workload("rsa2048-sign-pss", "pk-sign-rsa-pss", 64),
            Workload("rsa2048-decrypt-oaep", "pk-decrypt-rsa-oaep", 32),
            Workload("rsa2048-keygen", "pk-keygen-rsa", 256),  # size: the key's bytes
            Workload("ecdsa-p256-sign", "pk-sign-ecdsa", 64),
            Workload("ed25519-sign", "pk-sign-ed25519", 64),
            # At the PKCS#11 boundary: the module's cost plus one cffi call.
            Workload("p256-keygen-raw", "pk-keygen-p256-raw", 32),
            Workload("ecdh-p256-derive-raw", "pk-derive-ecdh-raw", 32)]


__all__ = ["CLIENTS", "KEYSTEAD", "KIB", "LIBCRYPTO", "MIB", "OPENSSL", "SOFTHSM2", "Workload",
           "keypair_rows", "workloads"]
