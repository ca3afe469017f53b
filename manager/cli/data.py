"""``keystead encrypt`` / ``keystead decrypt``: the envelope API from the shell."""

from __future__ import annotations

import click

from .context import AppContext, pass_app
from .options import json_option


@click.command("encrypt")
@click.argument("key_name")
@click.option("--in", "infile", type=click.File("rb"), default="-", show_default=True)
@click.option("--out", "outfile", type=click.File("wb"), default="-", show_default=True)
@click.option("--aad", default="", help="Additional authenticated data (text).")
@click.option("--subject", default="", help="What is protected; recorded in the audit.")
@pass_app
def encrypt(app: AppContext, key_name, infile, outfile, aad, subject) -> None:
    """Encrypt with the key's current version (AES-256-GCM in the token)."""
    blob = app.manager().encrypt(key_name, infile.read(), aad.encode(), subject=subject)
    outfile.write(blob)


@click.command("decrypt")
@click.option("--in", "infile", type=click.File("rb"), default="-", show_default=True)
@click.option("--out", "outfile", type=click.File("wb"), default="-", show_default=True)
@click.option("--aad", default="", help="The AAD given at encryption.")
@click.option("--override", is_flag=True,
              help="Allow a suspended or compromised version (audited; needs --reason).")
@click.option("--reason", default="", help="Why the override is needed.")
@pass_app
def decrypt(app: AppContext, infile, outfile, aad, override, reason) -> None:
    """Decrypt an envelope with the version it names."""
    outfile.write(app.manager().decrypt(infile.read(), aad.encode(), override=override,
                                        reason=reason))


@click.command("module-path")
@json_option
def module_path(as_json: bool) -> None:
    """Print the absolute path of keystead's PKCS#11 module."""
    import keystead

    path = keystead.module_path()
    if as_json:
        import json

        click.echo(json.dumps({"module_path": path}))
    else:
        click.echo(path)
