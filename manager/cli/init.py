"""``keystead init``: make the catalogue, and record in it where the token is.

Nothing else creates a catalogue: every other command refuses a missing one, so that a
mistyped path or a cron job without the environment fails loudly instead of working on an
empty catalogue.
"""

from __future__ import annotations

from pathlib import Path

import click

from ..errors import AlreadyExists, SetupError
from ..service import KeyManager
from ..sqlite_store import SQLiteCatalogue
from ..tokendir import token_location
from . import render
from .context import DEFAULT_MODULE, DEFAULT_TOKEN, AppContext, pass_app
from .options import json_option


@click.command("init")
@click.option("--create-token-dir", is_flag=True,
              help="Make the module's token directory (0700) when it does not exist yet.")
@json_option
@pass_app
def init(app: AppContext, create_token_dir: bool, as_json: bool) -> None:
    """Create the catalogue (0600, in a 0700 directory when it makes one) and record the
    module, token label and token directory the other commands use."""
    from keystead.softhsm_bridge import resolve

    if app.drill:
        raise SetupError("drill mode writes nothing real: run init without --drill")
    path: Path = app.catalogue_path
    if path.exists():
        raise AlreadyExists(f"a catalogue already exists at {path}")
    module = app.module or DEFAULT_MODULE
    label = app.token_label_option or DEFAULT_TOKEN
    info = resolve(module)
    loc = token_location(info.kind)
    if loc.token_dir is not None and not loc.token_dir.is_dir():
        if not create_token_dir:
            raise SetupError(f"token directory {loc.token_dir} does not exist "
                             "(add --create-token-dir to make it)")
        try:
            loc.token_dir.mkdir(mode=0o700, parents=True)
        except OSError as exc:
            raise SetupError(f"cannot create {loc.token_dir}: {exc.strerror}") from None
    settings = {"module": module, "token": label,
                "token_dir": str(loc.token_dir) if loc.token_dir else "",
                "config": str(loc.conf_path) if loc.conf_path else ""}
    catalogue = SQLiteCatalogue(path, create=True)
    catalogue.record_settings(settings)
    km = KeyManager(catalogue, None, module_name=info.name, token_label=label)
    try:
        with catalogue.transaction() as tx:
            km.audit(tx, "catalogue:init", None, None, "catalogue created", **settings)
    finally:
        km.close()
    if as_json:
        render.emit_json({"catalogue": str(path), **settings})
        return
    click.echo(f"created catalogue {render.safe(path)} for {render.safe(module)} token "
               f"{render.safe(label)!r} (token directory "
               f"{render.safe(settings['token_dir'] or '-')})")
