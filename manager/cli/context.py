"""The object every command receives: global options, PIN sources, the catalogue and a
lazily built manager.

Where the token is comes from the catalogue (``keystead init`` records it); ``--module`` and
``--token`` (or their environment variables) override it. Every command but ``init`` refuses
a missing catalogue, and the token directory is checked before the module is loaded.
"""

from __future__ import annotations

import os
import sqlite3
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import click

from ..clock import clock_from_env
from ..errors import SetupError
from ..policy import load_policy_file
from ..service import KeyManager
from ..sqlite_store import SQLiteCatalogue
from ..tokendir import require_token_dir

if TYPE_CHECKING:
    import tempfile

    from keystead.softhsm_bridge.modules import ModuleInfo

#: The environment variable naming each module kind's configuration file.
CONF_ENV = {"keystead": "KEYSTEAD_CONF", "softhsm2": "SOFTHSM2_CONF"}

KNOWN_MODULES = ("keystead", "softhsm2")

#: Set by the console script (:func:`keystead.manager.cli.main`): the process is the
#: ``keystead`` command alone, so modules are loaded through the bridge's raw layer without
#: python-pkcs11 (start-up time, docs/manager.md). Not set when the group runs inside
#: another program (tests, click's runner), which may use python-pkcs11 itself.
RAW_ONLY_PROCESS = [False]
DEFAULT_MODULE = "keystead"
DEFAULT_TOKEN = "keystead"


def default_catalogue() -> Path:
    """``$XDG_DATA_HOME/keystead/catalogue.db`` (default ``~/.local/share/...``)."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "keystead" / "catalogue.db"


def has_terminal() -> bool:
    """True when a person can be asked (stdin is a terminal)."""
    try:
        return sys.stdin is not None and sys.stdin.isatty()
    except (AttributeError, ValueError):
        return False


def read_secret(kind: str, env_var: str, path: str | None, confirm: bool = False,
                option: str | None = None) -> str:
    """A PIN from ``--*-pin-file`` (first line), else ``env_var``, else a hidden prompt when
    there is a terminal.

    Never from a command-line value. Raises ClickException for an unreadable or empty file,
    and SetupError when the PIN is needed and there is no terminal to ask on (cron).
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
    if not has_terminal():
        option = option or ("--so-pin-file" if "SO_PIN" in env_var else "--pin-file")
        what = kind if kind[:2].isupper() else kind[0].lower() + kind[1:]  # "SO PIN" stays
        raise SetupError(f"the {what} is needed and there is no terminal to ask on: give "
                         f"`keystead {option} FILE COMMAND ...` (before the command) or set "
                         f"{env_var}")
    return click.prompt(kind, hide_input=True, confirmation_prompt=confirm)


def follow_recorded_location(kind: str, settings: dict[str, str]) -> None:
    """Point this process's module at the token directory ``keystead init`` recorded, unless
    the environment names a configuration file itself (which then wins).

    The recorded configuration file goes into the module's variable (``KEYSTEAD_CONF``,
    ``SOFTHSM2_CONF``). keystead's default directory, ``$XDG_DATA_HOME/keystead/tokens``,
    depends on the environment, so a cron job without the ``XDG_DATA_HOME`` of the shell
    that ran init would look elsewhere: the recorded default is kept by setting
    ``XDG_DATA_HOME`` for this process to the base it came from (docs/manager.md).
    """
    var = CONF_ENV.get(kind)
    if not var or os.environ.get(var):
        return
    recorded = settings.get("config")
    if recorded:
        os.environ[var] = recorded  # where `keystead init` found the token (cron)
        return
    token_dir = Path(settings.get("token_dir") or "")
    if kind == "keystead" and token_dir.is_absolute() and \
            token_dir.parts[-2:] == ("keystead", "tokens"):
        os.environ["XDG_DATA_HOME"] = str(token_dir.parent.parent)


@dataclass
class AppContext:
    """Global options and the resources built from them (closed when the command ends)."""

    module: str | None
    catalogue_path: Path
    token_label_option: str | None
    pin_file: str | None
    policy_file: str | None = None
    json: bool = False
    drill: bool = False
    manager_pin_file: str | None = None
    _manager: KeyManager | None = field(default=None, repr=False)
    _catalogue: SQLiteCatalogue | None = field(default=None, repr=False)
    _drill_dir: tempfile.TemporaryDirectory | None = field(default=None, repr=False)
    _key_home: tuple[str | None, str] | None = field(default=None, repr=False)

    # ---- the catalogue and what init recorded in it
    def catalogue(self) -> SQLiteCatalogue:
        """The catalogue (a private copy in drill mode). Raises SetupError when missing."""
        if self._catalogue is None:
            if self.drill:
                self._catalogue = self._drill_copy()
            else:
                self._catalogue = SQLiteCatalogue(self.catalogue_path)
        return self._catalogue

    def _drill_copy(self) -> SQLiteCatalogue:
        real = SQLiteCatalogue(self.catalogue_path)
        click.echo("drill mode: working on a copy of the catalogue; nothing real is written",
                   err=True)
        import tempfile  # here: start-up time (docs/manager.md)

        self._drill_dir = tempfile.TemporaryDirectory(prefix="keystead-drill-")
        copy = Path(self._drill_dir.name) / "catalogue.db"
        try:
            dest = sqlite3.connect(str(copy))
            with dest:
                real.conn.backup(dest)
            dest.close()
        finally:
            real.close()
        return SQLiteCatalogue(copy)

    def settings(self) -> dict[str, str]:
        return self.catalogue().settings()

    @property
    def module_choice(self) -> str:
        if self.module:
            return self.module
        if self._key_home is not None and self._key_home[0]:
            return self._key_home[0]
        return self.settings().get("module") or DEFAULT_MODULE

    @property
    def token_label(self) -> str:
        if self.token_label_option:
            return self.token_label_option
        if self._key_home is not None:
            return self._key_home[1]
        return self.settings().get("token") or DEFAULT_TOKEN

    def use_token_of(self, key_name: str) -> None:
        """Let the catalogue say where key ``key_name`` lives (decrypt finds its token);
        ``--module`` / ``--token`` still win."""
        if self._manager is not None:
            return
        with self.catalogue().snapshot() as tx:
            key = tx.key_by_name(key_name)
        if key is not None:
            module = key.module if key.module in KNOWN_MODULES else None
            self._key_home = (module, key.token_label)

    def module_info(self) -> ModuleInfo:
        """The bridge's ModuleInfo for the module, after checking its token directory exists
        (raises SetupError, or FileNotFoundError for a missing module file)."""
        from keystead.softhsm_bridge import raw_only_process, resolve

        if RAW_ONLY_PROCESS[0]:
            raw_only_process()
        info = resolve(self.module_choice)
        settings = self.settings()
        if self.module is None or self.module == settings.get("module"):
            follow_recorded_location(info.kind, settings)
        require_token_dir(info.kind)
        return info

    def module_name(self) -> str:
        if self.module_choice in KNOWN_MODULES:
            return self.module_choice
        from keystead.softhsm_bridge import resolve

        return resolve(self.module_choice).name

    def module_kind(self) -> str:
        if self.module_choice in KNOWN_MODULES:
            return self.module_choice
        from keystead.softhsm_bridge import resolve

        return resolve(self.module_choice).kind

    def user_pin(self) -> str:
        return read_secret("User PIN", "KEYSTEAD_PIN", self.pin_file)

    def manager_pin(self) -> str:
        """The manager credential of keystead's token (docs/authority.md)."""
        return read_secret("Manager PIN", "KEYSTEAD_MANAGER_PIN", self.manager_pin_file,
                           option="--manager-pin-file")

    def manager(self, *, token: bool = True, governing: bool = True) -> KeyManager:
        """A KeyManager on the catalogue; with ``token`` its token port (PIN asked lazily).

        ``governing``: the command changes keys (create, state, limits, rotation, destroy,
        overrides), so on keystead's token the port logs in with the manager PIN. Commands
        that only use keys (encrypt, decrypt, datakey, rewrap, reading counters) pass False
        and log in with the user PIN, as an application does (docs/manager.md, "PINs").
        In drill mode the manager works on a copy of the catalogue and never on the token.
        """
        if self._manager is None:
            clock = clock_from_env(drill=self.drill)
            catalogue = self.catalogue()
            port = None
            if token:
                if self.drill:
                    raise SetupError("drill mode writes nothing real: this command needs the "
                                     "token (run it without --drill)")
                from .. import open_token

                port = open_token(self.module_info(), self.token_label, self.user_pin,
                                  manager_pin=self.manager_pin if governing else None)
            policy = load_policy_file(self.policy_file) if self.policy_file else None
            self._manager = KeyManager(
                catalogue, port, clock=clock, policy=policy, module_name=self.module_name(),
                token_label=self.token_label)
        return self._manager

    def close(self) -> None:
        if self._manager is not None:
            self._manager.close()
            self._manager = None
            self._catalogue = None
        if self._catalogue is not None:
            self._catalogue.close()
            self._catalogue = None
        if self._drill_dir is not None:
            self._drill_dir.cleanup()
            self._drill_dir = None


pass_app = click.make_pass_decorator(AppContext)
