"""CLI fixtures: a token per module for the CLI tests, and a runner that invokes the
``keystead`` group with the global options pointing at it (PIN from the environment)."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from keystead.manager.cli import cli

from tests.manager.helpers import MANAGER_GOV_PIN, MANAGER_PIN, MANAGER_SO_PIN, manager_token


@dataclass
class CliSetup:
    module: object
    label: str
    catalogue: Path

    def args(self) -> list[str]:
        return ["--module", self.module.info.name if self.module.info.kind != "generic"
                else self.module.info.path, "--token", self.label,
                "--catalogue", str(self.catalogue)]


@pytest.fixture
def setup(module, tmp_path) -> CliSetup:
    """The CLI token and a catalogue made by `keystead init` (as an admin would)."""
    token = manager_token(module, label="cli")
    made = CliSetup(module, token.label, tmp_path / "catalogue.db")
    result = CliRunner().invoke(cli, [*made.args(), "init"])
    assert result.exit_code == 0, result.output
    return made


@pytest.fixture
def run(setup) -> Callable[..., Result]:
    """``run("key", "list", "--json")``: invoke the CLI; asserts no traceback escaped."""

    def invoke(*args: str, input: str | None = None, env: dict | None = None,
               pin: bool = True) -> Result:
        environ = {"KEYSTEAD_PIN": MANAGER_PIN if pin else "", "KEYSTEAD_SO_PIN": MANAGER_SO_PIN,
                   "KEYSTEAD_MANAGER_PIN": MANAGER_GOV_PIN if pin else "",
                   "KEYSTEAD_ACTOR": "cli-tester", **(env or {})}
        result = CliRunner().invoke(cli, [*setup.args(), *args], input=input, env=environ)
        if result.exception is not None and not isinstance(result.exception, SystemExit):
            raise AssertionError(f"traceback escaped the CLI: {result.exception!r}\n"
                                 f"{result.output}") from result.exception
        return result

    return invoke


@pytest.fixture
def run_json(run) -> Callable[..., object]:
    """Invoke with --json, expect success, return the parsed output."""

    def invoke(*args: str, **kw) -> object:
        result = run(*args, "--json", **kw)
        assert result.exit_code == 0, result.output
        return json.loads(result.output)

    return invoke
