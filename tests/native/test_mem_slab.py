"""ks_secure_alloc's slab for small secrets (crypto/mem.c): every size class and the
boundaries between classes and with the page path, distinct aligned zeroed blocks, reuse,
the aborts on misuse, the memory it locks and the heap fallback when mlock is refused."""

from __future__ import annotations

import ctypes
import os
import random
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from keystead.core import ffi, lib

# The slab's classes hold 64 << k user bytes (k = 0..5); larger requests take pages.
CLASS_SIZES = [64 << k for k in range(6)]
BOUNDARY_SIZES = sorted({0, 1, 4032, 4033, 8192}
                        | {s + d for s in CLASS_SIZES for d in (-1, 0, 1)})

_UNDER_ASAN = hasattr(ctypes.CDLL(None), "__asan_init")


def addr(p: object) -> int:
    return int(ffi.cast("uintptr_t", p))


def pattern(seed: int, size: int) -> bytes:
    return bytes((seed * 131 + i * 7 + 1) & 0xFF for i in range(size))


def fill(p: object, data: bytes) -> None:
    ffi.memmove(ffi.cast("uint8_t *", p), data, len(data))


def read(p: object, size: int) -> bytes:
    return bytes(ffi.buffer(ffi.cast("uint8_t *", p), size))


def test_every_class_and_boundary_many_blocks() -> None:
    """600 blocks of each size (more than one 64 KiB chunk holds for the smallest class) are
    64-byte aligned, zero, pairwise disjoint, and keep what was written to each of them."""
    blocks: list[tuple[int, object, int]] = []
    try:
        for seed, size in enumerate(BOUNDARY_SIZES):
            count = 600 if size <= 2048 else 40
            for _ in range(count):
                p = lib.ks_secure_alloc(size)
                assert p != ffi.NULL
                assert addr(p) % 64 == 0
                assert read(p, size) == bytes(size)
                fill(p, pattern(seed, size))
                blocks.append((seed, p, size))
        spans = sorted((addr(p), max(size, 1)) for _, p, size in blocks)
        for (a, n), (b, _) in zip(spans, spans[1:], strict=False):
            assert a + n <= b, "two live blocks overlap"
        for seed, p, size in blocks:
            assert read(p, size) == pattern(seed, size)
    finally:
        for _, p, size in blocks:
            lib.ks_secure_free(p, size)


@pytest.mark.parametrize("size", BOUNDARY_SIZES)
def test_reused_block_is_zero(size: int) -> None:
    """A block written, freed and handed out again comes back all zero (wiped on free)."""
    seen: set[int] = set()
    reused = False
    for round_ in range(20):
        p = lib.ks_secure_alloc(size)
        assert p != ffi.NULL
        assert read(p, size) == bytes(size), f"round {round_}: stale bytes"
        reused |= addr(p) in seen
        seen.add(addr(p))
        fill(p, b"\xff" * size)
        lib.ks_secure_free(p, size)
    if size <= 2048:
        assert reused, "the slab never handed a freed block out again"


def test_free_with_a_smaller_len_wipes_the_whole_block() -> None:
    # ks_secure_free wipes what was allocated whatever len says (0 included).
    p = lib.ks_secure_alloc(200)
    fill(p, b"\x5a" * 200)
    lib.ks_secure_free(p, 0)
    q = lib.ks_secure_alloc(200)
    try:
        assert read(q, 200) == bytes(200)
    finally:
        lib.ks_secure_free(q, 200)


def test_interleaved_random_stress() -> None:
    """Random sizes (slab and pages) allocated and freed in random order; every block holds
    its own pattern until it is freed and is zero when handed out."""
    rng = random.Random(20261128)
    live: dict[int, tuple[object, int, int]] = {}
    try:
        for step in range(6000):
            if live and (len(live) > 1500 or rng.random() < 0.45):
                key = rng.choice(list(live))
                p, size, seed = live.pop(key)
                assert read(p, size) == pattern(seed, size), f"step {step}: block changed"
                lib.ks_secure_free(p, size)
                continue
            size = rng.choice([rng.randrange(0, 129), rng.randrange(0, 2200),
                               rng.randrange(2000, 9000)])
            p = lib.ks_secure_alloc(size)
            assert p != ffi.NULL
            assert addr(p) % 64 == 0
            assert read(p, size) == bytes(size), f"step {step}: not zero"
            fill(p, pattern(step, size))
            live[step] = (p, size, step)
    finally:
        for p, size, _ in live.values():
            lib.ks_secure_free(p, size)


def locked_kib() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmLck:"):
                return int(line.split()[1])
    pytest.skip("no VmLck in /proc/self/status")
    return 0


def test_small_secrets_share_locked_chunks() -> None:
    """3000 live 32-byte secrets lock well under 1 MiB (one page each would be 12 MiB, more
    than the usual 8 MiB RLIMIT_MEMLOCK), and the empty chunks go back when they are freed."""
    before = locked_kib()
    blocks = [lib.ks_secure_alloc(32) for _ in range(3000)]
    try:
        assert all(b != ffi.NULL for b in blocks)
        grown = locked_kib() - before
        assert grown < 1024, grown
    finally:
        for b in blocks:
            lib.ks_secure_free(b, 32)
    assert locked_kib() - before <= 2 * 64 + 4  # at most the two empty chunks kept per class


def run_child(code: str, drop_ipc_lock: bool = False) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-c", code]
    if drop_ipc_lock and os.geteuid() == 0:
        setpriv = shutil.which("setpriv")
        if setpriv is None:
            pytest.skip("root without setpriv cannot give up CAP_IPC_LOCK")
        cmd = [setpriv, "--bounding-set=-ipc_lock", "--inh-caps=-ipc_lock", *cmd]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=60, check=False)


_ABORT_CHILD = """
from keystead.core import ffi, lib
case = {case!r}
if case == "len":
    p = lib.ks_secure_alloc(100)
    lib.ks_secure_free(p, 101)
elif case == "foreign":
    buf = ffi.new("uint8_t[256]")
    lib.ks_secure_free(buf + 128, 1)
elif case == "double":
    p = lib.ks_secure_alloc(100)
    lib.ks_secure_free(p, 100)
    lib.ks_secure_free(p, 100)
print("survived")
"""


@pytest.mark.parametrize("case", ["len", "foreign", "double"])
def test_misuse_aborts(case: str) -> None:
    """A len larger than allocated, a pointer that is not ours and a second free abort."""
    if case == "double" and _UNDER_ASAN:
        pytest.skip("ASan reports the read of the freed (poisoned) header before the abort")
    done = run_child(_ABORT_CHILD.format(case=case))
    assert done.returncode == -6, (done.returncode, done.stdout, done.stderr)
    assert "survived" not in done.stdout


_OVERRUN_CHILD = """
from keystead.core import ffi, lib
# Two neighbours of one chunk (class 1024: 64-byte header + 1024 bytes a block).
blocks = [lib.ks_secure_alloc(1000) for _ in range(200)]
at = {int(ffi.cast("uintptr_t", b)): b for b in blocks}
pair = next(((at[a], at[a + 1088]) for a in sorted(at) if a + 1088 in at), None)
if pair is None:
    print("no neighbours")  # heap fallback: no chunk to corrupt
    raise SystemExit(0)
left, right = pair
lib.ks_secure_free(right, 1000)
# An overrun from the left block rewrites the freed right block's header, link included.
ffi.memmove(ffi.cast("uint8_t *", left), b"A" * 1088, 1088)
lib.ks_secure_alloc(1000)  # the right block again: its header must be checked
lib.ks_secure_alloc(1000)  # without the check, the link 0x4141... was handed out here
print("survived")
"""


def test_overrun_into_a_free_neighbour_aborts() -> None:
    """A write past a slab block that rewrites the header of the freed block after it
    aborts at the next allocation, instead of handing out the address it wrote there."""
    if _UNDER_ASAN:
        pytest.skip("ASan reports the write into the poisoned free block itself")
    done = run_child(_OVERRUN_CHILD)
    if done.stdout.strip() == "no neighbours":
        pytest.skip("mlock refused: small secrets come from the heap")
    assert done.returncode == -6, (done.returncode, done.stdout, done.stderr)
    assert "survived" not in done.stdout


_FALLBACK_CHILD = """
import resource
from keystead.core import ffi, lib

hard = resource.getrlimit(resource.RLIMIT_MEMLOCK)[1]
resource.setrlimit(resource.RLIMIT_MEMLOCK, (64 * 1024, hard))
blocks = [(lib.ks_secure_alloc(n), n) for n in [40, 1000, 2000] * 200]
assert all(b != ffi.NULL for b, _ in blocks)
for i, (b, n) in enumerate(blocks):
    view = ffi.cast("uint8_t *", b)
    assert int(ffi.cast("uintptr_t", b)) % 64 == 0
    assert bytes(ffi.buffer(view, n)) == bytes(n)
    ffi.memmove(view, bytes([i & 255]) * n, n)
for i, (b, n) in enumerate(blocks):
    assert bytes(ffi.buffer(ffi.cast("uint8_t *", b), n)) == bytes([i & 255]) * n
    lib.ks_secure_free(b, n)
print("ok")
"""


def test_slab_falls_back_to_the_heap_when_mlock_is_refused() -> None:
    # Under a 64 KiB RLIMIT_MEMLOCK at most one chunk locks: every other small block must
    # still come back aligned, zeroed, writable and freeable (the heap path).
    done = run_child(_FALLBACK_CHILD, drop_ipc_lock=True)
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr


_ASAN_CHILD = """
from keystead.core import ffi, lib
p = ffi.cast("uint8_t *", lib.ks_secure_alloc(40))
case = {case!r}
if case == "overrun":
    p[40] = 1  # past len, inside the 64-byte block: poisoned
else:
    lib.ks_secure_free(p, 40)
    p[0] = 1  # the freed block: poisoned
print("survived")
"""


@pytest.mark.skipif(not _UNDER_ASAN, reason="poisoning inside slab chunks is an ASan build's")
@pytest.mark.parametrize("case", ["overrun", "use_after_free"])
def test_asan_sees_overruns_and_uses_after_free_in_chunks(case: str, tmp_path: Path) -> None:
    """Under ASan a write past len or into a freed block is reported as on the heap. The
    child logs to its own directory: this report is expected, not the run's failure."""
    env = dict(os.environ)
    env["ASAN_OPTIONS"] = f"halt_on_error=1:exitcode=86:detect_leaks=0:log_path={tmp_path}/asan"
    done = subprocess.run([sys.executable, "-c", _ASAN_CHILD.format(case=case)],
                          capture_output=True, text=True, timeout=60, check=False, env=env)
    assert done.returncode == 86, (done.returncode, done.stdout, done.stderr)
    report = "".join(p.read_text() for p in tmp_path.glob("asan*"))
    assert "use-after-poison" in report, report
