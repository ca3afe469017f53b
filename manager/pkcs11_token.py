"""The manager's token port over softhsm_bridge (raw layer: exact templates, vendor
attributes, one session per manager).

On keystead's token the token enforces the lifecycle itself: the manager writes
CKA_KS_LIFECYCLE_STATE with CKA_KS_TRANSITION_REASON in one template, the usage periods as
CKA_START_DATE/CKA_END_DATE (protect) and CKA_KS_PROCESS_START_DATE/END_DATE (process),
and CKA_KS_PROCESS_OVERRIDE for audited overrides (native/include/keystead.h). Given the
manager's PIN it logs in as CKU_KS_MANAGER, so what it writes governs the key: the keys it
makes or changes are CKA_KS_GOVERNED, and the user PIN cannot undo it (docs/authority.md).
On any other
token the manager maps the state onto the standard usage flags and dates (PKCS#11 3.0
4.4, 4.7): protect flags (CKA_ENCRYPT, CKA_WRAP, CKA_SIGN) only while active, process
flags (CKA_DECRYPT, CKA_UNWRAP, CKA_VERIFY) only while active or deactivated.
"""

from __future__ import annotations

import contextlib
import importlib
import struct
from dataclasses import dataclass
from datetime import datetime

from keystead.softhsm_bridge import errors as bridge_errors
from keystead.softhsm_bridge.ck import (  # keystead's vendor numbers, one copy (bridge ck.py)
    CKA_KS_GCM_INVOCATIONS,
    CKA_KS_GOVERNED,
    CKA_KS_LIFECYCLE_STATE,
    CKA_KS_PROCESS_END_DATE,
    CKA_KS_PROCESS_OVERRIDE,
    CKA_KS_PROCESS_START_DATE,
    CKA_KS_TRANSITION_REASON,
    CKA_KS_USAGE_COUNT,
    CKA_KS_USAGE_LIMIT,
)
from keystead.softhsm_bridge.modules import KEYSTEAD, ModuleInfo

from .errors import IntegrityError, NotFound, TokenFailure
from .keypair_token import KeyPairPort, find_pair
from .lifecycle import TOKEN_STATE_CODES, State, can_process, can_protect
from .specs import KeySpec
from .tokenport import (
    FOREIGN_NOTE,
    KEYSTEAD_NOTE,
    TOKEN_AUDIT_UNAVAILABLE,
    TokenAuditReport,
    Windows,
)

# The bridge's package namespace re-exports functions named like these submodules
# (provision, session), so fetch the submodules themselves.
provisioning = importlib.import_module("keystead.softhsm_bridge.provision")
bridge_session = importlib.import_module("keystead.softhsm_bridge.session")
bridge_quirks = importlib.import_module("keystead.softhsm_bridge.quirks")

# PKCS#11 3.0 constants (pkcs11.h) and keystead vendor attributes (keystead.h).
CKO_SECRET_KEY = 0x4
CKK_GENERIC_SECRET, CKK_AES = 0x10, 0x1F
CKM_GENERIC_SECRET_KEY_GEN, CKM_AES_KEY_GEN = 0x350, 0x1080
CKM_AES_GCM, CKM_SHA256_HMAC = 0x1087, 0x251
CKA_CLASS, CKA_TOKEN, CKA_PRIVATE, CKA_LABEL = 0x0, 0x1, 0x2, 0x3
CKA_UNIQUE_ID, CKA_KEY_TYPE, CKA_ID, CKA_SENSITIVE = 0x4, 0x100, 0x102, 0x103
CKA_ENCRYPT, CKA_DECRYPT, CKA_WRAP, CKA_UNWRAP = 0x104, 0x105, 0x106, 0x107
CKA_SIGN, CKA_VERIFY = 0x108, 0x10A
CKA_START_DATE, CKA_END_DATE, CKA_VALUE_LEN, CKA_EXTRACTABLE = 0x110, 0x111, 0x161, 0x162

#: CKA_KS_USAGE_LIMIT the manager gives every key: a limit makes keystead's token count each
#: use exactly (one durable increment) instead of in leases of 4096 (the catalogue enforces
#: the policy's own limit).
EXACT_COUNT_LIMIT = 2**64 - 1

_OP_FLAGS = {"encrypt": CKA_ENCRYPT, "decrypt": CKA_DECRYPT, "wrap": CKA_WRAP,
             "unwrap": CKA_UNWRAP, "sign": CKA_SIGN, "verify": CKA_VERIFY}

#: CK_RVs that mean "the GCM tag did not verify" (PKCS#11 3.0 5.9: CKR_ENCRYPTED_DATA_INVALID).
TAG_FAILURE_RVS = frozenset({0x40, 0x41})  # ENCRYPTED_DATA_INVALID, ENCRYPTED_DATA_LEN_RANGE
#: Modules known to answer a failed GCM tag with another code. Kept here until the bridge's
#: quirks table records it (measured: SoftHSMv2 2.6.1 returns CKR_GENERAL_ERROR).
GCM_TAG_QUIRK = "gcm-bad-tag-general-error"
_LOCAL_TAG_QUIRKS: dict[str, frozenset[int]] = {"softhsm2": frozenset({0x5})}



def usage_flags(spec: KeySpec, state: State, *, enforces_lifecycle: bool,
                override: bool = False) -> dict[int, bool]:
    """All six usage flags of a key of ``spec`` in ``state``, every one explicit.

    A purpose's flags only (data: ENCRYPT/DECRYPT, key wrapping: WRAP/UNWRAP,
    authentication: SIGN/VERIFY); the other four are always false, since a token's default
    for a flag left out may be true (SoftHSMv2's is). On keystead's token the purpose's flags
    stay true and the token checks the state itself (CKA_KS_LIFECYCLE_STATE); elsewhere the
    state is mapped onto them: protect flags only while the state may protect (active),
    process flags only while it may process (active, deactivated; suspended and compromised
    with ``override``), per the state table in README "Key lifecycle in the token".
    """
    out = {flag: False for flag in _OP_FLAGS.values()}
    for op in spec.protect_ops:
        out[_OP_FLAGS[op]] = enforces_lifecycle or can_protect(state)
    for op in spec.process_ops:
        out[_OP_FLAGS[op]] = enforces_lifecycle or can_process(state, override=override)
    return out


def ck_date(when: datetime | None) -> bytes:
    """CK_DATE (YYYYMMDD, PKCS#11 3.0 3.2) of the day holding ``when``; empty = unbounded."""
    return b"" if when is None else when.strftime("%Y%m%d").encode("ascii")


@dataclass
class TokenRef:
    """Where a token is: module, slot, label, serial."""

    module: ModuleInfo
    slot_id: int
    label: str
    serial: str


def find_token(module: ModuleInfo, label: str) -> TokenRef:
    """The initialised token labelled ``label`` in ``module``; raises NotFound."""
    r = provisioning.load(module)
    for slot in r.slot_list(token_present=True):
        info = r.token_info(slot)
        if info["label"] == label and info["flags"] & 0x400:  # CKF_TOKEN_INITIALIZED
            return TokenRef(module, slot, label, info["serial"])
    raise NotFound(f"no initialised token labelled {label!r} in module {module.name}")


def list_tokens(module: ModuleInfo) -> list[dict]:
    """Every slot with a token: slot, label, serial, model, initialised."""
    r = provisioning.load(module)
    out = []
    for slot in r.slot_list(token_present=True):
        info = r.token_info(slot)
        out.append({"slot": slot, "label": info["label"], "serial": info["serial"],
                    "model": info["model"], "manufacturer": info["manufacturer_id"],
                    "initialized": bool(info["flags"] & 0x400)})
    return out


class Pkcs11Token(KeyPairPort):
    """:class:`~keystead.manager.tokenport.TokenPort` on one token of one module (key
    pairs: :class:`~keystead.manager.keypair_token.KeyPairPort`).

    The session opens (and logs in with ``pin()``) on first use, so read-only manager
    commands never ask for a PIN.
    """

    def __init__(self, module: ModuleInfo, label: str, pin: object,
                 manager_pin: object | None = None) -> None:
        self.module = module
        self.label = label
        self._pin = pin
        # keystead's token only: the manager credential (a PIN or a callable returning it)
        self._manager_pin = manager_pin if module.kind == KEYSTEAD else None
        self._session: int | None = None
        self._raw = None
        self._failure: TokenFailure | None = None  # a failed open is not retried (no re-prompt)
        self._slot: int | None = None
        self._mechs: frozenset[int] | None = None

    # ---- session
    @property
    def enforces_lifecycle(self) -> bool:
        return self.module.kind == KEYSTEAD

    @property
    def governs(self) -> bool:
        """True when the port logs in with the manager credential (keystead's token, manager
        PIN given): the keys it writes are manager-governed."""
        return self._manager_pin is not None

    @property
    def description(self) -> str:
        return f"{self.module.name} / token {self.label!r}"

    @property
    def capability_note(self) -> str:
        return KEYSTEAD_NOTE if self.enforces_lifecycle else FOREIGN_NOTE

    def _open(self) -> tuple[object, int]:
        if self._failure is not None:
            raise self._failure
        if self._session is None:
            try:
                ref = find_token(self.module, self.label)
                manager = self.governs
                source = self._manager_pin if manager else self._pin
                pin = source() if callable(source) else str(source)
                self._raw = provisioning.load(self.module)
                token = provisioning.Token(self.module, ref.slot_id, ref.label, ref.serial,
                                           "", "" if manager else pin)
                handle = self._raw.open_session(ref.slot_id, rw=True)
                try:
                    if manager:
                        bridge_session.login(token, handle, bridge_session.MANAGER, pin)
                    else:
                        bridge_session.login(token, handle, bridge_session.USER)
                except BaseException:
                    self._raw.close_session(handle)
                    raise
                self._session = handle
                self._slot = ref.slot_id
            except bridge_errors.PKCS11Error as exc:
                said = exc.name
                if manager and exc.name == "CKR_USER_PIN_NOT_INITIALIZED":
                    # CKU_KS_MANAGER's PIN, not the user's: say which, and how to set it
                    said = ("the token has no manager PIN yet (set one with "
                            "`keystead token manager-pin`)")
                self._failure = TokenFailure(f"{self.description}: {said}")
                raise self._failure from exc
            except NotFound as exc:
                self._failure = TokenFailure(str(exc))
                raise self._failure from None
        return self._raw, self._session

    def close(self) -> None:
        if self._session is not None and self._raw is not None:
            with contextlib.suppress(bridge_errors.PKCS11Error):
                self._raw.close_session(self._session)
            self._session = None

    def _mechanisms(self) -> frozenset[int]:
        """The token's C_GetMechanismList (read once)."""
        if self._mechs is None:
            raw, _ = self._open()
            self._mechs = frozenset(self._call(
                "C_GetMechanismList", lambda r, s: r.mechanism_list(self._slot)))
        return self._mechs

    def _call(self, what: str, fn, *args):
        raw, session = self._open()
        try:
            return fn(raw, session, *args)
        except bridge_errors.PKCS11Error as exc:
            raise TokenFailure(f"{what}: the token answered {exc.name}") from exc

    def _handle(self, raw, session: int, object_id: bytes) -> int | None:
        found = raw.find_objects(session, {CKA_CLASS: CKO_SECRET_KEY, CKA_ID: object_id})
        return found[0] if found else None

    def _need(self, raw, session: int, object_id: bytes) -> int:
        handle = self._handle(raw, session, object_id)
        if handle is None:
            raise TokenFailure(f"object {object_id.hex()} is not on {self.description}")
        return handle

    # ---- templates
    def _flags(self, spec: KeySpec, state: State) -> dict[int, bool]:
        return usage_flags(spec, state, enforces_lifecycle=self.enforces_lifecycle)

    def _dates(self, windows: Windows) -> dict[int, bytes]:
        out = {CKA_START_DATE: ck_date(windows.protect_start),
               CKA_END_DATE: ck_date(windows.protect_end)}
        if self.enforces_lifecycle:
            out[CKA_KS_PROCESS_START_DATE] = ck_date(windows.process_start)
            out[CKA_KS_PROCESS_END_DATE] = ck_date(windows.process_end)
        return out

    def _governed(self) -> dict[int, bool]:
        """Marks a key the manager changes as governed (one made before the token had a
        manager PIN, say); nothing when the port is not the manager."""
        return {CKA_KS_GOVERNED: True} if self.governs else {}

    # ---- TokenPort
    def generate(self, spec: KeySpec, length_bits: int, object_id: bytes, label: str,
                 state: State, windows: Windows) -> str | None:
        if spec.pair:
            return self.generate_pair(spec, length_bits, object_id, label, state, windows)
        aes = spec.algorithm == "AES"
        template: dict[int, object] = {
            CKA_CLASS: CKO_SECRET_KEY,
            CKA_KEY_TYPE: CKK_AES if aes else CKK_GENERIC_SECRET,
            CKA_VALUE_LEN: length_bits // 8, CKA_TOKEN: True, CKA_PRIVATE: True,
            CKA_SENSITIVE: True, CKA_EXTRACTABLE: False, CKA_ID: object_id, CKA_LABEL: label,
            **self._flags(spec, state), **self._dates(windows),
        }
        if self.enforces_lifecycle:
            template[CKA_KS_LIFECYCLE_STATE] = TOKEN_STATE_CODES[state]
            template[CKA_KS_USAGE_LIMIT] = EXACT_COUNT_LIMIT
        mech = CKM_AES_KEY_GEN if aes else CKM_GENERIC_SECRET_KEY_GEN

        def run(raw, session):
            handle = raw.generate_key(session, mech, template)
            res = raw.get_attributes(session, handle, [CKA_UNIQUE_ID])
            value = res.values.get(CKA_UNIQUE_ID) if res.rv == 0 else None
            return value.decode("utf-8", "replace") if value else None

        return self._call("C_GenerateKey", run)

    def apply_state(self, object_id: bytes, spec: KeySpec, state: State, windows: Windows,
                    reason: str) -> None:
        if spec.pair:
            self.apply_pair_state(object_id, spec, state, windows, reason)
            return

        def run(raw, session):
            handle = self._handle(raw, session, object_id)
            if handle is None:
                if state is State.DESTROYED:
                    return
                raise TokenFailure(f"object {object_id.hex()} is not on {self.description}")
            if self.enforces_lifecycle:
                template: dict[int, object] = {
                    CKA_KS_LIFECYCLE_STATE: TOKEN_STATE_CODES[state],
                    CKA_KS_TRANSITION_REASON: reason or state.value,
                    **self._governed(),
                }
                if state is not State.DESTROYED:
                    template.update(self._dates(windows))
            elif state is State.DESTROYED:
                return
            else:
                template = {**self._flags(spec, state), **self._dates(windows)}
            raw.set_attributes(session, handle, template)

        self._call("C_SetAttributeValue", run)

    def set_process_override(self, object_id: bytes, spec: KeySpec, state: State,
                             enabled: bool) -> None:
        def run(raw, session):
            handle = self._need(raw, session, object_id)
            if self.enforces_lifecycle:
                template = {CKA_KS_PROCESS_OVERRIDE: enabled, **self._governed()}
            else:
                template = usage_flags(spec, state, enforces_lifecycle=False,
                                       override=enabled)
            raw.set_attributes(session, handle, template)

        self._call("C_SetAttributeValue", run)

    # ---- agreement with the catalogue (:mod:`.doctor`)
    def inventory(self) -> list:
        """Every secret key on the token (:class:`.token_inventory.TokenObject`)."""
        from .token_inventory import inventory

        return self._call("C_FindObjects", inventory, self.enforces_lifecycle)

    def objects_with_id(self, object_id: bytes) -> list:
        from .token_inventory import objects_with_id

        return self._call("C_FindObjects", objects_with_id, object_id,
                          self.enforces_lifecycle)

    def set_usage_flags(self, object_id: bytes, spec: KeySpec, state: State) -> None:
        if spec.pair:
            self.set_pair_flags(object_id, spec, state)
            return
        self._call("C_SetAttributeValue", lambda raw, s: raw.set_attributes(
            s, self._need(raw, s, object_id), self._flags(spec, state)))

    def set_dates(self, object_id: bytes, windows: Windows) -> None:
        self._call("C_SetAttributeValue", lambda raw, s: raw.set_attributes(
            s, self._need(raw, s, object_id), self._dates(windows)))

    def destroy(self, object_id: bytes) -> None:
        def run(raw, session):
            handle = self._handle(raw, session, object_id)
            if handle is not None:
                raw.destroy_object(session, handle)
            return handle is not None

        if not self._call("C_DestroyObject", run):
            self.destroy_pair(object_id)

    def encrypt(self, object_id: bytes, iv: bytes, aad: bytes, plaintext: bytes) -> bytes:
        def run(raw, session):
            handle = self._need(raw, session, object_id)
            return raw.encrypt(session, CKM_AES_GCM, handle, plaintext, raw.gcm(iv, aad, 128))

        return self._call("C_Encrypt", run)

    def _tag_failure_rvs(self) -> frozenset[int]:
        if bridge_quirks.has(self.module, GCM_TAG_QUIRK):
            return TAG_FAILURE_RVS | {0x5}
        return TAG_FAILURE_RVS | _LOCAL_TAG_QUIRKS.get(self.module.kind, frozenset())

    def decrypt(self, object_id: bytes, iv: bytes, aad: bytes, ciphertext: bytes) -> bytes:
        raw, session = self._open()
        handle = self._need(raw, session, object_id)
        try:
            return raw.decrypt(session, CKM_AES_GCM, handle, ciphertext, raw.gcm(iv, aad, 128))
        except bridge_errors.PKCS11Error as exc:
            if exc.rv in self._tag_failure_rvs():
                raise IntegrityError("the envelope does not authenticate (wrong AAD or "
                                     "tampered data)") from exc
            raise TokenFailure(f"C_Decrypt: the token answered {exc.name}") from exc

    def chunk_cipher(self, object_id: bytes, *, encrypt: bool):
        """AES-GCM over a stream's chunks (:mod:`.chunk_cipher`): the message API with
        token-made IVs on keystead's token, C_Encrypt/C_Decrypt with the caller's IVs
        elsewhere."""
        raw, session = self._open()
        handle = self._call("C_FindObjects", self._need, object_id)
        return self._chunks(raw, session, handle, encrypt)

    def _chunks(self, raw, session: int, handle: int, encrypt: bool, random_iv: bool = False):
        from .chunk_cipher import MessageChunks, SingleChunks

        if self.module.kind == KEYSTEAD:
            return MessageChunks(raw, session, handle, encrypt, self._tag_failure_rvs(),
                                 random_iv=random_iv)
        return SingleChunks(raw, session, handle, self._tag_failure_rvs())

    @contextlib.contextmanager
    def data_key_chunks(self, kek_id: bytes, length_bits: int = 256):
        """Seal a stream with a fresh data key (a format-2 stream, :mod:`.stream_format`):
        yields (the data key wrapped under ``kek_id``, an entered chunk cipher that
        encrypts with it). The data key is a session object, destroyed at the end."""
        from .datakey import session_data_key

        raw, session = self._open()
        key, wrapped = self._call("C_WrapKey", lambda r, s: session_data_key(
            r, s, self._need(r, s, kek_id), length_bits))
        try:
            with self._chunks(raw, session, key, True) as cipher:
                yield wrapped, cipher
        finally:
            with contextlib.suppress(bridge_errors.PKCS11Error):
                raw.destroy_object(session, key)

    @contextlib.contextmanager
    def unwrapped_chunks(self, kek_id: bytes, wrapped: bytes, *, encrypt: bool = False):
        """Open a format-2 stream (or, with ``encrypt``, seal one with random IVs): unwrap
        its data key under ``kek_id`` into a session object that only decrypts (only
        encrypts) and yield an entered chunk cipher on it; the object is destroyed at the
        end. Raises IntegrityError when the key does not unwrap."""
        from .datakey import unwrap_data_key

        raw, session = self._open()
        key = self._call("C_UnwrapKey", lambda r, s: unwrap_data_key(
            r, s, self._need(r, s, kek_id), wrapped, self._tag_failure_rvs(),
            encrypt=encrypt))
        try:
            with self._chunks(raw, session, key, encrypt, random_iv=encrypt) as cipher:
                yield cipher
        finally:
            with contextlib.suppress(bridge_errors.PKCS11Error):
                raw.destroy_object(session, key)

    def wrap_new_key(self, kek_id: bytes, length_bits: int, reveal: bool
                     ) -> tuple[bytes, bytes | None]:
        """A fresh AES data key made in the token, wrapped under ``kek_id`` (RFC 3394);
        its value too when ``reveal`` (:mod:`.datakey`)."""
        from .datakey import wrap_new_key

        return self._call("C_WrapKey", lambda raw, s: wrap_new_key(
            raw, s, self._need(raw, s, kek_id), length_bits, reveal))

    def rewrap_key(self, old_kek: bytes, new_kek: bytes, wrapped: bytes) -> bytes:
        """Unwrap ``wrapped`` under ``old_kek`` into a session object and wrap it under
        ``new_kek``; the data key never leaves the token in the clear."""
        from .datakey import rewrap_key

        def run(raw, s):
            return rewrap_key(raw, s, self._need(raw, s, old_kek), self._need(raw, s, new_kek),
                              wrapped, self._tag_failure_rvs())

        return self._call("C_UnwrapKey", run)

    def mac(self, object_id: bytes, data: bytes) -> bytes:
        def run(raw, session):
            handle = self._need(raw, session, object_id)
            raw.op_init("Sign", session, CKM_SHA256_HMAC, handle)
            return raw.single("Sign", session, data)

        return self._call("C_Sign", run)

    def usage(self, object_id: bytes) -> dict[str, int]:
        if not self.enforces_lifecycle:
            return {}

        def run(raw, session):
            handle = self._handle(raw, session, object_id)
            if handle is None:  # a key pair: its private key counts the signatures
                handle = next(iter(find_pair(raw, session, object_id)[1]), None)
            if handle is None:
                return {}
            res = raw.get_attributes(session, handle, [CKA_KS_USAGE_COUNT,
                                                       CKA_KS_GCM_INVOCATIONS,
                                                       CKA_KS_USAGE_LIMIT])
            values = {}
            for attr in (CKA_KS_USAGE_COUNT, CKA_KS_GCM_INVOCATIONS, CKA_KS_USAGE_LIMIT):
                value = res.values.get(attr)
                if value and len(value) == struct.calcsize("=Q"):
                    values[attr] = struct.unpack("=Q", value)[0]
            out = {}
            if CKA_KS_USAGE_COUNT in values:
                # Without a limit the token counts in leases of 4096 uses reserved ahead, so
                # its count is only an upper bound while a lease is out (README).
                exact = values.get(CKA_KS_USAGE_LIMIT, 0) != 0
                name = "token_usage_count" if exact else "token_usage_at_most"
                out[name] = values[CKA_KS_USAGE_COUNT]
            if CKA_KS_GCM_INVOCATIONS in values:  # reserved in blocks: numbers handed out
                out["token_gcm_invocations"] = values[CKA_KS_GCM_INVOCATIONS]
            return out

        return self._call("C_GetAttributeValue", run)

    def verify_audit(self, checkpoint: object = None) -> TokenAuditReport:
        """Hook for the token's own audit verification (checkpoint: the auditor's
        ``keystead.token_audit.Checkpoint`` of the token's trail, or None).

        keystead's vendor verification is reached through the bridge function
        ``keystead.softhsm_bridge.vendor.verify_token_audit(raw, session)`` returning
        ``(ok, message)``. While neither the bridge nor the module offers it, report that
        plainly rather than pretend.
        """
        if not self.enforces_lifecycle:
            return TOKEN_AUDIT_UNAVAILABLE
        try:
            from keystead.softhsm_bridge import vendor  # type: ignore[attr-defined]
        except ImportError:
            return TOKEN_AUDIT_UNAVAILABLE
        verify = getattr(vendor, "verify_token_audit", None)
        if verify is None:
            return TOKEN_AUDIT_UNAVAILABLE
        ok, message = self._call("token audit verification",
                                 lambda raw, session: verify(raw, session, checkpoint))
        return TokenAuditReport(True, bool(ok), f"token audit: {message}")
