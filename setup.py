"""Build hook: cffi builds the Python extension; build_ext also links the standalone module.

All build logic lives in native/build.py; this file only wires it into setuptools.
"""

import os
import shutil
import sys

from setuptools import setup
from setuptools.command.build_ext import build_ext

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "native"))
import build as native_build  # noqa: E402


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


setup(
    cffi_modules=["native/build.py:ffibuilder"],
    cmdclass={"build_ext": BuildWithModule},
)
