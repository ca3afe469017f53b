"""Options shared by several commands, defined once."""

from __future__ import annotations

import os
from datetime import datetime

import click

from ..clock import ensure_utc
from ..durations import parse_duration


def _json_flag(ctx: click.Context, param: click.Parameter, value: bool) -> bool:
    """``--json`` after the subcommand, or the global one before it: either turns JSON on
    (for the output and for the error, if any)."""
    from .context import AppContext

    app = ctx.find_object(AppContext)
    if app is None:
        return value
    app.json = app.json or value
    return app.json


json_option = click.option("--json", "as_json", is_flag=True, callback=_json_flag,
                           help="Print JSON instead of a table.")
yes_option = click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
version_option = click.option("--version", "version", type=click.IntRange(min=1),
                              help="Key version (default: the current version).")


def reason_option(default: str):
    return click.option("--reason", default=default, show_default=True,
                        help="Why; recorded with the transition and in the audit.")


class DurationType(click.ParamType):
    """``2y``, ``18mo``, ``90d``, ``12h``, ``30min``, ``0``, ``P1Y6M`` -> timedelta."""

    name = "duration"

    def convert(self, value, param, ctx):
        if not isinstance(value, str):
            return value
        try:
            return parse_duration(value)
        except ValueError as exc:
            self.fail(str(exc), param, ctx)


class TimeType(click.ParamType):
    """ISO 8601 date or time; UTC when no zone is given."""

    name = "time"

    def convert(self, value, param, ctx):
        if isinstance(value, datetime):
            return ensure_utc(value)
        try:
            return ensure_utc(datetime.fromisoformat(value))
        except (ValueError, OverflowError):
            self.fail(f"{value!r} is not an ISO 8601 date or time", param, ctx)


def complete_key_names(ctx: click.Context, param: click.Parameter,
                       incomplete: str) -> list[str]:
    """Shell completion of key names from the catalogue (no PIN; nothing on any error)."""
    from pathlib import Path

    from ..sqlite_store import SQLiteCatalogue
    from .context import default_catalogue

    root = ctx.find_root()
    path = root.params.get("catalogue") or os.environ.get("KEYSTEAD_CATALOGUE") \
        or default_catalogue()
    try:
        catalogue = SQLiteCatalogue(Path(path))
    except Exception:  # noqa: BLE001 - completion must never fail loudly
        return []
    try:
        with catalogue.snapshot() as tx:
            return [k.name for k in tx.all_keys() if k.name.startswith(incomplete)]
    except Exception:  # noqa: BLE001
        return []
    finally:
        catalogue.close()


def key_argument(name: str = "name", **kw):
    """A NAME argument that completes key names in the shell."""
    return click.argument(name, shell_complete=complete_key_names, **kw)


class PrivateOutput(click.ParamType):
    """An output path (``-`` for stdout); :func:`write_output` writes it 0600."""

    name = "path"

    def convert(self, value, param, ctx):
        return str(value)


def write_output(path: str, data: bytes) -> None:
    """Write ``data`` to ``path`` (``-``: stdout) as a file only its owner can read (0600,
    also when it existed with a looser mode). Raises OSError."""
    if path == "-":
        stream = click.get_binary_stream("stdout")
        stream.write(data)
        stream.flush()
        return
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "wb", closefd=False) as out:
            out.write(data)
    finally:
        os.close(fd)


DURATION = DurationType()
TIME = TimeType()


def confirm_or_abort(yes: bool, question: str) -> None:
    """Ask ``question`` unless ``--yes``; on no, or no answer (no terminal, end of input),
    one line saying that nothing changed and how to confirm (exit 1)."""
    if yes:
        return
    try:
        confirmed = click.confirm(question, default=False)
    except click.Abort:
        raise click.ClickException("no answer to the confirmation (no terminal?): nothing "
                                   "was changed; add --yes to confirm without being asked"
                                   ) from None
    if not confirmed:
        raise click.ClickException("not confirmed: nothing was changed (answer y, or add "
                                   "--yes to confirm without being asked)")
