"""The installed ``keystead`` console script, run as a subprocess (as an admin would)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess

from tests.manager.helpers import MANAGER_GOV_PIN, MANAGER_PIN


def test_installed_keystead_command(module, setup):
    exe = shutil.which("keystead")
    assert exe, "the `keystead` console script is not installed (pip install .)"
    env = module.token_env.env() if module.token_env else dict(os.environ)
    env.update(KEYSTEAD_PIN=MANAGER_PIN, KEYSTEAD_MANAGER_PIN=MANAGER_GOV_PIN,
               KEYSTEAD_ACTOR="e2e")

    def keystead(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([exe, *setup.args(), *args], env=env, capture_output=True,
                              text=True, timeout=120, check=False)

    created = keystead("key", "create", "e2e/dek", "--usage-limit", "1", "--json")
    assert created.returncode == 0, created.stderr
    assert json.loads(created.stdout)["versions"][0]["state"] == "active"
    enc = subprocess.run([exe, *setup.args(), "encrypt", "e2e/dek", "--subject", "e2e"],
                         env=env, input=b"hello", capture_output=True, timeout=120, check=False)
    assert enc.returncode == 0, enc.stderr
    due = keystead("rotate", "--due", "--json")
    assert due.returncode == 0, due.stderr
    assert [d["action"] for d in json.loads(due.stdout)] == ["rotate"]
    verify = keystead("audit", "verify", "--json")
    assert verify.returncode == 0 and json.loads(verify.stdout)["ok"]
    missing = keystead("key", "show", "no/such")
    assert missing.returncode == 1
    assert missing.stderr.strip() == "Error: no key named 'no/such'"
    assert "Traceback" not in missing.stderr
