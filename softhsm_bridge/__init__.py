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

from .config import TokenEnv, make_token_env, write_config
from .errors import BridgeError, BridgeInternalError, PKCS11Error, rv_name, rv_of
from .modules import ModuleInfo, resolve
from .provision import Token, attach, find_slot, load, prepare
from .session import close_session, open_session, pkcs11_lib, pkcs11_token, session_scope

__all__ = [
    "BridgeError", "BridgeInternalError", "ModuleInfo", "PKCS11Error", "Token", "TokenEnv",
    "attach", "close_session", "find_slot", "load", "make_token_env", "open_session", "pkcs11_lib",
    "pkcs11_token", "prepare", "resolve", "rv_name", "rv_of", "session_scope",
    "write_config",
]
