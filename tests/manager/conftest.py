"""Manager fixtures: a manager on a fresh catalogue and the per-module manager token.

``module`` (root conftest) is parametrised over keystead and SoftHSMv2, so every test that
uses ``km`` runs against both tokens.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from keystead.manager import KeyManager, ManualClock

from .helpers import make_manager, manager_token


@pytest.fixture
def mtoken(module):
    """The module's manager token (provisioned once per session)."""
    return manager_token(module)


@pytest.fixture
def clock() -> ManualClock:
    """A clock that moves only when the test says (starts at the real now, to the second)."""
    return ManualClock(datetime.now(UTC).replace(microsecond=0))


@pytest.fixture
def km(module, mtoken, tmp_path, clock) -> Iterator[KeyManager]:
    """A KeyManager on a fresh catalogue, the module's manager token and a manual clock."""
    manager = make_manager(module, mtoken, tmp_path / "catalogue.db", clock)
    try:
        yield manager
    finally:
        manager.close()
