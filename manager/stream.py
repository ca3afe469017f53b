"""Streaming envelope encryption: files of any size in constant memory (:mod:`.stream_format`).

Each chunk is sealed by the token with the key's current version. On keystead's token the
token makes every IV (message API, its persisted invocation counter). On other tokens the
manager makes them: IV = a 4-byte random per-stream field | the 8-byte number the catalogue
reserved for that encryption (the version's usage count, reserved in blocks in write
transactions before use). The catalogue's count never falls below a number handed out (it
falls only by numbers given back unused, below), so two chunks of one version never share an
IV; if a catalogue were restored from an older copy, numbers could be handed
out again, and the random field then still keeps the chance of a repeated IV at 2^-32 per
reused number (keystead's token has no such bound: it counts in the token). Every chunk counts
as one use of the version in the catalogue, so the version's usage limit (2^32 GCM
invocations, SP 800-38D 8.3) bounds chunks too. Numbers reserved and not used are given back
when the stream ends (unless another stream reserved after them: the count then stays above
the chunks sealed by at most one block per stream that overlapped, never below).

With a key-wrapping key, ``encrypt_stream`` seals with a fresh data key made in the token for
this stream (format 2): the key-wrapping key's version counts one use (the wrap), and the
chunks take counter IVs from 0 (or token-made IVs) under a key no other stream uses.
"""

from __future__ import annotations

import itertools
import os
import struct
from collections.abc import Callable
from dataclasses import replace
from typing import BinaryIO

from .base import ManagerBase
from .errors import IntegrityError, ManagerError, OperationRefused
from .lifecycle import can_process
from .models import KeyRecord, VersionRecord
from .policy import KeyType
from .store import CatalogueTx
from .stream_format import (
    DEFAULT_CHUNK,
    FINAL,
    IV_COUNTER,
    IV_LEN,
    IV_RANDOM,
    IV_TOKEN,
    RECORD,
    TAG_LEN,
    StreamHeader,
    chunk_aad,
    read_exact,
    read_header,
    readinto_exact,
)

RESERVE = 256  # chunk numbers reserved per catalogue transaction
Progress = Callable[[int], None] | None


class _Reservation:
    """Usage numbers of one version, reserved from the catalogue in blocks before use; what
    is left of the last block is given back by :meth:`release`."""

    def __init__(self, km: StreamMixin, key: KeyRecord, ver: VersionRecord) -> None:
        self.km, self.key, self.ver = km, key, ver
        self.next = ver.usage_count  # the number _protecting_version reserved
        self.end = ver.usage_count + 1

    def take(self) -> int:
        if self.next >= self.end:
            limit = self.key.policy.usage_limit
            with self.km.catalogue.transaction() as tx:
                count = tx.add_usage(self.ver.id, RESERVE)
                block = RESERVE
                if limit and count > limit:  # reserve only what the limit leaves
                    block -= min(count - limit, RESERVE)
                    count = tx.add_usage(self.ver.id, block - RESERVE)
            if not block:
                raise OperationRefused(
                    f"{self.key.name} v{self.ver.version} reached its usage limit {limit}")
            self.next, self.end = count - block + 1, count + 1
        number = self.next
        self.next += 1
        return number

    def release(self) -> None:
        """Give back the numbers reserved and not used, if no stream reserved after them."""
        left = self.end - self.next
        if left > 0:
            with self.km.catalogue.transaction() as tx:
                tx.give_back_usage(self.ver.id, self.end - 1, left)
            self.next = self.end


class StreamMixin(ManagerBase):
    """encrypt_stream / decrypt_stream / rewrap_stream (data-encryption keys)."""

    def encrypt_stream(self, key_name: str, src: BinaryIO, dst: BinaryIO, aad: bytes = b"",
                       subject: str = "", *, chunk_size: int = DEFAULT_CHUNK,
                       progress: Progress = None) -> tuple[int, int]:
        """Encrypt ``src`` to ``dst`` in the streaming format under the current version;
        returns (version, plaintext bytes). Holds one chunk in memory. With a key-wrapping
        key: envelope encryption, a fresh data key for the stream, carried wrapped in its
        header (format 2)."""
        def start(tx: CatalogueTx) -> tuple[KeyRecord, VersionRecord]:
            op = "wrap" if _wraps(self.load_key(tx, key_name)) else "encrypt"
            return self._protecting_version(tx, key_name, op)  # type: ignore[attr-defined]

        key, ver = self.audited("encrypt", key_name, None, subject, start)
        envelope = _wraps(key)
        try:
            if envelope:
                total, chunks = self._seal_with_data_key(key, ver, src, dst, aad, chunk_size,
                                                         progress)
            else:
                total, chunks = self._seal_stream(key, ver, src, dst, aad, chunk_size,
                                                  progress)
        except ManagerError as exc:
            with self.catalogue.transaction() as tx:
                self.audit(tx, "encrypt", key.name, ver.version, subject,
                           result=f"failed: {exc}")
            raise
        import hashlib  # here: start-up time (docs/manager.md)

        with self.catalogue.transaction() as tx:
            self.audit(tx, "encrypt", key.name, ver.version, subject, bytes=total,
                       chunks=chunks, format="datakey-stream" if envelope else "stream",
                       aad_sha256=hashlib.sha256(aad).hexdigest())
        return ver.version, total

    def encrypt_with_datakey(self, datakey: bytes, src: BinaryIO, dst: BinaryIO,
                             aad: bytes = b"", subject: str = "", *,
                             chunk_size: int = DEFAULT_CHUNK, progress: Progress = None
                             ) -> tuple[str, int, int]:
        """Seal ``src`` to ``dst`` (format 2) with the data key of ``datakey`` (a wrapped
        data key from :meth:`datakey`), unwrapped inside the token into a session object
        that only encrypts and is destroyed at the end; returns (key-wrapping key, version,
        plaintext bytes). The key-wrapping key's version must be its current one and may
        protect (`rewrap` an older data key first); it counts one use. IVs are random
        (IV mode 3), as a data key may seal many streams: at most 2^32 chunks in all."""
        from .datakey import parse_datakey

        dk = parse_datakey(datakey)

        def start(tx: CatalogueTx) -> tuple[KeyRecord, VersionRecord]:
            key, ver = self._protecting_version(tx, dk.kek_name, "wrap")  # type: ignore[attr-defined]
            if ver.version != dk.kek_version:
                raise OperationRefused(
                    f"the data key is wrapped under {key.name} v{dk.kek_version}, not its "
                    f"current version v{ver.version}: `keystead rewrap` it first")
            return key, ver

        key, ver = self.audited("encrypt", dk.kek_name, None, subject, start)
        try:
            with self.token.unwrapped_chunks(bytes.fromhex(ver.object_id), dk.wrapped,
                                             encrypt=True) as cipher:
                header = StreamHeader.new(key.name, ver.version, chunk_size, IV_RANDOM,
                                          dk.wrapped)
                total, chunks = _seal_chunks(cipher, header, itertools.count().__next__,
                                             _plain_reader(src, chunk_size), dst, aad,
                                             progress)
        except ManagerError as exc:
            with self.catalogue.transaction() as tx:
                self.audit(tx, "encrypt", key.name, ver.version, subject,
                           result=f"failed: {exc}")
            raise
        import hashlib  # here: start-up time (docs/manager.md)

        with self.catalogue.transaction() as tx:
            self.audit(tx, "encrypt", key.name, ver.version, subject, bytes=total,
                       chunks=chunks, format="datakey-stream", datakey="given",
                       aad_sha256=hashlib.sha256(aad).hexdigest())
        return key.name, ver.version, total

    def _seal_stream(self, key: KeyRecord, ver: VersionRecord, src: BinaryIO, dst: BinaryIO,
                     aad: bytes, chunk_size: int, progress: Progress,
                     source: Callable[[memoryview], tuple[int, bool]] | None = None
                     ) -> tuple[int, int]:
        cipher = self.token.chunk_cipher(bytes.fromhex(ver.object_id), encrypt=True)
        mode = IV_TOKEN if cipher.token_makes_iv else IV_COUNTER
        header = StreamHeader.new(key.name, ver.version, chunk_size, mode)
        numbers = _Reservation(self, key, ver)
        try:
            with cipher:
                return _seal_chunks(cipher, header, numbers.take,
                                    source or _plain_reader(src, chunk_size), dst, aad,
                                    progress)
        finally:
            numbers.release()

    def _seal_with_data_key(self, key: KeyRecord, ver: VersionRecord, src: BinaryIO,
                            dst: BinaryIO, aad: bytes, chunk_size: int, progress: Progress
                            ) -> tuple[int, int]:
        with self.token.data_key_chunks(bytes.fromhex(ver.object_id)) as (wrapped, cipher):
            mode = IV_TOKEN if cipher.token_makes_iv else IV_COUNTER
            header = StreamHeader.new(key.name, ver.version, chunk_size, mode, wrapped)
            numbers = itertools.count().__next__  # a key of its own: counter IVs from 0
            return _seal_chunks(cipher, header, numbers, _plain_reader(src, chunk_size), dst,
                                aad, progress)

    def decrypt_stream(self, src: BinaryIO, dst: BinaryIO, aad: bytes = b"", *,
                       first: bytes = b"", key_name: str | None = None, override: bool = False,
                       reason: str = "", progress: Progress = None) -> tuple[str, int, int]:
        """Decrypt a stream from ``src`` (``first``: bytes already read from it) to ``dst``;
        returns (key name, version, plaintext bytes). Each chunk is written only after its
        tag verified; a stream that is cut short, reordered or spliced raises IntegrityError
        (what was written before must then be discarded: the CLI writes to a temporary file
        and renames it only on success)."""
        header, packed = read_header(src, first)
        key, ver = self._processing_version(header, key_name, override, reason)

        def sink(view: memoryview, final: bool) -> None:
            dst.write(view)
            if progress is not None:
                progress(len(view))

        try:
            total = self._open_stream(key, ver, header, packed, src, aad, override, reason,
                                      sink)
        except IntegrityError as exc:  # a failed authentication is always on record
            with self.catalogue.transaction() as tx:
                self.audit(tx, "decrypt", key.name, ver.version, reason,
                           result=f"failed: {exc}", format="stream")
            raise
        return key.name, ver.version, total

    def _processing_version(self, header: StreamHeader, key_name: str | None, override: bool,
                            reason: str) -> tuple[KeyRecord, VersionRecord]:
        if key_name is not None and key_name != header.key_name:
            raise OperationRefused(f"stream belongs to key {header.key_name!r}, not {key_name!r}")
        with self.reading() as tx:
            key = self.load_key(tx, header.key_name)
            ver = self.load_version(tx, key, header.version)
        try:
            self._check_processing(key, ver, override, reason)  # type: ignore[attr-defined]
        except OperationRefused as exc:
            with self.catalogue.transaction() as tx:
                self.audit(tx, "decrypt", key.name, ver.version, reason, result=f"refused: {exc}")
            raise
        return key, ver

    def _open_stream(self, key: KeyRecord, ver: VersionRecord, header: StreamHeader,
                     packed: bytes, src: BinaryIO, aad: bytes, override: bool, reason: str,
                     sink: Callable[[memoryview, bool], None]) -> int:
        oid = bytes.fromhex(ver.object_id)
        opened = not can_process(ver.state) and override
        if opened:
            with self.catalogue.transaction() as tx:
                self.audit(tx, "decrypt:override", key.name, ver.version, reason,
                           state=ver.state.value, format="stream")
            self.token.set_process_override(oid, self.spec(key), ver.state, True)
        try:
            if header.wrapped:
                opened_key = self.token.unwrapped_chunks(oid, header.wrapped)
            else:
                opened_key = self.token.chunk_cipher(oid, encrypt=False)
            with opened_key as cipher:
                return _open_chunks(cipher, header, packed, src, aad, sink)
        finally:
            if opened:
                self.token.set_process_override(oid, self.spec(key), ver.state, False)

    def rewrap_stream(self, src: BinaryIO, dst: BinaryIO, aad: bytes = b"", *,
                      first: bytes = b"", progress: Progress = None) -> tuple[str, int, int]:
        """Re-encrypt a stream under its key's current version, one chunk at a time: each
        chunk is opened by the token into one buffer and sealed again from it; no plaintext
        is written anywhere. Returns (key name, old version, new version)."""
        header, packed = read_header(src, first)
        if header.wrapped:
            return self._rewrap_data_key_stream(header, src, dst)
        old_key, old = self._processing_version(header, None, False, "")

        def start(tx: CatalogueTx) -> tuple[KeyRecord, VersionRecord]:
            return self._protecting_version(tx, header.key_name, "encrypt")  # type: ignore[attr-defined]

        key, new = self.audited("rewrap", header.key_name, None, "", start)
        oid = bytes.fromhex(old.object_id)
        try:
            with self.token.chunk_cipher(oid, encrypt=False) as opener:
                source = _opened_reader(opener, header, packed, src, aad)
                self._seal_stream(key, new, src, dst, aad, header.chunk_size, progress,
                                  source=source)
        except ManagerError as exc:
            with self.catalogue.transaction() as tx:
                self.audit(tx, "rewrap", key.name, new.version, "", result=f"failed: {exc}",
                           from_version=old.version, format="stream")
            raise
        with self.catalogue.transaction() as tx:
            self.audit(tx, "rewrap", key.name, new.version, "", from_version=old.version,
                       format="stream")
        return key.name, old.version, new.version


    def _rewrap_data_key_stream(self, header: StreamHeader, src: BinaryIO, dst: BinaryIO
                                ) -> tuple[str, int, int]:
        """A format-2 stream: re-wrap its data key inside the token and copy the chunks as
        they are (their AAD leaves the key reference out, :mod:`.stream_format`)."""
        import shutil  # here: start-up time (docs/manager.md)

        from .datakey import DataKey

        old = DataKey(header.key_name, header.version, header.wrapped)
        new = self.rewrap_datakey(old.blob())  # type: ignore[attr-defined]
        dst.write(replace(header, version=new.kek_version, wrapped=new.wrapped).pack())
        shutil.copyfileobj(src, dst, 1 << 20)
        return new.kek_name, old.kek_version, new.kek_version


def _wraps(key: KeyRecord) -> bool:
    """A key-wrapping key: its streams are sealed with a data key (format 2)."""
    return key.key_type is KeyType.SYMMETRIC_KEY_WRAPPING


def _seal_chunks(cipher, header: StreamHeader, numbers: Callable[[], int],
                 read: Callable[[memoryview], tuple[int, bool]], dst: BinaryIO, aad: bytes,
                 progress: Progress) -> tuple[int, int]:
    """Write ``header`` and the chunks ``read`` gives, sealed by the entered ``cipher``;
    ``numbers`` gives each chunk's IV number (counter IVs; called for every chunk, so it
    counts them). Returns (bytes, chunks)."""
    packed = header.pack()
    digest = header.digest(packed)
    fixed = os.urandom(4)
    random_ivs = header.iv_mode == IV_RANDOM
    chunk_size = header.chunk_size
    buf, out = bytearray(chunk_size), bytearray(chunk_size)
    view = memoryview(buf)
    dst.write(packed)
    total = index = 0
    while True:
        n, final = read(view)
        number = numbers()
        if random_ivs:  # 96 random bits (SP 800-38D 8.2.2); the token makes them if it can
            seal_iv = fixed if cipher.token_makes_iv else os.urandom(IV_LEN)
        else:
            seal_iv = fixed if cipher.token_makes_iv else fixed + struct.pack(">Q", number)
        iv, tag = cipher.seal(chunk_aad(digest, index, final, aad), view[:n], out, seal_iv)
        dst.write(RECORD.pack(FINAL if final else 0, n, iv, tag))
        dst.write(memoryview(out)[:n])
        total += n
        index += 1
        if progress is not None:
            progress(n)
        if final:
            return total, index


def _plain_reader(src: BinaryIO, chunk: int) -> Callable[[memoryview], tuple[int, bool]]:
    """Fill the chunk buffer from plaintext ``src``; a one-byte look-ahead tells the last."""
    carry = bytearray()

    def read(view: memoryview) -> tuple[int, bool]:
        start = len(carry)
        view[:start] = carry
        carry.clear()
        n = start + readinto_exact(src, view[start:chunk])
        if n < chunk:
            return n, True
        more = src.read(1)
        if not more:
            return n, True
        carry.extend(more)
        return n, False

    return read


def read_records(header: StreamHeader, src: BinaryIO):
    """(index, final, length, iv, tag) of each chunk record, checked for shape."""
    index = 0
    while True:
        raw = read_exact(src, RECORD.size)
        if not raw:
            raise IntegrityError("the stream is truncated (its last chunk is missing)")
        if len(raw) < RECORD.size:
            raise IntegrityError(f"chunk {index} is cut short")
        flags, n, iv, tag = RECORD.unpack(raw)
        final = bool(flags & FINAL)
        if flags & ~FINAL or n > header.chunk_size or (not final and n != header.chunk_size):
            raise IntegrityError(f"chunk {index} is malformed")
        yield index, final, n, iv, tag
        if final:
            if src.read(1):
                raise IntegrityError("data follows the stream's final chunk")
            return
        index += 1


def _open_chunks(cipher, header: StreamHeader, packed: bytes, src: BinaryIO, aad: bytes,
                 sink: Callable[[memoryview, bool], None]) -> int:
    digest = header.digest(packed)
    ct, out = bytearray(header.chunk_size), bytearray(header.chunk_size)
    total = 0
    for index, final, n, iv, tag in read_records(header, src):
        view = memoryview(ct)[:n]
        if readinto_exact(src, view) < n:
            raise IntegrityError(f"chunk {index} is cut short")
        cipher.open(chunk_aad(digest, index, final, aad), view, out, iv, tag[:TAG_LEN])
        sink(memoryview(out)[:n], final)
        total += n
    return total


def _opened_reader(opener, header: StreamHeader, packed: bytes, src: BinaryIO, aad: bytes
                   ) -> Callable[[memoryview], tuple[int, bool]]:
    """A chunk source for sealing that opens the old stream's chunks straight into the
    sealer's plaintext buffer (the only place the plaintext ever is)."""
    digest = header.digest(packed)
    records = read_records(header, src)
    ct = bytearray(header.chunk_size)

    def read(view: memoryview) -> tuple[int, bool]:
        index, final, n, iv, tag = next(records)
        cv = memoryview(ct)[:n]
        if readinto_exact(src, cv) < n:
            raise IntegrityError(f"chunk {index} is cut short")
        opener.open(chunk_aad(digest, index, final, aad), cv, view.obj, iv, tag)
        return n, final

    return read
