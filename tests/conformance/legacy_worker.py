"""The keystead side of test_legacy.py, run in its own process.

``python -m tests.conformance.legacy_worker BASE strict|compat`` points keystead at a fresh
token directory under BASE with ``legacy_mechanisms = on`` and the given wrap policy,
provisions a token, and runs every scenario of legacy_cases.py that applies on a raw user
session. It prints one JSON line: per scenario "ok", "skip: why" (a mechanism this build
does not offer yet) or what went wrong.
"""

from __future__ import annotations

import json
import sys
import traceback
from pathlib import Path

from keystead.softhsm_bridge.ck import CKU_USER
from keystead.softhsm_bridge.modules import KEYSTEAD, resolve
from keystead.softhsm_bridge.provision import load, prepare, provision

from .legacy_cases import CASES, COMPAT_CASES, STRICT_CASES, NotHere


def main(argv: list[str]) -> int:
    base, policy = Path(argv[0]), argv[1]
    info = resolve(KEYSTEAD)
    prepare(info, base / "tokens", legacy_mechanisms="on", wrap_policy=policy)
    token = provision(info, None, label="legacy", so_pin="so-pin-1234", user_pin="user-5678")
    raw = load(info, python_pkcs11=False)
    h = raw.open_session(token.slot_id, rw=True)
    raw.login(h, CKU_USER, "user-5678")
    cases = {**CASES, **(STRICT_CASES if policy == "strict" else COMPAT_CASES)}
    out: dict[str, str] = {}
    for name, case in cases.items():
        try:
            case(raw, h)
            out[name] = "ok"
        except NotHere as exc:
            out[name] = f"skip: {exc}"
        except Exception as exc:  # noqa: BLE001 - reported to the parent test
            out[name] = f"{type(exc).__name__}: {exc}\n{traceback.format_exc(limit=3)}"
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
