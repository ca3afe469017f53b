"""Helpers of the token-operation tests (token/ops.h through keystead._core).

They build CK_MECHANISM values with their parameters kept alive, and wrap every ks_op_* call
so that it returns the exact CK_RV with the output, never hiding a failure. An output size
of ``QUERY`` makes the call a PKCS#11 length query (NULL output buffer).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

from keystead.core import ffi, lib

QUERY = -1
KEY_SIZES = (16, 24, 32)
ENCRYPT = lib.KS_OP_ENCRYPT
DECRYPT = lib.KS_OP_DECRYPT
SIGN = lib.KS_OP_SIGN
VERIFY = lib.KS_OP_VERIFY
DIGEST = lib.KS_OP_DIGEST


def rng(seed: str) -> random.Random:
    """A deterministic generator per test, so a failure reproduces."""
    return random.Random(seed)


@dataclass
class Mech:
    """A CK_MECHANISM and everything its parameter points to."""

    ptr: Any
    keep: list[Any] = field(default_factory=list)


def mechanism(mtype: int, param: bytes | Any | None = None, length: int | None = None) -> Mech:
    """CK_MECHANISM of mtype; param is raw bytes, a cffi struct pointer, or None.

    length overrides ulParameterLen (to test malformed parameters).
    """
    m = ffi.new("CK_MECHANISM *")
    m.mechanism = mtype
    keep: list[Any] = []
    if param is None:
        m.pParameter = ffi.NULL
        m.ulParameterLen = 0
    elif isinstance(param, bytes):
        buf = ffi.new("uint8_t[]", param if param else b"\0")
        keep.append(buf)
        m.pParameter = buf
        m.ulParameterLen = len(param)
    else:
        keep.append(param)
        m.pParameter = param
        item = ffi.typeof(param).item
        m.ulParameterLen = 0 if item.cname == "void" else ffi.sizeof(item)
    if length is not None:
        m.ulParameterLen = length
    return Mech(m, keep)


def gcm_mech(iv: bytes, aad: bytes = b"", tag_bits: int = 128, iv_bits: int | None = None) -> Mech:
    """CKM_AES_GCM with a CK_GCM_PARAMS."""
    p = ffi.new("CK_GCM_PARAMS *")
    iv_buf = ffi.new("CK_BYTE[]", iv if iv else b"\0")
    aad_buf = ffi.new("CK_BYTE[]", aad) if aad else ffi.NULL
    p.pIv = iv_buf if iv else ffi.NULL
    p.ulIvLen = len(iv)
    p.ulIvBits = len(iv) * 8 if iv_bits is None else iv_bits
    p.pAAD = aad_buf
    p.ulAADLen = len(aad)
    p.ulTagBits = tag_bits
    mech = mechanism(lib.CKM_AES_GCM, p)
    mech.keep += [iv_buf, aad_buf]
    return mech


def ctr_mech(counter: bytes, bits: int = 128) -> Mech:
    """CKM_AES_CTR with a CK_AES_CTR_PARAMS."""
    p = ffi.new("CK_AES_CTR_PARAMS *")
    p.ulCounterBits = bits
    p.cb = list(counter)
    return mechanism(lib.CKM_AES_CTR, p)


def general_mech(mtype: int, mac_len: int) -> Mech:
    """A *_GENERAL MAC mechanism with its CK_MAC_GENERAL_PARAMS."""
    return mechanism(mtype, ffi.new("CK_MAC_GENERAL_PARAMS *", mac_len))


def key_ref(value: bytes, ktype: int = lib.CKK_AES) -> tuple[Any, Any]:
    """(ks_key_ref *, buffer) — keep the buffer alive as long as the reference."""
    buf = ffi.new("uint8_t[]", value if value else b"\0")
    ref = ffi.new("ks_key_ref *")
    ref.type = ktype
    ref.value = buf
    ref.len = len(value)
    return ref, buf


def _out(room: int | None, default: int) -> tuple[Any, Any]:
    size = default if room is None else room
    out = ffi.NULL if size == QUERY else ffi.new("uint8_t[]", max(size, 1))
    n = ffi.new("CK_ULONG *", 0 if size == QUERY else size)
    return out, n


class Op:
    """One ks_op; ``rv`` is ks_op_new's result (the op is None when it failed)."""

    def __init__(self, kind: int, mech: Mech, key: bytes | None = None,
                 key_type: int = lib.CKK_AES) -> None:
        self.mech = mech
        self.key = None if key is None else key_ref(key, key_type)
        holder = ffi.new("ks_op **")
        self.rv = lib.ks_op_new(holder, kind, mech.ptr, ffi.NULL if key is None else self.key[0])
        self.op = holder[0] if self.rv == lib.CKR_OK else None

    def __enter__(self) -> Op:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        self.close()

    def close(self) -> None:
        if self.op is not None:
            lib.ks_op_free(self.op)
            self.op = None

    def oneshot(self, data: bytes, room: int | None = None) -> tuple[int, bytes, int]:
        """(rv, output, *out_len) of ks_op_oneshot; room is the output size (QUERY: NULL)."""
        out, n = _out(room, len(data) + 64)
        rv = lib.ks_op_oneshot(self.op, out, n, data, len(data))
        got = b"" if out == ffi.NULL or rv != lib.CKR_OK else bytes(out[0 : n[0]])
        return rv, got, n[0]

    def update(self, data: bytes, room: int | None = None) -> tuple[int, bytes, int]:
        out, n = _out(room, len(data) + 32)
        rv = lib.ks_op_update(self.op, out, n, data, len(data))
        got = b"" if out == ffi.NULL or rv != lib.CKR_OK else bytes(out[0 : n[0]])
        return rv, got, n[0]

    def feed(self, data: bytes) -> int:
        """Update of sign, verify and digest (no output)."""
        return lib.ks_op_update(self.op, ffi.NULL, ffi.NULL, data, len(data))

    def final(self, room: int | None = None) -> tuple[int, bytes, int]:
        out, n = _out(room, 1 << 16)
        rv = lib.ks_op_final(self.op, out, n)
        got = b"" if out == ffi.NULL or rv != lib.CKR_OK else bytes(out[0 : n[0]])
        return rv, got, n[0]

    def verify(self, data: bytes, sig: bytes) -> int:
        return lib.ks_op_verify(self.op, data, len(data), sig, len(sig))

    def verify_final(self, sig: bytes) -> int:
        return lib.ks_op_verify_final(self.op, sig, len(sig))

    def digest_key(self, value: bytes, ktype: int = lib.CKK_GENERIC_SECRET) -> int:
        ref, buf = key_ref(value, ktype)
        return lib.ks_op_digest_key(self.op, ref)


def run_oneshot(kind: int, mech: Mech, key: bytes | None, data: bytes,
                key_type: int = lib.CKK_AES) -> tuple[int, bytes]:
    """Create, run single-part and free: (rv of the first failing step or of the call, out)."""
    with Op(kind, mech, key, key_type) as op:
        if op.rv != lib.CKR_OK:
            return op.rv, b""
        rv, out, _ = op.oneshot(data)
        return rv, out


def run_parts(kind: int, mech: Mech, key: bytes, parts: list[bytes],
              key_type: int = lib.CKK_AES) -> tuple[int, bytes]:
    """Multi-part encrypt/decrypt: (rv, concatenated output of the updates and the final)."""
    with Op(kind, mech, key, key_type) as op:
        assert op.rv == lib.CKR_OK
        out = b""
        for part in parts:
            rv, got, _ = op.update(part)
            if rv != lib.CKR_OK:
                return rv, out
            out += got
        rv, got, _ = op.final()
        return rv, out + got


def splits(data: bytes, cuts: list[int]) -> list[bytes]:
    """data cut at the given ascending offsets."""
    bounds = [0, *cuts, len(data)]
    return [data[a:b] for a, b in zip(bounds, bounds[1:], strict=False)]


def wrap(mech: Mech, kek: bytes, value: bytes, alias: int = 0, room: int | None = None,
         kek_type: int = lib.CKK_AES) -> tuple[int, bytes, int]:
    """ks_wrap of value under kek: (rv, wrapped, *out_len)."""
    ref, buf = key_ref(kek, kek_type)
    out, n = _out(room, len(value) + 64)
    rv = lib.ks_wrap(mech.ptr, ref, alias, out, n, value, len(value))
    got = b"" if out == ffi.NULL or rv != lib.CKR_OK else bytes(out[0 : n[0]])
    return rv, got, n[0]


def unwrap(mech: Mech, kek: bytes, wrapped: bytes, alias: int = 0, room: int | None = None,
           kek_type: int = lib.CKK_AES) -> tuple[int, bytes, int]:
    """ks_unwrap of wrapped under kek: (rv, value, *out_len)."""
    ref, buf = key_ref(kek, kek_type)
    size = len(wrapped) if room is None else room
    out = ffi.NULL if size == QUERY else ffi.new("uint8_t[]", max(size, 1))
    n = ffi.new("size_t *", 0)
    rv = lib.ks_unwrap(mech.ptr, ref, alias, out, n, max(size, 0), wrapped, len(wrapped))
    got = b"" if out == ffi.NULL or rv != lib.CKR_OK else bytes(out[0 : n[0]])
    return rv, got, n[0]
