"""``keystead audit ...``: read and verify the manager's hash-chained audit."""

from __future__ import annotations

import click

from ..store import AuditFilter
from . import render
from .context import AppContext, pass_app
from .options import TIME, json_option


@click.group("audit")
def audit_group() -> None:
    """The manager's audit trail."""


@audit_group.command("show")
@click.option("--key", "key_name", help="Only this key.")
@click.option("--version", type=click.IntRange(min=1), help="Only this version.")
@click.option("--actor", help="Only this actor.")
@click.option("--action", help="Only this action (e.g. encrypt, rotate).")
@click.option("--since", type=TIME, help="From this time.")
@click.option("--until", type=TIME, help="Up to this time.")
@click.option("--limit", type=click.IntRange(min=1), help="Only the last N records.")
@json_option
@pass_app
def show(app: AppContext, key_name, version, actor, action, since, until, limit,
         as_json) -> None:
    """Audit records, filtered."""
    flt = AuditFilter(key_name=key_name, version=version, actor=actor, action=action,
                      since=since, until=until, limit=limit)
    records = app.manager(token=False).audit_records(flt)
    if as_json:
        render.emit_json([render.audit_dict(r) for r in records])
        return
    render.audit_table(records)


def _token_checkpoint(ctx: click.Context, param: click.Parameter, value: str | None) -> object:
    from keystead import token_audit

    try:
        return None if value is None else token_audit.parse_checkpoint(value)
    except token_audit.CheckpointError as exc:
        raise click.BadParameter(str(exc)) from exc


@audit_group.command("verify")
@click.option("--expect-head", help="The head hash recorded earlier; fail if it differs.")
@click.option("--token/--no-token", "with_token", default=True, show_default=True,
              help="Also verify the token's own audit chain (needs the user PIN).")
@click.option("--token-checkpoint", callback=_token_checkpoint, metavar="SEQ:HASH",
              help="The token trail's checkpoint printed by an earlier verify; fail if the "
                   "trail no longer reaches it.")
@json_option
@pass_app
def verify(app: AppContext, expect_head: str | None, with_token: bool,
           token_checkpoint: object, as_json: bool) -> None:
    """Check the manager's hash chain (and, on keystead's token, the token's own)."""
    km = app.manager(token=with_token and app.module_kind() == "keystead")
    result = km.verify_audit(expect_head=expect_head, token_checkpoint=token_checkpoint)
    chain = result.chain
    if as_json:
        render.emit_json({"ok": result.ok, "records": chain.records, "head_seq": chain.head_seq,
                          "head_hash": chain.head_hash, "problems": chain.problems,
                          "token": {"available": result.token.available,
                                    "ok": result.token.ok, "message": result.token.message}})
    else:
        for problem in chain.problems:
            click.echo(f"BROKEN: {problem}")
        state = "intact" if chain.ok else "BROKEN"
        click.echo(f"manager audit: {state}, {chain.records} records, head {chain.head_seq} "
                   f"{chain.head_hash}")
        click.echo(result.token.message)
    if not result.ok:
        raise click.exceptions.Exit(1)
