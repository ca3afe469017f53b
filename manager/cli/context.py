"""The object every command receives: global options, PIN sources, a lazily built manager."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import click
from keystead.softhsm_bridge import ModuleInfo

from ..clock import clock_from_env
from ..policy import load_policy_file
from ..service import KeyManager
from ..sqlite_store import SQLiteCatalogue

KNOWN_MODULES = ("keystead", "softhsm2")


def default_catalogue() -> Path:
    """``$XDG_DATA_HOME/keystead/catalogue.db`` (default ``~/.local/share/...``)."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "keystead" / "catalogue.db"


def read_secret(kind: str, env_var: str, path: str | None, confirm: bool = False) -> str:
    """A PIN from ``--*-pin-file`` (first line), else ``env_var``, else a hidden prompt.

    Never from a command-line value. Raises ClickException for an unreadable or empty file.
    """
    if path:
        try:
            text = Path(path).read_text(encoding="utf-8").splitlines()
        except OSError as exc:
            raise click.ClickException(f"cannot read {kind} file {path}: {exc.strerror}") from None
        if not text or not text[0]:
            raise click.ClickException(f"{kind} file {path} is empty")
        return text[0]
    value = os.environ.get(env_var)
    if value:
        return value
    return click.prompt(kind, hide_input=True, confirmation_prompt=confirm)


@dataclass
class AppContext:
    """Global options and the resources built from them (closed when the command ends)."""

    module: str
    catalogue_path: Path
    token_label: str
    pin_file: str | None
    policy_file: str | None = None
    manager_pin_file: str | None = None
    _manager: KeyManager | None = field(default=None, repr=False)

    def module_info(self) -> ModuleInfo:
        """The bridge's ModuleInfo for ``--module`` (raises FileNotFoundError if missing)."""
        from keystead.softhsm_bridge import resolve

        return resolve(self.module)

    def module_name(self) -> str:
        if self.module in KNOWN_MODULES:
            return self.module
        return self.module_info().name

    def module_kind(self) -> str:
        if self.module in KNOWN_MODULES:
            return self.module
        return self.module_info().kind

    def user_pin(self) -> str:
        return read_secret("User PIN", "KEYSTEAD_PIN", self.pin_file)

    def manager_pin(self) -> str:
        """The manager credential of keystead's token (docs/authority.md)."""
        return read_secret("Manager PIN", "KEYSTEAD_MANAGER_PIN", self.manager_pin_file)

    def manager(self, *, token: bool = True) -> KeyManager:
        """A KeyManager on the catalogue; with ``token`` its token port (PIN asked lazily)."""
        if self._manager is None:
            port = None
            if token:
                from .. import open_token

                port = open_token(self.module, self.token_label, self.user_pin,
                                  manager_pin=self.manager_pin)
            policy = load_policy_file(self.policy_file) if self.policy_file else None
            self._manager = KeyManager(
                SQLiteCatalogue(self.catalogue_path), port, clock=clock_from_env(),
                policy=policy, module_name=self.module_name(), token_label=self.token_label)
        return self._manager

    def close(self) -> None:
        if self._manager is not None:
            self._manager.close()
            self._manager = None


pass_app = click.make_pass_decorator(AppContext)
