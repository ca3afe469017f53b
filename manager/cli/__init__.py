"""The ``keystead`` command: a thin click layer over :mod:`keystead.manager`.

Each command lives in a small module and only parses, calls the library and renders.
:data:`COMMANDS` lists where they come from; adding a command module is one line there.
"""

from __future__ import annotations

import importlib
import os
import sys
from pathlib import Path

import click

from ..errors import ManagerError
from .context import AppContext, default_catalogue

#: (module, attribute, parent group or None) of every command, in help order.
COMMANDS: tuple[tuple[str, str, str | None], ...] = (
    ("tokens", "token_group", None),
    ("keys", "key_group", None),
    ("policy", "policy", "key"),
    ("rotate", "rotate", None),
    ("audit", "audit_group", None),
    ("data", "encrypt", None),
    ("data", "decrypt", None),
    ("data", "datakey", None),
    ("data", "rewrap", None),
    ("doctor", "doctor", None),
    ("data", "module_path", None),
    ("bench", "bench", None),
)


def _expected_errors() -> tuple[type[BaseException], ...]:
    from keystead.softhsm_bridge import BridgeError, PKCS11Error

    return (ManagerError, BridgeError, PKCS11Error, FileNotFoundError, PermissionError)


class KeysteadGroup(click.Group):
    """A group that turns every expected failure into one line and exit status 1."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except click.ClickException:
            raise
        except _expected_errors() as exc:
            message = str(exc) or type(exc).__name__
            raise click.ClickException(message) from None


@click.group(cls=KeysteadGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--module", default="keystead", show_default=True, envvar="KEYSTEAD_MODULE_NAME",
              help="PKCS#11 module: keystead, softhsm2, or a path to a module.")
@click.option("--catalogue", type=click.Path(dir_okay=False, path_type=Path),
              envvar="KEYSTEAD_CATALOGUE", help="SQLite catalogue [default: per-user data dir].")
@click.option("--token", "token_label", default="keystead", show_default=True,
              envvar="KEYSTEAD_TOKEN", help="Token label.")
@click.option("--pin-file", type=click.Path(dir_okay=False),
              help="File whose first line is the user PIN (else KEYSTEAD_PIN, else a prompt).")
@click.option("--policy", "policy_file", type=click.Path(dir_okay=False, exists=True),
              envvar="KEYSTEAD_POLICY",
              help="TOML policy file that tightens SP 800-57 Table 1 per key type.")
@click.pass_context
def cli(ctx: click.Context, module: str, catalogue: Path | None, token_label: str,
        pin_file: str | None, policy_file: str | None) -> None:
    """keystead: NIST SP 800-57 key management over any PKCS#11 token."""
    app = AppContext(module=module, catalogue_path=catalogue or default_catalogue(),
                     token_label=token_label, pin_file=pin_file, policy_file=policy_file)
    ctx.obj = app
    ctx.call_on_close(app.close)


def _register() -> None:
    for module_name, attr, parent in COMMANDS:
        command = getattr(importlib.import_module(f"{__name__}.{module_name}"), attr)
        group = cli if parent is None else cli.commands[parent]
        group.add_command(command)


_register()


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point."""
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    cli.main(args=argv if argv is not None else sys.argv[1:], prog_name="keystead")
