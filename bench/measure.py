"""The interleaved measurement (runs inside the worker process, see :mod:`.worker`).

Every module is prepared in its own temporary token directory before any is loaded (each
reads its configuration once, at C_Initialize), then every workload is measured on every
client round-robin: repetition r of row w runs on keystead, SoftHSMv2 and OpenSSL back to
back, so that noise from the rest of the machine lands on all three alike.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from .clients import OpenSSLClient, P11Client, Skipped
from .keygen import sample_keygen
from .keypairs import KEYGEN_KINDS
from .libcrypto_ref import Libcrypto
from .options import BenchOptions
from .timing import Op, Samples, calibrate
from .vendor import BulkOps, MessageOps, VendorOps
from .workloads import KEYSTEAD, LIBCRYPTO, OPENSSL, Workload, workloads


def _note(text: str) -> None:
    print(f"bench: {text}", file=sys.stderr, flush=True)


def _error_line(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}".splitlines()[0][:200]


def open_clients(opts: BenchOptions, base: Path) -> list[Any]:
    """Prepare every PKCS#11 module first, then load and provision them; OpenSSL last."""
    p11 = [P11Client(m, base) for m in opts.modules if m not in (OPENSSL, LIBCRYPTO)]
    for c in p11:
        _note(f"provisioning {c.name} in {c.env.token_dir if c.env else 'default'}")
        c.open()
        if c.name == KEYSTEAD:
            c.vendor = _vendor(c, base)
    return (p11 + ([OpenSSLClient()] if OPENSSL in opts.modules else [])
            + ([Libcrypto()] if LIBCRYPTO in opts.modules else []))


def _vendor(client: P11Client, base: Path) -> VendorOps:
    from keystead.softhsm_bridge import load

    raw = load(client.info)
    messages = MessageOps(raw, client.session.handle, client.key.handle) if raw.has_v3 else None
    bulk: BulkOps | None = BulkOps(base)
    try:
        bulk.open()
    except Exception as exc:  # an extension without the bulk call: the rows say n/a
        _note(f"bulk call unavailable: {_error_line(exc)}")
        bulk = None
    return VendorOps(messages, bulk)


def _prepare_ops(rows: list[Workload], clients: list[Any], window: float,
                 results: dict[str, dict[str, Any]]) -> dict[tuple[str, str], tuple[Op, Samples]]:
    ops: dict[tuple[str, str], tuple[Op, Samples]] = {}
    for w in rows:
        for c in clients:
            try:
                op = c.op(w)
                if op is None:
                    continue
                samples = Samples(calibrate(op, window))
            except Skipped as why:
                results[w.name][c.name] = {"skipped": str(why)}
                continue
            except Exception as exc:  # one refused workload must not hide the others
                results[w.name][c.name] = {"error": _error_line(exc)}
                _note(f"{w.name} on {c.name}: {_error_line(exc)}")
                continue
            ops[(w.name, c.name)] = (op, samples)
    return ops


def measure(opts: BenchOptions, base: Path) -> dict[str, Any]:
    """Run every workload on every client; return raw medians per (row, client).

    The answer maps row name to {"workload": ..., "cells": {client: cell}} where a cell is
    {"median_s": seconds per message, "windows": k, "ops_per_window": n} or {"error": ...}.
    """
    clients = open_clients(opts, base)
    rows = [w for w in workloads(opts.threads, opts.quick)
            if not opts.only or w.name.startswith(tuple(opts.only))]
    results: dict[str, dict[str, Any]] = {w.name: {} for w in rows}
    windowed = [w for w in rows if w.kind not in KEYGEN_KINDS]
    _note("calibrating")
    ops = _prepare_ops(windowed, clients, opts.window, results)
    for rep in range(opts.repeat):
        _note(f"repetition {rep + 1}/{opts.repeat}")
        for w in windowed:
            for c in clients:
                entry = ops.get((w.name, c.name))
                if entry is None:
                    continue
                op, samples = entry
                try:
                    samples.per_op.append(op(samples.n) / samples.n / w.batch)
                except Exception as exc:
                    results[w.name][c.name] = {"error": _error_line(exc)}
                    ops.pop((w.name, c.name))
    for (row, client), (_, samples) in ops.items():
        results[row][client] = {"median_s": samples.median(), "windows": len(samples.per_op),
                                "ops_per_window": samples.n}
    for w in rows:
        if w.kind in KEYGEN_KINDS:
            _note(f"sampling {w.name}")
            results[w.name].update(sample_keygen(w, clients, opts))
    # Nothing is closed: the worker exits with os._exit (python-pkcs11 finalises and
    # unloads a module when its lib object is collected, under the raw layer's feet).
    return {"rows": [{"workload": w.__dict__, "cells": results[w.name]} for w in rows],
            "versions": _versions(clients)}


def _versions(clients: list[Any]) -> dict[str, str]:
    """The OpenSSL of ``cryptography`` and the system libcrypto the module links."""
    out = {OPENSSL: OpenSSLClient.version()}
    ref = next((c for c in clients if isinstance(c, Libcrypto)), None)
    try:
        out[LIBCRYPTO] = (ref or Libcrypto()).version()
    except (OSError, AttributeError) as exc:  # no system libcrypto 3 to load
        out[LIBCRYPTO] = f"unavailable ({_error_line(exc)})"
    return out


__all__ = ["measure", "open_clients"]
