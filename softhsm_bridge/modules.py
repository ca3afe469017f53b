"""Which PKCS#11 modules the bridge knows, and where their shared objects are.

A module is named ("keystead", "softhsm2") or given by path. :func:`resolve` turns either
into a :class:`ModuleInfo` whose ``kind`` selects the configuration writer
(:mod:`.config`) and the quirks (:mod:`.quirks`); an unknown module by path has kind
"generic": it loads and works, but the bridge cannot write its configuration.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from .errors import BridgeError

KEYSTEAD = "keystead"
SOFTHSM2 = "softhsm2"
GENERIC = "generic"
KNOWN_MODULES = (KEYSTEAD, SOFTHSM2)

KEYSTEAD_MODULE_ENV = "KEYSTEAD_MODULE"
SOFTHSM2_MODULE_ENV = "SOFTHSM2_MODULE"

_SOFTHSM2_CANDIDATES = (
    "/usr/lib/softhsm/libsofthsm2.so",
    "/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so",
    "/usr/local/lib/softhsm/libsofthsm2.so",
    "/usr/lib64/pkcs11/libsofthsm2.so",
    "/usr/lib/pkcs11/libsofthsm2.so",
)


@dataclass(frozen=True)
class ModuleInfo:
    """A PKCS#11 module: a display ``name``, an absolute ``path`` and a ``kind``.

    ``kind`` is one of "keystead", "softhsm2" or "generic".
    """

    name: str
    path: str
    kind: str


def keystead_path() -> str:
    """Absolute path of libkeystead-pkcs11.so.

    ``KEYSTEAD_MODULE`` overrides; otherwise ``keystead.module_path()`` of the installed
    package. Raises FileNotFoundError if the module is not built or installed.
    """
    override = os.environ.get(KEYSTEAD_MODULE_ENV)
    if override:
        if not Path(override).is_file():
            raise FileNotFoundError(f"{KEYSTEAD_MODULE_ENV}={override}: no such file")
        return str(Path(override).resolve())
    try:
        import keystead
    except ImportError as exc:  # pragma: no cover - the bridge is installed inside keystead
        raise FileNotFoundError(f"package keystead is not importable: {exc}") from exc
    module_path = getattr(keystead, "module_path", None)
    if module_path is None:
        raise FileNotFoundError("keystead.module_path() is not available in this build")
    return str(module_path())


def _pkg_config_softhsm2() -> str | None:
    import shutil  # here, with subprocess: start-up time (docs/manager.md)
    import subprocess

    if shutil.which("pkg-config") is None:
        return None
    try:
        out = subprocess.run(
            ["pkg-config", "--variable=libdir", "softhsm2"],
            capture_output=True, text=True, timeout=10, check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    libdir = out.stdout.strip()
    if out.returncode != 0 or not libdir:
        return None
    for candidate in (Path(libdir) / "softhsm" / "libsofthsm2.so", Path(libdir) / "libsofthsm2.so"):
        if candidate.is_file():
            return str(candidate)
    return None


def softhsm2_path() -> str:
    """Absolute path of SoftHSMv2's libsofthsm2.so.

    ``SOFTHSM2_MODULE`` overrides; then the usual Debian/Fedora locations, then pkg-config.
    Raises FileNotFoundError if none exists.
    """
    override = os.environ.get(SOFTHSM2_MODULE_ENV)
    if override:
        if not Path(override).is_file():
            raise FileNotFoundError(f"{SOFTHSM2_MODULE_ENV}={override}: no such file")
        return str(Path(override).resolve())
    for candidate in _SOFTHSM2_CANDIDATES:
        if Path(candidate).is_file():
            return candidate
    found = _pkg_config_softhsm2()
    if found:
        return found
    raise FileNotFoundError("libsofthsm2.so not found (install softhsm2 or set SOFTHSM2_MODULE)")


def kind_of_path(path: str) -> str:
    """Guess a module's kind from its file name; "generic" when it is neither known module."""
    base = Path(path).name.lower()
    if "keystead" in base:
        return KEYSTEAD
    if "softhsm" in base:
        return SOFTHSM2
    return GENERIC


def resolve(name_or_path: str | os.PathLike[str] | None = None) -> ModuleInfo:
    """Resolve "keystead", "softhsm2" or a path to a :class:`ModuleInfo`.

    ``None`` means keystead (the default module). Raises FileNotFoundError if the module's
    file does not exist, BridgeError if a name is neither known nor a path.
    """
    if name_or_path is None:
        name_or_path = KEYSTEAD
    text = os.fspath(name_or_path)
    if text == KEYSTEAD:
        return ModuleInfo(KEYSTEAD, keystead_path(), KEYSTEAD)
    if text == SOFTHSM2:
        return ModuleInfo(SOFTHSM2, softhsm2_path(), SOFTHSM2)
    if os.sep not in text and not text.endswith(".so"):
        raise BridgeError(f"unknown module {text!r}: use one of {KNOWN_MODULES} or a path")
    path = Path(text)
    if not path.is_file():
        raise FileNotFoundError(f"PKCS#11 module {text}: no such file")
    kind = kind_of_path(text)
    return ModuleInfo(kind if kind != GENERIC else path.name, str(path.resolve()), kind)
