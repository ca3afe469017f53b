"""``keystead token init``, all or nothing: every check that can refuse runs before the token
is touched, so a refused PIN or a taken label leaves no half-made token.

Checks, in order: no initialised token of the module already carries the label (two tokens
with one label make every later lookup ambiguous); the label fits CK_TOKEN_INFO (32 bytes of
UTF-8); both PINs lie within the free token's ulMinPinLen..ulMaxPinLen (the only refusal of
C_InitToken/C_InitPIN a fresh token can give keystead and SoftHSMv2). Only then C_InitToken,
C_Login(SO), C_InitPIN, C_Logout.
"""

from __future__ import annotations

import importlib

from keystead.softhsm_bridge import errors as bridge_errors
from keystead.softhsm_bridge.modules import ModuleInfo

from .errors import AlreadyExists, PolicyViolation, TokenFailure

provisioning = importlib.import_module("keystead.softhsm_bridge.provision")
CKF_TOKEN_INITIALIZED = 0x400
LABEL_BYTES = 32


def preflight(module: ModuleInfo, label: str, so_pin: str | None = None,
              user_pin: str | None = None, manager_pin: str | None = None) -> int:
    """The free slot a token ``label`` would be made in; raises AlreadyExists or
    PolicyViolation (nothing touched) when init would be refused or ambiguous. PINs that
    are None are not checked (the CLI checks the label before it asks for them)."""
    raw = provisioning.load(module)
    free = None
    for slot in raw.slot_list(token_present=True):
        info = raw.token_info(slot)
        if info["flags"] & CKF_TOKEN_INITIALIZED:
            if info["label"] == label:
                raise AlreadyExists(f"a token labelled {label!r} already exists in "
                                    f"{module.name} (serial {info['serial']})")
        elif free is None:
            free = (slot, info)
    if not label or len(label.encode("utf-8")) > LABEL_BYTES:
        raise PolicyViolation(f"a token label is 1 to {LABEL_BYTES} bytes of UTF-8")
    if free is None:
        raise TokenFailure(f"{module.name} offers no slot with an uninitialised token")
    slot, info = free
    low, high = info["ulMinPinLen"], info["ulMaxPinLen"]
    for kind, pin in (("SO PIN", so_pin), ("user PIN", user_pin),
                      ("manager PIN", manager_pin)):
        if pin is None:
            continue
        n = len(pin.encode("utf-8"))
        if not low <= n <= high:
            raise PolicyViolation(f"the {kind} must be {low} to {high} bytes long for "
                                  f"{module.name}")
    return slot


def init_token(module: ModuleInfo, label: str, so_pin: str, user_pin: str):
    """Preflight, then initialise the token and its user PIN; returns the bridge's Token."""
    preflight(module, label, so_pin, user_pin)
    try:
        return provisioning.provision(module, None, label=label, so_pin=so_pin,
                                      user_pin=user_pin)
    except bridge_errors.PKCS11Error as exc:
        raise TokenFailure(f"token init of {label!r}: the token answered {exc.name}") from exc
