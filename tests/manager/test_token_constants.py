"""The vendor numbers the manager writes match native/include/keystead.h."""

from __future__ import annotations

import re
from pathlib import Path

from keystead.manager import pkcs11_token
from keystead.manager.lifecycle import TOKEN_STATE_CODES, State

HEADER = Path(__file__).resolve().parents[2] / "native" / "include" / "keystead.h"
CKA_VENDOR_DEFINED = 0x80000000


def header_defines() -> dict[str, str]:
    return dict(re.findall(r"^#define (\w+) (.+?)\s*$", HEADER.read_text(), re.M))


def evaluate(expr: str, defines: dict[str, str]) -> int:
    """Value of a header expression made of literals, macro names, parentheses and ``|``."""
    value = 0
    for term in expr.strip().strip("()").split("|"):
        term = term.strip().removesuffix("UL")
        if term == "CKA_VENDOR_DEFINED":
            value |= CKA_VENDOR_DEFINED
        elif term in defines:
            value |= evaluate(defines[term], defines)
        else:
            value |= int(term, 0)
    return value


def test_vendor_attributes_match_header():
    defines = header_defines()
    for name in ("CKA_KS_LIFECYCLE_STATE", "CKA_KS_PROCESS_START_DATE",
                 "CKA_KS_PROCESS_END_DATE", "CKA_KS_USAGE_COUNT", "CKA_KS_USAGE_LIMIT",
                 "CKA_KS_PROCESS_OVERRIDE", "CKA_KS_GCM_INVOCATIONS",
                 "CKA_KS_TRANSITION_REASON"):
        assert getattr(pkcs11_token, name) == evaluate(defines[name], defines), name


def test_state_codes_match_header():
    defines = header_defines()
    for state in State:
        macro = "KS_STATE_" + state.value.upper().replace("-", "_")
        assert TOKEN_STATE_CODES[state] == evaluate(defines[macro], defines), macro


def test_bridge_vendor_numbers_match_header():
    """The one Python copy of keystead.h's vendor numbers (keystead.softhsm_bridge.ck) has
    every CKA_KS_*, CKU_KS_* and KS_STATE_* of the header, with the header's value."""
    from keystead.softhsm_bridge import ck

    defines = header_defines()
    names = [n for n in defines if n.startswith(("CKA_KS_", "KS_STATE_"))] + ["CKU_KS_MANAGER"]
    assert len(names) >= 16
    for name in names:
        assert getattr(ck, name) == evaluate(defines[name], defines), name
