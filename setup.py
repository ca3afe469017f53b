"""Build hook: cffi builds the Python extension; build_ext also links the standalone module.

All build logic lives in native/build.py; this file only wires it into setuptools.
"""

import json
import os
import shutil
import subprocess
import sys

from setuptools import setup
from setuptools.command.build_ext import build_ext

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "native"))
import build as native_build  # noqa: E402


def _source_commit() -> str:
    """The commit of the source tree being built, "+dirty" when it has uncommitted changes,
    or "unknown" outside a git checkout (benchmark reports name it)."""
    here = os.path.dirname(os.path.abspath(__file__))
    try:
        commit = subprocess.run(["git", "-C", here, "rev-parse", "--short=12", "HEAD"],
                                capture_output=True, text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", here, "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return commit + ("+dirty" if dirty else "")


class BuildWithModule(build_ext):
    """Build the cffi extension, then libkeystead-pkcs11.so beside it."""

    def run(self) -> None:
        super().run()
        out_dir = os.path.join(self.build_lib, "keystead")
        if self.inplace:
            out_dir = os.path.join("native", "keystead")
        os.makedirs(out_dir, exist_ok=True)
        native_build.build_module(os.path.join(out_dir, native_build.MODULE_NAME),
                                  tmp_dir=os.path.join(self.build_temp, "module"))
        # The PKCS#11 declarations travel with the package: the bridge's raw layer loads any
        # module with them (softhsm_bridge/raw.py).
        shutil.copyfile(os.path.join("native", "include", "pkcs11.cdef"),
                        os.path.join(out_dir, "pkcs11.cdef"))
        # ... and parsed once here, so that no command parses them on start.
        native_build.emit_pkcs11_ffi(os.path.join(out_dir, "_pkcs11_ffi.py"))
        with open(os.path.join(out_dir, "build_info.json"), "w", encoding="utf-8") as f:
            json.dump({"commit": _source_commit()}, f)


setup(
    cffi_modules=["native/build.py:ffibuilder"],
    cmdclass={"build_ext": BuildWithModule},
)
