"""How every ``keystead`` run ends: one line on stderr (a JSON object on stdout with
``--json``) and one of these exit codes (docs/manager.md, "Exit codes")."""

from __future__ import annotations

import json
import os
import sqlite3
import sys

import click

from ..errors import ManagerError, SetupError
from . import render

OK = 0
#: The manager refused or the token failed (policy, state, unknown key, wrong PIN, bad
#: tag, broken audit chain, a step of `rotate --due` failed).
FAILED = 1
#: The command line is wrong (unknown option, bad duration or time).
USAGE = 2
#: `rotate --due --dry-run`: steps are due.
DUE = 3
#: Not set up: no catalogue (`keystead init`), no token directory, a malformed
#: configuration, no module file, a PIN needed with no terminal, KEYSTEAD_NOW outside drill.
SETUP = 4
#: Interrupted (Ctrl-C).
INTERRUPTED = 130
#: A bug: an unexpected exception (its type and message; KEYSTEAD_DEBUG=1 for the traceback).
INTERNAL = 70


def _classify(exc: BaseException) -> tuple[int, str]:
    from keystead.softhsm_bridge import BridgeError, PKCS11Error

    if isinstance(exc, click.UsageError):
        return USAGE, exc.format_message()
    if isinstance(exc, click.Abort):
        return FAILED, "aborted: nothing was changed"
    if isinstance(exc, click.ClickException):
        return exc.exit_code, exc.format_message()
    if isinstance(exc, SetupError | BridgeError) or (
            isinstance(exc, FileNotFoundError) and exc.filename is None):  # no module file
        return SETUP, str(exc) or type(exc).__name__
    if isinstance(exc, ManagerError | PKCS11Error):
        return FAILED, str(exc) or type(exc).__name__
    if isinstance(exc, sqlite3.Error):
        return FAILED, f"catalogue error: {exc}"
    if isinstance(exc, OSError):
        where = f"{exc.filename}: " if exc.filename else ""
        return FAILED, f"{where}{exc.strerror or exc}"
    if isinstance(exc, KeyboardInterrupt):
        return INTERRUPTED, "interrupted"
    return INTERNAL, f"internal error: {type(exc).__name__}: {exc}"


def report(exc: BaseException, as_json: bool) -> int:
    """Print ``exc`` as one line (or JSON) and return the exit code for it."""
    if isinstance(exc, SystemExit):
        code = exc.code
        return code if isinstance(code, int) else (OK if code is None else FAILED)
    if isinstance(exc, click.exceptions.Exit):
        return exc.exit_code
    no_args = getattr(click.exceptions, "NoArgsIsHelpError", None)
    if no_args is not None and isinstance(exc, no_args) and not as_json:
        click.echo(exc.format_message(), err=True)  # a group without a command: its help
        return USAGE
    code, message = _classify(exc)
    message = render.safe(render.humane(message)).replace("\n", " ")
    if code == INTERNAL and os.environ.get("KEYSTEAD_DEBUG"):
        import traceback  # here: start-up time (docs/manager.md)

        traceback.print_exception(exc, file=sys.stderr)
    if as_json:
        click.echo(json.dumps({"error": message, "code": code}))
    elif isinstance(exc, click.UsageError) and exc.ctx is not None:
        usage = exc.ctx.get_usage().removeprefix("Usage:").strip()
        click.echo(f"Error: {message} (usage: {' '.join(usage.split())}; "
                   f"{exc.ctx.command_path} --help)", err=True)
    else:
        click.echo(f"Error: {message}", err=True)
    return code
