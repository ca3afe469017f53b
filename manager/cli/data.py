"""``keystead encrypt`` / ``keystead decrypt``: the envelope API from the shell."""

from __future__ import annotations

import base64
import contextlib
import json

import click

from ..envelope import MAGIC, parse_blob
from ..errors import ManagerError
from . import render
from .context import AppContext, pass_app
from .options import PrivateOutput, json_option, write_output


@click.command("encrypt")
@click.argument("key_name")
@click.option("--in", "infile", type=click.File("rb"), default="-", show_default=True)
@click.option("--out", "outfile", type=PrivateOutput(), default="-", show_default=True,
              help="Output file (0600).")
@click.option("--aad", default="", help="Additional authenticated data (text).")
@click.option("--subject", default="", help="What is protected; recorded in the audit.")
@json_option
@pass_app
def encrypt(app: AppContext, key_name, infile, outfile, aad, subject, as_json) -> None:
    """Encrypt with the key's current version (AES-256-GCM in the token)."""
    km = app.manager()
    if not as_json:  # recorded as done only once the output is written
        km.encrypt(key_name, infile.read(), aad.encode(), subject=subject,
                   deliver=lambda blob: write_output(outfile, blob))
        return
    blob = km.encrypt(key_name, infile.read(), aad.encode(), subject=subject)
    name, version, *_ = parse_blob(blob)
    render.emit_json({"key": name, "version": version,
                      "blob": base64.b64encode(blob).decode("ascii")})


@click.command("decrypt")
@click.option("--in", "infile", type=click.File("rb"), default="-", show_default=True)
@click.option("--out", "outfile", type=PrivateOutput(), default="-", show_default=True,
              help="Output file (0600).")
@click.option("--aad", default="", help="The AAD given at encryption.")
@click.option("--override", is_flag=True,
              help="Allow a suspended or compromised version (audited; needs --reason).")
@click.option("--reason", default="", help="Why the override is needed.")
@json_option
@pass_app
def decrypt(app: AppContext, infile, outfile, aad, override, reason, as_json) -> None:
    """Decrypt an envelope (raw, or the base64 "blob" of `encrypt --json`) with the version
    it names."""
    blob = _unwrap(infile.read())
    with contextlib.suppress(ManagerError):  # a bad blob is refused (and audited) below
        app.use_token_of(parse_blob(blob)[0])
    plain = app.manager().decrypt(blob, aad.encode(), override=override, reason=reason)
    if not as_json:
        write_output(outfile, plain)
        return
    name, version, *_ = parse_blob(blob)
    render.emit_json({"key": name, "version": version,
                      "plaintext": base64.b64encode(plain).decode("ascii")})


def _unwrap(data: bytes) -> bytes:
    """A raw envelope as is; the output of `encrypt --json` (or bare base64) decoded.
    Anything else is returned unchanged for decrypt() to reject."""
    if data.startswith(MAGIC):
        return data
    try:
        text = json.loads(data)["blob"] if data.lstrip()[:1] == b"{" else data
        return base64.b64decode(text, validate=False)
    except (ValueError, KeyError, TypeError):
        return data


@click.command("module-path")
@json_option
def module_path(as_json: bool) -> None:
    """Print the absolute path of keystead's PKCS#11 module."""
    import keystead

    path = keystead.module_path()
    if as_json:
        click.echo(json.dumps({"module_path": path}))
    else:
        click.echo(path)
