"""AES-GCM over a stream's chunks in the token, one chunk at a time, without copies where
the token allows it.

On keystead's token a :class:`MessageChunks` runs the PKCS#11 3.0 message API
(``C_MessageEncryptInit`` once, ``C_EncryptMessage`` per chunk) with token-made IVs
(``CKG_GENERATE_COUNTER``, SP 800-38D 8.2.1: a 32-bit fixed field and the key's persisted
invocation counter, so no IV repeats across processes, crashes or restarts); input and output
are the caller's buffers (``ffi.from_buffer``). On any other token a :class:`SingleChunks`
runs ``C_Encrypt``/``C_Decrypt`` with the IV the manager gives (see :mod:`.stream` for how
that IV is made unique per key version).
"""

from __future__ import annotations

from typing import Any

from keystead.softhsm_bridge import errors as bridge_errors

from .errors import IntegrityError, TokenFailure

CKM_AES_GCM = 0x1087
CKG_GENERATE_COUNTER, CKG_GENERATE_RANDOM = 2, 3
IV_LEN, TAG_LEN = 12, 16
_TAG_FAILURES = frozenset({0x40, 0x41})  # CKR_ENCRYPTED_DATA_INVALID, _LEN_RANGE


class MessageChunks:
    """Token-made IVs through the message API (keystead's token). Use as a context manager."""

    token_makes_iv = True

    def __init__(self, raw: Any, session: int, key: int, encrypt: bool,
                 tag_failures: frozenset[int] = _TAG_FAILURES, *,
                 random_iv: bool = False) -> None:
        self.raw, self.session, self.key, self.encrypt = raw, session, key, encrypt
        self.what = "Encrypt" if encrypt else "Decrypt"
        self.tag_failures = tag_failures
        ffi = raw.ffi
        self.ffi = ffi
        self.params = ffi.new("CK_GCM_MESSAGE_PARAMS *")
        self.iv = ffi.new("CK_BYTE[]", IV_LEN)
        self.tag = ffi.new("CK_BYTE[]", TAG_LEN)
        self.params.pIv, self.params.ulIvLen = self.iv, IV_LEN
        # sealing: a 32-bit fixed field and the key's invocation counter (8.2.1), or with
        # ``random_iv`` 96 random bits (8.2.2: a key whose counter is not its own, such as a
        # data key unwrapped again for each stream it seals)
        self.random_iv = random_iv
        self.params.ulIvFixedBits = 32 if encrypt and not random_iv else 0
        self.params.ivGenerator = (0 if not encrypt else CKG_GENERATE_RANDOM if random_iv
                                   else CKG_GENERATE_COUNTER)
        self.params.pTag, self.params.ulTagBits = self.tag, 8 * TAG_LEN
        self.size = ffi.sizeof("CK_GCM_MESSAGE_PARAMS")
        self.out_len = ffi.new("CK_ULONG *")
        self.fn = raw.function(f"C_{self.what}Message")
        self._open = False

    def __enter__(self) -> MessageChunks:
        mech = self.raw.mechanism(CKM_AES_GCM, None)
        rv = self.raw.call(f"C_Message{self.what}Init", self.session, mech.ptr, self.key)
        if rv:
            raise TokenFailure(f"C_Message{self.what}Init: the token answered "
                               f"{bridge_errors.rv_name(rv)}")
        self._open = True
        return self

    def __exit__(self, *exc: object) -> None:
        if self._open:
            self._open = False
            self.raw.call(f"C_Message{self.what}Final", self.session)

    def seal(self, aad: bytes, src: memoryview, dst: bytearray,
             fixed: bytes) -> tuple[bytes, bytes]:
        """Encrypt ``src`` into ``dst`` (same length); return (IV, tag). ``fixed`` is the
        IV's 4-byte fixed field (unused with random IVs)."""
        ffi = self.ffi
        if not self.random_iv:
            ffi.memmove(self.iv, fixed, 4)
        n = len(src)
        self.out_len[0] = len(dst)
        rv = self.fn(self.session, self.params, self.size, aad, len(aad),
                     ffi.from_buffer(src) if n else ffi.NULL, n,
                     ffi.from_buffer(dst), self.out_len)
        if rv:
            raise TokenFailure(f"C_EncryptMessage: the token answered {bridge_errors.rv_name(rv)}")
        return bytes(ffi.buffer(self.iv, IV_LEN)), bytes(ffi.buffer(self.tag, TAG_LEN))

    def open(self, aad: bytes, src: memoryview, dst: bytearray, iv: bytes, tag: bytes) -> None:
        """Decrypt and verify ``src`` into ``dst``; IntegrityError when the tag fails."""
        ffi = self.ffi
        ffi.memmove(self.iv, iv, IV_LEN)
        ffi.memmove(self.tag, tag, TAG_LEN)
        n = len(src)
        self.out_len[0] = len(dst)
        rv = self.fn(self.session, self.params, self.size, aad, len(aad),
                     ffi.from_buffer(src) if n else ffi.NULL, n,
                     ffi.from_buffer(dst), self.out_len)
        if rv in self.tag_failures:
            raise IntegrityError("the stream does not authenticate (wrong AAD, or tampered, "
                                 "reordered or spliced chunks)")
        if rv:
            raise TokenFailure(f"C_DecryptMessage: the token answered {bridge_errors.rv_name(rv)}")


class SingleChunks:
    """C_Encrypt / C_Decrypt with the manager's IV (tokens without the message API)."""

    token_makes_iv = False

    def __init__(self, raw: Any, session: int, key: int, tag_failures: frozenset[int]) -> None:
        self.raw, self.session, self.key, self.tag_failures = raw, session, key, tag_failures

    def __enter__(self) -> SingleChunks:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def seal(self, aad: bytes, src: memoryview, dst: bytearray, iv: bytes) -> tuple[bytes, bytes]:
        raw = self.raw
        try:
            out = raw.encrypt(self.session, CKM_AES_GCM, self.key, bytes(src),
                              raw.gcm(iv, aad, 8 * TAG_LEN))
        except bridge_errors.PKCS11Error as exc:
            raise TokenFailure(f"C_Encrypt: the token answered {exc.name}") from exc
        n = len(src)
        dst[:n] = out[:n]
        return iv, out[n:]

    def open(self, aad: bytes, src: memoryview, dst: bytearray, iv: bytes, tag: bytes) -> None:
        raw = self.raw
        try:
            out = raw.decrypt(self.session, CKM_AES_GCM, self.key, bytes(src) + tag,
                              raw.gcm(iv, aad, 8 * TAG_LEN))
        except bridge_errors.PKCS11Error as exc:
            if exc.rv in self.tag_failures:
                raise IntegrityError("the stream does not authenticate (wrong AAD, or "
                                     "tampered, reordered or spliced chunks)") from exc
            raise TokenFailure(f"C_Decrypt: the token answered {exc.name}") from exc
        dst[: len(out)] = out
