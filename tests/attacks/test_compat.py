"""keystead's `compat` wrap profile behaves like SoftHSMv2 under every attack.

The profile runs in a subprocess with its own KEYSTEAD_CONF (``wrap_policy = compat``),
mounting the whole catalogue once. It must leak exactly where SoftHSMv2 leaks (its
``leaks: <attack>`` quirks, each checked by test_attacks.py), and also where it leaks only
because keystead offers something SoftHSMv2 2.6.1 lacks (COMPAT_ALSO says what).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from keystead.softhsm_bridge import quirks

from .catalog import ATTACKS, Attack

ROOT = Path(__file__).resolve().parents[2]

COMPAT_ALSO = {
    "encrypt-unwrap": "SoftHSMv2 has neither CBC-PAD unwrapping nor CKM_AES_KEY_WRAP "
                      "encryption, the two ways to unwrap what one encrypted",
    "key-binding": "SoftHSMv2 has no ECB wrapping and no CBC unwrapping, which split a key "
                   "into blocks",
    "truncated-unwrap": "SoftHSMv2 has no ECB or CBC unwrapping, whose result CKA_VALUE_LEN "
                        "truncates",
    "keystream-reuse": "SoftHSMv2 has no CTR or GCM wrapping",
    "wrap-with-trusted-bypass": "SoftHSMv2's SO cannot set CKA_TRUSTED (quirk "
                                "trusted-not-settable), so there is no trusted KEK to "
                                "re-import under",
}


@pytest.fixture(scope="module")
def compat_outcomes(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict]:
    base = tmp_path_factory.mktemp("attacks-compat")
    env = {k: v for k, v in os.environ.items() if k != "KEYSTEAD_CONF"}
    proc = subprocess.run([sys.executable, "-m", "tests.attacks.runner", str(base), "compat"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
                          check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "wrap_policy = compat" in (base / "tokens.keystead.conf").read_text()
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("attack", ATTACKS, ids=[a.name for a in ATTACKS])
def test_compat_behaves_like_softhsm(compat_outcomes: dict[str, dict], attack: Attack) -> None:
    softhsm_leaks = quirks.has("softhsm2", f"leaks: {attack.name}")
    expected = softhsm_leaks or attack.name in COMPAT_ALSO
    got = compat_outcomes[attack.name]
    why = COMPAT_ALSO.get(attack.name, "as SoftHSMv2" if softhsm_leaks else "nor SoftHSMv2")
    assert got["leaked"] == expected, f"{attack.name}: {got['detail']} (expected: {why})"
