"""Envelope encryption in the application's own process: seal a KSS1 stream (format 2,
:mod:`.stream_format`) with a data key from ``keystead datakey --plaintext``, without the
token, and open such a stream with the same data key.

The stream carries the wrapped data key, so ``keystead decrypt`` opens it too: the token
unwraps the data key and decrypts inside itself (docs/manager.md, "Data keys")::

    from keystead.manager.local_stream import seal
    seal(data_key, wrapped_blob, open("report.pdf", "rb"), open("report.kss", "wb"))
    # later, anywhere with the user PIN:  keystead decrypt --in report.kss --out report.pdf

Each chunk gets a random 96-bit IV (SP 800-38D 8.2.2): one data key may seal at most 2^32
chunks in all, across every stream it seals (``keystead datakey`` makes a fresh key cheaply:
take one per stream). The plaintext data key is a secret: keep it in memory only.
"""

from __future__ import annotations

import os
from typing import BinaryIO

from .datakey import parse_datakey
from .errors import IntegrityError
from .stream_format import (
    DEFAULT_CHUNK,
    FINAL,
    IV_LEN,
    IV_RANDOM,
    RECORD,
    TAG_LEN,
    StreamHeader,
    chunk_aad,
    read_exact,
    read_header,
)


def _aesgcm(data_key: bytes):
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM  # here: start-up time

    if len(data_key) not in (16, 24, 32):
        raise IntegrityError("a data key is 16, 24 or 32 bytes")
    return AESGCM(data_key)


def seal(data_key: bytes, wrapped_datakey: bytes, src: BinaryIO, dst: BinaryIO,
         aad: bytes = b"", *, chunk_size: int = DEFAULT_CHUNK) -> int:
    """Encrypt ``src`` to ``dst`` with ``data_key``; ``wrapped_datakey`` is the same key as
    ``keystead datakey`` gave it (the ``KSD1`` blob), which the stream's header carries.
    Returns the plaintext bytes. Holds one chunk in memory."""
    dk = parse_datakey(wrapped_datakey)
    aead = _aesgcm(data_key)
    header = StreamHeader.new(dk.kek_name, dk.kek_version, chunk_size, IV_RANDOM, dk.wrapped)
    packed = header.pack()
    digest = header.digest(packed)
    dst.write(packed)
    total, index = 0, 0
    chunk = read_exact(src, chunk_size)
    while True:
        after = read_exact(src, chunk_size) if len(chunk) == chunk_size else b""
        final = not after
        iv = os.urandom(IV_LEN)
        sealed = aead.encrypt(iv, chunk, chunk_aad(digest, index, final, aad))
        dst.write(RECORD.pack(FINAL if final else 0, len(chunk), iv, sealed[-TAG_LEN:]))
        dst.write(memoryview(sealed)[:-TAG_LEN])
        total += len(chunk)
        index += 1
        if final:
            return total
        chunk = after


def open_stream(data_key: bytes, src: BinaryIO, dst: BinaryIO, aad: bytes = b"") -> int:
    """Decrypt a format-2 stream sealed with ``data_key`` (by :func:`seal` or by
    ``keystead encrypt`` with a key-wrapping key); returns the plaintext bytes. Raises
    IntegrityError when a chunk does not authenticate or the stream is cut or reordered."""
    from cryptography.exceptions import InvalidTag  # here: start-up time

    from .stream import read_records

    header, packed = read_header(src)
    if not header.wrapped:
        raise IntegrityError("this stream is sealed with a key in the token, not a data key")
    aead = _aesgcm(data_key)
    digest = header.digest(packed)
    total = 0
    for index, final, n, iv, tag in read_records(header, src):
        ct = read_exact(src, n)
        if len(ct) < n:
            raise IntegrityError(f"chunk {index} is cut short")
        try:
            dst.write(aead.decrypt(iv, ct + tag, chunk_aad(digest, index, final, aad)))
        except InvalidTag:
            raise IntegrityError("the stream does not authenticate (wrong AAD or data key, "
                                 "or tampered, reordered or spliced chunks)") from None
        total += n
    return total
