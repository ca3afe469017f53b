"""``keystead audit ...``: read and verify the manager's hash-chained audit."""

from __future__ import annotations

import click

from ..audit import parse_checkpoint
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
@click.option("--action", help="Only this action or family: `decrypt` also finds "
              "decrypt:override, `override` finds decrypt:override, `transition` every "
              "transition.")
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
@click.option("--expect-head", metavar="SEQ:HASH",
              help="A checkpoint printed by an earlier verify (kept off this machine): the "
                   "chain must still pass through that record.")
@click.option("--since", "since_seq", type=click.IntRange(min=1), metavar="SEQ",
              help="Verify only from record SEQ on (its link to record SEQ-1 included).")
@click.option("--token/--no-token", "with_token", default=True, show_default=True,
              help="Also verify the token's own audit chain (needs the user PIN).")
@click.option("--token-checkpoint", callback=_token_checkpoint, metavar="SEQ:HASH",
              help="The token trail's checkpoint printed by an earlier verify; fail if the "
                   "trail no longer reaches it.")
@json_option
@pass_app
def verify(app: AppContext, expect_head: str | None, since_seq: int | None, with_token: bool,
           token_checkpoint: object, as_json: bool) -> None:
    """Check the manager's hash chain (and, on keystead's token, the token's own).

    Prints the head as a checkpoint SEQ:HASH: keep it elsewhere and pass it back with
    --expect-head to detect a rewrite of the whole log."""
    if expect_head is not None:
        try:
            parse_checkpoint(expect_head)
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="--expect-head") from None
    use_token = with_token and app.module_kind() == "keystead"
    km = app.manager(token=use_token, governing=False)
    result = km.verify_audit(expect_head=expect_head, since=since_seq, with_token=use_token,
                             token_checkpoint=token_checkpoint)
    chain = result.chain
    checkpoint = f"{chain.head_seq}:{chain.head_hash}"
    if as_json:
        render.emit_json({"ok": result.ok, "records": chain.records, "head_seq": chain.head_seq,
                          "head_hash": chain.head_hash, "checkpoint": checkpoint,
                          "since": since_seq, "problems": chain.problems,
                          "token": {"available": result.token.available,
                                    "ok": result.token.ok, "message": result.token.message}})
    else:
        for problem in chain.problems:
            click.echo(f"BROKEN: {render.safe(problem)}")
        state = "intact" if chain.ok else "BROKEN"
        span = f" from record {since_seq}" if since_seq else ""
        click.echo(f"manager audit: {state}, {chain.records} records{span}, head {checkpoint}")
        click.echo(result.token.message)
    if not result.ok:
        raise click.exceptions.Exit(1)
