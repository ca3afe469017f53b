"""The worker threads of the bulk calls (native/p11/bulk_pool.c) seen through
KS_EncryptMessages: kept helpers reused across calls, with every signal blocked, several
callers at once (one holds the pool, the others make their own threads), the most threads a
call may ask for, many more messages than runs, and a forked child that starts without the
parent's helpers."""

from __future__ import annotations

import ctypes
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from keystead import bulk
from keystead.core import lib

from tests.native.bulk_support import ExtSession, ext_session

KEY = bytes(range(32, 64))


@pytest.fixture(scope="module")
def ext(tmp_path_factory: pytest.TempPathFactory):
    with ext_session(tmp_path_factory.mktemp("bulk-pool")) as s:
        yield s


@pytest.fixture(scope="module")
def key(ext: ExtSession) -> int:
    return ext.aes_key(KEY)


def _check(messages: list[bytes], res: bulk.Sealed) -> list[bytes]:
    """Every message's ciphertext and tag equal cryptography's; returns the IVs."""
    gcm, pos, ivs = AESGCM(KEY), 0, []
    for i, m in enumerate(messages):
        iv = bytes(res.ivs[12 * i: 12 * i + 12])
        ct = bytes(res.out[pos: pos + len(m)]) + bytes(res.tags[16 * i: 16 * i + 16])
        assert ct == gcm.encrypt(iv, m, None), i
        ivs.append(iv)
        pos += len(m)
    return ivs


def _batch(count: int, size: int, seed: int) -> list[bytes]:
    return [bytes([(seed + i) & 0xFF]) * size + os.urandom(7) for i in range(count)]


def _tasks() -> int:
    return len(os.listdir("/proc/self/task"))


def test_helpers_are_reused_across_calls(ext: ExtSession, key: int) -> None:
    msgs = _batch(32, 70_000, 1)  # enough work for 4 threads (64 KiB each at least)
    _check(msgs, bulk.encrypt(ext.session, key, bulk.Batch.of(msgs), threads=4))
    kept = _tasks()
    seen: set[bytes] = set()
    for threads in (2, 2, 3, 2, 4, 1, 2):
        ivs = _check(msgs, bulk.encrypt(ext.session, key, bulk.Batch.of(msgs), threads=threads))
        seen.update(ivs)
        assert _tasks() == kept  # the same helpers, none made or left behind per call
    assert len(seen) == 7 * len(msgs)


def _blocking_sigint_and_sigterm() -> int:
    """Threads of this process with SIGINT and SIGTERM blocked (/proc status SigBlk)."""
    wanted = (1 << (2 - 1)) | (1 << (15 - 1))
    n = 0
    for task in os.listdir("/proc/self/task"):
        try:
            with open(f"/proc/self/task/{task}/status", encoding="ascii") as f:
                mask = next(int(line.split()[1], 16) for line in f if line.startswith("SigBlk"))
        except (OSError, StopIteration):  # a thread that has just exited
            continue
        n += (mask & wanted) == wanted
    return n


def test_helpers_leave_signals_to_the_application(ext: ExtSession, key: int) -> None:
    msgs = _batch(16, 70_000, 4)
    _check(msgs, bulk.encrypt(ext.session, key, bulk.Batch.of(msgs), threads=4))
    assert _blocking_sigint_and_sigterm() >= 3  # the kept helpers block every signal


def test_the_most_threads_a_call_may_ask_for(ext: ExtSession, key: int) -> None:
    msgs = _batch(int(lib.KS_GCM_BULK_MAX_THREADS) + 6, 66_000, 2)
    _check(msgs, bulk.encrypt(ext.session, key, bulk.Batch.of(msgs),
                              threads=int(lib.KS_GCM_BULK_MAX_THREADS)))


def test_many_more_messages_than_runs(ext: ExtSession, key: int) -> None:
    sizes = [(i * 37) % 3000 for i in range(3001)]  # over MAX_RUNS (128) runs per call
    msgs = [os.urandom(n) for n in sizes]
    _check(msgs, bulk.encrypt(ext.session, key, bulk.Batch.of(msgs), threads=16))


def test_callers_at_once_share_nothing(ext: ExtSession, key: int) -> None:
    """Four callers, each asking for 2 or 3 threads, at once (cffi releases the GIL): one
    holds the pool, the others use threads of their own; every result is right."""
    failures: list[BaseException] = []
    ivs: list[list[bytes]] = [[] for _ in range(4)]
    start = threading.Barrier(4)

    def caller(n: int) -> None:
        try:
            start.wait()
            for rep in range(6):
                msgs = _batch(12, 40_000, 16 * n + rep)
                res = bulk.encrypt(ext.session, key, bulk.Batch.of(msgs), threads=2 + n % 2)
                ivs[n] += _check(msgs, res)
        except BaseException as exc:  # reported by the main thread
            failures.append(exc)

    threads = [threading.Thread(target=caller, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not failures, failures[0]
    every = [iv for per in ivs for iv in per]
    assert len(set(every)) == len(every) == 4 * 6 * 12


def test_forked_child_starts_without_the_parents_helpers(ext: ExtSession, key: int,
                                                         tmp_path: Path) -> None:
    msgs = _batch(16, 70_000, 3)
    _check(msgs, bulk.encrypt(ext.session, key, bulk.Batch.of(msgs), threads=4))  # helpers
    pid = os.fork()
    if pid == 0:  # the child: PKCS#11 3.0 5.4, C_Initialize again, then use threads
        code = 1
        try:
            with ext_session(tmp_path) as child:
                k = child.aes_key(KEY)
                _check(msgs, bulk.encrypt(child.session, k, bulk.Batch.of(msgs), threads=4))
                _check(msgs, bulk.encrypt(child.session, k, bulk.Batch.of(msgs), threads=2))
            code = 0
        finally:
            os._exit(code)
    deadline = time.monotonic() + 60
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        if time.monotonic() > deadline:  # a helper or lock that crossed fork: a hang
            os.kill(pid, 9)
            os.waitpid(pid, 0)
            pytest.fail("the forked child's bulk call did not return")
        time.sleep(0.05)
    assert os.waitstatus_to_exitcode(status) == 0
    _check(msgs, bulk.encrypt(ext.session, key, bulk.Batch.of(msgs), threads=4))  # parent's


def test_no_thread_is_made_when_the_application_forbids_it(ext: ExtSession,
                                                           tmp_path: Path) -> None:
    """PKCS#11 3.0 5.4: after C_Initialize with CKF_LIBRARY_CANT_CREATE_OS_THREADS the bulk
    call runs on the calling thread whatever ulThreads asks (and no flusher thread starts).
    Checked in a forked child, which starts with one thread and C_Initializes afresh."""
    msgs = _batch(16, 70_000, 5)
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            flags = lib.CKF_OS_LOCKING_OK | lib.CKF_LIBRARY_CANT_CREATE_OS_THREADS
            with ext_session(tmp_path, init_flags=flags) as child:
                before = _tasks()
                k = child.aes_key(KEY)
                _check(msgs, bulk.encrypt(child.session, k, bulk.Batch.of(msgs), threads=4))
                code = 0 if before == _tasks() == 1 else 2
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0


_LINGER_CHILD = """
import re
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, {root!r})
from keystead import bulk
from tests.native.bulk_support import ext_session

KEY = bytes(range(100, 132))


def sbox() -> list[int]:
    s, p, q = [0x63] * 256, 1, 1
    while True:  # FIPS-197 5.1.1 by the generator 3 and its inverse
        p = (p ^ (p << 1) ^ (0x1B if p & 0x80 else 0)) & 0xFF
        q = q ^ (q << 1)
        q = q ^ (q << 2)
        q = (q ^ (q << 4)) & 0xFF
        q = q ^ 0x09 if q & 0x80 else q
        r = lambda n: ((q << n) | (q >> (8 - n))) & 0xFF
        s[p] = q ^ r(1) ^ r(2) ^ r(3) ^ r(4) ^ 0x63
        if p == 1:
            return s


def round_key_halves() -> list[tuple[bytes, bytes]]:
    # FIPS-197 5.2 for AES-256, rounds 2..14, kept as 8-byte halves: the whole round key is
    # never a bytes object of this process, so only the library can have left one.
    s, w, rcon = sbox(), [list(KEY[i:i + 4]) for i in range(0, 32, 4)], 1
    for i in range(8, 60):
        t = list(w[i - 1])
        if i % 8 == 0:
            t = [s[b] for b in t[1:] + t[:1]]
            t[0] ^= rcon
            rcon = (rcon << 1) ^ (0x11B if rcon & 0x80 else 0)
        elif i % 8 == 4:
            t = [s[b] for b in t]
        w.append([a ^ b for a, b in zip(w[i - 8], t)])
    return [(bytes(w[4 * r] + w[4 * r + 1]), bytes(w[4 * r + 2] + w[4 * r + 3]))
            for r in range(2, 15)]


with ext_session(Path(tempfile.mkdtemp())) as s:
    k = s.aes_key(KEY)
    msgs = [bytes(256 * 1024) for _ in range(64)]
    for _ in range(3):  # enough work that the helper surely runs some of it
        bulk.encrypt(s.session, k, bulk.Batch.of(msgs), threads=2)
    found = 0
    halves = round_key_halves()
    with open("/proc/self/maps") as maps, open("/proc/self/mem", "rb", 0) as mem:
        for line in maps:
            m = re.match(r"([0-9a-f]+)-([0-9a-f]+) rw-p \\S+ \\S+ 0\\s*(\\S*)", line)
            if m is None or m.group(3) not in ("", "[heap]"):
                continue
            lo, hi = int(m.group(1), 16), int(m.group(2), 16)
            if hi - lo > 256 << 20:  # not a stack or the heap (a sanitizer's shadow)
                continue
            try:
                mem.seek(lo)
                data = mem.read(hi - lo)
            except OSError:
                continue
            for a, b in halves:
                at = data.find(a)
                while at >= 0:
                    found += data[at + 8: at + 16] == b
                    at = data.find(a, at + 1)
    print(found)
"""


def test_helpers_leave_no_round_keys_behind(tmp_path: Path) -> None:
    """A kept helper wipes its stack (and vector registers) after each job, as ks_p11_exit
    does on the calling thread: once the call has returned, no AES round key of the batch's
    key is left in the process's writable anonymous memory. A fresh process, so that no
    other code (cryptography's AESGCM) has expanded the key."""
    if hasattr(ctypes.CDLL(None), "__asan_init"):
        pytest.skip("ASan moves frames to its own stacks and maps terabytes of shadow")
    root = str(Path(__file__).resolve().parents[2])
    done = subprocess.run([sys.executable, "-c", _LINGER_CHILD.format(root=root)],
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "0", done.stdout
