"""What a token holds, read back for ``keystead doctor`` and for the agreement check every
operation makes before it uses a version (:mod:`.doctor`)."""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

from keystead.softhsm_bridge.ck import (
    CKA_KS_LIFECYCLE_STATE,
    CKA_KS_PROCESS_END_DATE,
    CKA_KS_PROCESS_START_DATE,
)

CKO_SECRET_KEY = 0x4
CKA_CLASS, CKA_LABEL, CKA_UNIQUE_ID, CKA_ID = 0x0, 0x3, 0x4, 0x102
FLAG_ATTRS = {"encrypt": 0x104, "decrypt": 0x105, "wrap": 0x106, "unwrap": 0x107,
              "sign": 0x108, "verify": 0x10A}
CKA_START_DATE, CKA_END_DATE = 0x110, 0x111
DATE_ATTRS = {"protect_start": CKA_START_DATE, "protect_end": CKA_END_DATE,
              "process_start": CKA_KS_PROCESS_START_DATE,
              "process_end": CKA_KS_PROCESS_END_DATE}


@dataclass
class TokenObject:
    """One secret key on the token, as the doctor compares it."""

    handle: int
    object_id: str  # CKA_ID, hex
    label: str
    unique_id: str | None
    flags: dict[str, bool] = field(default_factory=dict)
    dates: dict[str, bytes] = field(default_factory=dict)  # CK_DATE text, b"" = unbounded
    state_code: int | None = None  # CKA_KS_LIFECYCLE_STATE where the token has it


def _text(value: bytes | None) -> str:
    return (value or b"").decode("utf-8", "replace")


def read_object(raw, session: int, handle: int, keystead: bool) -> TokenObject:
    attrs = [CKA_ID, CKA_LABEL, *FLAG_ATTRS.values()]
    if keystead:
        attrs += [CKA_UNIQUE_ID, CKA_KS_LIFECYCLE_STATE]
    values = raw.get_attributes(session, handle, attrs).values
    obj = TokenObject(handle, (values.get(CKA_ID) or b"").hex(), _text(values.get(CKA_LABEL)),
                      _text(values.get(CKA_UNIQUE_ID)) or None)
    obj.flags = {name: values.get(attr) == b"\x01" for name, attr in FLAG_ATTRS.items()}
    # Dates on their own: a token that cannot return them (SoftHSMv2 2.6.1 answers
    # CKR_GENERAL_ERROR for an empty CK_DATE) then leaves them uncompared, not the rest.
    names = list(DATE_ATTRS) if keystead else ["protect_start", "protect_end"]
    dates = raw.get_attributes(session, handle, [DATE_ATTRS[n] for n in names])
    if dates.rv == 0:
        obj.dates = {n: dates.values.get(DATE_ATTRS[n]) or b"" for n in names}
    state = values.get(CKA_KS_LIFECYCLE_STATE)
    if state and len(state) == struct.calcsize("=Q"):
        obj.state_code = struct.unpack("=Q", state)[0]
    return obj


def inventory(raw, session: int, keystead: bool) -> list[TokenObject]:
    """Every secret key the user can see on the token."""
    handles = raw.find_objects(session, {CKA_CLASS: CKO_SECRET_KEY})
    return [read_object(raw, session, h, keystead) for h in handles]


def objects_with_id(raw, session: int, object_id: bytes, keystead: bool) -> list[TokenObject]:
    handles = raw.find_objects(session, {CKA_CLASS: CKO_SECRET_KEY, CKA_ID: object_id})
    return [read_object(raw, session, h, keystead) for h in handles]
