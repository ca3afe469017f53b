"""A plain-Python AES-GCM reference for IV lengths `cryptography` does not take.

`cryptography` accepts GCM IVs of 8 to 128 bytes only; PKCS#11 3.0 CK_GCM_PARAMS allows any
length from 1 to 2^32 - 1 bytes (SP 800-38D 5.2.1.1). This follows SP 800-38D 7.1 step by
step, with AES itself from `cryptography` (ECB on single blocks), so the token's answer for
every IV length has an independent oracle. Slow (bitwise GF(2^128) multiply): for tests.
"""

from __future__ import annotations

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

_R = 0xE1 << 120  # SP 800-38D 6.3: R = 11100001 || 0^120


def _mul(x: int, y: int) -> int:
    """X . Y in GF(2^128) with GCM's bit order (SP 800-38D 6.3, algorithm 1)."""
    z, v = 0, y
    for i in range(127, -1, -1):
        if (x >> i) & 1:
            z ^= v
        v = (v >> 1) ^ _R if v & 1 else v >> 1
    return z


def _ghash(h: int, data: bytes) -> int:
    """GHASH_H of ``data`` zero-padded to whole blocks (SP 800-38D 6.4)."""
    y = 0
    for i in range(0, len(data), 16):
        y = _mul(y ^ int.from_bytes(data[i:i + 16].ljust(16, b"\0"), "big"), h)
    return y


def _pad(data: bytes) -> bytes:
    return data + bytes(-len(data) % 16)


def _inc32(block: bytes) -> bytes:
    low = (int.from_bytes(block[12:], "big") + 1) & 0xFFFFFFFF
    return block[:12] + low.to_bytes(4, "big")


def seal(key: bytes, iv: bytes, aad: bytes, plaintext: bytes, tag_len: int = 16) -> bytes:
    """GCM-AE_K(IV, P, A) as ciphertext || MSB_tag_len(T) (SP 800-38D 7.1).
    Raises ValueError for an empty IV (5.2.1.1: 1 <= len(IV))."""
    if not iv:
        raise ValueError("GCM IV must be at least one byte")
    enc = Cipher(algorithms.AES(key), modes.ECB()).encryptor()
    h = int.from_bytes(enc.update(bytes(16)), "big")
    if len(iv) == 12:
        j0 = iv + b"\0\0\0\1"
    else:
        lens = (8 * len(iv)).to_bytes(16, "big")
        j0 = _ghash(h, _pad(iv) + lens).to_bytes(16, "big")
    counters, cb = [], j0
    for _ in range(-(-len(plaintext) // 16)):
        cb = _inc32(cb)
        counters.append(cb)
    stream = enc.update(b"".join(counters)) if counters else b""
    ct = bytes(p ^ s for p, s in zip(plaintext, stream, strict=False))
    lens = (8 * len(aad)).to_bytes(8, "big") + (8 * len(ct)).to_bytes(8, "big")
    s = _ghash(h, _pad(aad) + _pad(ct) + lens)
    tag = (int.from_bytes(enc.update(j0), "big") ^ s).to_bytes(16, "big")
    return ct + tag[:tag_len]
