"""The bad-input table of tests/conformance/test_bad_input.py, as data.

Every PKCS#11 3.0 entry point appears here (``ALL_FUNCTIONS``, 92 names, checked against the
3.0 function list) with arguments of a valid shape (``shaped``), so a test can change one
argument at a time: a NULL pointer, a bad handle, a huge length. Each expected code is the one
PKCS#11 3.0 section 5 lists for that function; where the spec leaves a choice between two
codes (an unsupported function may answer CKR_FUNCTION_NOT_SUPPORTED before it looks at its
arguments), the case names both.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from keystead.softhsm_bridge.ck import (
    CKF_SERIAL_SESSION,
    CKU_USER,
    Attribute,
    KeyType,
    Mechanism,
    ObjectClass,
)

HUGE = 1 << 63  # a CK_ULONG length no buffer can have
TOO_MANY = 1 << 40  # a count that does not fit any template
NOT_SUPPORTED = "CKR_FUNCTION_NOT_SUPPORTED"



def _words(text: str) -> list[str]:
    return text.split()


# PKCS#11 3.0 5.1: the 68 functions of the 2.40 list, then the 24 the 3.0 list adds.
V240 = _words(
    "C_Initialize C_Finalize C_GetInfo C_GetFunctionList C_GetSlotList C_GetSlotInfo "
    "C_GetTokenInfo C_GetMechanismList C_GetMechanismInfo C_InitToken C_InitPIN C_SetPIN "
    "C_OpenSession C_CloseSession C_CloseAllSessions C_GetSessionInfo C_GetOperationState "
    "C_SetOperationState C_Login C_Logout C_CreateObject C_CopyObject C_DestroyObject "
    "C_GetObjectSize C_GetAttributeValue C_SetAttributeValue C_FindObjectsInit C_FindObjects "
    "C_FindObjectsFinal C_EncryptInit C_Encrypt C_EncryptUpdate C_EncryptFinal C_DecryptInit "
    "C_Decrypt C_DecryptUpdate C_DecryptFinal C_DigestInit C_Digest C_DigestUpdate "
    "C_DigestKey C_DigestFinal C_SignInit C_Sign C_SignUpdate C_SignFinal C_SignRecoverInit "
    "C_SignRecover C_VerifyInit C_Verify C_VerifyUpdate C_VerifyFinal C_VerifyRecoverInit "
    "C_VerifyRecover C_DigestEncryptUpdate C_DecryptDigestUpdate C_SignEncryptUpdate "
    "C_DecryptVerifyUpdate C_GenerateKey C_GenerateKeyPair C_WrapKey C_UnwrapKey C_DeriveKey "
    "C_SeedRandom C_GenerateRandom C_GetFunctionStatus C_CancelFunction C_WaitForSlotEvent"
)
V30 = _words(
    "C_GetInterfaceList C_GetInterface C_LoginUser C_SessionCancel C_MessageEncryptInit "
    "C_EncryptMessage C_EncryptMessageBegin C_EncryptMessageNext C_MessageEncryptFinal "
    "C_MessageDecryptInit C_DecryptMessage C_DecryptMessageBegin C_DecryptMessageNext "
    "C_MessageDecryptFinal C_MessageSignInit C_SignMessage C_SignMessageBegin "
    "C_SignMessageNext C_MessageSignFinal C_MessageVerifyInit C_VerifyMessage "
    "C_VerifyMessageBegin C_VerifyMessageNext C_MessageVerifyFinal"
)
ALL_FUNCTIONS = tuple(V240 + V30)

# Functions callable before C_Initialize (5.4): everything else is CKR_CRYPTOKI_NOT_INITIALIZED.
BEFORE_INIT_OK = frozenset({"C_Initialize", "C_GetFunctionList", "C_GetInterfaceList",
                            "C_GetInterface"})
# Functions without a session handle (their first argument is a slot, flags or a pointer).
NO_SESSION = frozenset({
    "C_Initialize", "C_Finalize", "C_GetInfo", "C_GetFunctionList", "C_GetSlotList",
    "C_GetSlotInfo", "C_GetTokenInfo", "C_GetMechanismList", "C_GetMechanismInfo",
    "C_InitToken", "C_OpenSession", "C_CloseAllSessions", "C_WaitForSlotEvent",
    "C_GetInterfaceList", "C_GetInterface",
})
SESSION_FUNCTIONS = tuple(f for f in ALL_FUNCTIONS if f not in NO_SESSION)

# keystead implements none of these (README, "Supported functions": not supported, never a crash).
UNSUPPORTED = frozenset({
    "C_SignRecoverInit", "C_SignRecover", "C_VerifyRecoverInit", "C_VerifyRecover",
    "C_DigestEncryptUpdate", "C_DecryptDigestUpdate", "C_SignEncryptUpdate",
    "C_DecryptVerifyUpdate", "C_DeriveKey", "C_MessageSignInit",
    "C_SignMessage", "C_SignMessageBegin", "C_SignMessageNext", "C_MessageSignFinal",
    "C_MessageVerifyInit", "C_VerifyMessage", "C_VerifyMessageBegin", "C_VerifyMessageNext",
    "C_MessageVerifyFinal", "C_GetOperationState", "C_SetOperationState",
})


@dataclass
class Ctx:
    """What a case builds its arguments from: the raw module, a logged-in RW session ``h``,
    a session AES key ``key`` (all usages), the main slot, and buffers kept alive."""

    raw: Any
    h: int
    key: int
    slot: int
    keep: list[Any] = field(default_factory=list)

    @property
    def ffi(self) -> Any:
        return self.raw.ffi

    def buf(self, n: int = 64) -> Any:
        b = self.ffi.new("CK_BYTE[]", n)
        self.keep.append(b)
        return b

    def ulong(self, v: int = 64) -> Any:
        p = self.ffi.new("CK_ULONG *", v)
        self.keep.append(p)
        return p

    def new(self, ctype: str, init: Any = None) -> Any:
        p = self.ffi.new(ctype, init)
        self.keep.append(p)
        return p

    def mech(self, mech: int, param: Any = None) -> Any:
        m = self.raw.mechanism(mech, param)
        self.keep.append(m)
        return m.ptr

    def template(self, attrs: Any) -> tuple[Any, int]:
        t = self.raw.template(attrs)
        self.keep.append(t)
        return t.ptr, t.count


def _gcm_msg(c: Ctx) -> Any:
    p = c.new("CK_GCM_MESSAGE_PARAMS *")
    iv, tag = c.buf(12), c.buf(16)
    p.pIv, p.ulIvLen, p.ulIvFixedBits, p.ulTagBits = iv, 12, 0, 128
    p.pTag = tag
    return p


def _ecb(c: Ctx) -> Any:
    return c.mech(Mechanism.AES_ECB)


# Well-formed templates for the functions that take one.
_DATA = {Attribute.CLASS: ObjectClass.DATA, Attribute.TOKEN: False, Attribute.LABEL: "shaped"}
_GEN = {Attribute.TOKEN: False, Attribute.VALUE_LEN: 16}
_AES = {Attribute.CLASS: ObjectClass.SECRET_KEY, Attribute.KEY_TYPE: KeyType.AES,
        Attribute.TOKEN: False}

Builder = Callable[[Ctx, int], tuple[Any, ...]]

# Arguments of a valid shape for each function taking a session handle ``h`` (second
# argument of the builder). Output buffers are 64 bytes, lengths 16.
SHAPED: dict[str, Builder] = {
    "C_InitPIN": lambda c, h: (h, b"abcd1234", 8),
    "C_SetPIN": lambda c, h: (h, b"abcd1234", 8, b"abcd1234", 8),
    "C_CloseSession": lambda c, h: (h,),
    "C_GetSessionInfo": lambda c, h: (h, c.new("CK_SESSION_INFO *")),
    "C_GetOperationState": lambda c, h: (h, c.buf(), c.ulong()),
    "C_SetOperationState": lambda c, h: (h, c.buf(), 16, 0, 0),
    "C_Login": lambda c, h: (h, CKU_USER, b"abcd1234", 8),
    "C_Logout": lambda c, h: (h,),
    "C_CreateObject": lambda c, h: (h, *c.template(_DATA), c.ulong()),
    "C_CopyObject": lambda c, h: (h, c.key, *c.template({Attribute.LABEL: "copy"}), c.ulong()),
    "C_DestroyObject": lambda c, h: (h, c.key),
    "C_GetObjectSize": lambda c, h: (h, c.key, c.ulong()),
    "C_GetAttributeValue": lambda c, h: (h, c.key, *c.template({Attribute.LABEL: None})),
    "C_SetAttributeValue": lambda c, h: (h, c.key, *c.template({Attribute.LABEL: "set"})),
    "C_FindObjectsInit": lambda c, h: (h, *c.template({Attribute.LABEL: "no-such-label"})),
    "C_FindObjects": lambda c, h: (h, c.new("CK_OBJECT_HANDLE[]", 4), 4, c.ulong()),
    "C_FindObjectsFinal": lambda c, h: (h,),
    "C_EncryptInit": lambda c, h: (h, _ecb(c), c.key),
    "C_Encrypt": lambda c, h: (h, c.buf(16), 16, c.buf(), c.ulong()),
    "C_EncryptUpdate": lambda c, h: (h, c.buf(16), 16, c.buf(), c.ulong()),
    "C_EncryptFinal": lambda c, h: (h, c.buf(), c.ulong()),
    "C_DecryptInit": lambda c, h: (h, _ecb(c), c.key),
    "C_Decrypt": lambda c, h: (h, c.buf(16), 16, c.buf(), c.ulong()),
    "C_DecryptUpdate": lambda c, h: (h, c.buf(16), 16, c.buf(), c.ulong()),
    "C_DecryptFinal": lambda c, h: (h, c.buf(), c.ulong()),
    "C_DigestInit": lambda c, h: (h, c.mech(Mechanism.SHA256)),
    "C_Digest": lambda c, h: (h, c.buf(16), 16, c.buf(), c.ulong()),
    "C_DigestUpdate": lambda c, h: (h, c.buf(16), 16),
    "C_DigestKey": lambda c, h: (h, c.key),
    "C_DigestFinal": lambda c, h: (h, c.buf(), c.ulong()),
    "C_SignInit": lambda c, h: (h, c.mech(Mechanism.AES_CMAC), c.key),
    "C_Sign": lambda c, h: (h, c.buf(16), 16, c.buf(), c.ulong()),
    "C_SignUpdate": lambda c, h: (h, c.buf(16), 16),
    "C_SignFinal": lambda c, h: (h, c.buf(), c.ulong()),
    "C_SignRecoverInit": lambda c, h: (h, c.mech(Mechanism.AES_CMAC), c.key),
    "C_SignRecover": lambda c, h: (h, c.buf(16), 16, c.buf(), c.ulong()),
    "C_VerifyInit": lambda c, h: (h, c.mech(Mechanism.AES_CMAC), c.key),
    "C_Verify": lambda c, h: (h, c.buf(16), 16, c.buf(16), 16),
    "C_VerifyUpdate": lambda c, h: (h, c.buf(16), 16),
    "C_VerifyFinal": lambda c, h: (h, c.buf(16), 16),
    "C_VerifyRecoverInit": lambda c, h: (h, c.mech(Mechanism.AES_CMAC), c.key),
    "C_VerifyRecover": lambda c, h: (h, c.buf(16), 16, c.buf(), c.ulong()),
    "C_DigestEncryptUpdate": lambda c, h: (h, c.buf(16), 16, c.buf(), c.ulong()),
    "C_DecryptDigestUpdate": lambda c, h: (h, c.buf(16), 16, c.buf(), c.ulong()),
    "C_SignEncryptUpdate": lambda c, h: (h, c.buf(16), 16, c.buf(), c.ulong()),
    "C_DecryptVerifyUpdate": lambda c, h: (h, c.buf(16), 16, c.buf(), c.ulong()),
    "C_GenerateKey": lambda c, h: (h, c.mech(Mechanism.AES_KEY_GEN), *c.template(_GEN),
                                   c.ulong()),
    "C_GenerateKeyPair": lambda c, h: (h, c.mech(Mechanism.RSA_PKCS_KEY_PAIR_GEN), c.ffi.NULL,
                                       0, c.ffi.NULL, 0, c.ulong(), c.ulong()),
    "C_WrapKey": lambda c, h: (h, c.mech(Mechanism.AES_KEY_WRAP), c.key, c.key, c.buf(),
                               c.ulong()),
    "C_UnwrapKey": lambda c, h: (h, c.mech(Mechanism.AES_KEY_WRAP), c.key, c.buf(24), 24,
                                 *c.template(_AES), c.ulong()),
    "C_DeriveKey": lambda c, h: (h, c.mech(Mechanism.SHA256_KEY_DERIVATION), c.key,
                                 *c.template(_AES), c.ulong()),
    "C_SeedRandom": lambda c, h: (h, c.buf(16), 16),
    "C_GenerateRandom": lambda c, h: (h, c.buf(16), 16),
    "C_GetFunctionStatus": lambda c, h: (h,),
    "C_CancelFunction": lambda c, h: (h,),
    "C_LoginUser": lambda c, h: (h, CKU_USER, b"abcd1234", 8, b"user", 4),
    "C_SessionCancel": lambda c, h: (h, 0),
    "C_MessageEncryptInit": lambda c, h: (h, c.mech(Mechanism.AES_GCM), c.key),
    "C_EncryptMessage": lambda c, h: (h, _gcm_msg(c), c.ffi.sizeof("CK_GCM_MESSAGE_PARAMS"),
                                      c.ffi.NULL, 0, c.buf(16), 16, c.buf(), c.ulong()),
    "C_EncryptMessageBegin": lambda c, h: (h, _gcm_msg(c),
                                           c.ffi.sizeof("CK_GCM_MESSAGE_PARAMS"), c.ffi.NULL,
                                           0),
    "C_EncryptMessageNext": lambda c, h: (h, _gcm_msg(c),
                                          c.ffi.sizeof("CK_GCM_MESSAGE_PARAMS"), c.buf(16), 16,
                                          c.buf(), c.ulong(), 0),
    "C_MessageEncryptFinal": lambda c, h: (h,),
    "C_MessageDecryptInit": lambda c, h: (h, c.mech(Mechanism.AES_GCM), c.key),
    "C_DecryptMessage": lambda c, h: (h, _gcm_msg(c), c.ffi.sizeof("CK_GCM_MESSAGE_PARAMS"),
                                      c.ffi.NULL, 0, c.buf(16), 16, c.buf(), c.ulong()),
    "C_DecryptMessageBegin": lambda c, h: (h, _gcm_msg(c),
                                           c.ffi.sizeof("CK_GCM_MESSAGE_PARAMS"), c.ffi.NULL,
                                           0),
    "C_DecryptMessageNext": lambda c, h: (h, _gcm_msg(c),
                                          c.ffi.sizeof("CK_GCM_MESSAGE_PARAMS"), c.buf(16), 16,
                                          c.buf(), c.ulong(), 0),
    "C_MessageDecryptFinal": lambda c, h: (h,),
    "C_MessageSignInit": lambda c, h: (h, c.mech(Mechanism.AES_CMAC), c.key),
    "C_SignMessage": lambda c, h: (h, c.ffi.NULL, 0, c.buf(16), 16, c.buf(), c.ulong()),
    "C_SignMessageBegin": lambda c, h: (h, c.ffi.NULL, 0),
    "C_SignMessageNext": lambda c, h: (h, c.ffi.NULL, 0, c.buf(16), 16, c.buf(), c.ulong()),
    "C_MessageSignFinal": lambda c, h: (h,),
    "C_MessageVerifyInit": lambda c, h: (h, c.mech(Mechanism.AES_CMAC), c.key),
    "C_VerifyMessage": lambda c, h: (h, c.ffi.NULL, 0, c.buf(16), 16, c.buf(16), 16),
    "C_VerifyMessageBegin": lambda c, h: (h, c.ffi.NULL, 0),
    "C_VerifyMessageNext": lambda c, h: (h, c.ffi.NULL, 0, c.buf(16), 16, c.buf(16), 16),
    "C_MessageVerifyFinal": lambda c, h: (h,),
}

# The rest, for the before-C_Initialize calls (``slot`` is any number then).
SHAPED_NO_SESSION: dict[str, Builder] = {
    "C_Finalize": lambda c, s: (c.ffi.NULL,),
    "C_GetInfo": lambda c, s: (c.new("CK_INFO *"),),
    "C_GetSlotList": lambda c, s: (0, c.new("CK_SLOT_ID[]", 8), c.ulong(8)),
    "C_GetSlotInfo": lambda c, s: (s, c.new("CK_SLOT_INFO *")),
    "C_GetTokenInfo": lambda c, s: (s, c.new("CK_TOKEN_INFO *")),
    "C_GetMechanismList": lambda c, s: (s, c.new("CK_MECHANISM_TYPE[]", 64), c.ulong(64)),
    "C_GetMechanismInfo": lambda c, s: (s, Mechanism.AES_ECB, c.new("CK_MECHANISM_INFO *")),
    "C_InitToken": lambda c, s: (s, b"abcd1234", 8, b"x".ljust(32)),
    "C_OpenSession": lambda c, s: (s, CKF_SERIAL_SESSION, c.ffi.NULL, c.ffi.NULL, c.ulong()),
    "C_CloseAllSessions": lambda c, s: (s,),
    "C_WaitForSlotEvent": lambda c, s: (1, c.ulong(), c.ffi.NULL),  # CKF_DONT_BLOCK
}

assert len(ALL_FUNCTIONS) == 92 == len(set(ALL_FUNCTIONS))
assert set(SHAPED) == set(SESSION_FUNCTIONS)
assert set(SHAPED_NO_SESSION) | BEFORE_INIT_OK == NO_SESSION
