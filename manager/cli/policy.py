"""``keystead key policy``: ``table`` (the cryptoperiod table), ``show NAME`` and
``set NAME`` (one key's periods, limits, destruction wait and minimum versions).

``key policy`` alone prints the table; ``key policy NAME`` is ``key policy show NAME``.
"""

from __future__ import annotations

import click

from ..durations import format_duration
from . import render
from .context import AppContext, pass_app
from .options import (
    DURATION,
    confirm_or_abort,
    json_option,
    key_argument,
    reason_option,
    yes_option,
)


class PolicyGroup(click.Group):
    """A group whose unknown first word is a key name: ``key policy NAME`` shows it."""

    def resolve_command(self, ctx: click.Context, args: list[str]):
        if args and args[0] not in self.commands and not args[0].startswith("-"):
            return "show", self.commands["show"], args
        return super().resolve_command(ctx, args)


@click.group("policy", cls=PolicyGroup, invoke_without_command=True)
@json_option
@click.pass_context
def policy(ctx: click.Context, as_json: bool) -> None:
    """The SP 800-57 cryptoperiod table, and one key's policy (show, set)."""
    if ctx.invoked_subcommand is None:
        ctx.invoke(table, as_json=as_json)


@policy.command("table")
@json_option
@pass_app
def table(app: AppContext, as_json: bool = False) -> None:
    """The cryptoperiod table the manager enforces (SP 800-57 Part 1 Rev. 5 Table 1)."""
    km = app.manager(token=False)
    rows = list(km.policy.rows.values())
    if as_json or app.json:
        render.emit_json([{"type": r.key_type.value, "oup_max": r.oup_max,
                           "rup_extra_max": r.rup_extra_max, "sp800_57": r.table_text}
                          for r in rows])
        return
    render.table(["KEY TYPE", "OUP MAX", "RUP MAX", "SP 800-57 PART 1 REV. 5 TABLE 1"],
                 [[r.key_type.value, format_duration(r.oup_max) if r.oup_max else "n/a",
                   f"OUP + {format_duration(r.rup_extra_max)}", r.table_text]
                  for r in rows])


def _print_key_policy(key, as_json: bool) -> None:
    data = render.key_dict(key)
    if as_json:
        render.emit_json(data)
        return
    p = data["policy"]
    render.table(["SETTING", "VALUE"], [
        ["originator-usage period", render.plain(p["oup"])],
        ["recipient-usage period", f"OUP + {render.plain(p['rup_extra'])}"],
        ["usage limit", p["usage_limit"] or "none"],
        ["rotate at", f"{p['rotate_at']:.0%}"],
        ["auto-rotate", "on" if p["auto_rotate"] else "off"],
        ["destruction wait", render.plain(p["destroy_wait"])],
        ["short destruction waits", "allowed" if p["short_destroy_wait"] else "no"],
        ["min encrypt version", key.min_encrypt_version],
        ["min decrypt version", key.min_decrypt_version],
    ])


@policy.command("show")
@key_argument()
@json_option
@pass_app
def show(app: AppContext, name: str, as_json: bool) -> None:
    """One key's periods, limits, destruction wait and minimum versions."""
    _print_key_policy(app.manager(token=False).show(name).key, as_json)


@policy.command("set")
@key_argument()
@click.option("--oup", type=DURATION, help="Originator-usage period.")
@click.option("--rup-extra", type=DURATION, help="Processing time after the OUP ends.")
@click.option("--usage-limit", type=click.IntRange(min=0), help="Uses per version (0 = none).")
@click.option("--rotate-at", type=click.FloatRange(0, 1, min_open=True),
              help="Rotate when this fraction of the usage limit is spent.")
@click.option("--auto-rotate/--no-auto-rotate", default=None)
@click.option("--destroy-wait", type=DURATION,
              help="How long a scheduled destruction waits (7d-30d; default 30d).")
@click.option("--short-destroy-wait/--no-short-destroy-wait", default=None,
              help="Allow destruction waits under 7 days (test environments; audited).")
@click.option("--min-encrypt-version", type=click.IntRange(min=1))
@click.option("--min-decrypt-version", type=click.IntRange(min=1))
@reason_option("policy changed")
@yes_option
@json_option
@pass_app
def set_policy(app: AppContext, name, oup, rup_extra, usage_limit, rotate_at, auto_rotate,
               destroy_wait, short_destroy_wait, min_encrypt_version, min_decrypt_version,
               reason, yes, as_json) -> None:
    """Change one key's policy within the table's bounds (recorded in the audit).

    Raising a minimum version is confirmed; lowering one is confirmed separately."""
    km = app.manager(token=False)
    key = km.show(name).key
    lower = False
    for label, value, now in (("encryption", min_encrypt_version, key.min_encrypt_version),
                              ("decryption", min_decrypt_version, key.min_decrypt_version)):
        if value is None or value == now:
            continue
        if value < now:
            confirm_or_abort(yes, f"Lower the minimum {label} version of {render.safe(name)} "
                                  f"from {now} to {value} (old versions become usable again)?")
            lower = True
        else:
            confirm_or_abort(yes, f"Raise the minimum {label} version of {render.safe(name)} "
                                  f"from {now} to {value} (older versions are refused)?")
    if short_destroy_wait:
        confirm_or_abort(yes, f"Allow destruction waits under 7 days for {render.safe(name)} "
                              "(meant for test environments)?")
    key = km.set_policy(name, oup=oup, rup_extra=rup_extra, usage_limit=usage_limit,
                        rotate_at=rotate_at, auto_rotate=auto_rotate, destroy_wait=destroy_wait,
                        short_destroy_wait=short_destroy_wait,
                        min_encrypt_version=min_encrypt_version,
                        min_decrypt_version=min_decrypt_version, allow_lower=lower,
                        reason=reason)
    _print_key_policy(key, as_json)
