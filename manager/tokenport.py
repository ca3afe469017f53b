"""What the manager needs from a token: the port the service calls, whatever the module.

:class:`TokenPort` is implemented over softhsm_bridge by :mod:`.pkcs11_token`; tests may
use any other implementation. Object ids are the bytes the manager stores as CKA_ID.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from .lifecycle import State
from .specs import KeySpec


@dataclass(frozen=True)
class Windows:
    """A version's usage periods: originator (protect) and recipient (process). None = open."""

    protect_start: datetime | None = None
    protect_end: datetime | None = None
    process_start: datetime | None = None
    process_end: datetime | None = None


@dataclass(frozen=True)
class TokenAuditReport:
    """The token's own audit verification: ``available`` False when the module has none."""

    available: bool
    ok: bool
    message: str


TOKEN_AUDIT_UNAVAILABLE = TokenAuditReport(False, True, "token audit: not available on this module")

#: What a token enforces itself (``key show`` prints it; here, not in pkcs11_token, so that
#: showing a key does not load the bridge).
KEYSTEAD_NOTE = ("keystead token: the token itself enforces state, usage periods and "
                 "overrides, and counts every use (CKA_KS_* vendor attributes)")
FOREIGN_NOTE = ("foreign token: state is mapped onto CKA_ENCRYPT/WRAP/SIGN and "
                "CKA_DECRYPT/UNWRAP/VERIFY plus CKA_START_DATE/END_DATE; usage periods are "
                "enforced by the manager only")


class TokenPort(Protocol):
    """The token operations the manager uses. Every method raises TokenFailure on refusal."""

    @property
    def enforces_lifecycle(self) -> bool:
        """True when the token itself enforces state, dates and overrides (keystead)."""
        ...

    @property
    def description(self) -> str:
        """Module and token, for display (``keystead / token 'demo'``)."""
        ...

    @property
    def capability_note(self) -> str:
        """One sentence on how lifecycle is enforced on this token."""
        ...

    def generate(self, spec: KeySpec, length_bits: int, object_id: bytes, label: str,
                 state: State, windows: Windows) -> str | None:
        """Create the key object; return its CKA_UNIQUE_ID when the token has one."""
        ...

    def apply_state(self, object_id: bytes, spec: KeySpec, state: State, windows: Windows,
                    reason: str) -> None:
        """Make the token object reflect ``state`` and ``windows``."""
        ...

    def set_process_override(self, object_id: bytes, spec: KeySpec, state: State,
                             enabled: bool) -> None:
        """Open (or close again) processing for a suspended or compromised key."""
        ...

    def destroy(self, object_id: bytes) -> None:
        """Destroy the object; a missing object is not an error."""
        ...

    def encrypt(self, object_id: bytes, iv: bytes, aad: bytes, plaintext: bytes) -> bytes:
        """AES-GCM encrypt (96-bit ``iv``, 128-bit tag appended)."""
        ...

    def decrypt(self, object_id: bytes, iv: bytes, aad: bytes, ciphertext: bytes) -> bytes:
        """AES-GCM decrypt; raises IntegrityError when the tag does not verify."""
        ...

    def mac(self, object_id: bytes, data: bytes) -> bytes:
        """HMAC-SHA256 of ``data``."""
        ...

    def usage(self, object_id: bytes) -> dict[str, int]:
        """Counters the token keeps for the object (empty when it keeps none)."""
        ...

    def verify_audit(self, checkpoint: object = None) -> TokenAuditReport:
        """Verify the token's own audit chain, when the module offers that (against the
        auditor's checkpoint of it, when given)."""
        ...

    def close(self) -> None: ...
