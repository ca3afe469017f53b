"""Offline cryptography of the attacker: AES by hand and RFC 3394 computed block by block.

The attacks turn a token into a raw block oracle (one AES encryption or decryption of a
chosen block under a key they cannot read); :func:`kw_wrap_with` and :func:`kw_unwrap_with`
compute an RFC 3394 wrapping or unwrapping from such an oracle, as an attacker would.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.keywrap import aes_key_unwrap, aes_key_wrap

Block = Callable[[bytes], bytes]
KW_IV = bytes.fromhex("A6A6A6A6A6A6A6A6")  # RFC 3394 2.2.3.1


def aes_block(key: bytes, block: bytes) -> bytes:
    """AES encryption of one 16-byte block under ``key``."""
    enc = Cipher(algorithms.AES(key), modes.ECB()).encryptor()
    return enc.update(block) + enc.finalize()


def aes_check_value(key: bytes) -> bytes:
    """The PKCS#11 check value of an AES key: the first 3 bytes of E(key, 0^128)."""
    return aes_block(key, bytes(16))[:3]


def generic_check_value(value: bytes) -> bytes:
    """The PKCS#11 check value of a generic secret key: the first 3 bytes of SHA-1(value)."""
    return hashlib.sha1(value).digest()[:3]


def kw_wrap(kek: bytes, key: bytes) -> bytes:
    """RFC 3394 wrapping done by the attacker with a KEK it knows."""
    return aes_key_wrap(kek, key)


def kw_unwrap(kek: bytes, blob: bytes) -> bytes:
    """RFC 3394 unwrapping done by the attacker with a KEK it knows."""
    return aes_key_unwrap(kek, blob)


def kw_wrap_with(encrypt_block: Block, key: bytes) -> bytes:
    """RFC 3394 2.2.1 (index form) with each AES encryption done by ``encrypt_block``."""
    n = len(key) // 8
    a = KW_IV
    r = [key[8 * i:8 * i + 8] for i in range(n)]
    for j in range(6):
        for i in range(n):
            b = encrypt_block(a + r[i])
            t = n * j + i + 1
            a = (int.from_bytes(b[:8], "big") ^ t).to_bytes(8, "big")
            r[i] = b[8:]
    return a + b"".join(r)


def kw_unwrap_with(decrypt_block: Block, blob: bytes) -> bytes | None:
    """RFC 3394 2.2.2 with each AES decryption done by ``decrypt_block``; None when the
    integrity check fails."""
    n = len(blob) // 8 - 1
    a = blob[:8]
    r = [blob[8 * (i + 1):8 * (i + 2)] for i in range(n)]
    for j in range(5, -1, -1):
        for i in range(n - 1, -1, -1):
            t = n * j + i + 1
            b = decrypt_block((int.from_bytes(a, "big") ^ t).to_bytes(8, "big") + r[i])
            a = b[:8]
            r[i] = b[8:]
    return b"".join(r) if a == KW_IV else None


def xor(a: bytes, b: bytes) -> bytes:
    return bytes(x ^ y for x, y in zip(a, b, strict=True))
