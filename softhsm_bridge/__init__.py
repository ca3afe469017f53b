"""keystead.softhsm_bridge: the Python side's one door to any PKCS#11 module.

- :mod:`.modules`: ``resolve("keystead" | "softhsm2" | path) -> ModuleInfo``
- :mod:`.config`: token directory + configuration file per module kind
- :mod:`.provision`: ``provision(module, token_dir, label, so_pin, user_pin) -> Token``
  (the package exports no name that is also one of its submodules: import ``provision``
  from :mod:`.provision`)
- :mod:`.session`: python-pkcs11 sessions that never leak logins or handles
- :mod:`.raw`: cffi ABI-mode access to every function and every raw CK_RV
- :mod:`.errors`: one exception class per CK_RV
- :mod:`.quirks`: each module's known deviations from PKCS#11 3.0, as data

See README.md in this folder for the API summary.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .config import TokenEnv, make_token_env, write_config
    from .errors import BridgeError, BridgeInternalError, PKCS11Error, rv_name, rv_of
    from .modules import ModuleInfo, resolve
    from .provision import Token, attach, find_slot, load, prepare, raw_only_process
    from .session import close_session, open_session, pkcs11_lib, pkcs11_token, session_scope

#: Each exported name and the submodule defining it. Loaded on first use (PEP 562): a
#: command that never touches a token must not pay for python-pkcs11 and the raw layer.
_EXPORTS = {
    **dict.fromkeys(("TokenEnv", "make_token_env", "write_config"), "config"),
    **dict.fromkeys(("BridgeError", "BridgeInternalError", "PKCS11Error", "rv_name", "rv_of"),
                    "errors"),
    **dict.fromkeys(("ModuleInfo", "resolve"), "modules"),
    **dict.fromkeys(("Token", "attach", "find_slot", "load", "prepare", "raw_only_process"),
                    "provision"),
    **dict.fromkeys(("close_session", "open_session", "pkcs11_lib", "pkcs11_token",
                     "session_scope"), "session"),
}


def __getattr__(name: str) -> Any:
    where = _EXPORTS.get(name)
    if where is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{where}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_EXPORTS})


__all__ = [
    "BridgeError", "BridgeInternalError", "ModuleInfo", "PKCS11Error", "Token", "TokenEnv",
    "attach", "close_session", "find_slot", "load", "make_token_env", "open_session", "pkcs11_lib",
    "pkcs11_token", "prepare", "raw_only_process", "resolve", "rv_name", "rv_of",
    "session_scope",
    "write_config",
]
