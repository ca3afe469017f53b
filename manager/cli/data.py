"""``keystead encrypt`` / ``decrypt`` / ``datakey`` / ``rewrap``: envelopes from the shell."""

from __future__ import annotations

import base64
import contextlib
import io
import json
import sys
from pathlib import Path

import click

from ..datakey import MAGIC as DATAKEY_MAGIC
from ..datakey import parse_datakey
from ..envelope import MAGIC, parse_blob
from ..errors import ManagerError
from ..stream_format import DEFAULT_CHUNK, MAX_CHUNK, MIN_CHUNK, read_header
from ..stream_format import MAGIC as STREAM_MAGIC
from . import io_files, render
from .context import AppContext, pass_app
from .options import json_option, key_argument

#: --in / --out: a path (completed by the shell) or - for standard input/output
FILE = click.Path(dir_okay=False, allow_dash=True)


@click.command("encrypt")
@key_argument("key_name", required=False)
@click.option("--datakey", "datakey_file", type=click.Path(dir_okay=False, allow_dash=False),
              help="Seal with this wrapped data key (from `keystead datakey`: raw, base64 "
                   "or its --json) instead of KEY_NAME; the token unwraps it.")
@click.option("--in", "infile", type=FILE, default="-", show_default=True,
              help="Input file (- = stdin).")
@click.option("--out", "outfile", type=FILE, default="-", show_default=True,
              help="Output file (- = stdout); written under a temporary name, renamed when done.")
@click.option("--aad", default="", help="Additional authenticated data (text).")
@click.option("--subject", default="", help="What is protected; recorded in the audit.")
@click.option("--chunk-size", type=click.IntRange(MIN_CHUNK, MAX_CHUNK), default=DEFAULT_CHUNK,
              show_default=True, help="Bytes of plaintext per sealed chunk.")
@json_option
@pass_app
def encrypt(app: AppContext, key_name, datakey_file, infile, outfile, aad, subject,
            chunk_size, as_json) -> None:
    """Encrypt with the key's current version (AES-256-GCM in the token), streaming in
    chunks in constant memory. With a key-wrapping key: envelope encryption, a fresh data key
    made in the token seals the stream and the stream carries it wrapped under the key's
    current version. With --datakey FILE: sealed with that data key (unwrapped inside the
    token), the stream carrying it. With --json: one in-memory envelope, printed as
    base64."""
    if (key_name is None) == (datakey_file is None):
        raise click.UsageError("give KEY_NAME or --datakey FILE (one of them)")
    if datakey_file is not None:
        _encrypt_with_datakey(app, datakey_file, infile, outfile, aad, subject, chunk_size,
                              as_json)
        return
    km = app.manager(governing=False)
    with io_files.source(infile) as src:
        if as_json:
            blob = km.encrypt(key_name, src.read(), aad.encode(), subject=subject)
            name, version, *_ = parse_blob(blob)
            render.emit_json({"key": name, "version": version,
                              "blob": base64.b64encode(blob).decode("ascii")})
            return

        if outfile == "-" and sys.stdout.isatty():
            raise click.UsageError("the sealed stream is binary: give --out FILE (or redirect "
                                   "standard output)")

        def refused(exc: OSError) -> None:  # recorded as a failed encryption
            km.record_failure("encrypt", key_name, None, subject, exc)

        with io_files.sink(outfile, refused) as dst, \
                io_files.progress(src, "encrypting") as bar:
            km.encrypt_stream(key_name, src, dst, aad.encode(), subject,
                              chunk_size=chunk_size, progress=bar)


def _encrypt_with_datakey(app: AppContext, path: str, infile: str, outfile: str, aad: str,
                          subject: str, chunk_size: int, as_json: bool) -> None:
    if as_json:
        raise click.UsageError("--datakey makes a stream: give --out FILE, not --json")
    try:
        blob = _datakey_bytes(Path(path).read_bytes())
    except OSError as exc:
        raise click.ClickException(f"cannot read {path}: {exc.strerror}") from None
    dk = parse_datakey(blob)
    app.use_token_of(dk.kek_name)
    km = app.manager(governing=False)
    if outfile == "-" and sys.stdout.isatty():
        raise click.UsageError("the sealed stream is binary: give --out FILE (or redirect "
                               "standard output)")

    def refused(exc: OSError) -> None:
        km.record_failure("encrypt", dk.kek_name, dk.kek_version, subject, exc)

    with io_files.source(infile) as src, io_files.sink(outfile, refused) as dst, \
            io_files.progress(src, "encrypting") as bar:
        km.encrypt_with_datakey(blob, src, dst, aad.encode(), subject, chunk_size=chunk_size,
                                progress=bar)


def _datakey_bytes(data: bytes) -> bytes:
    """A wrapped data key as `datakey` gives it: raw (``--out``), base64 (the line
    ``wrapped: ...`` or bare) or its ``--json``; anything else unchanged (refused later)."""
    if data.startswith(DATAKEY_MAGIC):
        return data
    text = data.strip()
    try:
        if text[:1] == b"{":
            text = json.loads(text)["wrapped"].encode("ascii")
        elif text.startswith(b"wrapped:"):
            text = text.split(b"\n")[0].partition(b":")[2].strip()
        return base64.b64decode(text, validate=True)
    except (ValueError, KeyError, TypeError, AttributeError):
        return data


@click.command("decrypt")
@click.option("--in", "infile", type=FILE, default="-", show_default=True,
              help="Input file (- = stdin).")
@click.option("--out", "outfile", type=FILE, default="-", show_default=True,
              help="Output file (- = stdout); written under a temporary name, renamed only "
                   "when every chunk authenticated.")
@click.option("--aad", default="", help="The AAD given at encryption.")
@click.option("--override", is_flag=True,
              help="Allow a suspended or compromised version (audited; needs --reason).")
@click.option("--reason", default="", help="Why the override is needed.")
@json_option
@pass_app
def decrypt(app: AppContext, infile, outfile, aad, override, reason, as_json) -> None:
    """Decrypt a stream or an envelope (raw, or the base64 "blob" of `encrypt --json`) with
    the version it names, on the token the catalogue records for its key. A stream that
    carries a wrapped data key (encrypt with a key-wrapping key, or sealed locally with a
    `datakey`) is opened by unwrapping the data key inside the token."""
    with io_files.source(infile) as src:
        first = src.read(len(STREAM_MAGIC))
        if first == STREAM_MAGIC and not as_json:
            with contextlib.suppress(ManagerError):  # a bad header is refused (and audited) below
                header, packed = read_header(src, first)
                app.use_token_of(header.key_name)
                first, src = b"", io_files.prefixed(packed, src)
            km = app.manager(governing=override)
            with io_files.sink(outfile) as dst, io_files.progress(src, "decrypting") as bar:
                km.decrypt_stream(src, dst, aad.encode(), first=first, override=override,
                                  reason=reason, progress=bar)
            return
        data = first + src.read()
    if data.startswith(STREAM_MAGIC):  # --json: the plaintext goes into the JSON
        with contextlib.suppress(ManagerError):
            app.use_token_of(read_header(io.BytesIO(data))[0].key_name)
        sink = io.BytesIO()
        km = app.manager(governing=override)
        name, version, _ = km.decrypt_stream(io.BytesIO(data), sink, aad.encode(),
                                             override=override, reason=reason)
        plain = sink.getvalue()
    elif data.startswith(DATAKEY_MAGIC):
        raise click.ClickException(
            "this is a wrapped data key, not data: decrypt the stream sealed with it (it "
            "carries the key and the token unwraps it); `keystead rewrap` moves it to the "
            "key-wrapping key's current version")
    else:
        blob = _unwrap(data)
        with contextlib.suppress(ManagerError):  # a bad blob is refused (and audited) below
            app.use_token_of(parse_blob(blob)[0])
        plain = app.manager(governing=override).decrypt(blob, aad.encode(), override=override,
                                                        reason=reason)
        name, version, *_ = parse_blob(blob)
    if not as_json:
        with io_files.sink(outfile) as dst:
            dst.write(plain)
        return
    render.emit_json({"key": name, "version": version,
                      "plaintext": base64.b64encode(plain).decode("ascii")})


@click.command("datakey")
@key_argument("kek_name")
@click.option("--bits", type=click.Choice(["128", "192", "256"]), default="256",
              show_default=True, help="Length of the data key.")
@click.option("--plaintext", is_flag=True,
              help="Also print the data key itself (base64): keep it in memory only.")
@click.option("--out", "outfile", type=FILE, default="-", show_default=True,
              help="Where the wrapped data key goes (- = stdout, base64).")
@click.option("--subject", default="", help="What the data key will protect (audit).")
@json_option
@pass_app
def datakey(app: AppContext, kek_name, bits, plaintext, outfile, subject, as_json) -> None:
    """A fresh data key made in the token, wrapped under a key-wrapping key's current
    version (RFC 3394); its plaintext only with --plaintext."""
    dk = app.manager(governing=False).datakey(kek_name, length_bits=int(bits), plaintext=plaintext,
                               subject=subject)
    wrapped = dk.blob()
    if plaintext and sys.stdout.isatty():
        click.echo("warning: the plaintext data key is a secret: do not store it", err=True)
    if outfile != "-":
        with io_files.sink(outfile) as dst:
            dst.write(wrapped)
    b64 = base64.b64encode(wrapped).decode("ascii")
    key = base64.b64encode(dk.plaintext).decode("ascii") if dk.plaintext is not None else None
    if as_json:
        out = {"key": dk.kek_name, "version": dk.kek_version, "wrapped": b64}
        if key is not None:
            out["plaintext"] = key
        render.emit_json(out)
        return
    if outfile == "-":
        click.echo(f"wrapped: {b64}")
    if key is not None:
        click.echo(f"plaintext: {key}")


@click.command("rewrap")
@click.option("--in", "infile", type=FILE, required=True,
              help="A stream, envelope or wrapped data key.")
@click.option("--out", "outfile", type=FILE, required=True,
              help="Where the rewrapped blob goes (may equal --in: replaced when done).")
@click.option("--aad", default="", help="The AAD given at encryption (streams, envelopes).")
@json_option
@pass_app
def rewrap(app: AppContext, infile, outfile, aad, as_json) -> None:
    """Move a blob to its key's current version: a stream chunk by chunk (no plaintext
    written anywhere), a wrapped data key inside the token."""
    km = app.manager(governing=False)
    with io_files.source(infile) as src:
        first = src.read(4)
        with io_files.sink(outfile) as dst:
            if first == STREAM_MAGIC:
                name, old, new = km.rewrap_stream(src, dst, aad.encode(), first=first)
            elif first == DATAKEY_MAGIC:
                blob = first + src.read()
                old = parse_datakey(blob).kek_version
                dk = km.rewrap_datakey(blob)
                name, new = dk.kek_name, dk.kek_version
                dst.write(dk.blob())
            else:
                blob = _unwrap(first + src.read())
                name, old, *_ = parse_blob(blob)
                plain = bytearray(km.decrypt(blob, aad.encode()))
                try:
                    fresh = km.encrypt(name, bytes(plain), aad.encode(), subject="rewrap")
                finally:
                    plain[:] = bytes(len(plain))
                new = parse_blob(fresh)[1]
                dst.write(fresh)
    if as_json:
        render.emit_json({"key": name, "from_version": old, "to_version": new})
    else:
        click.echo(f"{name}: v{old} -> v{new}", err=True)


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
