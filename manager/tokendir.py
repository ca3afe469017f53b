"""Where a module keeps its tokens, found before the module is loaded.

keystead's module creates its ``token_dir`` when it starts (by contract), and SoftHSMv2
works in whatever directory its configuration names; so a mistyped path would silently give
an empty token store. The manager therefore reads the module's configuration itself (for
keystead with the token's own parser, ``ks_config_parse``) and refuses a missing directory,
or a malformed configuration, with one line naming the path, before it loads the module.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from .errors import SetupError

SOFTHSM2_DEFAULT_CONF = Path("/etc/softhsm/softhsm2.conf")


@dataclass(frozen=True)
class TokenLocation:
    """A module's configuration file (None: defaults) and token directory (None: in memory
    or unknown)."""

    kind: str
    conf_path: Path | None
    token_dir: Path | None

    def describe(self) -> str:
        where = str(self.token_dir) if self.token_dir is not None else "(none on disk)"
        conf = f" (configuration {self.conf_path})" if self.conf_path else ""
        return f"{where}{conf}"


def _read_conf(var: str, path: str) -> tuple[Path, bytes]:
    conf = Path(path)
    try:
        return conf, conf.read_bytes()
    except OSError as exc:
        raise SetupError(f"{var} names {conf}, which cannot be read: "
                         f"{exc.strerror or exc}") from None


def _keystead(env: Mapping[str, str]) -> TokenLocation:
    from keystead._core import ffi, lib

    conf_path: Path | None = None
    text = b""
    if env.get("KEYSTEAD_CONF"):
        conf_path, text = _read_conf("KEYSTEAD_CONF", env["KEYSTEAD_CONF"])
    cfg = ffi.new("ks_config *")
    err = ffi.new("char[]", 512)
    name = str(conf_path) if conf_path else "keystead"
    rv = lib.ks_config_parse(cfg, name.encode(), text, len(text), err, 512)
    if rv != 0:
        message = ffi.string(err).decode("utf-8", "replace") or f"error 0x{rv:x}"
        raise SetupError(f"malformed keystead configuration: {message}")
    if cfg.in_memory:
        return TokenLocation("keystead", conf_path, None)
    raw = ffi.string(cfg.token_dir).decode("utf-8", "surrogateescape")
    if not raw:  # the token's default: $XDG_DATA_HOME/keystead/tokens, else ~/.local/share
        xdg = env.get("XDG_DATA_HOME", "")
        if xdg.startswith("/"):
            base = Path(xdg)
        else:
            base = Path(env.get("HOME") or "~").expanduser() / ".local" / "share"
        raw = str(base / "keystead" / "tokens")
    return TokenLocation("keystead", conf_path, Path(raw))


def _softhsm2(env: Mapping[str, str]) -> TokenLocation:
    if env.get("SOFTHSM2_CONF"):
        conf_path, text = _read_conf("SOFTHSM2_CONF", env["SOFTHSM2_CONF"])
    elif SOFTHSM2_DEFAULT_CONF.exists():
        conf_path, text = _read_conf("the default", str(SOFTHSM2_DEFAULT_CONF))
    else:
        return TokenLocation("softhsm2", None, None)
    for line in text.decode("utf-8", "replace").splitlines():
        key, sep, value = line.strip().partition("=")
        if sep and key.strip() == "directories.tokendir":
            return TokenLocation("softhsm2", conf_path, Path(value.strip()))
    return TokenLocation("softhsm2", conf_path, None)


def token_location(kind: str, environ: Mapping[str, str] | None = None) -> TokenLocation:
    """Where module kind ``kind`` ("keystead", "softhsm2", else unknown) keeps its tokens.

    Raises SetupError for an unreadable or malformed configuration.
    """
    env = os.environ if environ is None else environ
    if kind == "keystead":
        return _keystead(env)
    if kind == "softhsm2":
        return _softhsm2(env)
    return TokenLocation(kind, None, None)


def require_token_dir(kind: str, environ: Mapping[str, str] | None = None) -> TokenLocation:
    """:func:`token_location`, refusing a token directory that does not exist."""
    loc = token_location(kind, environ)
    if loc.token_dir is not None and not loc.token_dir.is_dir():
        named = f" (named by {loc.conf_path})" if loc.conf_path else ""
        raise SetupError(f"token directory {loc.token_dir}{named} does not exist (a "
                         "mistyped path? `keystead init --create-token-dir` makes it with a "
                         "new catalogue, or mkdir -m 700 it)")
    return loc
