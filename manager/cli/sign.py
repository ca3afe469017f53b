"""``keystead sign`` / ``verify`` / ``key export-public``: key pairs from the shell."""

from __future__ import annotations

import base64
import binascii
import json
import sys

import click

from ..keypairs import PKCS1V15, PSS, RSA_SCHEMES
from ..lifecycle import OVERRIDE_STATES
from ..signing import EXPORT_FORMATS, Verification
from . import io_files, render
from .context import AppContext, pass_app
from .options import json_option, key_argument, version_option

SIGNATURE_FORMATS = ("raw", "base64")


def _binary_to_terminal(outfile: str, what: str, hint: str) -> None:
    if outfile == "-" and sys.stdout.isatty():
        raise click.UsageError(f"{what} is binary: give --out FILE, {hint} (or redirect "
                               "standard output)")


@click.command("sign")
@key_argument()
@click.option("--in", "infile", default="-", show_default=True,
              help="The message to sign (- = stdin); read in chunks.")
@click.option("--out", "outfile", default="-", show_default=True,
              help="Where the signature goes (- = stdout).")
@click.option("--format", "fmt", type=click.Choice(SIGNATURE_FORMATS), default="raw",
              show_default=True, help="The signature's bytes as they are, or base64 text.")
@click.option("--scheme", type=click.Choice(RSA_SCHEMES),
              help="RSA keys: RSA-PSS (SHA-256, MGF1-SHA-256, 32-byte salt) or PKCS#1 v1.5 "
                   "(SHA-256) [default: pss]. EC keys sign with ECDSA and the curve's hash, "
                   "Ed25519 keys with pure Ed25519.")
@click.option("--subject", default="", help="What is signed; recorded in the audit.")
@json_option
@pass_app
def sign(app: AppContext, name, infile, outfile, fmt, scheme, subject, as_json) -> None:
    """Sign a file or stdin with the current version of key pair NAME, in the token."""
    if not as_json and fmt == "raw":
        _binary_to_terminal(outfile, "a raw signature", "or --format base64")
    km = app.manager(governing=False)
    with io_files.source(infile) as src:
        made = km.sign(name, src, scheme=scheme, subject=subject)
    text = base64.b64encode(made.signature)
    if as_json:
        # --out still gets the signature; the JSON summary goes to stdout
        if outfile not in (None, "-"):
            with io_files.sink(outfile) as dst:
                dst.write(made.signature if fmt == "raw" else text + b"\n")
        render.emit_json({"key": made.key, "version": made.version,
                          "algorithm": made.algorithm, "scheme": made.scheme,
                          "digest": made.digest, "signature": text.decode("ascii")})
        return
    with io_files.sink(outfile) as dst:
        dst.write(made.signature if fmt == "raw" else text + b"\n")


def _signature_bytes(data: bytes, fmt: str) -> bytes:
    """The signature in a file: ``raw`` as it is, ``base64`` decoded, ``auto`` base64 when
    the whole file is base64 text (what ``sign --format base64`` writes), else raw."""
    if fmt == "raw":
        return data
    try:
        return base64.b64decode(b"".join(data.split()), validate=True)
    except (binascii.Error, ValueError):
        if fmt == "base64":
            raise click.ClickException("the signature file is not base64") from None
        return data


@click.command("verify")
@key_argument()
@click.option("--signature", "sigfile", required=True,
              help="The signature file (raw or base64, as `keystead sign` writes it).")
@click.option("--format", "sigfmt", type=click.Choice(("auto", *SIGNATURE_FORMATS)),
              default="auto", show_default=True,
              help="The signature file's format, as `sign --format` wrote it; auto: base64 "
                   "when the file is base64 text, else raw.")
# The earlier spelling, kept working for scripts that use it.
@click.option("--signature-format", "old_sigfmt", hidden=True,
              type=click.Choice(("auto", *SIGNATURE_FORMATS)))
@click.option("--in", "infile", default="-", show_default=True,
              help="The signed message (- = stdin).")
@click.option("--version", "version", type=click.IntRange(min=1),
              help="Key version to verify with (default: each version that may verify now, "
                   "newest first).")
@click.option("--scheme", type=click.Choice(RSA_SCHEMES),
              help="RSA keys: the scheme it was signed with [default: pss].")
@click.option("--override", is_flag=True,
              help="Allow a suspended or compromised version (needs --version and "
                   "--reason; audited).")
@click.option("--reason", default="", help="Why the override is needed.")
@json_option
@pass_app
def verify(app: AppContext, name, sigfile, sigfmt, old_sigfmt, infile, version, scheme,
           override, reason, as_json) -> None:
    """Verify a signature with key pair NAME's public key: the given version, or each
    version that may verify now, newest first. Exit 0 when it verifies, 1 when not."""
    if old_sigfmt is not None:
        if sigfmt != "auto" and sigfmt != old_sigfmt:
            raise click.UsageError("--format and --signature-format disagree")
        sigfmt = old_sigfmt
    if sigfile == "-" and infile == "-":
        raise click.UsageError("the signature and the message cannot both come from stdin")
    with io_files.source(sigfile) as handle:
        signature = _signature_bytes(handle.read(), sigfmt)
    if override and version is None:
        raise click.UsageError("--override needs --version")
    km = app.manager(governing=override)
    with io_files.source(infile) as src:
        found = km.verify_signature(name, src, signature, version=version, scheme=scheme,
                                    override=override, reason=reason)
    if not found.valid:
        raise click.ClickException(_not_verified(name, found, scheme))
    if as_json:
        render.emit_json({"key": found.key, "valid": True, "version": found.version})
        return
    click.echo(f"{render.safe(name)} v{found.version}: signature valid")


_OVERRIDABLE = frozenset(s.value for s in OVERRIDE_STATES)


def _not_verified(name: str, found: Verification, scheme: str | None) -> str:
    """The one line for a signature that no version verified: what was tried, what was left
    out and why, and how to try it."""
    line = (f"the signature does not verify with {render.safe(name)} "
            f"(tried {', '.join(f'v{v}' for v in found.tried)})")
    held = [(v, why) for v, why in found.skipped if why in _OVERRIDABLE]
    if held:
        v, why = held[0]
        names = ", ".join(f"v{n} is {w}" for n, w in held)
        line += (f"; not tried: {names} (to check one anyway: --version {v} --override "
                 f"--reason TEXT)")
    if scheme is None and found.scheme == PSS:
        line += f"; a signature made with PKCS#1 v1.5 needs --scheme {PKCS1V15}"
    return line


@click.command("export-public")
@key_argument()
@version_option
@click.option("--format", "fmt", type=click.Choice(EXPORT_FORMATS), default="pem",
              show_default=True,
              help="SubjectPublicKeyInfo as PEM or DER, or a JWK (RFC 7517).")
@click.option("--out", "outfile", default="-", show_default=True,
              help="Where the public key goes (- = stdout).")
@json_option
@pass_app
def export_public(app: AppContext, name, version, fmt, outfile, as_json) -> None:
    """Export a version's public key (key pairs only)."""
    if not as_json and fmt == "der":
        _binary_to_terminal(outfile, "DER", "or --format pem")
    number, key = app.manager(governing=False).export_public(name, version, fmt)
    data = (json.dumps(key, indent=2) + "\n").encode() if isinstance(key, dict) else key
    if as_json and outfile not in (None, "-"):
        with io_files.sink(outfile) as dst:  # --out still gets the key
            dst.write(data)
    if as_json:
        value = key if isinstance(key, dict) else (
            key.decode("ascii") if fmt == "pem" else base64.b64encode(key).decode("ascii"))
        render.emit_json({"key": name, "version": number, "format": fmt, "public_key": value})
        return
    with io_files.sink(outfile) as dst:
        dst.write(data)
