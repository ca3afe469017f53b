"""The one build script of the native core.

KEYSTEAD_SANITIZE=1 or KEYSTEAD_COVERAGE=1 in the environment of ``pip install`` builds both
artefacts instrumented (scripts/sanitize.sh, scripts/coverage.sh).

It produces two artefacts from the same C sources (crypto/, token/, p11/):

* ``libkeystead-pkcs11.so``: the standalone PKCS#11 module, linked against libcrypto,
  SQLite and pthreads only (no libpython), loaded by any PKCS#11 consumer;
* ``keystead._core``: a cffi extension exposing the native core (primitives and vendor
  functions, declared in the ``*.cdef`` files under native/) to Python.

Run directly for development builds::

    python native/build.py module OUT.so [--sanitize] [--debug] [--coverage]
    python native/build.py bench [SECONDS]    # build and run native/bench/bench_core.c
"""

from __future__ import annotations

import glob
import os
import re
import subprocess
import sys

from cffi import FFI

HERE = os.path.dirname(os.path.abspath(__file__))
MODULE_NAME = "libkeystead-pkcs11.so"
SUBDIRS = ("crypto", "token", "p11")
LIBRARIES = ["crypto", "sqlite3", "pthread"]
WARNINGS = ["-Wall", "-Wextra", "-Werror", "-Wshadow", "-Wvla", "-Wformat=2"]
COMMON_FLAGS = [
    "-std=c11",
    "-D_GNU_SOURCE",
    "-fvisibility=hidden",
    "-fno-strict-aliasing",
    "-fstack-protector-strong",
    "-D_FORTIFY_SOURCE=2",
    *WARNINGS,
]


def sources(relative: bool = False) -> list[str]:
    """All C sources of the core, sorted, as absolute paths (or relative to the repo root)."""
    found: list[str] = []
    for sub in SUBDIRS:
        found.extend(sorted(glob.glob(os.path.join(HERE, sub, "*.c"))))
    if relative:
        root = os.path.dirname(HERE)
        found = [os.path.relpath(p, root) for p in found]
    return found


def include_dirs() -> list[str]:
    return [HERE, os.path.join(HERE, "include")]


def version() -> str:
    with open(os.path.join(os.path.dirname(HERE), "pyproject.toml"), encoding="utf-8") as f:
        match = re.search(r'^version = "([^"]+)"', f.read(), re.M)
    if match is None:
        raise RuntimeError("no version in pyproject.toml")
    return match.group(1)


#: Set by scripts/coverage.sh: both artefacts built with gcov instrumentation.
COVERAGE = os.environ.get("KEYSTEAD_COVERAGE") == "1"


def flags(debug: bool = False, sanitize: bool = False, coverage: bool = False) -> list[str]:
    out = [*COMMON_FLAGS, f'-DKS_VERSION_STRING="{version()}"']
    if coverage:
        # atomic counters: the module's threads (bulk workers, the flusher, the tests' own)
        # would otherwise race on them and gcov reads negative counts
        out += ["-O0", "-g", "--coverage", "-fprofile-update=atomic", "-U_FORTIFY_SOURCE"]
    elif sanitize:
        out += ["-O1", "-g", "-fsanitize=address,undefined", "-fno-omit-frame-pointer",
                "-fno-sanitize-recover=undefined", "-U_FORTIFY_SOURCE",
                "-DKS_COPYOUT_CHECK"]  # each caller byte written once (crypto/copyout.h)
    elif debug:
        out += ["-O0", "-g", "-U_FORTIFY_SOURCE"]
    else:
        out += ["-O2", "-g"]
    return out


def build_module(out_path: str, tmp_dir: str | None = None, debug: bool = False,
                 sanitize: bool = False, cc: str | None = None,
                 extra_flags: tuple[str, ...] = (), coverage: bool = COVERAGE) -> str:
    """Compile and link the standalone PKCS#11 module at out_path; return out_path.
    extra_flags go to every compilation (e.g. -DKS_COPYOUT_CHECK).

    Raises subprocess.CalledProcessError when the compiler or linker fails.
    """
    cc = cc or os.environ.get("CC", "cc")
    tmp_dir = tmp_dir or os.path.join(HERE, "..", "build", "module")
    os.makedirs(tmp_dir, exist_ok=True)
    cflags = [*flags(debug, sanitize, coverage), "-fPIC", *[f"-I{d}" for d in include_dirs()],
              "-DKS_BUILD_MODULE=1", *extra_flags]
    objects = []
    for src in sources():
        rel = os.path.relpath(src, HERE).replace(os.sep, "_")
        obj = os.path.join(tmp_dir, rel[:-2] + ".o")
        subprocess.run([cc, *cflags, "-c", src, "-o", obj], check=True)
        objects.append(obj)
    ldflags = ["-shared", "-Wl,-z,defs", "-Wl,-z,now", "-Wl,-z,relro",
               f"-Wl,--version-script={os.path.join(HERE, 'p11', 'exports.map')}"]
    if sanitize:
        ldflags.append("-fsanitize=address,undefined")
    if coverage:
        ldflags.append("--coverage")
    subprocess.run([cc, *ldflags, "-o", out_path, *objects, *[f"-l{lib}" for lib in LIBRARIES]],
                   check=True)
    return out_path


_PROTOTYPE = re.compile(r"^CK_RV\s+C_\w+\s*\([^;]*\);", re.M | re.S)


def cdef_text() -> str:
    """The declarations cffi exposes: every *.cdef file under native/, in a stable order."""
    parts = []
    for path in sorted(glob.glob(os.path.join(HERE, "**", "*.cdef"), recursive=True)):
        with open(path, encoding="utf-8") as f:
            text = f.read()
        if os.path.basename(path) == "pkcs11.cdef":
            # Types and constants only: Python reaches the entry points through the function
            # list (ks_core_function_list), never by linking C_* symbols directly.
            text = _PROTOTYPE.sub("", text)
        parts.append(text)
    return "\n".join(parts)


#: The bridge's PKCS#11 declarations, parsed at build time (out-of-line ABI mode).
PKCS11_FFI_MODULE = "keystead._pkcs11_ffi"
_GET_FUNCTION_LIST = "CK_RV C_GetFunctionList(CK_FUNCTION_LIST **ppFunctionList);"


def emit_pkcs11_ffi(out_path: str) -> str:
    """Write ``out_path``: the module ``keystead._pkcs11_ffi`` whose ``ffi`` holds
    include/pkcs11.cdef already parsed (cffi's out-of-line ABI mode), so that the bridge's raw
    layer (softhsm_bridge/raw.py) does not parse 1,900 lines of declarations on every start."""
    with open(os.path.join(HERE, "include", "pkcs11.cdef"), encoding="utf-8") as f:
        text = f.read()
    ffi = FFI()
    ffi.cdef(text)
    if "C_GetFunctionList" not in text:
        ffi.cdef(_GET_FUNCTION_LIST)
    ffi.set_source(PKCS11_FFI_MODULE, None)
    ffi.emit_python_code(out_path)
    return out_path


def make_ffibuilder(sanitize: bool = False, coverage: bool = False) -> FFI:
    ffi = FFI()
    ffi.cdef(cdef_text())
    ffi.set_source(
        "keystead._core",
        '#include "include/ks_core.h"\n'
        f'const char *ks_core_build_version(void) {{ return "{version()}"; }}\n',
        sources=sources(relative=True),
        include_dirs=include_dirs(),
        libraries=LIBRARIES,
        # Not KS_COPYOUT_CHECK: its "written once per call" ends a call at the PKCS#11 front's
        # exit, and the tests drive the token layer's functions directly through this
        # extension (no front, so no call boundary). The sanitized module keeps the check.
        extra_compile_args=[*(f for f in flags(sanitize=sanitize, coverage=coverage)
                              if f != "-DKS_COPYOUT_CHECK"),
                            "-Wno-unused-parameter", "-Wno-shadow", "-Wno-error"],
        extra_link_args=(["-fsanitize=address,undefined"] if sanitize else [])
        + (["--coverage"] if coverage else []),
    )
    return ffi


ffibuilder = make_ffibuilder(sanitize=os.environ.get("KEYSTEAD_SANITIZE") == "1",
                             coverage=COVERAGE)


def build_bench(out_path: str, source: str = "bench_core.c", cc: str | None = None,
                folder: str = "bench") -> str:
    """Compile native/<folder>/<source> with the crypto sources into out_path; return it.

    Used for bench/bench_core.c (``bench`` verb) and ct/ctgrind_*.c (the constant-time
    tests).
    Raises subprocess.CalledProcessError when the compiler fails.
    """
    cc = cc or os.environ.get("CC", "cc")
    os.makedirs(os.path.dirname(os.path.abspath(out_path)), exist_ok=True)
    crypto = sorted(glob.glob(os.path.join(HERE, "crypto", "*.c")))
    subprocess.run([cc, *flags(), *[f"-I{d}" for d in include_dirs()], "-o", out_path,
                    os.path.join(HERE, folder, source), *crypto, "-lcrypto", "-lpthread"],
                   check=True)
    return out_path


def main(argv: list[str]) -> int:
    if argv and argv[0] == "bench":
        exe = build_bench(os.path.join(HERE, "..", "build", "bench", "bench_core"))
        return subprocess.run([exe, *argv[1:2]], check=False).returncode
    if len(argv) >= 2 and argv[0] == "module":
        build_module(argv[1], debug="--debug" in argv, sanitize="--sanitize" in argv,
                     coverage="--coverage" in argv or COVERAGE)
        print(argv[1])
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
