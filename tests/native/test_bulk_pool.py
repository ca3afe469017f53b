"""The worker threads of the bulk calls (native/p11/bulk_pool.c) seen through
KS_EncryptMessages: kept helpers reused across calls, with every signal blocked, several
callers at once (one holds the pool, the others make their own threads), the most threads a
call may ask for, many more messages than runs, and a forked child that starts without the
parent's helpers."""

from __future__ import annotations

import os
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
