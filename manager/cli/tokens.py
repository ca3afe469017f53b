"""``keystead token ...``: initialise and list tokens of the selected module."""

from __future__ import annotations

import click

from . import render
from .context import AppContext, pass_app, read_secret
from .options import json_option


@click.group("token")
def token_group() -> None:
    """Tokens of the selected PKCS#11 module."""


@token_group.command("init")
@click.option("--label", help="Token label (default: the global --token).")
@click.option("--so-pin-file", type=click.Path(dir_okay=False),
              help="File whose first line is the SO PIN (else KEYSTEAD_SO_PIN, else a prompt).")
@json_option
@pass_app
def init(app: AppContext, label: str | None, so_pin_file: str | None, as_json: bool) -> None:
    """Initialise a fresh token and set its user PIN: all or nothing, never a second token
    with a label already in use."""
    from ..token_init import init_token, preflight

    label = label or app.token_label
    module = app.module_info()
    preflight(module, label)  # a taken label is refused before any prompt
    so_pin = read_secret("SO PIN", "KEYSTEAD_SO_PIN", so_pin_file, confirm=True)
    user_pin = read_secret("New user PIN", "KEYSTEAD_PIN", app.pin_file, confirm=True)
    token = init_token(module, label, so_pin, user_pin)
    if as_json:
        render.emit_json({"label": token.label, "serial": token.serial, "slot": token.slot_id,
                          "module": token.module.name})
        return
    click.echo(f"initialised token {token.label!r} (serial {token.serial}) in "
               f"{token.module.name}")


@token_group.command("list")
@json_option
@pass_app
def list_tokens(app: AppContext, as_json: bool) -> None:
    """Slots and their tokens."""
    from ..pkcs11_token import list_tokens as tokens_of

    rows = tokens_of(app.module_info())
    if as_json:
        render.emit_json(rows)
        return
    render.table(["SLOT", "LABEL", "SERIAL", "MODEL", "INITIALISED"],
                 [[r["slot"], r["label"] or "-", r["serial"], r["model"],
                   "yes" if r["initialized"] else "no"] for r in rows])
