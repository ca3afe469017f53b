"""keystead: a PKCS#11 3.0 software HSM and a NIST SP 800-57 key manager.

The installed package holds the standalone module ``libkeystead-pkcs11.so`` (see
:func:`module_path`), the cffi extension ``keystead._core`` (see :mod:`keystead.core`), the
bridge to any PKCS#11 module (:mod:`keystead.softhsm_bridge`) and the key manager
(:mod:`keystead.manager`).
"""

from __future__ import annotations

import os

MODULE_NAME = "libkeystead-pkcs11.so"


def __getattr__(name: str) -> str:
    """``__version__``, read from the package metadata on first use (importlib.metadata
    costs tens of milliseconds, which every ``keystead`` command would pay at start)."""
    if name != "__version__":
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from importlib import metadata

    try:
        version = metadata.version("keystead")
    except metadata.PackageNotFoundError:  # a source tree that was never installed
        version = "0+unknown"
    globals()["__version__"] = version
    return version


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
    import json

    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "build_info.json")
    try:
        with open(path, encoding="utf-8") as f:
            return str(json.load(f)["commit"])
    except (OSError, ValueError, KeyError):
        return "unknown"


__all__ = ["MODULE_NAME", "__version__", "build_commit", "module_path"]
