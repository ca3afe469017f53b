"""The streaming envelope format (``KSS1``): a header, then sealed chunks.

Layout (integers big-endian; docs/manager.md has the same table)::

    header   b"KSS1" | u8 format version (1 or 2) | u8 IV mode | u16 name length
             | key name (UTF-8) | u32 key version | u32 chunk size | 16-byte file nonce
             [format 2 only: | u16 wrapped length | wrapped data key]
    chunk i  u8 flags (bit 0: final) | u32 plaintext length | 12-byte IV | 16-byte tag
             | ciphertext

Format 1 seals the chunks with the named key version itself. Format 2 is envelope
encryption: the chunks are sealed with a data key used for this stream, which the header
carries wrapped (RFC 3394) under the named key-wrapping key's version; opening the stream
unwraps it inside the token. IV modes: 1 token-made (message API), 2 counter IVs made by the
manager, 3 random IVs (a stream sealed outside the token, :mod:`.local_stream`).

Each chunk is AES-GCM with associated data
``SHA-256(header) | u64 i | u8 final | caller's AAD`` (the STREAM construction of Hoang,
Reyhanitabar, Rogaway and Vizar, "Online authenticated-encryption and its nonce-reuse
misuse-resistance", CRYPTO 2015): a chunk moved to another index, taken from another stream
(another header: the file nonce differs) or presented as the last when it was not fails its
tag, and a stream whose last chunk is not marked final is truncated. Every chunk but the last
holds exactly the chunk size; the last holds 0 up to the chunk size (an empty input is one
empty final chunk); nothing may follow it. In format 2 the hashed header leaves out the key
reference and the wrapped key (``b"KSS1" | u8 2 | u8 IV mode | u32 chunk size | nonce``),
so that ``rewrap`` can re-wrap the data key under a newer version without touching a chunk:
the wrapped key authenticates itself (RFC 3394's integrity check) and a chunk authenticates
only under its data key.
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass
from typing import BinaryIO

from .errors import IntegrityError

MAGIC = b"KSS1"
FORMAT_VERSION, FORMAT_DATAKEY = 1, 2  # sealed with the key itself; with a wrapped data key
#: token-made IVs (message API); manager counter IVs (C_Encrypt); random IVs (local sealing)
IV_TOKEN, IV_COUNTER, IV_RANDOM = 1, 2, 3
WRAPPED_LENGTHS = (24, 32, 40)  # an AES-128/192/256 data key wrapped by RFC 3394
IV_LEN, TAG_LEN, NONCE_LEN = 12, 16, 16
DEFAULT_CHUNK = 1 << 20
MIN_CHUNK, MAX_CHUNK = 1 << 12, 1 << 26
FINAL = 0x01
_FIXED = struct.Struct(">4sBBH")
_TAIL = struct.Struct(">II16s")
_WRAPPED = struct.Struct(">H")
_BODY = struct.Struct(">4sBBI16s")
RECORD = struct.Struct(">BI12s16s")


@dataclass(frozen=True)
class StreamHeader:
    key_name: str
    version: int
    chunk_size: int
    iv_mode: int
    nonce: bytes
    wrapped: bytes = b""  # format 2: the data key, wrapped under key_name's version

    @property
    def format(self) -> int:
        return FORMAT_DATAKEY if self.wrapped else FORMAT_VERSION

    def pack(self) -> bytes:
        raw = self.key_name.encode("utf-8")
        out = (_FIXED.pack(MAGIC, self.format, self.iv_mode, len(raw)) + raw
               + _TAIL.pack(self.version, self.chunk_size, self.nonce))
        if self.wrapped:
            out += _WRAPPED.pack(len(self.wrapped)) + self.wrapped
        return out

    def digest(self, packed: bytes) -> bytes:
        """The header's part of every chunk's AAD (``packed``: this header as read)."""
        if not self.wrapped:
            return header_digest(packed)
        return header_digest(_BODY.pack(MAGIC, FORMAT_DATAKEY, self.iv_mode, self.chunk_size,
                                        self.nonce))

    @classmethod
    def new(cls, key_name: str, version: int, chunk_size: int, iv_mode: int,
            wrapped: bytes = b"") -> StreamHeader:
        if not MIN_CHUNK <= chunk_size <= MAX_CHUNK:
            raise ValueError(f"chunk size must be {MIN_CHUNK}..{MAX_CHUNK} bytes")
        if wrapped and len(wrapped) not in WRAPPED_LENGTHS:
            raise ValueError("a wrapped data key is 24, 32 or 40 bytes")
        return cls(key_name, version, chunk_size, iv_mode, os.urandom(NONCE_LEN), wrapped)


def chunk_aad(header_digest: bytes, index: int, final: bool, aad: bytes) -> bytes:
    """The associated data of chunk ``index``."""
    return header_digest + struct.pack(">QB", index, FINAL if final else 0) + aad


def read_exact(src: BinaryIO, n: int) -> bytes:
    """``n`` bytes, fewer only at the end of ``src``."""
    parts, left = [], n
    while left:
        got = src.read(left)
        if not got:
            break
        parts.append(got)
        left -= len(got)
    return b"".join(parts)


def readinto_exact(src: BinaryIO, view: memoryview) -> int:
    """Fill ``view`` from ``src``; return how many bytes came (fewer only at the end)."""
    done = 0
    while done < len(view):
        got = src.readinto(view[done:])
        if not got:
            break
        done += got
    return done


def read_header(src: BinaryIO, first: bytes = b"") -> tuple[StreamHeader, bytes]:
    """Parse a header from ``src`` (after ``first``, bytes already read from it); return it
    and its packed bytes. Raises IntegrityError when it is not a KSS1 header."""
    head = first + read_exact(src, _FIXED.size - len(first))
    if len(head) < _FIXED.size:
        raise IntegrityError("not a keystead stream (too short)")
    magic, fmt, mode, n = _FIXED.unpack(head)
    if magic != MAGIC:
        raise IntegrityError("not a keystead stream")
    if fmt not in (FORMAT_VERSION, FORMAT_DATAKEY) or mode not in (IV_TOKEN, IV_COUNTER,
                                                                  IV_RANDOM):
        raise IntegrityError(f"unsupported keystead stream format {fmt}.{mode}")
    rest = read_exact(src, n + _TAIL.size)
    if len(rest) < n + _TAIL.size:
        raise IntegrityError("keystead stream header cut short")
    try:
        name = rest[:n].decode("utf-8")
    except UnicodeDecodeError:
        raise IntegrityError("keystead stream header names no key") from None
    version, chunk, nonce = _TAIL.unpack(rest[n:])
    if not MIN_CHUNK <= chunk <= MAX_CHUNK:
        raise IntegrityError(f"keystead stream chunk size {chunk} is out of range")
    wrapped = b""
    if fmt == FORMAT_DATAKEY:
        size = read_exact(src, _WRAPPED.size)
        length = _WRAPPED.unpack(size)[0] if len(size) == _WRAPPED.size else 0
        if length not in WRAPPED_LENGTHS:
            raise IntegrityError("keystead stream header has no valid wrapped data key")
        wrapped = read_exact(src, length)
        if len(wrapped) < length:
            raise IntegrityError("keystead stream header cut short")
        rest += size + wrapped
    return StreamHeader(name, version, chunk, mode, nonce, wrapped), head + rest


def header_digest(packed: bytes) -> bytes:
    import hashlib  # here: start-up time (docs/manager.md)

    return hashlib.sha256(packed).digest()
