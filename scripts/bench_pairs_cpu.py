#!/usr/bin/env python3
"""bench_pairs_cpu.py - the key-pair rows of ``keystead bench`` in CPU time, for a loaded machine.

On a machine whose cores other jobs keep busy, a thread gets a fraction of a core that changes
from one window to the next, and wall-clock ratios move by tens of percent between runs. This
script runs the same operations as ``keystead bench`` (its clients, keys and calls:
bench/keypairs.py, bench/libcrypto_ref.py) on keystead, ``cryptography`` and the system's
libcrypto, interleaved window by window, and times each window with the process's CPU clock
(``time.process_time``: the module's background threads count) or the calling thread's
(``--clock thread``). A figure is the median of ``--windows`` windows of ``--n`` operations.

    .venv/bin/python scripts/bench_pairs_cpu.py            # every signing and OAEP row
    .venv/bin/python scripts/bench_pairs_cpu.py --n 200 ecdsa-p256-sign ed25519-sign
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.clients import OpenSSLClient, P11Client  # noqa: E402
from bench.keypairs import KEYGEN_KINDS  # noqa: E402
from bench.libcrypto_ref import Libcrypto  # noqa: E402
from bench.workloads import keypair_rows  # noqa: E402

CLOCKS = {"process": time.process_time, "thread": time.thread_time}


def main() -> None:
    rows = {w.name: w for w in keypair_rows() if w.kind.startswith(("pk-sign", "pk-decrypt"))}
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("rows", nargs="*", help=f"rows to run (default: {', '.join(rows)})")
    ap.add_argument("--n", type=int, default=0, help="operations per window (default: RSA "
                    "100, others 1000)")
    ap.add_argument("--windows", type=int, default=9)
    ap.add_argument("--clock", choices=sorted(CLOCKS), default="process")
    args = ap.parse_args()
    unknown = [r for r in args.rows if r not in rows]
    if unknown:
        ap.error(f"unknown rows {unknown}; choose from {', '.join(rows)}")
    clock = CLOCKS[args.clock]
    with tempfile.TemporaryDirectory() as tmp:
        token = P11Client("keystead", Path(tmp))
        token.open()
        clients = {"keystead": token, "openssl": OpenSSLClient(), "libcrypto": Libcrypto()}
        print(f"libcrypto {clients['libcrypto'].version()}; {OpenSSLClient.version()}; "
              f"{args.clock} CPU time, us per operation, median of {args.windows} windows")
        for name in args.rows or list(rows):
            w = rows[name]
            assert w.kind not in KEYGEN_KINDS
            ops = {k: c.op(w) for k, c in clients.items()}
            n = args.n or (100 if name.startswith("rsa") else 1000)
            per_op: dict[str, list[float]] = {k: [] for k in ops}
            for op in ops.values():
                op(max(1, n // 10))  # warm-up
            for _ in range(args.windows):
                for k, op in ops.items():
                    t0 = clock()
                    op(n)
                    per_op[k].append((clock() - t0) / n)
            med = {k: statistics.median(v) for k, v in per_op.items()}
            cells = " ".join(f"{k} {v * 1e6:7.1f}" for k, v in med.items())
            print(f"{name:22s} {cells}  keystead/cryptography "
                  f"{med['openssl'] / med['keystead']:.2f}x  keystead/libcrypto "
                  f"{med['libcrypto'] / med['keystead']:.2f}x  libcrypto/cryptography "
                  f"{med['openssl'] / med['libcrypto']:.2f}x")


if __name__ == "__main__":
    main()
