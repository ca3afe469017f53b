"""The three clients of ``keystead bench``: a PKCS#11 module through python-pkcs11 (keystead,
SoftHSMv2) and the ``cryptography`` package in-process (OpenSSL, the hardware reference).

Each client answers :meth:`op` with an :data:`~.timing.Op` for a workload, or None when it
cannot run it (then the report says n/a). Keys are made once, in :meth:`P11Client.open`.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .boundary import BoundaryKW
from .keypairs import CryptographyPairs, P11Pairs, Unavailable
from .timing import Op, timed_loop
from .workloads import Workload

GCM_TAG = 16

#: Modules whose concurrent use crashes the process, so their N-thread rows are skipped.
UNSAFE_THREADS = {
    "softhsm2": "SoftHSMv2 2.6.1 fails C_EncryptInit with CKR_GENERAL_ERROR or crashes "
                "when sessions are used from several threads at once (SoftHSMv2 issue #688)",
}


class Skipped(Exception):
    """The client cannot run this workload safely; the message says why (shown as n/a)."""


class _Counter:
    """A fresh 12-byte IV per call (a GCM IV must not repeat under one key), unique across
    every counter and thread of the process (``next`` of itertools.count is atomic)."""

    _shared = itertools.count(1)

    def next(self) -> bytes:
        return next(self._shared).to_bytes(12, "big")


def _threaded(workers: list[Callable[[], object]]) -> Op:
    """An Op running ``n`` calls on each worker's own thread at once; returns wall time
    divided by the thread count, so that the figure per operation is per message. The
    first exception of any thread is raised once all have stopped."""
    def run(n: int) -> float:
        start = threading.Barrier(len(workers) + 1)
        failures: list[BaseException] = []

        def body(fn: Callable[[], object]) -> None:
            start.wait()
            try:
                for _ in range(n):
                    fn()
            except BaseException as exc:  # handed to the caller after join
                failures.append(exc)
        threads = [threading.Thread(target=body, args=(w,)) for w in workers]
        for t in threads:
            t.start()
        start.wait()
        t0 = time.perf_counter()
        for t in threads:
            t.join()
        if failures:
            raise failures[0]
        return (time.perf_counter() - t0) / len(workers)
    return run


class OpenSSLClient:
    """AES-256-GCM and RFC 3394 through ``cryptography`` (OpenSSL), in-process."""

    name = "openssl"

    def __init__(self) -> None:
        import os

        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        self._aesgcm = AESGCM
        self.key = os.urandom(32)
        self.kek = os.urandom(32)
        self.gcm = AESGCM(self.key)
        self.pairs: CryptographyPairs | None = None

    def _pairs(self) -> CryptographyPairs:
        if self.pairs is None:
            self.pairs = CryptographyPairs()
        return self.pairs

    def sample(self, w: Workload) -> float:
        """One key generation of a key-pair keygen row, timed."""
        return self._pairs().sample(w)

    @staticmethod
    def version() -> str:
        import cryptography
        from cryptography.hazmat.backends.openssl.backend import backend

        return f"cryptography {cryptography.__version__}, {backend.openssl_version_text()}"

    def op(self, w: Workload) -> Op | None:
        from cryptography.hazmat.primitives import keywrap

        if w.kind.startswith("pk-"):
            return self._pairs().op(w)
        data, iv = bytes(w.size), _Counter()
        if w.kind == "gcm-encrypt":
            return timed_loop(lambda: self.gcm.encrypt(iv.next(), data, None))
        if w.kind == "gcm-decrypt":
            nonce = iv.next()
            ct = self.gcm.encrypt(nonce, data, None)
            return timed_loop(lambda: self.gcm.decrypt(nonce, ct, None))
        # The boundary rows (kw-*-raw) have no boundary here: the same calls as kw-* (and
        # no object to destroy after an unwrap).
        if w.kind in ("kw-wrap", "kw-wrap-raw"):
            return timed_loop(lambda: keywrap.aes_key_wrap(self.kek, self.key))
        if w.kind in ("kw-unwrap", "kw-unwrap-raw", "kw-unwrap-destroy-raw"):
            wrapped = keywrap.aes_key_wrap(self.kek, self.key)
            return timed_loop(lambda: keywrap.aes_key_unwrap(self.kek, wrapped))
        if w.kind == "threads":
            def worker() -> Callable[[], object]:
                aead, ivs = self._aesgcm(self.key), _Counter()
                return lambda: aead.encrypt(ivs.next(), data, None)
            return _threaded([worker() for _ in range(w.threads)])
        return None


class P11Client:
    """One PKCS#11 module, provisioned in its own temporary token directory, driven through
    python-pkcs11 (``keystead.softhsm_bridge``).

    Keys: an AES-256 data key, an AES-256 KEK and an extractable AES-256 key to wrap, all
    generated in the token (keystead's strict wrap policy lets only token-generated keys
    wrap). ``vendor`` serves the keystead-only rows (message API, bulk call).
    """

    def __init__(self, name: str, base: Path) -> None:
        from keystead.softhsm_bridge import prepare

        self.name = name
        self.info, self.env = prepare(name, base / name / "tokens")
        self.vendor: Any = None
        self.pairs: P11Pairs | None = None
        self._sessions: list[Any] = []

    def open(self) -> None:
        """Provision the token, open a logged-in session, generate the keys.

        Raises the bridge's PKCS11Error / BridgeError when the module refuses.
        """
        from keystead.softhsm_bridge import open_session
        from keystead.softhsm_bridge.provision import provision
        from pkcs11 import Attribute, KeyType, MechanismFlag

        self.token = provision(self.info, None, label="bench")
        self.session = self._open()
        gen = self.session.generate_key
        crypt = MechanismFlag.ENCRYPT | MechanismFlag.DECRYPT
        self.key = gen(KeyType.AES, 256, label="bench-gcm", capabilities=crypt)
        self.kek = gen(KeyType.AES, 256, label="bench-kek",
                       capabilities=MechanismFlag.WRAP | MechanismFlag.UNWRAP)
        self.target = gen(KeyType.AES, 256, label="bench-target", capabilities=crypt,
                          template={Attribute.EXTRACTABLE: True, Attribute.SENSITIVE: True})
        self._open_session = open_session

    def _open(self) -> Any:
        from keystead.softhsm_bridge import open_session

        s = open_session(self.token)
        self._sessions.append(s)
        return s

    def close(self) -> None:
        from keystead.softhsm_bridge import close_session

        for s in reversed(self._sessions):
            close_session(s)
        self._sessions.clear()

    def op(self, w: Workload) -> Op | None:
        from pkcs11 import GCMParams, Mechanism

        if w.keystead_only:
            return self.vendor.op(w) if self.vendor is not None else None
        if w.kind.startswith("pk-"):
            try:
                return self._pairs().op(w)
            except Unavailable as why:
                raise Skipped(str(why)) from None
        data, iv, gcm = bytes(w.size), _Counter(), Mechanism.AES_GCM
        if w.kind == "gcm-encrypt":
            key = self.key
            return timed_loop(lambda: key.encrypt(data, mechanism=gcm,
                                                  mechanism_param=GCMParams(iv.next())))
        if w.kind == "gcm-decrypt":
            nonce = iv.next()
            ct = self.key.encrypt(data, mechanism=gcm, mechanism_param=GCMParams(nonce))
            return timed_loop(lambda: self.key.decrypt(ct, mechanism=gcm,
                                                       mechanism_param=GCMParams(nonce)))
        if w.kind == "kw-wrap":
            return timed_loop(lambda: self.kek.wrap_key(self.target,
                                                        mechanism=Mechanism.AES_KEY_WRAP))
        if w.kind == "kw-unwrap":
            return self._unwrap_op()
        if w.kind in ("kw-wrap-raw", "kw-unwrap-raw"):
            kw = self._boundary()
            return kw.wrap() if w.kind == "kw-wrap-raw" else kw.unwrap()
        if w.kind == "kw-unwrap-destroy-raw":
            return self._boundary().unwrap_destroy()
        if w.kind == "threads":
            if w.threads > 1 and self.name in UNSAFE_THREADS:
                raise Skipped(UNSAFE_THREADS[self.name])
            return self._threads_op(w, data)
        return None

    def _pairs(self) -> P11Pairs:
        from keystead.softhsm_bridge import load

        if self.pairs is None:
            self.pairs = P11Pairs(self.session, lambda: load(self.info))
        return self.pairs

    def sample(self, w: Workload) -> float:
        """One key generation of a key-pair keygen row, timed (raises Skipped)."""
        try:
            return self._pairs().sample(w)
        except Unavailable as why:
            raise Skipped(str(why)) from None

    def _boundary(self) -> BoundaryKW:
        """The KW calls through the raw layer, on this client's session and keys."""
        from keystead.softhsm_bridge import load

        return BoundaryKW(load(self.info), self.session.handle, self.kek.handle,
                          self.target.handle)

    def _unwrap_op(self) -> Op:
        from pkcs11 import KeyType, Mechanism, MechanismFlag, ObjectClass

        wrapped = self.kek.wrap_key(self.target, mechanism=Mechanism.AES_KEY_WRAP)
        crypt = MechanismFlag.ENCRYPT | MechanismFlag.DECRYPT

        def run(n: int) -> float:
            made = []
            t0 = time.perf_counter()
            for _ in range(n):
                made.append(self.kek.unwrap_key(ObjectClass.SECRET_KEY, KeyType.AES, wrapped,
                                                mechanism=Mechanism.AES_KEY_WRAP,
                                                capabilities=crypt))
            spent = time.perf_counter() - t0
            for k in made:  # session objects, destroyed outside the clock
                k.destroy()
            return spent
        return run

    def _threads_op(self, w: Workload, data: bytes) -> Op:
        """Each thread has its own session and its own key, generated in that session
        (SoftHSMv2 2.6.1 fails C_EncryptInit with CKR_GENERAL_ERROR, or crashes, when two
        threads use one session key object at once)."""
        from pkcs11 import GCMParams, KeyType, Mechanism, MechanismFlag

        def worker() -> Callable[[], object]:
            s = self._open()
            key = s.generate_key(KeyType.AES, 256, label="bench-thread",
                                 capabilities=MechanismFlag.ENCRYPT | MechanismFlag.DECRYPT)
            ivs = _Counter()
            return lambda: key.encrypt(data, mechanism=Mechanism.AES_GCM,
                                       mechanism_param=GCMParams(ivs.next()))
        return _threaded([worker() for _ in range(w.threads)])


__all__ = ["GCM_TAG", "UNSAFE_THREADS", "OpenSSLClient", "P11Client", "Skipped"]
