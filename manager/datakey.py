"""Data keys for applications (envelope encryption): a fresh AES key made in the token and
returned wrapped under a key-wrapping key's current version (RFC 3394 AES key wrap).

Wrapped data key layout (integers big-endian)::

    b"KSD1" | u16 name length | KEK name (UTF-8) | u32 KEK version | wrapped key

An application keeps the wrapped key next to its data and asks the manager to unwrap it
when it needs it (in its own token session, or with ``datakey --plaintext`` at creation);
``rewrap`` moves it to the KEK's current version inside the token.
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


def rewrap_key(raw, session: int, old: int, new: int, wrapped: bytes,
               tag_failures: frozenset[int]) -> bytes:
    """Unwrap under ``old`` into a sensitive session object, wrap under ``new``, destroy."""
    template = _template(8 * (len(wrapped) - 8), False)
    del template[CKA_VALUE_LEN]  # the unwrapped value sets it (PKCS#11 3.0 4.10)
    from keystead.softhsm_bridge import errors as bridge_errors  # here: start-up time

    try:
        key = raw.unwrap_key(session, CKM_AES_KEY_WRAP, old, wrapped, template)
    except bridge_errors.PKCS11Error as exc:
        if exc.rv in tag_failures | {0x40, 0x41, 0xF0}:  # *_DATA_INVALID, WRAPPED_KEY_INVALID
            raise IntegrityError("the wrapped data key does not unwrap under "
                                 "its key-wrapping key") from exc
        raise
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
