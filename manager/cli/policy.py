"""``keystead key policy``: the cryptoperiod table, and one key's periods and limits."""

from __future__ import annotations

import click

from ..durations import format_duration
from . import render
from .context import AppContext, pass_app
from .options import DURATION, json_option, reason_option


@click.command("policy")
@click.argument("name", required=False)
@click.option("--oup", type=DURATION, help="Originator-usage period.")
@click.option("--rup-extra", type=DURATION, help="Processing time after the OUP ends.")
@click.option("--usage-limit", type=click.IntRange(min=0), help="Uses per version (0 = none).")
@click.option("--rotate-at", type=click.FloatRange(0, 1, min_open=True),
              help="Rotate when this fraction of the usage limit is spent.")
@click.option("--auto-rotate/--no-auto-rotate", default=None)
@click.option("--min-encrypt-version", type=click.IntRange(min=1))
@click.option("--min-decrypt-version", type=click.IntRange(min=1))
@reason_option("policy changed")
@json_option
@pass_app
def policy(app: AppContext, name, oup, rup_extra, usage_limit, rotate_at, auto_rotate,
           min_encrypt_version, min_decrypt_version, reason, as_json) -> None:
    """Without NAME: the SP 800-57 cryptoperiod table. With NAME: show or change that key's
    policy (within the table's bounds)."""
    km = app.manager(token=False)
    if name is None:
        rows = list(km.policy.rows.values())
        if as_json:
            render.emit_json([{"type": r.key_type.value, "oup_max": r.oup_max,
                               "rup_extra_max": r.rup_extra_max, "sp800_57": r.table_text}
                              for r in rows])
            return
        render.table(["KEY TYPE", "OUP MAX", "RUP MAX", "SP 800-57 PART 1 REV. 5 TABLE 1"],
                     [[r.key_type.value, format_duration(r.oup_max) if r.oup_max else "n/a",
                       f"OUP + {format_duration(r.rup_extra_max)}", r.table_text]
                      for r in rows])
        return
    changes = dict(oup=oup, rup_extra=rup_extra, usage_limit=usage_limit, rotate_at=rotate_at,
                   auto_rotate=auto_rotate, min_encrypt_version=min_encrypt_version,
                   min_decrypt_version=min_decrypt_version)
    if any(v is not None for v in changes.values()):
        key = km.set_policy(name, reason=reason, **changes)
    else:
        key = km.show(name).key
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
        ["min encrypt version", key.min_encrypt_version],
        ["min decrypt version", key.min_decrypt_version],
    ])
