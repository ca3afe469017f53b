"""Signatures with key pairs: sign in the token, verify and export the public key locally.

``sign`` signs with the current version's private key, in the token, while that version may
protect (active, inside its originator-usage period); ``verify`` checks a signature with a
version's public key while that version may process (active or deactivated, inside its
recipient-usage period: a rotated pair still verifies what it signed); ``export_public``
hands out a version's public key (PEM, DER or JWK). Each one is recorded in the audit,
refusals and signatures that do not verify included (docs/manager.md, "Signing").
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import BinaryIO

from .envelope import EnvelopeMixin
from .errors import ManagerError, OperationRefused
from .keypair_token import digest_input
from .keypairs import ECDSA, ED25519, hash_name, scheme_for
from .lifecycle import State, can_process
from .models import KeyRecord, VersionRecord
from .policy import KeyType
from .store import CatalogueTx

#: How much of a message is read (and sent to the token) at once.
CHUNK = 1 << 20
EXPORT_FORMATS = ("pem", "der", "jwk")


@dataclass
class Signature:
    """What :meth:`SignMixin.sign` made: the signature and how."""

    key: str
    version: int
    algorithm: str
    scheme: str
    signature: bytes
    digest: str  # "<hash>:<hex>" of the message, as the audit records it


@dataclass
class Verification:
    """What :meth:`SignMixin.verify` found: ``version`` is the one that verified (None
    when none did)."""

    key: str
    valid: bool
    version: int | None
    tried: list[int]
    # versions not tried, with why: a state ("suspended", "compromised", ...) or "outside its
    # processing period" (what the CLI names when nothing verified)
    skipped: list[tuple[int, str]] = field(default_factory=list)
    scheme: str = ""  # the scheme tried


def _chunks(message: bytes | BinaryIO) -> Iterator[bytes]:
    if isinstance(message, bytes | bytearray | memoryview):
        yield bytes(message)
        return
    while True:
        block = message.read(CHUNK)
        if not block:
            return
        yield block


def _digest_name(key: KeyRecord) -> str:
    return hash_name(key.algorithm, key.length_bits) or "sha256"


def _read(key: KeyRecord, message: bytes | BinaryIO) -> tuple[bytes, bytes | None]:
    """(digest with the key's hash, the whole message for Ed25519 else None)."""
    import hashlib  # here: start-up time (docs/manager.md)

    h = hashlib.new(_digest_name(key))
    whole: list[bytes] | None = [] if key.algorithm == ED25519 else None
    for block in _chunks(message):
        h.update(block)
        if whole is not None:
            whole.append(block)
    return h.digest(), (b"".join(whole) if whole is not None else None)


def _hashed(h, message: bytes | BinaryIO) -> Iterator[bytes]:
    """The message's chunks, each also fed to ``h`` as it passes."""
    for block in _chunks(message):
        h.update(block)
        yield block


class SignMixin(EnvelopeMixin):
    """sign / verify / export_public (key pairs of :mod:`.keypairs`)."""

    def _signature_key(self, tx: CatalogueTx, name: str, op: str) -> KeyRecord:
        key = self.load_key(tx, name)
        if key.key_type is not KeyType.PRIVATE_SIGNATURE:
            raise OperationRefused(
                f"{name} is a {key.key_type.value} key; it cannot {op} (a "
                f"{KeyType.PRIVATE_SIGNATURE.value} key pair can)")
        return key

    def sign(self, key_name: str, message: bytes | BinaryIO, *, scheme: str | None = None,
             subject: str = "") -> Signature:
        """Sign ``message`` (bytes or a binary stream, read in chunks) with the current
        version's private key in the token. ECDSA signatures are DER (X9.62).

        As for streamed encryption, the use is checked and counted in one transaction and
        recorded in another after the token signed, so that a slow input never holds the
        catalogue's write lock; a failure in between is recorded as failed.

        Raises OperationRefused for a key that is not a signature pair, a version that may
        not sign now, or a scheme the key does not take; TokenFailure on a token error.
        """
        def start(tx: CatalogueTx) -> tuple[KeyRecord, VersionRecord, str]:
            key = self._signature_key(tx, key_name, "sign")
            try:
                chosen = scheme_for(key.algorithm, scheme)
            except ManagerError as exc:
                raise OperationRefused(str(exc)) from None
            key, ver = self._protecting_version(tx, key_name, "sign")
            return key, ver, chosen

        key, ver, chosen = self.audited("sign", key_name, None, subject, start)
        try:
            sig, digest = self._sign_in_token(key, ver, chosen, message)
        except (ManagerError, OSError) as exc:  # a token error, an unreadable input
            self.record_failure("sign", key.name, ver.version, subject, exc)
            raise
        shown = f"{_digest_name(key)}:{digest.hex()}"
        with self.catalogue.transaction() as tx:
            self.audit(tx, "sign", key.name, ver.version, subject, scheme=chosen,
                       digest=shown, signature_bytes=len(sig))
        return Signature(key.name, ver.version, key.algorithm, chosen, sig, shown)

    def _sign_in_token(self, key: KeyRecord, ver: VersionRecord, scheme: str,
                       message: bytes | BinaryIO) -> tuple[bytes, bytes]:
        """(signature, message digest): the token signs with the mechanism it offers."""
        import hashlib  # here: start-up time (docs/manager.md)

        from . import pubkeys

        port = self.token
        mech, param, prehashed = port.sign_plan(  # type: ignore[attr-defined]
            key.algorithm, key.length_bits, scheme)
        h = hashlib.new(_digest_name(key))
        if prehashed:  # the token takes the digest: hash here first
            for _ in _hashed(h, message):
                pass
            data: Iterator[bytes] | list[bytes] = [digest_input(mech, h.digest())]
        elif key.algorithm == ED25519:  # pure EdDSA: one part, the whole message
            data = [b"".join(_hashed(h, message))]
        else:  # the token hashes: stream the message through it
            data = _hashed(h, message)
        raw_sig = port.sign_with(  # type: ignore[attr-defined]
            bytes.fromhex(ver.object_id), mech, param, data)
        sig = pubkeys.ecdsa_der(raw_sig) if scheme == ECDSA else raw_sig
        return sig, h.digest()

    def verify_signature(self, key_name: str, message: bytes | BinaryIO, signature: bytes, *,
                         version: int | None = None, scheme: str | None = None,
                         override: bool = False, reason: str = "") -> Verification:
        """Check ``signature`` over ``message`` with ``version``'s public key, or (None)
        with each version that may process now, newest first. A signature that does not
        verify is an answer (``valid`` False, recorded as failed), not an exception.

        Raises OperationRefused for a key that is not a signature pair, a scheme it does not
        take, or a ``version`` that may not process (suspended and compromised versions
        only with ``override`` and a ``reason``).
        """
        try:
            key, chosen, usable, skipped = self._verifying_versions(key_name, version, scheme,
                                                                    override, reason)
            digest, whole = _read(key, message)
            found = self._first_verifying(key, usable, chosen, signature, digest, whole)
        except ManagerError as exc:
            self.record_failure("verify", key_name, version, reason, exc)
            raise
        if found is not None:
            self._record_verify(key, found, chosen, digest, override, reason, "ok")
            return Verification(key.name, True, found.version, [v.version for v in usable],
                                skipped, chosen)
        self._record_verify(key, None if version is None else usable[0], chosen, digest,
                            override, reason, "failed: the signature does not verify")
        return Verification(key.name, False, None, [v.version for v in usable], skipped,
                            chosen)

    def _verifying_versions(self, key_name: str, version: int | None, scheme: str | None,
                            override: bool, reason: str
                            ) -> tuple[KeyRecord, str, list[VersionRecord],
                                       list[tuple[int, str]]]:
        """(key, scheme, the versions to try, the versions left out with why): ``version``
        if it may process now, else every version that may, newest first. Raises
        OperationRefused otherwise."""
        with self.reading() as tx:
            key = self._signature_key(tx, key_name, "verify")
            try:
                chosen = scheme_for(key.algorithm, scheme)
            except ManagerError as exc:
                raise OperationRefused(str(exc)) from None
            if version is not None:
                ver = self.load_version(tx, key, version)
                self._check_processing(key, ver, override, reason)
                return key, chosen, [ver], []
            every = sorted(tx.versions(key.id), key=lambda v: -v.version)
        now = self.now()
        usable: list[VersionRecord] = []
        skipped: list[tuple[int, str]] = []
        for v in every:
            if not can_process(v.state):
                skipped.append((v.version, v.state.value))
            elif (v.process_start is None or now < v.process_start
                  or (v.process_end is not None and now >= v.process_end)):
                skipped.append((v.version, "outside its processing period"))
            else:
                usable.append(v)
        if not usable:
            why = ", ".join(f"v{n} {reason_}" for n, reason_ in skipped)
            raise OperationRefused(f"no version of {key_name} may verify now ({why})")
        return key, chosen, usable, skipped

    def _first_verifying(self, key: KeyRecord, versions: list[VersionRecord], scheme: str,
                         signature: bytes, digest: bytes, whole: bytes | None
                         ) -> VersionRecord | None:
        """The first of ``versions`` whose public key (read from the token) verifies."""
        from . import pubkeys

        for ver in versions:
            material = self.token.public_key(  # type: ignore[attr-defined]
                bytes.fromhex(ver.object_id), key.algorithm)
            public = pubkeys.load_public(material, key.algorithm, key.length_bits)
            if pubkeys.verify(public, signature, scheme=scheme,
                              hash_name=hash_name(key.algorithm, key.length_bits),
                              digest=digest, message=whole):
                return ver
        return None

    def _record_verify(self, key: KeyRecord, ver: VersionRecord | None, scheme: str,
                       digest: bytes, override: bool, reason: str, result: str) -> None:
        details: dict[str, object] = {"scheme": scheme,
                                      "digest": f"{_digest_name(key)}:{digest.hex()}"}
        if override and ver is not None and ver.state is not State.ACTIVE:
            details["override"] = ver.state.value
        with self.catalogue.transaction() as tx:
            self.audit(tx, "verify", key.name, ver.version if ver else None, reason,
                       result=result, **details)

    def export_public(self, key_name: str, version: int | None = None,
                      fmt: str = "pem") -> tuple[int, bytes | dict[str, str]]:
        """A key pair's public key: ``pem`` or ``der`` (SubjectPublicKeyInfo) or ``jwk``
        (a dict, RFC 7517). Returns (version, key). Refused for a destroyed or compromised
        version (its public key is no longer handed out) and for a key that is no pair."""
        import hashlib  # here: start-up time (docs/manager.md)

        from . import pubkeys

        if fmt not in EXPORT_FORMATS:
            raise OperationRefused(f"public keys export as {', '.join(EXPORT_FORMATS)}, "
                                   f"not {fmt}")

        def body(tx: CatalogueTx) -> tuple[int, bytes | dict[str, str]]:
            key = self.load_key(tx, key_name)
            if not self.spec(key).pair:
                raise OperationRefused(f"{key_name} is a {key.key_type.value} key; it has no "
                                       "public key")
            self.check_token(key)
            ver = self.load_version(tx, key, version)
            if ver.state in (State.DESTROYED, State.COMPROMISED):
                raise OperationRefused(f"{key_name} v{ver.version} is {ver.state.value}; its "
                                       "public key is not exported")
            public = pubkeys.load_public(
                self.token.public_key(bytes.fromhex(ver.object_id), key.algorithm),  # type: ignore[attr-defined]
                key.algorithm, key.length_bits)
            out: bytes | dict[str, str]
            if fmt == "jwk":
                out = pubkeys.jwk(public, signing=key.key_type is KeyType.PRIVATE_SIGNATURE,
                                  length_bits=key.length_bits)
            else:
                out = pubkeys.spki_pem(public) if fmt == "pem" else pubkeys.spki_der(public)
            spki = hashlib.sha256(pubkeys.spki_der(public)).hexdigest()
            self.audit(tx, "export-public", key.name, ver.version, "", format=fmt,
                       spki_sha256=spki)
            return ver.version, out

        return self.audited("export-public", key_name, version, "", body)
