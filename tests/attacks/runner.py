"""Run every attack against keystead in one profile, in this (fresh) process.

``python -m tests.attacks.runner BASE_DIR [PROFILE]`` (PROFILE defaults to compat) writes
the profile's configuration under BASE_DIR (KEYSTEAD_CONF points at it before the module
is first loaded), provisions two tokens, mounts each attack and prints one JSON object:
``{attack name: {"leaked": bool, "detail": str}}``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from .catalog import ATTACKS, run
from .instances import keystead_instance


def main(argv: list[str]) -> int:
    base = Path(argv[0])
    profile = argv[1] if len(argv) > 1 else "compat"
    inst = keystead_instance(base, profile, copy=False)
    results = {}
    for attack in ATTACKS:
        out = run(attack, inst.actor())
        results[attack.name] = {"leaked": out.leaked, "detail": out.detail}
    print(json.dumps(results))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
