"""Every CK_RV as one named exception class, in one place (a leaf: it imports nothing of
keystead's, so every layer can raise and catch these classes).

A call into a PKCS#11 module that returns anything but CKR_OK becomes exactly one
exception: the subclass of :class:`PKCS11Error` registered for that code (a return code
with no class here, such as a vendor code, becomes a plain :class:`PKCS11Error` that still
carries ``.rv``). Failures of the bridge itself ("cannot happen") are
:class:`BridgeInternalError`, which is deliberately not a :class:`PKCS11Error`; expected
configuration problems (no such module, no free slot) are :class:`BridgeError`.

python-pkcs11 raises its own exception classes; :func:`rv_of` turns one of those back
into the CK_RV it stood for, so tests can assert the exact code whichever layer raised.
"""

from __future__ import annotations

import re
from typing import ClassVar

CKR_OK = 0x0
CKR_VENDOR_DEFINED = 0x80000000

_BY_RV: dict[int, type[PKCS11Error]] = {}


class BridgeError(Exception):
    """An expected failure of the bridge: unknown module, no free slot, bad configuration."""


class BridgeInternalError(Exception):
    """A bridge invariant was broken; a bug in keystead's Python side, never a module error."""


class PKCS11Error(Exception):
    """A PKCS#11 function returned ``rv`` (not CKR_OK).

    Subclasses are one per CK_RV; each registers itself, so :func:`error_for` maps a code
    to its class without a second table.
    """

    rv: ClassVar[int] = -1

    def __init_subclass__(cls, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        if cls.rv in _BY_RV:
            raise BridgeInternalError(f"two classes for CK_RV {cls.rv:#x}")
        _BY_RV[cls.rv] = cls

    def __init__(self, message: str = "", rv: int | None = None) -> None:
        if rv is not None:
            self.rv = rv  # type: ignore[misc]  # instance value for unmapped codes
        self.function = message
        text = f"{rv_name(self.rv)}"
        super().__init__(f"{message}: {text}" if message else text)

    @property
    def name(self) -> str:
        """The spec's name for this return code, e.g. ``"CKR_PIN_INCORRECT"``."""
        return rv_name(self.rv)


class Cancel(PKCS11Error):
    rv = 0x1  # CKR_CANCEL


class HostMemory(PKCS11Error):
    rv = 0x2  # CKR_HOST_MEMORY


class SlotIdInvalid(PKCS11Error):
    rv = 0x3  # CKR_SLOT_ID_INVALID


class GeneralError(PKCS11Error):
    rv = 0x5  # CKR_GENERAL_ERROR


class FunctionFailed(PKCS11Error):
    rv = 0x6  # CKR_FUNCTION_FAILED


class ArgumentsBad(PKCS11Error):
    rv = 0x7  # CKR_ARGUMENTS_BAD


class NoEvent(PKCS11Error):
    rv = 0x8  # CKR_NO_EVENT


class NeedToCreateThreads(PKCS11Error):
    rv = 0x9  # CKR_NEED_TO_CREATE_THREADS


class CantLock(PKCS11Error):
    rv = 0xa  # CKR_CANT_LOCK


class AttributeReadOnly(PKCS11Error):
    rv = 0x10  # CKR_ATTRIBUTE_READ_ONLY


class AttributeSensitive(PKCS11Error):
    rv = 0x11  # CKR_ATTRIBUTE_SENSITIVE


class AttributeTypeInvalid(PKCS11Error):
    rv = 0x12  # CKR_ATTRIBUTE_TYPE_INVALID


class AttributeValueInvalid(PKCS11Error):
    rv = 0x13  # CKR_ATTRIBUTE_VALUE_INVALID


class ActionProhibited(PKCS11Error):
    rv = 0x1b  # CKR_ACTION_PROHIBITED


class DataInvalid(PKCS11Error):
    rv = 0x20  # CKR_DATA_INVALID


class DataLenRange(PKCS11Error):
    rv = 0x21  # CKR_DATA_LEN_RANGE


class DeviceError(PKCS11Error):
    rv = 0x30  # CKR_DEVICE_ERROR


class DeviceMemory(PKCS11Error):
    rv = 0x31  # CKR_DEVICE_MEMORY


class DeviceRemoved(PKCS11Error):
    rv = 0x32  # CKR_DEVICE_REMOVED


class EncryptedDataInvalid(PKCS11Error):
    rv = 0x40  # CKR_ENCRYPTED_DATA_INVALID


class EncryptedDataLenRange(PKCS11Error):
    rv = 0x41  # CKR_ENCRYPTED_DATA_LEN_RANGE


class AeadDecryptFailed(PKCS11Error):
    rv = 0x42  # CKR_AEAD_DECRYPT_FAILED (message-based decryption, 3.x headers)


class FunctionCanceled(PKCS11Error):
    rv = 0x50  # CKR_FUNCTION_CANCELED


class FunctionNotParallel(PKCS11Error):
    rv = 0x51  # CKR_FUNCTION_NOT_PARALLEL


class FunctionNotSupported(PKCS11Error):
    rv = 0x54  # CKR_FUNCTION_NOT_SUPPORTED


class KeyHandleInvalid(PKCS11Error):
    rv = 0x60  # CKR_KEY_HANDLE_INVALID


class KeySizeRange(PKCS11Error):
    rv = 0x62  # CKR_KEY_SIZE_RANGE


class KeyTypeInconsistent(PKCS11Error):
    rv = 0x63  # CKR_KEY_TYPE_INCONSISTENT


class KeyNotNeeded(PKCS11Error):
    rv = 0x64  # CKR_KEY_NOT_NEEDED


class KeyChanged(PKCS11Error):
    rv = 0x65  # CKR_KEY_CHANGED


class KeyNeeded(PKCS11Error):
    rv = 0x66  # CKR_KEY_NEEDED


class KeyIndigestible(PKCS11Error):
    rv = 0x67  # CKR_KEY_INDIGESTIBLE


class KeyFunctionNotPermitted(PKCS11Error):
    rv = 0x68  # CKR_KEY_FUNCTION_NOT_PERMITTED


class KeyNotWrappable(PKCS11Error):
    rv = 0x69  # CKR_KEY_NOT_WRAPPABLE


class KeyUnextractable(PKCS11Error):
    rv = 0x6a  # CKR_KEY_UNEXTRACTABLE


class MechanismInvalid(PKCS11Error):
    rv = 0x70  # CKR_MECHANISM_INVALID


class MechanismParamInvalid(PKCS11Error):
    rv = 0x71  # CKR_MECHANISM_PARAM_INVALID


class ObjectHandleInvalid(PKCS11Error):
    rv = 0x82  # CKR_OBJECT_HANDLE_INVALID


class OperationActive(PKCS11Error):
    rv = 0x90  # CKR_OPERATION_ACTIVE


class OperationNotInitialized(PKCS11Error):
    rv = 0x91  # CKR_OPERATION_NOT_INITIALIZED


class PinIncorrect(PKCS11Error):
    rv = 0xa0  # CKR_PIN_INCORRECT


class PinInvalid(PKCS11Error):
    rv = 0xa1  # CKR_PIN_INVALID


class PinLenRange(PKCS11Error):
    rv = 0xa2  # CKR_PIN_LEN_RANGE


class PinExpired(PKCS11Error):
    rv = 0xa3  # CKR_PIN_EXPIRED


class PinLocked(PKCS11Error):
    rv = 0xa4  # CKR_PIN_LOCKED


class SessionClosed(PKCS11Error):
    rv = 0xb0  # CKR_SESSION_CLOSED


class SessionCount(PKCS11Error):
    rv = 0xb1  # CKR_SESSION_COUNT


class SessionHandleInvalid(PKCS11Error):
    rv = 0xb3  # CKR_SESSION_HANDLE_INVALID


class SessionParallelNotSupported(PKCS11Error):
    rv = 0xb4  # CKR_SESSION_PARALLEL_NOT_SUPPORTED


class SessionReadOnly(PKCS11Error):
    rv = 0xb5  # CKR_SESSION_READ_ONLY


class SessionExists(PKCS11Error):
    rv = 0xb6  # CKR_SESSION_EXISTS


class SessionReadOnlyExists(PKCS11Error):
    rv = 0xb7  # CKR_SESSION_READ_ONLY_EXISTS


class SessionReadWriteSoExists(PKCS11Error):
    rv = 0xb8  # CKR_SESSION_READ_WRITE_SO_EXISTS


class SignatureInvalid(PKCS11Error):
    rv = 0xc0  # CKR_SIGNATURE_INVALID


class SignatureLenRange(PKCS11Error):
    rv = 0xc1  # CKR_SIGNATURE_LEN_RANGE


class TemplateIncomplete(PKCS11Error):
    rv = 0xd0  # CKR_TEMPLATE_INCOMPLETE


class TemplateInconsistent(PKCS11Error):
    rv = 0xd1  # CKR_TEMPLATE_INCONSISTENT


class TokenNotPresent(PKCS11Error):
    rv = 0xe0  # CKR_TOKEN_NOT_PRESENT


class TokenNotRecognized(PKCS11Error):
    rv = 0xe1  # CKR_TOKEN_NOT_RECOGNIZED


class TokenWriteProtected(PKCS11Error):
    rv = 0xe2  # CKR_TOKEN_WRITE_PROTECTED


class UnwrappingKeyHandleInvalid(PKCS11Error):
    rv = 0xf0  # CKR_UNWRAPPING_KEY_HANDLE_INVALID


class UnwrappingKeySizeRange(PKCS11Error):
    rv = 0xf1  # CKR_UNWRAPPING_KEY_SIZE_RANGE


class UnwrappingKeyTypeInconsistent(PKCS11Error):
    rv = 0xf2  # CKR_UNWRAPPING_KEY_TYPE_INCONSISTENT


class UserAlreadyLoggedIn(PKCS11Error):
    rv = 0x100  # CKR_USER_ALREADY_LOGGED_IN


class UserNotLoggedIn(PKCS11Error):
    rv = 0x101  # CKR_USER_NOT_LOGGED_IN


class UserPinNotInitialized(PKCS11Error):
    rv = 0x102  # CKR_USER_PIN_NOT_INITIALIZED


class UserTypeInvalid(PKCS11Error):
    rv = 0x103  # CKR_USER_TYPE_INVALID


class UserAnotherAlreadyLoggedIn(PKCS11Error):
    rv = 0x104  # CKR_USER_ANOTHER_ALREADY_LOGGED_IN


class UserTooManyTypes(PKCS11Error):
    rv = 0x105  # CKR_USER_TOO_MANY_TYPES


class WrappedKeyInvalid(PKCS11Error):
    rv = 0x110  # CKR_WRAPPED_KEY_INVALID


class WrappedKeyLenRange(PKCS11Error):
    rv = 0x112  # CKR_WRAPPED_KEY_LEN_RANGE


class WrappingKeyHandleInvalid(PKCS11Error):
    rv = 0x113  # CKR_WRAPPING_KEY_HANDLE_INVALID


class WrappingKeySizeRange(PKCS11Error):
    rv = 0x114  # CKR_WRAPPING_KEY_SIZE_RANGE


class WrappingKeyTypeInconsistent(PKCS11Error):
    rv = 0x115  # CKR_WRAPPING_KEY_TYPE_INCONSISTENT


class RandomSeedNotSupported(PKCS11Error):
    rv = 0x120  # CKR_RANDOM_SEED_NOT_SUPPORTED


class RandomNoRng(PKCS11Error):
    rv = 0x121  # CKR_RANDOM_NO_RNG


class DomainParamsInvalid(PKCS11Error):
    rv = 0x130  # CKR_DOMAIN_PARAMS_INVALID


class CurveNotSupported(PKCS11Error):
    rv = 0x140  # CKR_CURVE_NOT_SUPPORTED


class BufferTooSmall(PKCS11Error):
    rv = 0x150  # CKR_BUFFER_TOO_SMALL


class SavedStateInvalid(PKCS11Error):
    rv = 0x160  # CKR_SAVED_STATE_INVALID


class InformationSensitive(PKCS11Error):
    rv = 0x170  # CKR_INFORMATION_SENSITIVE


class StateUnsaveable(PKCS11Error):
    rv = 0x180  # CKR_STATE_UNSAVEABLE


class CryptokiNotInitialized(PKCS11Error):
    rv = 0x190  # CKR_CRYPTOKI_NOT_INITIALIZED


class CryptokiAlreadyInitialized(PKCS11Error):
    rv = 0x191  # CKR_CRYPTOKI_ALREADY_INITIALIZED


class MutexBad(PKCS11Error):
    rv = 0x1a0  # CKR_MUTEX_BAD


class MutexNotLocked(PKCS11Error):
    rv = 0x1a1  # CKR_MUTEX_NOT_LOCKED


class NewPinMode(PKCS11Error):
    rv = 0x1b0  # CKR_NEW_PIN_MODE


class NextOtp(PKCS11Error):
    rv = 0x1b1  # CKR_NEXT_OTP


class ExceededMaxIterations(PKCS11Error):
    rv = 0x1b5  # CKR_EXCEEDED_MAX_ITERATIONS


class FipsSelfTestFailed(PKCS11Error):
    rv = 0x1b6  # CKR_FIPS_SELF_TEST_FAILED


class LibraryLoadFailed(PKCS11Error):
    rv = 0x1b7  # CKR_LIBRARY_LOAD_FAILED


class PinTooWeak(PKCS11Error):
    rv = 0x1b8  # CKR_PIN_TOO_WEAK


class PublicKeyInvalid(PKCS11Error):
    rv = 0x1b9  # CKR_PUBLIC_KEY_INVALID


class FunctionRejected(PKCS11Error):
    rv = 0x200  # CKR_FUNCTION_REJECTED


class TokenResourceExceeded(PKCS11Error):
    rv = 0x201  # CKR_TOKEN_RESOURCE_EXCEEDED


class OperationCancelFailed(PKCS11Error):
    rv = 0x202  # CKR_OPERATION_CANCEL_FAILED


CKR_NAMES: dict[int, str] = {
    cls.rv: "CKR_" + re.sub(r"(?<!^)(?=[A-Z])", "_", cls.__name__).upper()
    for cls in _BY_RV.values()
}
CKR_NAMES.update({CKR_OK: "CKR_OK"})

CKR_BY_NAME: dict[str, int] = {name: rv for rv, name in CKR_NAMES.items()}


def rv_name(rv: int) -> str:
    """The spec's name for ``rv``; vendor and unknown codes are shown in hex."""
    if rv in CKR_NAMES:
        return CKR_NAMES[rv]
    if rv >= CKR_VENDOR_DEFINED:
        return f"CKR_VENDOR_DEFINED+{rv - CKR_VENDOR_DEFINED:#x}"
    return f"CKR_{rv:#x}"


def rv_value(name: str) -> int:
    """The CK_RV for a spec name ("CKR_PIN_LOCKED" or "PIN_LOCKED"); KeyError if unknown."""
    key = name if name.startswith("CKR_") else "CKR_" + name
    return CKR_BY_NAME[key]


def error_for(rv: int, function: str = "") -> PKCS11Error:
    """The exception instance for ``rv`` raised by ``function``.

    Raises BridgeInternalError if ``rv`` is CKR_OK (an error was expected).
    """
    if rv == CKR_OK:
        raise BridgeInternalError(f"{function} returned CKR_OK where an error was expected")
    cls = _BY_RV.get(rv)
    if cls is None:
        return PKCS11Error(function, rv=rv)
    return cls(function)


def check(rv: int, function: str = "") -> None:
    """Return if ``rv`` is CKR_OK, else raise the mapped :class:`PKCS11Error`."""
    if rv != CKR_OK:
        raise error_for(rv, function)


# python-pkcs11 exception class name -> the CK_RV name it is raised for. python-pkcs11 maps
# CKR_BUFFER_TOO_SMALL, CKR_CRYPTOKI_*_INITIALIZED, CKR_USER_TYPE_INVALID and
# CKR_SESSION_PARALLEL_NOT_SUPPORTED to a bare PKCS11Error with a message, and any code it
# does not know to "Unmapped error code 0x..", which rv_of() parses.
_PYKCS11_NAMES: dict[str, str] = {
    "AttributeTypeInvalid": "CKR_ATTRIBUTE_TYPE_INVALID",
    "AttributeValueInvalid": "CKR_ATTRIBUTE_VALUE_INVALID",
    "AttributeReadOnly": "CKR_ATTRIBUTE_READ_ONLY",
    "AttributeSensitive": "CKR_ATTRIBUTE_SENSITIVE",
    "ArgumentsBad": "CKR_ARGUMENTS_BAD",
    "DataInvalid": "CKR_DATA_INVALID",
    "DataLenRange": "CKR_DATA_LEN_RANGE",
    "DomainParamsInvalid": "CKR_DOMAIN_PARAMS_INVALID",
    "DeviceError": "CKR_DEVICE_ERROR",
    "DeviceMemory": "CKR_DEVICE_MEMORY",
    "DeviceRemoved": "CKR_DEVICE_REMOVED",
    "EncryptedDataInvalid": "CKR_ENCRYPTED_DATA_INVALID",
    "EncryptedDataLenRange": "CKR_ENCRYPTED_DATA_LEN_RANGE",
    "ExceededMaxIterations": "CKR_EXCEEDED_MAX_ITERATIONS",
    "FunctionCancelled": "CKR_FUNCTION_CANCELED",
    "FunctionFailed": "CKR_FUNCTION_FAILED",
    "FunctionRejected": "CKR_FUNCTION_REJECTED",
    "FunctionNotSupported": "CKR_FUNCTION_NOT_SUPPORTED",
    "KeyHandleInvalid": "CKR_KEY_HANDLE_INVALID",
    "KeyIndigestible": "CKR_KEY_INDIGESTIBLE",
    "KeyNeeded": "CKR_KEY_NEEDED",
    "KeyNotNeeded": "CKR_KEY_NOT_NEEDED",
    "KeySizeRange": "CKR_KEY_SIZE_RANGE",
    "KeyNotWrappable": "CKR_KEY_NOT_WRAPPABLE",
    "KeyTypeInconsistent": "CKR_KEY_TYPE_INCONSISTENT",
    "KeyUnextractable": "CKR_KEY_UNEXTRACTABLE",
    "GeneralError": "CKR_GENERAL_ERROR",
    "HostMemory": "CKR_HOST_MEMORY",
    "MechanismInvalid": "CKR_MECHANISM_INVALID",
    "MechanismParamInvalid": "CKR_MECHANISM_PARAM_INVALID",
    "NoEvent": "CKR_NO_EVENT",
    "ObjectHandleInvalid": "CKR_OBJECT_HANDLE_INVALID",
    "OperationActive": "CKR_OPERATION_ACTIVE",
    "OperationNotInitialized": "CKR_OPERATION_NOT_INITIALIZED",
    "PinExpired": "CKR_PIN_EXPIRED",
    "PinIncorrect": "CKR_PIN_INCORRECT",
    "PinInvalid": "CKR_PIN_INVALID",
    "PinLenRange": "CKR_PIN_LEN_RANGE",
    "PinLocked": "CKR_PIN_LOCKED",
    "PinTooWeak": "CKR_PIN_TOO_WEAK",
    "PublicKeyInvalid": "CKR_PUBLIC_KEY_INVALID",
    "RandomNoRNG": "CKR_RANDOM_NO_RNG",
    "RandomSeedNotSupported": "CKR_RANDOM_SEED_NOT_SUPPORTED",
    "SessionClosed": "CKR_SESSION_CLOSED",
    "SessionCount": "CKR_SESSION_COUNT",
    "SessionExists": "CKR_SESSION_EXISTS",
    "SessionHandleInvalid": "CKR_SESSION_HANDLE_INVALID",
    "SessionReadOnly": "CKR_SESSION_READ_ONLY",
    "SessionReadOnlyExists": "CKR_SESSION_READ_ONLY_EXISTS",
    "SessionReadWriteSOExists": "CKR_SESSION_READ_WRITE_SO_EXISTS",
    "SignatureLenRange": "CKR_SIGNATURE_LEN_RANGE",
    "SignatureInvalid": "CKR_SIGNATURE_INVALID",
    "TemplateIncomplete": "CKR_TEMPLATE_INCOMPLETE",
    "TemplateInconsistent": "CKR_TEMPLATE_INCONSISTENT",
    "SlotIDInvalid": "CKR_SLOT_ID_INVALID",
    "TokenNotPresent": "CKR_TOKEN_NOT_PRESENT",
    "TokenNotRecognised": "CKR_TOKEN_NOT_RECOGNIZED",
    "TokenWriteProtected": "CKR_TOKEN_WRITE_PROTECTED",
    "UnwrappingKeyHandleInvalid": "CKR_UNWRAPPING_KEY_HANDLE_INVALID",
    "UnwrappingKeySizeRange": "CKR_UNWRAPPING_KEY_SIZE_RANGE",
    "UnwrappingKeyTypeInconsistent": "CKR_UNWRAPPING_KEY_TYPE_INCONSISTENT",
    "UserNotLoggedIn": "CKR_USER_NOT_LOGGED_IN",
    "UserAlreadyLoggedIn": "CKR_USER_ALREADY_LOGGED_IN",
    "AnotherUserAlreadyLoggedIn": "CKR_USER_ANOTHER_ALREADY_LOGGED_IN",
    "UserPinNotInitialized": "CKR_USER_PIN_NOT_INITIALIZED",
    "UserTooManyTypes": "CKR_USER_TOO_MANY_TYPES",
    "WrappedKeyInvalid": "CKR_WRAPPED_KEY_INVALID",
    "WrappedKeyLenRange": "CKR_WRAPPED_KEY_LEN_RANGE",
    "WrappingKeyHandleInvalid": "CKR_WRAPPING_KEY_HANDLE_INVALID",
    "WrappingKeySizeRange": "CKR_WRAPPING_KEY_SIZE_RANGE",
    "WrappingKeyTypeInconsistent": "CKR_WRAPPING_KEY_TYPE_INCONSISTENT",}
_PYKCS11_MESSAGES: dict[str, str] = {
    "Buffer was too small": "CKR_BUFFER_TOO_SMALL",
    "already initialized": "CKR_CRYPTOKI_ALREADY_INITIALIZED",
    "not initialized": "CKR_CRYPTOKI_NOT_INITIALIZED",
}
_UNMAPPED = re.compile(r"Unmapped error code (0x[0-9a-fA-F]+)")


def rv_of(exc: BaseException) -> int:
    """The CK_RV an exception stands for, from this module or from python-pkcs11.

    Raises BridgeInternalError when ``exc`` carries no recognisable return code.
    """
    if isinstance(exc, PKCS11Error):
        return exc.rv
    name = _PYKCS11_NAMES.get(type(exc).__name__)
    if name is not None and type(exc).__module__.startswith("pkcs11"):
        return CKR_BY_NAME[name]
    text = str(exc)
    found = _UNMAPPED.search(text)
    if found:
        return int(found.group(1), 16)
    for fragment, code_name in _PYKCS11_MESSAGES.items():
        if fragment in text:
            return CKR_BY_NAME[code_name]
    raise BridgeInternalError(f"no CK_RV in {type(exc).__name__}: {exc}") from exc


#: Every exception class, CK_RV constant and helper above (the bridge re-exports them).
__all__ = sorted(
    name for name, value in globals().items()
    if not name.startswith("_") and name not in {"annotations", "re", "ClassVar"}
    and getattr(value, "__module__", __name__) == __name__
)
