"""``keystead rotate --due``: the cron job (activations, rotations, ends of periods,
scheduled destructions)."""

from __future__ import annotations

import click

from . import exits, render
from .context import AppContext, pass_app
from .options import json_option


@click.command("rotate")
@click.option("--due", is_flag=True,
              help="Do every due step (idempotent; safe from cron and concurrently).")
@click.option("--dry-run", is_flag=True,
              help="Only list what is due (exit status 3 when something is).")
@json_option
@pass_app
def rotate(app: AppContext, due: bool, dry_run: bool, as_json: bool) -> None:
    """Perform every due lifecycle step; `keystead key rotate NAME` rotates one key now.

    Exit status: 0 done (or nothing due), 1 a step failed, 3 with --dry-run (or --drill)
    when steps are due."""
    if not due:
        raise click.UsageError("say --due (or use `keystead key rotate NAME`)")
    dry_run = dry_run or app.drill  # a drill only lists what would be due then
    km = app.manager(token=not dry_run)
    if dry_run:
        actions = km.due()
    else:
        def progress(action) -> None:
            if not as_json:
                click.echo(f"{action.action:16} {render.safe(action.key)} v{action.version}: "
                           f"{render.safe(action.result)} ({action.reason})", err=True)

        actions = km.run_due(progress=progress)
    if as_json:
        render.emit_json([render.due_dict(a) for a in actions])
    else:
        render.table(["ACTION", "KEY", "VERSION", "NEW", "RESULT", "REASON"],
                     [[a.action, a.key, a.version, a.new_version, a.result, a.reason]
                      for a in actions])
    failed = [a for a in actions if a.result != "ok"]
    if not as_json:
        click.echo(f"{len(actions)} due step(s){' listed' if dry_run else ''}, "
                   f"{len(failed)} failed")
    if failed:
        raise click.exceptions.Exit(exits.FAILED)
    if dry_run and actions:
        raise click.exceptions.Exit(exits.DUE)
