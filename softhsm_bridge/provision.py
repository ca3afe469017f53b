"""Load a module once per process, provision a token in it, find the token again.

Both known modules read their configuration (which token directory) in C_Initialize, and
the module is initialised once per process for python-pkcs11 and the raw layer together
(:mod:`.raw`). So :func:`prepare` selects the configuration and must run before the module
is first loaded; asking for a different token directory afterwards raises BridgeError
(use a subprocess for another directory).
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from pathlib import Path

from . import raw as raw_layer
from .ck import CKF_TOKEN_INITIALIZED, CKU_SO
from .config import CONF_ENV, TokenEnv, write_config
from .errors import CKR_OK, BridgeError, UserAlreadyLoggedIn, check
from .modules import ModuleInfo, resolve

DEFAULT_SO_PIN = "12345678"
DEFAULT_USER_PIN = "87654321"

# module path -> configuration file it was loaded with ("" for the module's default)
_LOADED_WITH: dict[str, str] = {}
# module paths initialised by the raw layer alone: python-pkcs11 can no longer share them
_RAW_ONLY: set[str] = set()
# module paths python-pkcs11 initialised (the raw layer shares them)
_WITH_PYTHON_PKCS11: set[str] = set()
_PYTHON_PKCS11_FIRST = [True]


def raw_only_process(raw_only: bool = True) -> None:
    """Declare that this process reaches PKCS#11 modules through the raw layer only (the
    ``keystead`` command does): :func:`load` then stops loading python-pkcs11 first, which
    saves its import (tens of milliseconds) on every command that uses a token. Call it
    before the first load; afterwards :func:`.session.pkcs11_lib` refuses a module the raw
    layer initialised alone (python-pkcs11 cannot share an initialised module)."""
    _PYTHON_PKCS11_FIRST[0] = not raw_only
_LOAD_LOCK = threading.Lock()  # first loads from several threads initialise once


@dataclass(frozen=True)
class Token:
    """A provisioned token: where it is and how to log in.

    ``slot_id`` is the slot the token had when provisioned in this process; SoftHSMv2
    renumbers slots between processes, so code in another process finds the token by
    ``serial`` (:func:`find_slot`).
    """

    module: ModuleInfo
    slot_id: int
    label: str
    serial: str
    so_pin: str
    user_pin: str
    token_env: TokenEnv | None = None


def _as_info(module: ModuleInfo | str | os.PathLike[str]) -> ModuleInfo:
    return module if isinstance(module, ModuleInfo) else resolve(module)


def prepare(
    module: ModuleInfo | str | os.PathLike[str],
    token_dir: str | os.PathLike[str] | None = None,
    **options: str,
) -> tuple[ModuleInfo, TokenEnv | None]:
    """Select ``token_dir`` for ``module`` (writing its configuration) before first load.

    With ``token_dir`` None the module's current environment is used as it is. Returns
    the module and the TokenEnv written (None if none). Raises BridgeError if the module
    is already loaded in this process with another configuration, or if ``token_dir`` is
    given for a module whose configuration format is unknown.
    """
    info = _as_info(module)
    if token_dir is None:
        return info, None
    if info.kind not in CONF_ENV:
        raise BridgeError(f"cannot point {info.name} at {token_dir}: unknown configuration format")
    tdir = Path(token_dir).resolve()
    conf = tdir.with_name(f"{tdir.name}.{info.kind}.conf")
    loaded = _LOADED_WITH.get(info.path)
    if loaded is not None and loaded != str(conf):
        raise BridgeError(
            f"{info.name} is already loaded in this process with {loaded or 'its default'}; "
            f"a second token directory needs a subprocess"
        )
    env = write_config(info.kind, tdir, conf, **options)
    env.apply()
    return info, env


def load(module: ModuleInfo | str | os.PathLike[str],
         python_pkcs11: bool | None = None) -> raw_layer.RawModule:
    """The process's initialised :class:`~.raw.RawModule` for ``module``; records which
    configuration it was loaded with.

    python-pkcs11 is loaded first (unless ``python_pkcs11`` is False, or None in a
    :func:`raw_only_process`): its ``lib()`` treats CKR_CRYPTOKI_ALREADY_INITIALIZED as an
    error, while the raw layer accepts it, and both share the one loaded module. Raises
    BridgeError when python-pkcs11 is asked for a module the raw layer initialised alone.
    """
    info = _as_info(module)
    want = _PYTHON_PKCS11_FIRST[0] if python_pkcs11 is None else python_pkcs11
    with _LOAD_LOCK:
        if info.path not in _LOADED_WITH:
            _LOADED_WITH[info.path] = os.environ.get(CONF_ENV.get(info.kind, ""), "")
        if want and info.path not in _WITH_PYTHON_PKCS11:
            if info.path in _RAW_ONLY:
                raise BridgeError(f"{info.name} was initialised by the raw layer alone in this "
                                  "process (raw_only_process); python-pkcs11 cannot share it")
            import pkcs11  # here, not at the top: commands that never load a module skip it

            pkcs11.lib(info.path)
            _WITH_PYTHON_PKCS11.add(info.path)
        elif not want and info.path not in _WITH_PYTHON_PKCS11:
            _RAW_ONLY.add(info.path)
        return raw_layer.open_raw(info.path)


def find_slot(module: ModuleInfo | str | os.PathLike[str], serial: str) -> int:
    """The slot now holding the token with ``serial``; BridgeError if none does."""
    r = load(module)
    for slot in r.slot_list(token_present=True):
        if r.token_info(slot)["serial"] == serial:
            return slot
    raise BridgeError(f"no token with serial {serial!r} in {_as_info(module).name}")


def free_slot(module: ModuleInfo | str | os.PathLike[str]) -> int:
    """A slot holding an uninitialised token (keystead and SoftHSMv2 always keep one)."""
    r = load(module)
    for slot in r.slot_list(token_present=True):
        if not r.token_info(slot)["flags"] & CKF_TOKEN_INITIALIZED:
            return slot
    raise BridgeError(f"{_as_info(module).name} offers no slot with an uninitialised token")


def provision(
    module: ModuleInfo | str | os.PathLike[str],
    token_dir: str | os.PathLike[str] | None = None,
    label: str = "keystead-test",
    so_pin: str = DEFAULT_SO_PIN,
    user_pin: str = DEFAULT_USER_PIN,
) -> Token:
    """Initialise a fresh token labelled ``label`` and set its user PIN.

    Steps: select ``token_dir`` (see :func:`prepare`), take a slot with an uninitialised
    token, C_InitToken with ``so_pin``, log in as SO in a RW session, C_InitPIN with
    ``user_pin``, log out, close the session. Works for any module whose free slot
    follows the "one fresh token" convention. Raises BridgeError when no free slot exists
    and the mapped PKCS11Error when the module refuses a step.
    """
    info, env = prepare(module, token_dir)
    r = load(info)
    slot = free_slot(info)
    r.init_token(slot, so_pin, label)
    serial = r.token_info(slot)["serial"]
    slot = find_slot(info, serial)
    session = r.open_session(slot, rw=True)
    try:
        rv = r.login(session, CKU_SO, so_pin)
        if rv not in (CKR_OK, UserAlreadyLoggedIn.rv):
            check(rv, "C_Login(SO)")
        r.init_pin(session, user_pin)
        check(r.logout(session), "C_Logout")
    finally:
        r.close_session(session)
    return Token(info, slot, label, serial, so_pin, user_pin, env)



def attach(
    module: ModuleInfo | str | os.PathLike[str],
    label: str | None = None,
    serial: str | None = None,
    so_pin: str = DEFAULT_SO_PIN,
    user_pin: str = DEFAULT_USER_PIN,
    token_dir: str | os.PathLike[str] | None = None,
) -> Token:
    """A :class:`Token` for an already initialised token, found by ``serial`` or ``label``
    (e.g. in a new process, or one provisioned by pkcs11-tool). PINs are not checked here.

    Raises BridgeError when no initialised token matches, or when ``label`` matches more
    than one token (pass ``serial`` then).
    """
    info, env = prepare(module, token_dir)
    r = load(info)
    matches = []
    for slot in r.slot_list(token_present=True):
        ti = r.token_info(slot)
        if not ti["flags"] & CKF_TOKEN_INITIALIZED:
            continue
        if (serial is None or ti["serial"] == serial) and (label is None or ti["label"] == label):
            matches.append((slot, ti))
    if len(matches) != 1:
        what = f"serial={serial!r} label={label!r}"
        raise BridgeError(f"{len(matches)} initialised tokens match {what} in {info.name}")
    slot, ti = matches[0]
    return Token(info, slot, ti["label"], ti["serial"], so_pin, user_pin, env)
