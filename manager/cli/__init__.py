"""The ``keystead`` command: a thin click layer over :mod:`keystead.manager`.

Each command lives in a small module and only parses, calls the library and renders.
:data:`COMMANDS` lists where they come from; adding a command module is one line there.
Every failure ends in one line (a JSON object with ``--json``) and a documented exit code
(:mod:`.exits`, docs/manager.md "Exit codes"), never a traceback.
"""

from __future__ import annotations

import importlib
import os
import sys
from pathlib import Path

import click

from . import exits, pins
from .context import RAW_ONLY_PROCESS, AppContext, default_catalogue

#: (module, attribute, parent group or None) of every command, in help order.
COMMANDS: tuple[tuple[str, str, str | None], ...] = (
    ("init", "init", None),
    ("tokens", "token_group", None),
    ("keys", "key_group", None),
    ("policy", "policy", "key"),
    ("rotate", "rotate", None),
    ("audit", "audit_group", None),
    ("data", "encrypt", None),
    ("data", "decrypt", None),
    ("data", "datakey", None),
    ("data", "rewrap", None),
    ("sign", "sign", None),
    ("sign", "verify", None),
    ("sign", "export_public", "key"),
    ("doctor", "doctor", None),
    ("data", "module_path", None),
    ("bench", "bench", None),
)


class KeysteadGroup(click.Group):
    """The top-level group: every failure becomes one line (or one JSON object) and an exit
    code from :mod:`.exits`."""

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True,
             **extra):
        argv = list(sys.argv[1:] if args is None else args)
        as_json = "--json" in argv[: argv.index("--")] if "--" in argv else "--json" in argv
        try:
            result = super().main(argv, prog_name, complete_var, standalone_mode=False,
                                  **extra)
        except BaseException as exc:  # noqa: BLE001 - the one place that ends every path
            code = exits.report(exc, as_json)
            if not standalone_mode and code == exits.OK:
                return None
            sys.exit(code)
        if not standalone_mode:
            return result
        sys.exit(result if isinstance(result, int) else exits.OK)


@click.group(cls=KeysteadGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(None, "--version", package_name="keystead", prog_name="keystead",
                      message="%(prog)s %(version)s")
@click.option("--module", default=None, envvar="KEYSTEAD_MODULE_NAME",
              help="PKCS#11 module: keystead, softhsm2, or a path to a module "
                   "[default: what `keystead init` recorded, else keystead].")
@click.option("--catalogue", type=click.Path(dir_okay=False, path_type=Path),
              envvar="KEYSTEAD_CATALOGUE", help="SQLite catalogue [default: per-user data dir].")
@click.option("--token", "token_label", default=None, envvar="KEYSTEAD_TOKEN",
              help="Token label [default: what `keystead init` recorded, else keystead].")
@click.option("--pin-file", type=click.Path(dir_okay=False),
              help="File whose first line is the user PIN (else KEYSTEAD_PIN, else a prompt "
                   "at a terminal): commands that use keys (encrypt, decrypt, datakey, "
                   "rewrap); every command on a token other than keystead's.")
@click.option("--manager-pin-file", type=click.Path(dir_okay=False),
              help="File whose first line is the manager PIN of keystead's token (else "
                   "KEYSTEAD_MANAGER_PIN, else a prompt): commands that change keys (create, "
                   "state, rotation, destruction, --override). Each command's help names "
                   "its PIN.")
@click.option("--policy", "policy_file", type=click.Path(dir_okay=False, exists=True),
              envvar="KEYSTEAD_POLICY",
              help="TOML policy file that tightens SP 800-57 Table 1 per key type.")
@click.option("--json", "as_json", is_flag=True,
              help="Print JSON (also accepted after the subcommand).")
@click.option("--drill", is_flag=True, envvar="KEYSTEAD_DRILL",
              help="Drill mode: honour KEYSTEAD_NOW, work on a copy of the catalogue, never "
                   "touch the token; nothing real is written.")
@click.pass_context
def cli(ctx: click.Context, module: str | None, catalogue: Path | None, token_label: str | None,
        pin_file: str | None, manager_pin_file: str | None, policy_file: str | None,
        as_json: bool, drill: bool) -> None:
    """keystead: NIST SP 800-57 key management over any PKCS#11 token."""
    app = AppContext(module=module, catalogue_path=catalogue or default_catalogue(),
                     token_label_option=token_label, pin_file=pin_file,
                     policy_file=policy_file, json=as_json, drill=drill,
                     manager_pin_file=manager_pin_file)
    ctx.obj = app
    ctx.call_on_close(app.close)


def _register() -> None:
    for module_name, attr, parent in COMMANDS:
        command = getattr(importlib.import_module(f"{__name__}.{module_name}"), attr)
        group = cli if parent is None else cli.commands[parent]
        group.add_command(command)
    pins.annotate(cli)  # "PIN: ..." in every command's help


_register()


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point."""
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    os.umask(0o077)  # every file the manager writes is 0600, every directory it makes 0700
    RAW_ONLY_PROCESS[0] = True  # this process is the command: no python-pkcs11 needed
    cli.main(args=argv if argv is not None else sys.argv[1:], prog_name="keystead")
