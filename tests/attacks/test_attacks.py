"""Every attack of tests/attacks/catalog.py against keystead (strict, the default) and
SoftHSMv2: keystead must refuse each; what SoftHSMv2 gives up is recorded as its quirks
``leaks: <attack>`` (strict xfails: if SoftHSMv2 stops leaking, the test says so)."""

from __future__ import annotations

import pytest
from keystead.softhsm_bridge import quirks
from keystead.softhsm_bridge.modules import KEYSTEAD

from .catalog import ATTACKS, Attack, run

_RECORDED = {name for table in quirks.QUIRKS.values() for name in table}


@pytest.mark.parametrize("attack", ATTACKS, ids=[a.name for a in ATTACKS])
def test_attack(module, victim, attack: Attack, xfail_quirk) -> None:
    if f"leaks: {attack.name}" in _RECORDED:
        xfail_quirk(module, f"leaks: {attack.name}")
    outcome = run(attack, victim.actor())
    assert not outcome.leaked, f"{attack.name} ({attack.source}): {outcome.detail}"
    if victim.kind == KEYSTEAD:
        # keystead stops each attack with a refused call, never with a wrong guess
        assert outcome.detail.startswith("refused"), outcome.detail
