"""The native core as seen from Python, through the cffi extension ``keystead._core``.

Importing this module refuses a stale build: the extension carries the version it was
compiled for, and it must equal the installed distribution's version.
"""

from __future__ import annotations

from typing import Any

from keystead import __version__


class StaleBuildError(ImportError):
    """The compiled extension does not belong to this version of keystead."""


def _load() -> tuple[Any, Any]:
    from keystead import _core  # type: ignore[attr-defined]

    built = _core.ffi.string(_core.lib.ks_core_build_version()).decode()
    if __version__ != "0+unknown" and built != __version__:
        raise StaleBuildError(
            f"keystead._core was built for {built}, but keystead {__version__} is installed: "
            "reinstall with `pip install .`"
        )
    return _core.ffi, _core.lib


ffi, lib = _load()

__all__ = ["StaleBuildError", "ffi", "lib"]
