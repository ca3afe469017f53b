"""Several ``rotate --due`` runs at once never rotate a key twice."""

from __future__ import annotations

import multiprocessing as mp
from pathlib import Path

from keystead.manager import AuditFilter, State

from .helpers import manager_for

KEYS = 4
WORKERS = 4


def _worker(module_name: str, label: str, catalogue: str, barrier, out) -> None:
    km = manager_for(module_name, label, Path(catalogue),
                     actor=f"cron-{mp.current_process().name}")
    barrier.wait()
    try:
        out.put([(d.action, d.key, d.new_version, d.result) for d in km.run_due()])
    finally:
        km.close()


def test_concurrent_rotate_due(module, mtoken, km, tmp_path):
    for i in range(KEYS):
        km.create_key(f"busy/{i}", usage_limit=10)
        for _ in range(9):
            km.encrypt(f"busy/{i}", b"x")
    assert len(km.due()) == KEYS
    ctx = mp.get_context("spawn")  # a fresh process loads and initialises the module itself
    barrier, out = ctx.Barrier(WORKERS), ctx.Queue()
    catalogue = str(km.catalogue.path)
    procs = [ctx.Process(target=_worker, args=(module.info.name, mtoken.label, catalogue,
                                               barrier, out)) for _ in range(WORKERS)]
    for p in procs:
        p.start()
    results = [out.get(timeout=120) for _ in procs]
    for p in procs:
        p.join(timeout=60)
        assert p.exitcode == 0
    rotations = [r for batch in results for r in batch if r[0] == "rotate"]
    assert sorted(r[1] for r in rotations) == [f"busy/{i}" for i in range(KEYS)]
    assert all(r[2] == 2 and r[3] == "ok" for r in rotations)
    for i in range(KEYS):
        view = km.show(f"busy/{i}")
        assert [v.state for v in view.versions] == [State.DEACTIVATED, State.ACTIVE]
        assert len(km.audit_records(AuditFilter(key_name=f"busy/{i}", action="rotate"))) == 1
    assert km.run_due() == []
    assert km.verify_audit().chain.ok
