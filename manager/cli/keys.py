"""``keystead key ...``: create, inspect and move keys through their lifecycle."""

from __future__ import annotations

import click

from ..keypairs import ALGORITHM_NAMES
from ..keypairs import label as alg_label
from ..policy import KeyType
from ..specs import SPECS
from ..tokenport import FOREIGN_NOTE, KEYSTEAD_NOTE
from . import render
from .context import AppContext, pass_app
from .options import (
    DURATION,
    TIME,
    confirm_or_abort,
    json_option,
    key_argument,
    reason_option,
    version_option,
    yes_option,
)

CREATABLE = [k.value for k in SPECS]


@click.group("key")
def key_group() -> None:
    """Named keys and their versions."""


def _show_versions(app: AppContext, name: str, versions, as_json: bool, verb: str) -> None:
    if as_json:
        render.emit_json({"key": name, "versions": [render.version_dict(v) for v in versions]})
        return
    for v in versions:
        tail = "" if verb == v.state.value else f" ({v.state.value})"
        click.echo(f"{render.safe(name)} v{v.version}: {verb}{tail}")


@key_group.command("create")
@key_argument()
@click.option("--type", "key_type", type=click.Choice(CREATABLE), default=CREATABLE[0],
              show_default=True, help="SP 800-57 key type.")
@click.option("--algorithm", type=click.Choice(ALGORITHM_NAMES, case_sensitive=False),
              help="Key pairs: private-signature RSA (default), EC or Ed25519; "
                   "private-static-key-agreement X25519 (default) or EC (P-256).")
@click.option("--length", "length_bits", type=int,
              help="Key length in bits (RSA: 2048, 3072 (default), 4096; EC: the curve, "
                   "256 (default), 384, 521).")
@click.option("--owner", help="Owner recorded in the catalogue (default: you).")
@click.option("--oup", type=DURATION, help="Originator-usage period (default: policy maximum).")
@click.option("--rup-extra", type=DURATION,
              help="How long processing continues after the OUP (default: policy maximum).")
@click.option("--usage-limit", type=click.IntRange(min=0), help="Uses per version (0 = none).")
@click.option("--auto-rotate/--no-auto-rotate", default=True, show_default=True)
@click.option("--activate-at", type=TIME, help="Stay pre-activated until this time.")
@reason_option("created")
@json_option
@pass_app
def create(app: AppContext, name, key_type, algorithm, length_bits, owner, oup, rup_extra,
           usage_limit, auto_rotate, activate_at, reason, as_json) -> None:
    """Create key NAME and its first version in the token."""
    km = app.manager()
    key = km.create_key(name, KeyType(key_type), length_bits=length_bits, algorithm=algorithm,
                        owner=owner, oup=oup,
                        rup_extra=rup_extra, usage_limit=usage_limit, auto_rotate=auto_rotate,
                        activate_at=activate_at, reason=reason)
    view = km.show(name)
    if as_json:
        render.emit_json({**render.key_dict(view.key),
                          "versions": [render.version_dict(v) for v in view.versions]})
        return
    v = view.versions[-1]
    click.echo(f"created {render.safe(key.name)} v{v.version} "
               f"({alg_label(key.algorithm, key.length_bits)}, {key.key_type.value}): "
               f"{v.state.value}")


@key_group.command("list")
@json_option
@pass_app
def list_keys(app: AppContext, as_json: bool) -> None:
    """Every key with its current version."""
    if as_json:  # column values, not records: a third of the time for 1,000 keys
        render.emit_json([render.key_fields_dict(k, v)
                          for k, v in app.manager(token=False).key_fields()])
        return
    render.table(
        ["NAME", "TYPE", "ALG", "CURRENT", "STATE", "PROTECT END", "OWNER"],
        [[r.name, r.key_type, alg_label(r.algorithm, r.length_bits),
          f"v{r.current_version}" if r.current_version else "-",
          r.state or "-", render.when(r.protect_end), r.owner]
         for r in app.manager(token=False).key_rows()])


def _private_key_gone(key_type: str, history) -> bool:
    """A private signature key is destroyed when its version is deactivated (SP 800-57
    Part 1 Rev. 5, 5.3.6; manager/keypair_token.py), whatever came after."""
    return key_type == "private-signature" and any(t.to_state == "deactivated"
                                                   for t in history)


@key_group.command("show")
@key_argument()
@click.option("--usage", is_flag=True, help="Also read the token's own counters (needs PIN).")
@json_option
@pass_app
def show(app: AppContext, name: str, usage: bool, as_json: bool) -> None:
    """A key's metadata, versions, lifecycle dates and history."""
    km = app.manager(token=usage, governing=False)
    view = km.show(name, token_usage=usage)
    note = KEYSTEAD_NOTE if app.module_kind() == "keystead" else FOREIGN_NOTE
    if as_json:
        render.emit_json({
            **render.key_dict(view.key), "capability_note": note,
            "versions": [{**render.version_dict(v),
                          "token_usage": view.token_usage.get(v.version),
                          "private_key_destroyed": _private_key_gone(
                              view.key.key_type.value, view.history[v.version]),
                          "history": [render.transition_dict(t)
                                      for t in view.history[v.version]]}
                         for v in view.versions]})
        return
    k = view.key
    click.echo(f"{render.safe(k.name)}: {k.key_type.value}, "
               f"{alg_label(k.algorithm, k.length_bits)} "
               f"(strength {k.security_strength}), operations {', '.join(k.operations)}")
    click.echo(f"owner {render.safe(k.owner)}; module {render.safe(k.module)}, token "
               f"{render.safe(repr(k.token_label))}; "
               f"created {render.when(k.created_at)}")
    p = k.policy
    short = " (short waits allowed)" if p.short_destroy_wait else ""
    click.echo(f"policy: OUP {render.plain(p.oup)}, RUP = OUP + {render.plain(p.rup_extra)}, "
               f"usage limit {p.usage_limit or 'none'}, rotate at {p.rotate_at:.0%}, "
               f"auto-rotate {'on' if p.auto_rotate else 'off'}, destruction wait "
               f"{render.plain(p.destroy_wait)}{short}"
               f"; current v{k.current_version}, "
               f"min encrypt v{k.min_encrypt_version}, min decrypt v{k.min_decrypt_version}")
    click.echo(f"capability: {note}")
    click.echo("")
    render.versions_table(view.versions)
    for v in view.versions:
        click.echo(f"\nv{v.version}: token object CKA_ID {v.object_id}"
                   + (f", CKA_UNIQUE_ID {v.unique_id}" if v.unique_id else "") + "; history:")
        if v.destroy_due is not None and v.state.value != "destroyed":
            click.echo(f"  destruction scheduled for {render.when(v.destroy_due)}: it protects "
                       "nothing; it processes until then")
        for t in view.history[v.version]:
            click.echo(f"  {render.when(t.at)}  {t.from_state or '-'} -> {t.to_state}  "
                       f"by {render.safe(t.actor)}: {render.safe(t.reason)}")
        extra = [f"{n} {getattr(v, n) and render.when(getattr(v, n))}" for n in
                 ("compromise_occurred_at", "destroyed_at") if getattr(v, n)]
        if extra:
            click.echo("  " + "; ".join(extra))
        if _private_key_gone(k.key_type.value, view.history[v.version]):
            click.echo("  the private key was destroyed when this version was deactivated "
                       "(it signs no more); the public key verifies until PROCESS END")
        if v.version in view.token_usage and view.token_usage[v.version]:
            click.echo(f"  token counters: {view.token_usage[v.version]}")


def _simple(cmd_name: str, method: str, default_reason: str, help_text: str):
    @key_group.command(cmd_name, help=help_text)
    @key_argument()
    @version_option
    @reason_option(default_reason)
    @json_option
    @pass_app
    def command(app: AppContext, name: str, version: int | None, reason: str,
                as_json: bool) -> None:
        ver = getattr(app.manager(), method)(name, version, reason=reason)
        _show_versions(app, name, [ver], as_json, default_reason)

    return command


_simple("activate", "activate", "activated", "Activate a pre-activation version now.")
_simple("suspend", "suspend", "suspended", "Suspend a version: no protection, processing "
        "only with an override.")
_simple("resume", "resume", "resumed", "Resume a suspended version.")
_simple("deactivate", "deactivate", "deactivated",
        "Deactivate a version: no more protection; processing until its RUP ends.")


@key_group.command("compromise")
@key_argument()
@version_option
@click.option("--occurred", type=TIME, help="When the compromise happened (default: now).")
@click.option("--reason", required=True, help="What happened.")
@click.option("--replace/--no-replace", default=True, show_default=True,
              help="Make a new current version if the compromised one was current.")
@yes_option
@json_option
@pass_app
def compromise(app: AppContext, name, version, occurred, reason, replace, yes, as_json) -> None:
    """Mark a version compromised: it stops protecting at once."""
    confirm_or_abort(yes, f"Mark {name} {'v' + str(version) if version else 'current version'} "
                          "compromised?")
    old, new = app.manager().compromise(name, version, occurred_at=occurred, reason=reason,
                                        replace=replace)
    if as_json:
        render.emit_json({"key": name, "compromised": render.version_dict(old),
                          "new_version": render.version_dict(new) if new else None})
        return
    click.echo(f"{render.safe(name)} v{old.version}: compromised (occurred "
               f"{render.when(old.compromise_occurred_at)})")
    if new is not None:
        click.echo(f"{render.safe(name)} v{new.version}: new current version ({new.state.value})")


@key_group.command("destroy")
@key_argument()
@click.option("--version", type=click.IntRange(min=1), help="One version (default: all).")
@click.option("--after", type=DURATION,
              help="Waiting period before destruction, cancellable until then [default: the "
                   "key's destruction wait, 30d unless its policy says 7d-30d]; under 7d only "
                   "with the key's short-destroy-wait policy flag.")
@reason_option("destruction scheduled")
@yes_option
@json_option
@pass_app
def destroy(app: AppContext, name, version, after, reason, yes, as_json) -> None:
    """Schedule destruction; `keystead rotate --due` destroys when the wait is over."""
    what = f"{name} v{version}" if version else f"every version of {name}"
    confirm_or_abort(yes, f"Schedule destruction of {what}?")
    versions = app.manager().schedule_destroy(name, version, after=after, reason=reason)
    if as_json:
        render.emit_json({"key": name, "versions": [render.version_dict(v) for v in versions]})
        return
    for v in versions:
        click.echo(f"{render.safe(name)} v{v.version}: {v.state.value}, destruction scheduled "
                   f"for {render.when(v.destroy_due)}")


@key_group.command("cancel-destroy")
@key_argument()
@click.option("--version", type=click.IntRange(min=1), help="One version (default: all).")
@reason_option("destruction cancelled")
@json_option
@pass_app
def cancel_destroy(app: AppContext, name, version, reason, as_json) -> None:
    """Cancel a scheduled destruction."""
    versions = app.manager(token=False).cancel_destroy(name, version, reason=reason)
    _show_versions(app, name, versions, as_json, "destruction cancelled")


@key_group.command("rotate")
@key_argument()
@reason_option("manual rotation")
@json_option
@pass_app
def rotate(app: AppContext, name: str, reason: str, as_json: bool) -> None:
    """Make a new current version now; the old one is deactivated."""
    ver = app.manager().rotate(name, reason=reason)
    _show_versions(app, name, [ver], as_json, "new current version")


@key_group.command("affected")
@key_argument()
@click.option("--version", type=click.IntRange(min=1), required=True)
@click.option("--since-compromise", is_flag=True,
              help="Only what it protected from when its compromise occurred.")
@json_option
@pass_app
def affected(app: AppContext, name: str, version: int, since_compromise: bool,
             as_json: bool) -> None:
    """What the audit says a version protected (for compromise response); records from
    when the compromise occurred are marked."""
    km = app.manager(token=False)
    records = km.affected(name, version, since_compromise=since_compromise)
    view = km.show(name)
    occurred = next(v.compromise_occurred_at for v in view.versions if v.version == version)

    def after(rec) -> bool:
        return occurred is not None and rec.at >= occurred

    if as_json:
        render.emit_json([{**render.audit_dict(r), "after_compromise": after(r)}
                          for r in records])
        return
    render.table(["SEQ", "TIME", "ACTOR", "ACTION", "SUBJECT", "BYTES", "AFTER COMPROMISE"],
                 [[r.seq, render.when(r.at), r.actor, r.action, r.reason or "-",
                   r.details.get("bytes"), "yes" if after(r) else "no"] for r in records])
    late = sum(1 for r in records if after(r))
    tail = (f", {late} after the compromise occurred ({render.when(occurred)})"
            if occurred is not None else "")
    click.echo(f"{len(records)} record(s) protected by {render.safe(name)} v{version}{tail}")
