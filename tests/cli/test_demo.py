"""scripts/demo.sh (the README's demo) runs end to end against both modules."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

DEMO = Path(__file__).resolve().parents[2] / "scripts" / "demo.sh"


@pytest.mark.slow
@pytest.mark.parametrize("module_name", ["keystead", "softhsm2"])
def test_demo_script(module_name, tmp_path):
    assert shutil.which("keystead"), "the `keystead` console script is not installed"
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("KEYSTEAD_", "SOFTHSM2_CONF"))}
    env.update(TMPDIR=str(tmp_path), KEYSTEAD_MODULE=os.environ.get("KEYSTEAD_MODULE", ""))
    if not env["KEYSTEAD_MODULE"]:
        del env["KEYSTEAD_MODULE"]
    done = subprocess.run(["bash", str(DEMO), module_name], env=env, capture_output=True,
                          text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert done.stdout.rstrip().endswith("demo finished: every step behaved as expected")
    assert "BROKEN: record 5: contents altered (hash mismatch)" in done.stdout
    assert list(tmp_path.iterdir()) == []  # the demo cleaned up after itself
