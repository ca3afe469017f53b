"""Attack-suite fixtures: ``victim`` is keystead in its default strict profile or SoftHSMv2.

``victim`` follows the root ``module`` fixture's parameter: for keystead it is a strict
instance of this suite's own (instances.py), for SoftHSMv2 the root fixture's module with a
peer token added.
"""

from __future__ import annotations

import pytest
from keystead.softhsm_bridge.modules import KEYSTEAD

from .instances import SO_PIN, USER_PIN, Instance, keystead_instance

_PEERS: dict[str, object] = {}


@pytest.fixture(scope="session")
def strict_keystead(tmp_path_factory: pytest.TempPathFactory) -> Instance:
    """keystead with the default wrap policy, two tokens, loaded once per test session."""
    return keystead_instance(tmp_path_factory.mktemp("attacks-strict"), "strict")


@pytest.fixture
def victim(module, request: pytest.FixtureRequest) -> Instance:
    """The module under attack: strict keystead, or SoftHSMv2 (root ``module`` fixture)."""
    if module.kind == KEYSTEAD:
        return request.getfixturevalue("strict_keystead")
    peer = _PEERS.get(module.name)
    if peer is None:
        peer = _PEERS[module.name] = module.fresh_token("attack-peer")
    assert module.token.so_pin == SO_PIN and module.token.user_pin == USER_PIN
    return Instance(module.name, module.kind, module.info, module.raw, module.token, peer)
