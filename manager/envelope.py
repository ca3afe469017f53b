"""Envelope encryption for applications: AES-256-GCM through the token, blobs that name
their key and version.

Blob layout (all integers big-endian)::

    b"KSE1" | u16 name length | key name (UTF-8) | u32 version | 12-byte IV | ciphertext+tag

The header (everything before the IV) is authenticated as AAD ahead of the caller's AAD, so
a blob cannot be relabelled to another key or version. IVs are random 96-bit values
(SP 800-38D 8.2.2), which is why each version is limited to 2^32 encryptions and rotates
before that (:data:`~keystead.manager.policy.GCM_INVOCATION_LIMIT`).
"""

from __future__ import annotations

import os
import struct
from collections.abc import Callable

from .base import ManagerBase
from .doctor import require_agreement
from .errors import IntegrityError, ManagerError, OperationRefused
from .lifecycle import OVERRIDE_STATES, can_process, can_protect
from .models import KeyRecord, VersionRecord
from .store import CatalogueTx

MAGIC = b"KSE1"
IV_LEN = 12
TAG_LEN = 16


def pack_header(name: str, version: int) -> bytes:
    raw = name.encode("utf-8")
    return MAGIC + struct.pack(">H", len(raw)) + raw + struct.pack(">I", version)


def parse_blob(blob: bytes) -> tuple[str, int, bytes, bytes, bytes]:
    """Split a blob into (key name, version, header, iv, ciphertext+tag).

    Raises IntegrityError when the blob is not an envelope.
    """
    try:
        if blob[:4] != MAGIC:
            raise ValueError("bad magic")
        (n,) = struct.unpack_from(">H", blob, 4)
        name = blob[6 : 6 + n].decode("utf-8")
        (version,) = struct.unpack_from(">I", blob, 6 + n)
    except (ValueError, struct.error, UnicodeDecodeError) as exc:
        raise IntegrityError("not a keystead envelope") from exc
    end = 10 + n
    if len(blob) < end + IV_LEN + TAG_LEN:
        raise IntegrityError("envelope too short")
    return name, version, blob[:end], blob[end : end + IV_LEN], blob[end + IV_LEN :]


class EnvelopeMixin(ManagerBase):
    """encrypt / decrypt (data-encryption keys) and mac / verify_mac (authentication keys)."""

    def _protecting_version(self, tx: CatalogueTx, name: str, op: str
                            ) -> tuple[KeyRecord, VersionRecord]:
        key = self.load_key(tx, name)
        self.check_token(key)
        if op not in key.operations:
            raise OperationRefused(f"{name} is a {key.key_type.value} key; it cannot {op}")
        ver = self.load_version(tx, key, None)
        now = self.now()
        if not can_protect(ver.state):
            hint = {"deactivated": f" (`keystead key rotate {name}` makes a new version)",
                    "suspended": f" (`keystead key resume {name}` lifts the suspension)",
                    "pre-activation": f" (`keystead key activate {name}` activates it)",
                    }.get(ver.state.value, "")
            raise OperationRefused(
                f"{name} v{ver.version} is {ver.state.value}; it cannot {op}{hint}")
        require_agreement(self, key, ver)
        if ver.activated_at is None or now < ver.activated_at or (
            ver.protect_end is not None and now >= ver.protect_end
        ):
            raise OperationRefused(
                f"{name} v{ver.version} is outside its originator-usage period "
                "(run `keystead rotate --due`)")
        if ver.version < key.min_encrypt_version:
            raise OperationRefused(
                f"{name} v{ver.version} is below the minimum encryption version "
                f"{key.min_encrypt_version}")
        count = tx.add_usage(ver.id, 1)  # counted before use: a crash never under-counts
        limit = key.policy.usage_limit
        if limit and count > limit:
            raise OperationRefused(f"{name} v{ver.version} reached its usage limit {limit}")
        ver.usage_count = count
        return key, ver

    def encrypt(self, key_name: str, plaintext: bytes, aad: bytes = b"",
                subject: str = "", deliver: Callable[[bytes], None] | None = None) -> bytes:
        """Encrypt under the current version of ``key_name``; return a self-describing blob.

        ``subject`` says what is protected; it is written to the audit (``key affected``).
        ``deliver`` (e.g. writing the output file) runs before the record of the encryption
        commits: if it fails, the record says so and nothing says "ok". Raises
        OperationRefused when the key may not protect now, TokenFailure on a token error.
        """

        def body(tx: CatalogueTx) -> bytes:
            key, ver = self._protecting_version(tx, key_name, "encrypt")
            header = pack_header(key.name, ver.version)
            iv = os.urandom(IV_LEN)
            ct = self.token.encrypt(bytes.fromhex(ver.object_id), iv, header + aad, plaintext)
            if deliver is not None:
                deliver(header + iv + ct)
            import hashlib  # here: start-up time (docs/manager.md)

            self.audit(tx, "encrypt", key.name, ver.version, subject, bytes=len(plaintext),
                       aad_sha256=hashlib.sha256(aad).hexdigest())
            return header + iv + ct

        return self.audited("encrypt", key_name, None, subject, body)

    def decrypt(self, blob: bytes, aad: bytes = b"", *, key_name: str | None = None,
                override: bool = False, reason: str = "") -> bytes:
        """:meth:`_decrypt`, with every refusal and failed authentication (bad envelope,
        unknown key or version, wrong AAD, altered tag) recorded in the audit."""
        try:
            return self._decrypt(blob, aad, key_name=key_name, override=override,
                                 reason=reason)
        except ManagerError as exc:
            try:
                name, version, *_ = parse_blob(blob)
            except IntegrityError:
                name, version = None, None
            self.record_failure("decrypt", name, version, reason, exc)
            raise

    def _decrypt(self, blob: bytes, aad: bytes = b"", *, key_name: str | None = None,
                 override: bool = False, reason: str = "") -> bytes:
        """Decrypt a blob from :meth:`encrypt` with the version it names.

        Refused below the key's minimum decryption version, outside the version's
        recipient-usage period, and for suspended or compromised versions unless
        ``override`` is set (with a ``reason``; the override is audited). Raises
        IntegrityError if the blob or its tag is bad.
        """
        name, version, header, iv, ct = parse_blob(blob)
        if key_name is not None and key_name != name:
            raise OperationRefused(f"blob belongs to key {name!r}, not {key_name!r}")
        with self.reading() as tx:
            key = self.load_key(tx, name)
            ver = self.load_version(tx, key, version)
        try:
            self._check_processing(key, ver, override, reason)
        except OperationRefused as exc:  # ordinary decryptions are not audited; refusals are
            self.record_failure("decrypt", name, version, reason, exc)
            raise
        oid = bytes.fromhex(ver.object_id)
        if can_process(ver.state):
            return self.token.decrypt(oid, iv, header + aad, ct)

        def body(tx: CatalogueTx) -> bytes:
            self.audit(tx, "decrypt:override", name, version, reason, state=ver.state.value)
            self.token.set_process_override(oid, self.spec(key), ver.state, True)
            try:
                return self.token.decrypt(oid, iv, header + aad, ct)
            finally:
                self.token.set_process_override(oid, self.spec(key), ver.state, False)

        return self.audited("decrypt:override", name, version, reason, body)

    def _check_processing(self, key: KeyRecord, ver: VersionRecord, override: bool,
                          reason: str) -> None:
        self.check_token(key)
        label = f"{key.name} v{ver.version}"
        if ver.version < key.min_decrypt_version:
            raise OperationRefused(
                f"{label} is below the minimum decryption version {key.min_decrypt_version}")
        if not can_process(ver.state, override=override):
            hint = " without an override" if ver.state in OVERRIDE_STATES else ""
            raise OperationRefused(f"{label} is {ver.state.value}; it cannot process{hint}")
        if override and ver.state in OVERRIDE_STATES and not reason:
            raise OperationRefused("an override needs a reason")
        require_agreement(self, key, ver)
        now = self.now()
        if ver.process_start is None or now < ver.process_start or (
            ver.process_end is not None and now >= ver.process_end
        ):
            raise OperationRefused(f"{label} is outside its recipient-usage period")

    def mac(self, key_name: str, data: bytes, subject: str = "") -> tuple[int, bytes]:
        """HMAC-SHA256 ``data`` with the current version; returns (version, tag)."""

        def body(tx: CatalogueTx) -> tuple[int, bytes]:
            key, ver = self._protecting_version(tx, key_name, "sign")
            tag = self.token.mac(bytes.fromhex(ver.object_id), data)
            self.audit(tx, "mac", key.name, ver.version, subject, bytes=len(data))
            return ver.version, tag

        return self.audited("mac", key_name, None, subject, body)

    def verify_mac(self, key_name: str, version: int, data: bytes, tag: bytes) -> bool:
        """True when ``tag`` is the HMAC of ``data`` under that version (constant-time
        compare). Refused like :meth:`decrypt` outside the recipient-usage period."""
        with self.reading() as tx:
            key = self.load_key(tx, key_name)
            ver = self.load_version(tx, key, version)
        try:
            self._check_processing(key, ver, False, "")
        except ManagerError as exc:
            self.record_failure("verify", key_name, version, "", exc)
            raise
        expected = self.token.mac(bytes.fromhex(ver.object_id), data)
        import hmac  # here: start-up time (docs/manager.md)

        if hmac.compare_digest(expected, tag):
            return True
        with self.catalogue.transaction() as tx:  # a failed authentication is recorded
            self.audit(tx, "verify", key_name, version, "", result="failed: tag mismatch")
        return False
