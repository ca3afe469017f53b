"""The second in-process reference of the key-pair rows: the same operations through the
system's libcrypto (the one libkeystead-pkcs11.so links: Debian's OpenSSL 3.0), called with
ctypes, while ``cryptography`` bundles an OpenSSL of its own.

Each call does per operation what an application (and ``cryptography``) does: a fresh
EVP_MD_CTX or EVP_PKEY_CTX on a key made once, the operation, the context freed. ctypes adds
about a microsecond per C call, as ``cryptography``'s bindings add their own.
"""

from __future__ import annotations

import ctypes
import ctypes.util
from typing import Any

from .timing import Op, timed_loop
from .workloads import Workload

RSA_PKCS1_OAEP_PADDING = 4
RSA_PKCS1_PSS_PADDING = 6
RSA_PSS_SALTLEN_DIGEST = -1
_P = ctypes.c_void_p


class LibcryptoError(RuntimeError):
    """A libcrypto call failed (its name is the message)."""


def _load() -> ctypes.CDLL:
    name = ctypes.util.find_library("crypto") or "libcrypto.so.3"
    lib = ctypes.CDLL(name)
    sigs: dict[str, tuple[Any, list[Any]]] = {
        "OpenSSL_version": (ctypes.c_char_p, [ctypes.c_int]),
        "EVP_PKEY_free": (None, [_P]),
        "EVP_MD_CTX_new": (_P, []),
        "EVP_MD_CTX_free": (None, [_P]),
        "EVP_DigestSignInit_ex": (ctypes.c_int, [_P, ctypes.POINTER(_P), ctypes.c_char_p, _P,
                                                 ctypes.c_char_p, _P, _P]),
        "EVP_DigestSign": (ctypes.c_int, [_P, ctypes.c_char_p, ctypes.POINTER(ctypes.c_size_t),
                                          ctypes.c_char_p, ctypes.c_size_t]),
        "EVP_PKEY_CTX_set_rsa_padding": (ctypes.c_int, [_P, ctypes.c_int]),
        "EVP_PKEY_CTX_set_rsa_pss_saltlen": (ctypes.c_int, [_P, ctypes.c_int]),
        "EVP_PKEY_CTX_new_from_pkey": (_P, [_P, _P, ctypes.c_char_p]),
        "EVP_PKEY_CTX_free": (None, [_P]),
        "EVP_PKEY_encrypt_init": (ctypes.c_int, [_P]),
        "EVP_PKEY_encrypt": (ctypes.c_int, [_P, ctypes.c_char_p,
                                            ctypes.POINTER(ctypes.c_size_t), ctypes.c_char_p,
                                            ctypes.c_size_t]),
        "EVP_PKEY_decrypt_init": (ctypes.c_int, [_P]),
        "EVP_PKEY_decrypt": (ctypes.c_int, [_P, ctypes.c_char_p,
                                            ctypes.POINTER(ctypes.c_size_t), ctypes.c_char_p,
                                            ctypes.c_size_t]),
        "EVP_PKEY_CTX_set_rsa_oaep_md_name": (ctypes.c_int, [_P, ctypes.c_char_p,
                                                             ctypes.c_char_p]),
        "EVP_PKEY_CTX_set_rsa_mgf1_md_name": (ctypes.c_int, [_P, ctypes.c_char_p,
                                                             ctypes.c_char_p]),
        "EVP_PKEY_derive_init": (ctypes.c_int, [_P]),
        "EVP_PKEY_derive_set_peer": (ctypes.c_int, [_P, _P]),
        "EVP_PKEY_derive": (ctypes.c_int, [_P, ctypes.c_char_p,
                                           ctypes.POINTER(ctypes.c_size_t)]),
    }
    for fn, (res, args) in sigs.items():
        f = getattr(lib, fn)
        f.restype, f.argtypes = res, args
    # EVP_PKEY_Q_keygen is variadic: no argtypes (the extra argument is passed as given).
    lib.EVP_PKEY_Q_keygen.restype = _P
    return lib


class Libcrypto:
    """The key-pair rows through the system libcrypto, in-process."""

    name = "libcrypto"

    def __init__(self) -> None:
        self.lib = _load()
        self._keys: dict[str, int] = {}

    def version(self) -> str:
        return self.lib.OpenSSL_version(0).decode()

    def _keygen(self, kind: str) -> int:
        lib = self.lib
        if kind.startswith("RSA"):  # RSA, and RSA-OAEP: a second RSA key (one key, one use)
            k = lib.EVP_PKEY_Q_keygen(None, None, b"RSA", ctypes.c_size_t(2048))
        elif kind == "EC":
            k = lib.EVP_PKEY_Q_keygen(None, None, b"EC", ctypes.c_char_p(b"P-256"))
        else:
            k = lib.EVP_PKEY_Q_keygen(None, None, kind.encode())
        if not k:
            raise LibcryptoError(f"EVP_PKEY_Q_keygen({kind})")
        return int(k)

    def _key(self, kind: str) -> int:
        if kind not in self._keys:
            self._keys[kind] = self._keygen(kind)
        return self._keys[kind]

    def _digest_sign(self, key: int, md: bytes | None, data: bytes, pss: bool) -> Op:
        lib = self.lib
        out = ctypes.create_string_buffer(512)
        n = ctypes.c_size_t()
        pctx = _P()

        def one() -> None:
            ctx = lib.EVP_MD_CTX_new()
            try:
                if lib.EVP_DigestSignInit_ex(ctx, ctypes.byref(pctx), md, None, None, key,
                                             None) != 1:
                    raise LibcryptoError("EVP_DigestSignInit_ex")
                if pss and (lib.EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) != 1
                            or lib.EVP_PKEY_CTX_set_rsa_pss_saltlen(
                                pctx, RSA_PSS_SALTLEN_DIGEST) != 1):
                    raise LibcryptoError("EVP_PKEY_CTX_set_rsa_padding")
                n.value = len(out)
                if lib.EVP_DigestSign(ctx, out, ctypes.byref(n), data, len(data)) != 1:
                    raise LibcryptoError("EVP_DigestSign")
            finally:
                lib.EVP_MD_CTX_free(ctx)
        return timed_loop(one)

    def _oaep_decrypt(self, size: int) -> Op:
        lib, key = self.lib, self._key("RSA-OAEP")
        out = ctypes.create_string_buffer(512)
        n = ctypes.c_size_t(len(out))

        def ctx_for(init: Any) -> int:
            ctx = lib.EVP_PKEY_CTX_new_from_pkey(None, key, None)
            if (init(ctx) != 1 or lib.EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_OAEP_PADDING) != 1
                    or lib.EVP_PKEY_CTX_set_rsa_oaep_md_name(ctx, b"SHA256", None) != 1
                    or lib.EVP_PKEY_CTX_set_rsa_mgf1_md_name(ctx, b"SHA256", None) != 1):
                lib.EVP_PKEY_CTX_free(ctx)
                raise LibcryptoError("OAEP set-up")
            return int(ctx)
        enc = ctx_for(lib.EVP_PKEY_encrypt_init)
        ct = ctypes.create_string_buffer(512)
        ct_len = ctypes.c_size_t(len(ct))
        ok = lib.EVP_PKEY_encrypt(enc, ct, ctypes.byref(ct_len), bytes(size), size)
        lib.EVP_PKEY_CTX_free(enc)
        if ok != 1:
            raise LibcryptoError("EVP_PKEY_encrypt")
        cipher = ct.raw[:ct_len.value]

        def one() -> None:
            ctx = ctx_for(lib.EVP_PKEY_decrypt_init)
            try:
                n.value = len(out)
                if lib.EVP_PKEY_decrypt(ctx, out, ctypes.byref(n), cipher, len(cipher)) != 1:
                    raise LibcryptoError("EVP_PKEY_decrypt")
            finally:
                lib.EVP_PKEY_CTX_free(ctx)
        return timed_loop(one)

    def _ecdh(self) -> Op:
        lib, key, peer = self.lib, self._key("EC"), self._keygen("EC")
        out = ctypes.create_string_buffer(66)
        n = ctypes.c_size_t()

        def one() -> None:
            ctx = lib.EVP_PKEY_CTX_new_from_pkey(None, key, None)
            try:
                n.value = len(out)
                if (lib.EVP_PKEY_derive_init(ctx) != 1
                        or lib.EVP_PKEY_derive_set_peer(ctx, peer) != 1
                        or lib.EVP_PKEY_derive(ctx, out, ctypes.byref(n)) != 1):
                    raise LibcryptoError("EVP_PKEY_derive")
            finally:
                lib.EVP_PKEY_CTX_free(ctx)
        return timed_loop(one)

    def sample(self, w: Workload) -> float:
        """One key generation of a keygen row, timed (seconds); the key is freed after."""
        import time

        kind = "RSA" if w.kind == "pk-keygen-rsa" else "EC"
        t0 = time.perf_counter()
        k = self._keygen(kind)
        spent = time.perf_counter() - t0
        self.lib.EVP_PKEY_free(k)
        return spent

    def op(self, w: Workload) -> Op | None:
        data = bytes(range(256))[: w.size] if w.size else b""
        if w.kind == "pk-sign-rsa-pkcs":
            return self._digest_sign(self._key("RSA"), b"SHA256", data, pss=False)
        if w.kind == "pk-sign-rsa-pss":
            return self._digest_sign(self._key("RSA"), b"SHA256", data, pss=True)
        if w.kind == "pk-sign-ecdsa":
            return self._digest_sign(self._key("EC"), b"SHA256", data, pss=False)
        if w.kind == "pk-sign-ed25519":
            return self._digest_sign(self._key("ED25519"), None, data, pss=False)
        if w.kind == "pk-decrypt-rsa-oaep":
            return self._oaep_decrypt(w.size)
        if w.kind == "pk-derive-ecdh-raw":
            return self._ecdh()
        if w.kind in ("pk-keygen-rsa", "pk-keygen-p256-raw"):
            return lambda n: sum(self.sample(w) for _ in range(n))
        return None


__all__ = ["Libcrypto", "LibcryptoError"]
