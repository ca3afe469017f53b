"""Per-module configuration of a token directory.

Each module learns where its tokens live from a file named by an environment variable:
keystead reads ``KEYSTEAD_CONF`` (``key = value`` lines: ``token_dir``, ``pin_kdf_cost``,
``log_file``, ``log_level``), SoftHSMv2 reads ``SOFTHSM2_CONF`` (``directories.tokendir``,
``objectstore.backend``, ``log.level``). Both modules read it in C_Initialize, so the
variable must be set before the module is first loaded in the process; for a
subprocess, pass :meth:`TokenEnv.env` as its environment.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from .errors import BridgeError
from .modules import KEYSTEAD, SOFTHSM2

CONF_ENV: dict[str, str] = {KEYSTEAD: "KEYSTEAD_CONF", SOFTHSM2: "SOFTHSM2_CONF"}


@dataclass(frozen=True)
class TokenEnv:
    """A token directory and the configuration file that points a module at it."""

    kind: str
    token_dir: Path
    conf_path: Path
    env_var: str

    def env(self, base: Mapping[str, str] | None = None) -> dict[str, str]:
        """A copy of ``base`` (default ``os.environ``) with this configuration selected."""
        out = dict(os.environ if base is None else base)
        out[self.env_var] = str(self.conf_path)
        return out

    def apply(self) -> None:
        """Select this configuration in the current process (before the module is loaded)."""
        os.environ[self.env_var] = str(self.conf_path)


def _keystead_lines(token_dir: Path, options: Mapping[str, str]) -> list[str]:
    settings = {"token_dir": str(token_dir), "pin_kdf_cost": "fast"}
    settings.update(options)
    return [f"{key} = {value}" for key, value in settings.items()]


def _softhsm2_lines(token_dir: Path, options: Mapping[str, str]) -> list[str]:
    settings = {
        "directories.tokendir": str(token_dir),
        "objectstore.backend": "file",
        "log.level": "ERROR",
        "slots.removable": "false",
    }
    settings.update(options)
    return [f"{key} = {value}" for key, value in settings.items()]


_WRITERS = {KEYSTEAD: _keystead_lines, SOFTHSM2: _softhsm2_lines}


def write_config(
    kind: str,
    token_dir: str | os.PathLike[str],
    conf_path: str | os.PathLike[str] | None = None,
    **options: str,
) -> TokenEnv:
    """Write ``kind``'s configuration for ``token_dir`` (created if missing).

    ``options`` are extra ``key = value`` settings in the module's own vocabulary (for
    keystead: ``log_file``, ``log_level``, ``pin_kdf_cost``, which defaults to "fast"
    because this bridge provisions test tokens; pass ``pin_kdf_cost="default"``
    otherwise). The file goes to ``conf_path`` or next to the token directory as
    ``<token_dir>.<kind>.conf``. Raises BridgeError for a module kind with no known
    configuration format.
    """
    if kind not in _WRITERS:
        raise BridgeError(f"no configuration format known for module kind {kind!r}")
    tdir = Path(token_dir).resolve()
    tdir.mkdir(parents=True, exist_ok=True)
    conf = Path(conf_path) if conf_path is not None else tdir.with_name(f"{tdir.name}.{kind}.conf")
    lines = _WRITERS[kind](tdir, options)
    conf.write_text("# written by keystead.softhsm_bridge.config\n" + "\n".join(lines) + "\n")
    return TokenEnv(kind=kind, token_dir=tdir, conf_path=conf.resolve(), env_var=CONF_ENV[kind])


def make_token_env(
    kind: str, base_dir: str | os.PathLike[str] | None = None, **options: str
) -> TokenEnv:
    """Create a fresh, empty token directory (under ``base_dir`` or the system temp dir)
    with ``kind``'s configuration written beside it. The caller removes it when done.
    """
    import tempfile  # here: start-up time (docs/manager.md)

    parent = Path(tempfile.mkdtemp(prefix=f"keystead-{kind}-", dir=base_dir))
    return write_config(kind, parent / "tokens", parent / f"{kind}.conf", **options)
