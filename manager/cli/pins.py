"""Which PIN each command needs: one table, shown in every command's help and checked
against docs/manager.md ("Which command needs which PIN") by the tests.

Using a key and governing it are separate rights (docs/authority.md): commands that only use
keys log in with the user PIN, as an application does; commands that change keys (create,
state, limits, rotation, destruction, overrides) log in with the manager PIN on keystead's
token (another token has only the user PIN, which then serves both).
"""

from __future__ import annotations

import inspect

import click

NONE = "none"
USER = "user PIN"
MANAGER = "manager PIN (user PIN on other tokens)"
SO = "SO PIN"

#: Command path (as typed after ``keystead``) -> the PIN it needs.
PINS: dict[str, str] = {
    "init": NONE,
    "token init": f"{SO}; sets the user PIN and, on keystead's token, the manager PIN",
    "token manager-pin": f"{SO}; sets the manager PIN",
    "token list": NONE,
    "key create": MANAGER,
    "key list": NONE,
    "key show": f"{NONE}; with --usage the {USER}",
    "key activate": MANAGER,
    "key suspend": MANAGER,
    "key resume": MANAGER,
    "key deactivate": MANAGER,
    "key compromise": MANAGER,
    "key destroy": MANAGER,
    "key cancel-destroy": NONE,
    "key rotate": MANAGER,
    "key affected": NONE,
    "key policy table": NONE,
    "key policy show": NONE,
    "key policy set": NONE,
    "rotate": f"{MANAGER}; {NONE} with --dry-run",
    "audit show": NONE,
    "audit verify": f"{USER} on keystead's token (its own trail); {NONE} with --no-token "
                    "or on another token",
    "encrypt": USER,
    "decrypt": f"{USER}; with --override the {MANAGER}",
    "datakey": USER,
    "rewrap": USER,
    "sign": USER,
    "verify": f"{USER}; with --override the {MANAGER}",
    "key export-public": USER,
    "doctor": f"{USER}; with --repair the {MANAGER}",
    "module-path": NONE,
    "bench": NONE,
}


def leaf_commands(group: click.Group, prefix: str = "") -> dict[str, click.Command]:
    """Every runnable command under ``group``, by path."""
    out: dict[str, click.Command] = {}
    for name, command in group.commands.items():
        path = f"{prefix}{name}"
        if isinstance(command, click.Group):
            out.update(leaf_commands(command, path + " "))
        else:
            out[path] = command
    return out


def annotate(group: click.Group) -> None:
    """Append "PIN: ..." to the help of every command in :data:`PINS`."""
    for path, command in leaf_commands(group).items():
        pin = PINS.get(path)
        if pin is not None:
            text = inspect.cleandoc(command.help or "")
            command.help = f"{text}\n\nPIN: {pin}."
