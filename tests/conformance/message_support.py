"""Helpers of the message-based AEAD tests: CK_GCM_MESSAGE_PARAMS builders and thin calls
through the raw PKCS#11 3.0 function list, each returning the exact CK_RV."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from keystead.softhsm_bridge.ck import CKF_END_OF_MESSAGE, Mechanism
from keystead.softhsm_bridge.raw import RawModule

CKG_NO_GENERATE = 0
CKG_GENERATE = 1
CKG_GENERATE_COUNTER = 2
CKG_GENERATE_RANDOM = 3
CKG_GENERATE_COUNTER_XOR = 4
CKR_AEAD_DECRYPT_FAILED = 0x42


@dataclass
class Params:
    """One CK_GCM_MESSAGE_PARAMS and the IV and tag buffers it points to."""

    ptr: Any
    iv_buf: Any
    tag_buf: Any
    size: int
    ffi: Any
    keep: list[Any] = field(default_factory=list)

    def iv(self) -> bytes:
        return self.ffi.buffer(self.iv_buf, int(self.ptr.ulIvLen))[:]

    def tag(self) -> bytes:
        return self.ffi.buffer(self.tag_buf, int(self.ptr.ulTagBits) // 8)[:]


def params(raw: RawModule, iv: bytes, *, generator: int = CKG_NO_GENERATE, fixed_bits: int = 0,
           tag: bytes | None = None, tag_bits: int = 128) -> Params:
    """CK_GCM_MESSAGE_PARAMS with pIv = a copy of iv and pTag = tag (or a zeroed buffer)."""
    ffi = raw.ffi
    p = ffi.new("CK_GCM_MESSAGE_PARAMS *")
    iv_buf = ffi.new("CK_BYTE[]", iv or b"\0")
    tag_buf = ffi.new("CK_BYTE[]", tag if tag is not None else bytes(16))
    p.pIv, p.ulIvLen, p.ulIvFixedBits, p.ivGenerator = iv_buf, len(iv), fixed_bits, generator
    p.pTag, p.ulTagBits = tag_buf, tag_bits
    return Params(p, iv_buf, tag_buf, ffi.sizeof("CK_GCM_MESSAGE_PARAMS"), ffi)


def counter_of(iv: bytes, fixed_bits: int) -> int:
    """The invocation field of a deterministic IV (SP 800-38D 8.2.1)."""
    free = len(iv) * 8 - fixed_bits
    return int.from_bytes(iv, "big") & ((1 << free) - 1)


def fixed_of(iv: bytes, fixed_bits: int) -> int:
    return int.from_bytes(iv, "big") >> (len(iv) * 8 - fixed_bits)


class Messages:
    """Message-based calls on one session. ``what`` is "Encrypt" or "Decrypt"."""

    def __init__(self, raw: RawModule, session: int) -> None:
        self.raw, self.h, self.ffi = raw, session, raw.ffi

    def init(self, what: str, key: int, param: Any = None, mech: int = Mechanism.AES_GCM) -> int:
        m = self.raw.mechanism(mech, param)
        return self.raw.call(f"C_Message{what}Init", self.h, m.ptr, key)

    def final(self, what: str) -> int:
        return self.raw.call(f"C_Message{what}Final", self.h)

    def one(self, what: str, p: Params | None, aad: bytes, data: bytes,
            capacity: int | None = None, fill: int = 0xAA) -> tuple[int, bytes, int]:
        """C_EncryptMessage / C_DecryptMessage: (rv, output buffer, *pulLen).

        capacity None gives a buffer as long as data; -1 a NULL buffer (length query)."""
        ffi = self.ffi
        cap = len(data) if capacity is None else capacity
        out = ffi.NULL if cap < 0 else ffi.new("CK_BYTE[]", bytes([fill]) * max(cap, 1))
        n = self.raw.ulong_ptr(max(cap, 0))
        fn = "C_EncryptMessage" if what == "Encrypt" else "C_DecryptMessage"
        rv = self.raw.call(fn, self.h, p.ptr if p else ffi.NULL, p.size if p else 0,
                           aad, len(aad), data, len(data), out, n)
        got = b"" if cap <= 0 else ffi.buffer(out, cap)[:]
        return rv, got, int(n[0])

    def begin(self, what: str, p: Params | None, aad: bytes) -> int:
        ffi = self.ffi
        return self.raw.call(f"C_{what}MessageBegin", self.h, p.ptr if p else ffi.NULL,
                             p.size if p else 0, aad, len(aad))

    def next(self, what: str, p: Params | None, data: bytes, last: bool,
             capacity: int | None = None, flags: int | None = None,
             fill: int = 0xAA) -> tuple[int, bytes, int]:
        """C_{En,De}cryptMessageNext: (rv, output buffer, *pulLen)."""
        ffi = self.ffi
        cap = len(data) if capacity is None else capacity
        out = ffi.NULL if cap < 0 else ffi.new("CK_BYTE[]", bytes([fill]) * max(cap, 1))
        n = self.raw.ulong_ptr(max(cap, 0))
        fl = (CKF_END_OF_MESSAGE if last else 0) if flags is None else flags
        rv = self.raw.call(f"C_{what}MessageNext", self.h, p.ptr if p else ffi.NULL,
                           p.size if p else 0, data, len(data), out, n, fl)
        got = b"" if cap <= 0 else ffi.buffer(out, cap)[:]
        return rv, got, int(n[0])

    def seal(self, p: Params, aad: bytes, data: bytes) -> bytes:
        """C_EncryptMessage that must succeed: the ciphertext."""
        rv, out, n = self.one("Encrypt", p, aad, data)
        assert rv == 0, f"C_EncryptMessage: {rv:#x}"
        return out[:n]
