"""PKCS#11 constants as the bridge spells them.

Attribute, mechanism, key type, object class and flag values come from python-pkcs11's
enums (re-exported here so callers import one place, and imported on first use); the few
constants it lacks, and those the raw layer needs without python-pkcs11, are defined below
from PKCS#11 3.0 base specification sections 3.x and 5.x.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pkcs11.constants import (
        Attribute,
        MechanismFlag,
        ObjectClass,
        SlotFlag,
        TokenFlag,
        UserType,
    )
    from pkcs11.mechanisms import KeyType, Mechanism

#: python-pkcs11's enums, imported on first use: importing python-pkcs11 costs tens of
#: milliseconds, which a command that never touches a token must not pay.
_PKCS11_ENUMS = {
    "Attribute": "pkcs11.constants", "MechanismFlag": "pkcs11.constants",
    "ObjectClass": "pkcs11.constants", "SlotFlag": "pkcs11.constants",
    "TokenFlag": "pkcs11.constants", "UserType": "pkcs11.constants",
    "KeyType": "pkcs11.mechanisms", "Mechanism": "pkcs11.mechanisms",
}


def __getattr__(name: str) -> Any:
    where = _PKCS11_ENUMS.get(name)
    if where is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(where), name)
    globals()[name] = value
    return value


__all__ = [
    "Attribute", "KeyType", "Mechanism", "MechanismFlag", "ObjectClass", "SlotFlag",
    "TokenFlag", "UserType",
    "CKU_SO", "CKU_USER", "CKU_CONTEXT_SPECIFIC", "CKU_KS_MANAGER",
    "CKF_RW_SESSION", "CKF_SERIAL_SESSION", "CKF_TOKEN_INITIALIZED", "CKF_OS_LOCKING_OK",
    "CKF_LIBRARY_CANT_CREATE_OS_THREADS", "CKF_INTERFACE_FORK_SAFE", "CKF_END_OF_MESSAGE",
    "CKS_RO_PUBLIC_SESSION", "CKS_RO_USER_FUNCTIONS", "CKS_RW_PUBLIC_SESSION",
    "CKS_RW_USER_FUNCTIONS", "CKS_RW_SO_FUNCTIONS", "CK_UNAVAILABLE_INFORMATION",
    "CK_INVALID_HANDLE", "CK_EFFECTIVELY_INFINITE", "CKM_AES_KEY_WRAP_PAD_SOFTHSM",
    "CKA_VENDOR_DEFINED", "KS_VENDOR_TAG", "KS_VENDOR", "CKA_KS_LIFECYCLE_STATE",
    "CKA_KS_PROCESS_START_DATE", "CKA_KS_PROCESS_END_DATE", "CKA_KS_USAGE_COUNT",
    "CKA_KS_USAGE_LIMIT", "CKA_KS_PROCESS_OVERRIDE", "CKA_KS_GCM_INVOCATIONS",
    "CKA_KS_TRANSITION_REASON", "CKA_KS_VALUE_KNOWN", "CKA_KS_GOVERNED", "CKA_KS_PKCS8",
    "KS_STATE_PRE_ACTIVATION",
    "KS_STATE_ACTIVE", "KS_STATE_SUSPENDED", "KS_STATE_DEACTIVATED", "KS_STATE_COMPROMISED",
    "KS_STATE_DESTROYED",
]

# 3.3 user types
CKU_SO = 0
CKU_USER = 1
CKU_CONTEXT_SPECIFIC = 2

# 5.6 session flags; CKF_SERIAL_SESSION must always be set for C_OpenSession.
CKF_RW_SESSION = 0x2
CKF_SERIAL_SESSION = 0x4

# 3.2 CK_TOKEN_INFO.flags (TokenFlag.TOKEN_INITIALIZED, without importing python-pkcs11)
CKF_TOKEN_INITIALIZED = 0x400

# 5.4 C_Initialize flags (CK_C_INITIALIZE_ARGS.flags)
CKF_LIBRARY_CANT_CREATE_OS_THREADS = 0x1
CKF_OS_LOCKING_OK = 0x2

# 3.6 interface flags; 5.x message-based flags
CKF_INTERFACE_FORK_SAFE = 0x1
CKF_END_OF_MESSAGE = 0x1

# 5.6 session states
CKS_RO_PUBLIC_SESSION = 0
CKS_RO_USER_FUNCTIONS = 1
CKS_RW_PUBLIC_SESSION = 2
CKS_RW_USER_FUNCTIONS = 3
CKS_RW_SO_FUNCTIONS = 4

CK_INVALID_HANDLE = 0
CK_EFFECTIVELY_INFINITE = 0
# 5.7 C_GetAttributeValue: ulValueLen for an attribute that cannot be revealed.
CK_UNAVAILABLE_INFORMATION = (1 << 64) - 1

# SoftHSMv2 2.6.1 registers RFC 5649 under 0x210A (CKM_AES_KEY_WRAP_PAD) where PKCS#11 3.0
# names it CKM_AES_KEY_WRAP_KWP (0x210B); see quirks.py.
CKM_AES_KEY_WRAP_PAD_SOFTHSM = 0x210A

# keystead's vendor numbers: the one Python copy of native/include/keystead.h (the bridge's
# tests check every CKA_KS_*, CKU_KS_* and KS_STATE_* there against these).
CKA_VENDOR_DEFINED = 0x80000000
KS_VENDOR_TAG = 0x004B5300  # "KS" in bits 8..23
KS_VENDOR = CKA_VENDOR_DEFINED | KS_VENDOR_TAG
CKA_KS_LIFECYCLE_STATE = KS_VENDOR | 0x01
CKA_KS_PROCESS_START_DATE = KS_VENDOR | 0x02
CKA_KS_PROCESS_END_DATE = KS_VENDOR | 0x03
CKA_KS_USAGE_COUNT = KS_VENDOR | 0x04
CKA_KS_USAGE_LIMIT = KS_VENDOR | 0x05
CKA_KS_PROCESS_OVERRIDE = KS_VENDOR | 0x06
CKA_KS_GCM_INVOCATIONS = KS_VENDOR | 0x07
CKA_KS_TRANSITION_REASON = KS_VENDOR | 0x08
CKA_KS_VALUE_KNOWN = KS_VENDOR | 0x09
CKA_KS_GOVERNED = KS_VENDOR | 0x0A
CKA_KS_PKCS8 = KS_VENDOR | 0x0B  # internal: a private key's sealed PKCS#8, never revealed
# The key manager's user type (docs/authority.md).
CKU_KS_MANAGER = 0x80000000 | KS_VENDOR_TAG | 0x01
KS_STATE_PRE_ACTIVATION = 0
KS_STATE_ACTIVE = 1
KS_STATE_SUSPENDED = 2
KS_STATE_DEACTIVATED = 3
KS_STATE_COMPROMISED = 4
KS_STATE_DESTROYED = 5
