"""``keystead doctor``: compare the catalogue with the token, and repair what is safe."""

from __future__ import annotations

import click

from . import render
from .context import AppContext, pass_app
from .options import json_option

#: Exit status when the catalogue and the token disagree (errors are 1, usage errors 2).
DISAGREE = 3


@click.command("doctor")
@click.option("--repair", is_flag=True,
              help="Apply the catalogue's states, flags and dates to the token and destroy "
                   "objects of destroyed versions (audited).")
@click.option("--destroy-orphans", is_flag=True,
              help="With --repair: also destroy token objects this catalogue does not name "
                   "(never when other catalogues share the token).")
@json_option
@pass_app
def doctor(app: AppContext, repair: bool, destroy_orphans: bool, as_json: bool) -> None:
    """Check that the catalogue and the token agree: objects without a
    version, versions without an object, second objects for one version, states, flags and
    dates that differ; each with how to repair it. Exit 0 when they agree, 3 when not."""
    if destroy_orphans and not repair:
        raise click.UsageError("--destroy-orphans needs --repair")
    findings = app.manager(governing=repair).doctor(repair=repair, destroy_orphans=destroy_orphans)
    left = [f for f in findings if f.repaired not in ("repaired", "destroyed")]
    if as_json:
        render.emit_json({"ok": not left, "findings": [f.as_dict() for f in findings]})
    elif not findings:
        click.echo("catalogue and token agree")
    else:
        render.table(["KIND", "KEY", "VERSION", "OBJECT", "FINDING", "REPAIR"] +
                     (["DONE"] if repair else []),
                     [[f.kind, f.key, f.version, f.object_id[:12], f.detail, f.repair] +
                      ([f.repaired or "-"] if repair else []) for f in findings])
    if left:
        raise SystemExit(DISAGREE)
