"""keystead: a PKCS#11 3.0 software HSM and a NIST SP 800-57 key manager.

The installed package holds the standalone module ``libkeystead-pkcs11.so`` (see
:func:`module_path`), the cffi extension ``keystead._core`` (see :mod:`keystead.core`), the
bridge to any PKCS#11 module (:mod:`keystead.softhsm_bridge`) and the key manager
(:mod:`keystead.manager`).
"""

from __future__ import annotations

import json
import os
from importlib import metadata

MODULE_NAME = "libkeystead-pkcs11.so"

try:
    __version__ = metadata.version("keystead")
except metadata.PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0+unknown"


def module_path() -> str:
    """Return the absolute path of the installed PKCS#11 module.

    ``KEYSTEAD_MODULE`` in the environment overrides it (for sanitizer builds).
    Raises FileNotFoundError when the module was not built.
    """
    override = os.environ.get("KEYSTEAD_MODULE")
    path = override or os.path.join(os.path.dirname(os.path.abspath(__file__)), MODULE_NAME)
    if not os.path.isfile(path):
        raise FileNotFoundError(
            f"keystead's PKCS#11 module is not at {path}: install with `pip install .`"
        )
    return path


def build_commit() -> str:
    """The commit this package was built from ("+dirty" when the tree had uncommitted
    changes), or "unknown" (built outside a git checkout, or never built)."""
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "build_info.json")
    try:
        with open(path, encoding="utf-8") as f:
            return str(json.load(f)["commit"])
    except (OSError, ValueError, KeyError):
        return "unknown"


__all__ = ["MODULE_NAME", "__version__", "build_commit", "module_path"]
