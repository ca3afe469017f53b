"""keystead-only rows: the PKCS#11 3.0 message API (C_EncryptMessage ...) through the module
that python-pkcs11 loaded, and the bulk vendor call (KS_EncryptMessages) through the cffi
extension's own instance of the module (an in-memory token of its own).

python-pkcs11 0.10 has no message API, so those rows call the 3.0 function list directly
through the bridge's raw cffi layer, on the python-pkcs11 session and key handles.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .timing import Op, timed_loop
from .workloads import Workload

CKG_NO_GENERATE = 0
CKG_GENERATE_COUNTER = 2
CKM_AES_GCM = 0x1087
IV_LEN = 12
FIXED_BITS = 32  # SP 800-38D 8.2.1: 32-bit fixed field, 64-bit invocation field


class MessageOps:
    """C_MessageEncryptInit once per timed window, then one C_EncryptMessage per message
    (token-generated IV, CKG_GENERATE_COUNTER); decrypt mirrors it with the IV and tag of
    one sealed message."""

    def __init__(self, raw: Any, session: int, key: int) -> None:
        self.raw, self.h, self.key, self.ffi = raw, session, key, raw.ffi
        self._keep: list[Any] = []  # IV and tag buffers the params structs point into

    def _params(self, iv: bytes, generator: int, tag: bytes) -> Any:
        ffi = self.ffi
        p = ffi.new("CK_GCM_MESSAGE_PARAMS *")
        iv_buf, tag_buf = ffi.new("CK_BYTE[]", iv), ffi.new("CK_BYTE[]", tag)
        p.pIv, p.ulIvLen, p.ivGenerator = iv_buf, len(iv), generator
        p.ulIvFixedBits = FIXED_BITS if generator != CKG_NO_GENERATE else 0
        p.pTag, p.ulTagBits = tag_buf, 8 * len(tag)
        self._keep += [iv_buf, tag_buf]
        return p

    def _window(self, what: str, body: Any) -> Op:
        raw = self.raw
        mech = raw.mechanism(CKM_AES_GCM, None)

        def run(n: int) -> float:
            raw.check(f"C_Message{what}Init", self.h, mech.ptr, self.key)
            try:
                return body(n)
            finally:
                raw.check(f"C_Message{what}Final", self.h)
        return run

    def encrypt(self, size: int) -> Op:
        ffi, raw = self.ffi, self.raw
        p = self._params(bytes(IV_LEN), CKG_GENERATE_COUNTER, bytes(16))
        data, out = ffi.from_buffer(bytes(size)), ffi.new("CK_BYTE[]", size)
        n_out = ffi.new("CK_ULONG *")
        fn, sz, h, null = raw.function("C_EncryptMessage"), ffi.sizeof(p[0]), self.h, ffi.NULL

        def one() -> None:
            n_out[0] = size
            rv = fn(h, p, sz, null, 0, data, size, out, n_out)
            if rv:
                raw.check("C_EncryptMessage", h, p, sz, null, 0, data, size, out, n_out)
        return self._window("Encrypt", timed_loop(one))

    def decrypt(self, size: int) -> Op:
        ffi, raw = self.ffi, self.raw
        p = self._params(bytes(IV_LEN), CKG_GENERATE_COUNTER, bytes(16))
        data, ct = ffi.from_buffer(bytes(size)), ffi.new("CK_BYTE[]", size)
        n_out = ffi.new("CK_ULONG *", size)
        raw.check("C_MessageEncryptInit", self.h, raw.mechanism(CKM_AES_GCM, None).ptr, self.key)
        try:
            raw.check("C_EncryptMessage", self.h, p, ffi.sizeof(p[0]), ffi.NULL, 0, data, size,
                      ct, n_out)
        finally:
            raw.check("C_MessageEncryptFinal", self.h)
        iv, tag = ffi.buffer(p.pIv, IV_LEN)[:], ffi.buffer(p.pTag, 16)[:]
        q = self._params(iv, CKG_NO_GENERATE, tag)
        out = ffi.new("CK_BYTE[]", size)
        fn, sz, h, null = raw.function("C_DecryptMessage"), ffi.sizeof(q[0]), self.h, ffi.NULL

        def one() -> None:
            n_out[0] = size
            rv = fn(h, q, sz, null, 0, ct, size, out, n_out)
            if rv:
                raw.check("C_DecryptMessage", h, q, sz, null, 0, ct, size, out, n_out)
        return self._window("Decrypt", timed_loop(one))


def _ulong(v: int, size: int) -> bytes:
    return int(v).to_bytes(size, "little")


class BulkOps:
    """KS_EncryptMessages / KS_DecryptMessages on the cffi extension's own instance of the
    module: an in-memory token, a user session and an AES-256 key (``open`` makes them).
    One timed operation is one call over a whole batch (the runner divides per message)."""

    SO_PIN, USER_PIN = b"bench-so-pin", b"bench-user-pin"

    def __init__(self, base: Path) -> None:
        self.base = base
        self.fl: Any = None

    def open(self) -> None:
        """Initialise the extension with ``token_dir = :memory:``, make token, session, key.

        Raises the bridge's PKCS11Error subclass of any refusal.
        """
        from keystead import ext_token
        from keystead.bulk import function_list
        from keystead.core import ffi, lib

        conf = self.base / "bulk.keystead.conf"
        conf.write_text("token_dir = :memory:\npin_kdf_cost = fast\n")
        fl = function_list()
        ext_token.initialize(fl, conf)
        self.fl, self.ffi, self.lib = fl, ffi, lib
        _, self.session = ext_token.user_session(fl, self.SO_PIN, self.USER_PIN)
        self.key = self._generate_key()

    def _generate_key(self) -> int:
        from keystead.softhsm_bridge.errors import check

        ffi, lib = self.ffi, self.lib
        ul = ffi.sizeof("CK_ULONG")
        items = [(lib.CKA_CLASS, _ulong(lib.CKO_SECRET_KEY, ul)),
                 (lib.CKA_KEY_TYPE, _ulong(lib.CKK_AES, ul)), (lib.CKA_VALUE_LEN, _ulong(32, ul)),
                 (lib.CKA_TOKEN, b"\x01"), (lib.CKA_ENCRYPT, b"\x01"), (lib.CKA_DECRYPT, b"\x01")]
        tmpl = ffi.new("CK_ATTRIBUTE[]", len(items))
        keep = []
        for i, (t, v) in enumerate(items):
            keep.append(ffi.new("CK_BYTE[]", v))
            tmpl[i].type, tmpl[i].pValue, tmpl[i].ulValueLen = t, keep[-1], len(v)
        mech = ffi.new("CK_MECHANISM *")
        mech.mechanism = lib.CKM_AES_KEY_GEN
        h = ffi.new("CK_OBJECT_HANDLE *")
        check(self.fl.C_GenerateKey(self.session, mech, tmpl, len(items), h), "C_GenerateKey")
        return int(h[0])

    def close(self) -> None:
        if self.fl is not None:
            self.fl.C_CloseAllSessions(self._slot_of_session())
            self.fl.C_Finalize(self.ffi.NULL)
            self.fl = None

    def _slot_of_session(self) -> int:
        info = self.ffi.new("CK_SESSION_INFO *")
        self.fl.C_GetSessionInfo(self.session, info)
        return int(info.slotID)

    def encrypt(self, size: int, count: int, threads: int = 1) -> Op:
        from keystead import bulk

        batch = bulk.Batch.of_arena(bytearray(size * count), [size] * count)
        into = bulk.Sealed(bytearray(size * count), bytearray(bulk.IV_LEN * count),
                           bytearray(16 * count))
        return timed_loop(lambda: bulk.encrypt(self.session, self.key, batch, into=into,
                                               threads=threads))

    def decrypt(self, size: int, count: int, threads: int = 1) -> Op:
        from keystead import bulk
        from keystead.softhsm_bridge.errors import check

        sealed = bulk.encrypt(self.session, self.key,
                              bulk.Batch.of_arena(bytearray(size * count), [size] * count))
        batch = bulk.Batch.of_arena(sealed.out, [size] * count)
        ffi, lib = self.ffi, self.lib
        out, ok = bytearray(size * count), bytearray(count)
        out_p, ok_p = ffi.from_buffer(out), ffi.from_buffer(ok)
        ivs, tags = ffi.from_buffer(sealed.ivs), ffi.from_buffer(sealed.tags)
        n_out = ffi.new("CK_ULONG *")
        fn, s, k = lib.KS_DecryptMessages, self.session, self.key

        def one() -> None:
            n_out[0] = len(out)
            check(fn(s, k, out_p, n_out, ok_p, count, batch.ptrs, batch.lens, ffi.NULL,
                     ffi.NULL, ivs, tags, 16, threads), "KS_DecryptMessages")
        return timed_loop(one)


class VendorOps:
    """The keystead-only rows of one run: message API on the bridge's module instance,
    bulk calls on the extension's (either may be None when unavailable: the row is n/a)."""

    def __init__(self, messages: MessageOps | None, bulk_ops: BulkOps | None) -> None:
        self.messages, self.bulk = messages, bulk_ops

    def op(self, w: Workload) -> Op | None:
        if w.kind.startswith("msg-") and self.messages is not None:
            m = self.messages
            return m.encrypt(w.size) if w.kind == "msg-encrypt" else m.decrypt(w.size)
        if w.kind.startswith("bulk-") and self.bulk is not None:
            b = self.bulk
            if w.kind == "bulk-decrypt":
                return b.decrypt(w.size, w.batch)
            return b.encrypt(w.size, w.batch, threads=w.threads)
        return None


__all__ = ["BulkOps", "MessageOps", "VendorOps"]
