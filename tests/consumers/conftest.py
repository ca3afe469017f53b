"""The ``target`` fixture: a fresh token in the configuration a test names (support.py)."""

from __future__ import annotations

import pytest

from .support import Target, make_target


@pytest.fixture
def target(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Target:
    name = request.param
    return make_target(name, tmp_path_factory.mktemp(name))
