"""Options shared by several commands, defined once."""

from __future__ import annotations

from datetime import datetime

import click

from ..clock import ensure_utc
from ..durations import parse_duration

json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
yes_option = click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
version_option = click.option("--version", "version", type=click.IntRange(min=1),
                              help="Key version (default: the current version).")


def reason_option(default: str):
    return click.option("--reason", default=default, show_default=True,
                        help="Why; recorded with the transition and in the audit.")


class DurationType(click.ParamType):
    """``2y``, ``90d``, ``12h``, ``0`` -> timedelta."""

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
        except ValueError:
            self.fail(f"{value!r} is not an ISO 8601 date or time", param, ctx)


DURATION = DurationType()
TIME = TimeType()


def confirm_or_abort(yes: bool, question: str) -> None:
    """Ask ``question`` unless ``--yes``; abort (exit 1) on no."""
    if not yes:
        click.confirm(question, abort=True)
