"""The attacker: an ordinary logged-in user of one token, and the SO who set it up.

:class:`Actor` drives a token through the raw PKCS#11 layer exactly as any application
could. A refused call raises :class:`Refused` naming the step and the CK_RV, so an attack
reads as the sequence of calls it makes. The target of every attack is a key generated in
the token (sensitive, extractable, python-pkcs11's default capabilities); the test learns
whether a candidate is its value from the key's CKA_CHECK_VALUE (E(K, 0^128), 24 bits),
which the token shows without revealing the key.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

from keystead.softhsm_bridge import quirks
from keystead.softhsm_bridge.ck import (
    CKA_KS_VALUE_KNOWN,  # noqa: F401 (the catalogue's)
    CKU_SO,
    CKU_USER,
)
from keystead.softhsm_bridge.errors import CKR_OK, PKCS11Error, UserAlreadyLoggedIn, rv_name
from keystead.softhsm_bridge.provision import Token
from keystead.softhsm_bridge.raw import RawModule
from pkcs11 import Attribute, KeyType, Mechanism, ObjectClass

from .blocks import aes_check_value

A = Attribute
M = Mechanism
CKM_AES_KEY_WRAP = int(Mechanism.AES_KEY_WRAP)


class Refused(Exception):
    """The token refused a step of an attack."""

    def __init__(self, step: str, rv: int | None = None) -> None:
        super().__init__(step if rv is None else f"{step}: {rv_name(rv)}")
        self.step = step
        self.rv = rv


def _attrs(kw: dict[str, Any]) -> dict[int, Any]:
    return {int(Attribute[name]): value for name, value in kw.items()}


@dataclass
class Target:
    """The sensitive key an attack is after: its handle and its check value."""

    handle: int
    check_value: bytes

    def is_value(self, candidate: bytes | None) -> bool:
        """True when ``candidate`` is the key's value (its check value matches)."""
        return candidate is not None and len(candidate) == 32 and \
            aes_check_value(candidate) == self.check_value


@dataclass
class Actor:
    """One user (and, for setup steps, the SO) of ``token`` in ``raw``."""

    raw: RawModule
    token: Token
    kind: str
    h: int = 0
    token_objects: list[str] = field(default_factory=list)  # labels, destroyed by close()
    peer: Actor | None = None  # the same user on a second token of the module

    # -- sessions ----------------------------------------------------------------------------

    def login_user(self) -> None:
        """A fresh RW session with the user logged in (closing the application's others)."""
        self.raw.close_all_sessions(self.token.slot_id)
        self.h = self.raw.open_session(self.token.slot_id, rw=True)
        rv = self.raw.login(self.h, CKU_USER, self.token.user_pin)
        if rv not in (CKR_OK, UserAlreadyLoggedIn.rv):
            raise Refused("C_Login(user)", rv)

    def as_so(self, step: str, fn: Any) -> Any:
        """Run ``fn(session)`` with the SO logged in. The login state belongs to the
        application, so every session is closed first (logging the user out, ending session
        objects) and the user is logged in again after."""
        self.raw.close_all_sessions(self.token.slot_id)
        h = self.raw.open_session(self.token.slot_id, rw=True)
        try:
            rv = self.raw.login(h, CKU_SO, self.token.so_pin)
            if rv != CKR_OK:
                raise Refused(f"{step}: C_Login(SO)", rv)
            return self.call(step, fn, h)
        finally:
            self.raw.close_all_sessions(self.token.slot_id)
            self.login_user()

    def close(self) -> None:
        """Destroy the token objects made here and close every session (also the peer's)."""
        if self.peer is not None:
            self.peer.close()
        if self.token_objects:
            try:
                self.login_user()
                for label in self.token_objects:
                    for obj in self.raw.find_objects(self.h, {A.LABEL: label}):
                        self.raw.call("C_DestroyObject", self.h, obj)
            except (PKCS11Error, Refused):
                pass
            self.token_objects.clear()
        self.raw.close_all_sessions(self.token.slot_id)

    # -- calls -------------------------------------------------------------------------------

    @staticmethod
    def call(step: str, fn: Any, *args: Any) -> Any:
        try:
            return fn(*args)
        except PKCS11Error as exc:
            raise Refused(step, exc.rv) from None

    def kwp(self) -> int:
        """The module's number for RFC 5649 (SoftHSMv2 uses 0x210A)."""
        return quirks.wrap_pad_mechanism(self.kind)

    def generate(self, length: int = 32, step: str = "C_GenerateKey", **kw: Any) -> int:
        """An AES key generated in the token (a session object unless TOKEN=True)."""
        t = {A.CLASS: ObjectClass.SECRET_KEY, A.KEY_TYPE: KeyType.AES, A.VALUE_LEN: length,
             A.TOKEN: False, **_attrs(kw)}
        h = self.call(step, self.raw.generate_key, self.h, M.AES_KEY_GEN, t)
        if kw.get("TOKEN"):
            self.token_objects.append(kw["LABEL"])
        return h

    def create(self, value: bytes, step: str = "C_CreateObject", key_type: int = KeyType.AES,
               extra: dict[int, Any] | None = None, **kw: Any) -> int:
        """A key imported by value: the attacker knows it. ``extra``: attributes by number."""
        t = {A.CLASS: ObjectClass.SECRET_KEY, A.KEY_TYPE: key_type, A.VALUE: value,
             A.TOKEN: False, **_attrs(kw), **(extra or {})}
        h = self.call(step, self.raw.create_object, self.h, t)
        if kw.get("TOKEN"):
            self.token_objects.append(kw["LABEL"])
        return h

    def so_import_trusted(self, value: bytes) -> str:
        """The SO imports a KEK of known value as a public token object and marks it trusted
        (a module whose SO may not set CKA_TRUSTED gets it untrusted); returns its label.
        Closes every session: call before making session objects, and find the key by its
        label once every session is open (SoftHSMv2 renumbers token objects when a slot's
        last session closes)."""
        t = {A.CLASS: ObjectClass.SECRET_KEY, A.KEY_TYPE: KeyType.AES, A.VALUE: value,
             A.TOKEN: True, A.PRIVATE: False, A.WRAP: True, A.UNWRAP: True, A.ENCRYPT: False,
             A.DECRYPT: False, A.SENSITIVE: True, A.EXTRACTABLE: False}
        t[A.LABEL] = label = f"shared-kek-{os.urandom(6).hex()}"
        try:
            self.as_so("SO: C_CreateObject(TRUSTED=true)",
                       lambda s: self.raw.create_object(s, {**t, A.TRUSTED: True}))
        except Refused:
            self.as_so("SO: C_CreateObject", lambda s: self.raw.create_object(s, t))
        self.token_objects.append(label)
        return label

    def find_token_object(self, label: str) -> int:
        """The handle, in the user's session, of the token object labelled ``label``
        (handles need not survive the SO's session on every module)."""
        found = self.raw.find_objects(self.h, {A.LABEL: label})
        assert len(found) == 1, f"{len(found)} objects labelled {label}"
        if label not in self.token_objects:
            self.token_objects.append(label)
        return found[0]

    def target(self, **kw: Any) -> Target:
        """The victim's key: AES-256 generated in the token, sensitive and extractable, with
        python-pkcs11's default capabilities (encrypt, decrypt, wrap, unwrap, sign, verify)."""
        caps = dict(ENCRYPT=True, DECRYPT=True, WRAP=True, UNWRAP=True, SIGN=True,
                    VERIFY=True, SENSITIVE=True, EXTRACTABLE=True, PRIVATE=True)
        caps.update(kw)
        h = self.generate(32, "victim: C_GenerateKey", **caps)
        cv = self.raw.get_attributes(self.h, h, [A.CHECK_VALUE]).values[A.CHECK_VALUE]
        assert cv is not None and len(cv) == 3, "the target needs a check value"
        return Target(h, cv)

    def wrap(self, mech: int, kek: int, key: int, param: Any = None,
             step: str = "C_WrapKey") -> bytes:
        return self.call(step, self.raw.wrap_key, self.h, mech, kek, key, param)

    def unwrap(self, mech: int, kek: int, blob: bytes, param: Any = None,
               step: str = "C_UnwrapKey", key_type: int = KeyType.AES, **kw: Any) -> int:
        t = {A.CLASS: ObjectClass.SECRET_KEY, A.KEY_TYPE: key_type, A.TOKEN: False,
             **_attrs(kw)}
        return self.call(step, self.raw.unwrap_key, self.h, mech, kek, blob, t, param)

    def encrypt(self, mech: int, key: int, data: bytes, param: Any = None,
                step: str = "C_Encrypt") -> bytes:
        return self.call(step, self.raw.encrypt, self.h, mech, key, data, param)

    def decrypt(self, mech: int, key: int, data: bytes, param: Any = None,
                step: str = "C_Decrypt") -> bytes:
        return self.call(step, self.raw.decrypt, self.h, mech, key, data, param)

    def read_value(self, key: int, step: str = "C_GetAttributeValue(CKA_VALUE)") -> bytes:
        res = self.raw.get_attributes(self.h, key, [A.VALUE])
        if res.rv != CKR_OK or res.values[A.VALUE] is None:
            raise Refused(step, res.rv)
        return res.values[A.VALUE]

    def check_value(self, key: int) -> bytes | None:
        return self.raw.get_attributes(self.h, key, [A.CHECK_VALUE]).values.get(A.CHECK_VALUE)

    def set(self, key: int, step: str = "C_SetAttributeValue", **kw: Any) -> None:
        self.call(step, self.raw.set_attributes, self.h, key, _attrs(kw))

    def copy(self, key: int, step: str = "C_CopyObject", extra: dict[int, Any] | None = None,
             **kw: Any) -> int:
        return self.call(step, self.raw.copy_object, self.h, key, {**_attrs(kw), **(extra or {})})

    # -- block oracles ---------------------------------------------------------------------

    def encrypt_block(self, mode: str, key: int) -> Any:
        """One AES encryption of a chosen block under ``key``, by ECB, by CBC with a zero
        IV, or by CTR with the block as counter (encrypting zeros)."""
        def run(block: bytes) -> bytes:
            if mode == "ecb":
                return self.encrypt(M.AES_ECB, key, block, step="C_Encrypt(ECB)")
            if mode == "cbc":
                return self.encrypt(M.AES_CBC, key, block, bytes(16), step="C_Encrypt(CBC)")
            return self.encrypt(M.AES_CTR, key, bytes(16), self.raw.ctr(block),
                                step="C_Encrypt(CTR)")
        return run

    def decrypt_block(self, key: int) -> Any:
        """One AES decryption of a chosen block under ``key`` (ECB)."""
        return lambda block: self.decrypt(M.AES_ECB, key, block, step="C_Decrypt(ECB)")


def random_key(n: int = 32) -> bytes:
    return os.urandom(n)
