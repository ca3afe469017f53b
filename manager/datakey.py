"""Data keys for applications (envelope encryption): a fresh AES key made in the token and
returned wrapped under a key-wrapping key's current version (RFC 3394 AES key wrap).

Wrapped data key layout (integers big-endian)::

    b"KSD1" | u16 name length | KEK name (UTF-8) | u32 KEK version | wrapped key

An application keeps the wrapped key next to its data. With ``datakey --plaintext`` it seals
locally (:mod:`.local_stream`, a KSS1 stream in format 2 that carries the wrapped key); the
manager opens such a stream by unwrapping the data key inside the token as a session object
that only decrypts, decrypting there and destroying it (the strict wrap policy never lets an
unwrapped key out). ``keystead encrypt`` with a key-wrapping key makes the same format with
a fresh data key per stream. ``rewrap`` moves a wrapped key to the KEK's current version
inside the token.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from .base import ManagerBase
from .errors import IntegrityError
from .store import CatalogueTx

MAGIC = b"KSD1"
CKM_AES_KEY_WRAP = 0x2109
CKO_SECRET_KEY, CKK_AES = 0x4, 0x1F
CKA_CLASS, CKA_TOKEN, CKA_VALUE, CKA_KEY_TYPE = 0x0, 0x1, 0x11, 0x100
CKA_SENSITIVE, CKA_ENCRYPT, CKA_DECRYPT = 0x103, 0x104, 0x105
CKA_VALUE_LEN, CKA_EXTRACTABLE = 0x161, 0x162
CKM_AES_KEY_GEN = 0x1080


@dataclass(frozen=True)
class DataKey:
    """A wrapped data key; ``plaintext`` only when it was asked for."""

    kek_name: str
    kek_version: int
    wrapped: bytes
    plaintext: bytes | None = None

    def blob(self) -> bytes:
        raw = self.kek_name.encode("utf-8")
        return (MAGIC + struct.pack(">H", len(raw)) + raw + struct.pack(">I", self.kek_version)
                + self.wrapped)


def parse_datakey(blob: bytes) -> DataKey:
    """Raises IntegrityError when ``blob`` is not a wrapped data key."""
    try:
        if blob[:4] != MAGIC:
            raise ValueError("magic")
        (n,) = struct.unpack_from(">H", blob, 4)
        name = blob[6:6 + n].decode("utf-8")
        (version,) = struct.unpack_from(">I", blob, 6 + n)
    except (ValueError, struct.error, UnicodeDecodeError):
        raise IntegrityError("not a keystead wrapped data key") from None
    wrapped = blob[10 + n:]
    if len(wrapped) < 24 or len(wrapped) % 8:
        raise IntegrityError("wrapped data key has a bad length")
    return DataKey(name, version, wrapped)


def _template(length_bits: int, reveal: bool) -> dict[int, object]:
    return {CKA_CLASS: CKO_SECRET_KEY, CKA_KEY_TYPE: CKK_AES, CKA_TOKEN: False,
            CKA_VALUE_LEN: length_bits // 8, CKA_SENSITIVE: not reveal,
            CKA_EXTRACTABLE: True, CKA_ENCRYPT: True, CKA_DECRYPT: True}


def wrap_new_key(raw, session: int, kek: int, length_bits: int, reveal: bool
                 ) -> tuple[bytes, bytes | None]:
    """Token side of :meth:`DataKeyMixin.datakey` (a session object, destroyed at once)."""
    key = raw.generate_key(session, CKM_AES_KEY_GEN, _template(length_bits, reveal))
    try:
        wrapped = raw.wrap_key(session, CKM_AES_KEY_WRAP, kek, key)
        value = raw.get_attribute(session, key, CKA_VALUE) if reveal else None
        return wrapped, value
    finally:
        raw.destroy_object(session, key)


def session_data_key(raw, session: int, kek: int, length_bits: int) -> tuple[int, bytes]:
    """A fresh AES data key as a sensitive session object that only encrypts, and its value
    wrapped under ``kek`` (a stream in format 2, :mod:`.stream_format`). The caller destroys
    the object when the stream is sealed."""
    template = _template(length_bits, False)
    template[CKA_DECRYPT] = False
    key = raw.generate_key(session, CKM_AES_KEY_GEN, template)
    try:
        return key, raw.wrap_key(session, CKM_AES_KEY_WRAP, kek, key)
    except BaseException:
        raw.destroy_object(session, key)
        raise


def unwrap_data_key(raw, session: int, kek: int, wrapped: bytes,
                    tag_failures: frozenset[int], *, rewrap: bool = False,
                    encrypt: bool = False) -> int:
    """Unwrap ``wrapped`` under ``kek`` into a sensitive session object: one that only
    decrypts (``encrypt``: only encrypts) and never leaves the token, or (``rewrap``) one
    that may be wrapped again. The caller destroys it. Raises IntegrityError when it does
    not unwrap."""
    template = _template(8 * (len(wrapped) - 8), False)
    del template[CKA_VALUE_LEN]  # the unwrapped value sets it (PKCS#11 3.0 4.10)
    if not rewrap:
        template[CKA_ENCRYPT] = encrypt
        template[CKA_DECRYPT] = not encrypt
        template[CKA_EXTRACTABLE] = False
    from keystead.softhsm_bridge import errors as bridge_errors  # here: start-up time

    try:
        return raw.unwrap_key(session, CKM_AES_KEY_WRAP, kek, wrapped, template)
    except bridge_errors.PKCS11Error as exc:
        # CKR_ENCRYPTED_DATA_INVALID / _LEN_RANGE, CKR_WRAPPED_KEY_INVALID / _LEN_RANGE
        if exc.rv in tag_failures | {0x40, 0x41, 0x110, 0x112}:
            raise IntegrityError("the wrapped data key does not unwrap under "
                                 "its key-wrapping key") from exc
        raise


def rewrap_key(raw, session: int, old: int, new: int, wrapped: bytes,
               tag_failures: frozenset[int]) -> bytes:
    """Unwrap under ``old`` into a sensitive session object, wrap under ``new``, destroy."""
    key = unwrap_data_key(raw, session, old, wrapped, tag_failures, rewrap=True)
    try:
        return raw.wrap_key(session, CKM_AES_KEY_WRAP, new, key)
    finally:
        raw.destroy_object(session, key)


class DataKeyMixin(ManagerBase):
    """datakey (new wrapped data keys) and rewrap_datakey."""

    def datakey(self, kek_name: str, *, length_bits: int = 256, plaintext: bool = False,
                subject: str = "") -> DataKey:
        """A fresh AES data key wrapped under the current version of key-wrapping key
        ``kek_name``; its value too only when ``plaintext`` (the caller then holds a secret:
        keep it in memory only). Counted and audited as one wrap."""
        if length_bits not in (128, 192, 256):
            raise IntegrityError("a data key is 128, 192 or 256 bits")

        def body(tx: CatalogueTx) -> DataKey:
            key, ver = self._protecting_version(tx, kek_name, "wrap")  # type: ignore[attr-defined]
            wrapped, value = self.token.wrap_new_key(bytes.fromhex(ver.object_id), length_bits,
                                                     plaintext)  # type: ignore[attr-defined]
            self.audit(tx, "datakey", key.name, ver.version, subject, bits=length_bits,
                       plaintext_returned=plaintext)
            return DataKey(key.name, ver.version, wrapped, value)

        return self.audited("datakey", kek_name, None, subject, body)

    def rewrap_datakey(self, blob: bytes) -> DataKey:
        """Move a wrapped data key to its KEK's current version, inside the token."""
        old = parse_datakey(blob)
        with self.reading() as tx:
            key = self.load_key(tx, old.kek_name)
            old_ver = self.load_version(tx, key, old.kek_version)
        self._check_processing(key, old_ver, False, "")  # type: ignore[attr-defined]

        def body(tx: CatalogueTx) -> DataKey:
            key, ver = self._protecting_version(tx, old.kek_name, "wrap")  # type: ignore[attr-defined]
            wrapped = self.token.rewrap_key(  # type: ignore[attr-defined]
                bytes.fromhex(old_ver.object_id), bytes.fromhex(ver.object_id), old.wrapped)
            self.audit(tx, "rewrap", key.name, ver.version, "", from_version=old.kek_version,
                       format="datakey")
            return DataKey(key.name, ver.version, wrapped)

        return self.audited("rewrap", old.kek_name, None, "", body)
