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
    """Initialise a fresh token and set its user PIN (and, on keystead's token, the manager's
    PIN: the credential that governs the keys the manager makes): every PIN and the label are
    checked before the token is touched, and a label already in use is refused."""
    from ..token_init import init_token, preflight

    label = label or app.token_label
    module = app.module_info()
    preflight(module, label)  # a taken label is refused before any prompt
    so_pin = read_secret("SO PIN", "KEYSTEAD_SO_PIN", so_pin_file, confirm=True)
    user_pin = read_secret("New user PIN", "KEYSTEAD_PIN", app.pin_file, confirm=True)
    manager_pin = None
    if app.module_kind() == "keystead":
        manager_pin = read_secret("New manager PIN", "KEYSTEAD_MANAGER_PIN",
                                  app.manager_pin_file, confirm=True,
                                  option="--manager-pin-file")
        if manager_pin == user_pin:
            raise click.ClickException("the manager PIN must differ from the user PIN")
        # its length, before the token is touched
        preflight(module, label, so_pin, user_pin, manager_pin)
    token = init_token(module, label, so_pin, user_pin)
    if manager_pin is not None:
        _set_manager_pin(app, token.slot_id, so_pin, manager_pin)
    if as_json:
        render.emit_json({"label": token.label, "serial": token.serial, "slot": token.slot_id,
                          "module": token.module.name})
        return
    click.echo(f"initialised token {token.label!r} (serial {token.serial}) in "
               f"{token.module.name}")


def _set_manager_pin(app: AppContext, slot: int, so_pin: str, pin: str) -> None:
    from keystead.softhsm_bridge import errors, vendor
    from keystead.softhsm_bridge.provision import load

    try:
        vendor.set_manager_pin(load(app.module_info()), slot, so_pin, pin)
    except errors.PKCS11Error as exc:
        raise click.ClickException(f"setting the manager PIN: {exc.name}") from None


@token_group.command("manager-pin")
@click.option("--so-pin-file", type=click.Path(dir_okay=False),
              help="File whose first line is the SO PIN (else KEYSTEAD_SO_PIN, else a prompt).")
@pass_app
def manager_pin(app: AppContext, so_pin_file: str | None) -> None:
    """Set the manager PIN of keystead's token (the SO's act; docs/authority.md)."""
    from ..pkcs11_token import find_token

    if app.module_kind() != "keystead":
        raise click.ClickException("only keystead's token has a manager credential")
    ref = find_token(app.module_info(), app.token_label)
    so_pin = read_secret("SO PIN", "KEYSTEAD_SO_PIN", so_pin_file)
    pin = read_secret("New manager PIN", "KEYSTEAD_MANAGER_PIN", app.manager_pin_file,
                      confirm=True)
    _set_manager_pin(app, ref.slot_id, so_pin, pin)
    click.echo(f"manager PIN set on token {app.token_label!r}")


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
