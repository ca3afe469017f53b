"""Generate pkcs11.cdef (cffi cdef syntax) from pkcs11.h.

Usage: python native/include/gen_cdef.py [--check]

The header is written so that everything except preprocessor lines is valid
cffi cdef text.  This script drops the include guard, #include and the
__cplusplus block, and rewrites every ``#define NAME expr`` into
``#define NAME <integer>`` because cffi accepts only plain integer macros.
With --check it exits 1 if the committed .cdef differs from a fresh one.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
HEADER = HERE / "pkcs11.h"
CDEF = HERE / "pkcs11.cdef"

# CK_ULONG is 64 bits on the LP64 targets keystead supports.
ULONG_MASK = (1 << 64) - 1
_DEFINE = re.compile(r"^#define\s+(\w+)\s+(.+?)\s*$")
_INT = re.compile(r"\b(0[xX][0-9a-fA-F]+|\d+)[uUlL]*\b")
_NAME = re.compile(r"\b[A-Za-z_]\w*\b")


def _evaluate(expr: str, known: dict[str, int]) -> int:
    """Evaluate a constant expression made of integers, known names, ~ | ( ).

    Raises ValueError for anything else (e.g. a macro that is not an integer).
    """
    text = _INT.sub(lambda m: str(int(m.group(1), 0)), expr)

    def name(m: re.Match[str]) -> str:
        if m.group(0) not in known:
            raise ValueError(f"unknown name {m.group(0)!r} in {expr!r}")
        return str(known[m.group(0)])

    text = _NAME.sub(name, text)
    if not re.fullmatch(r"[\d\s~|()]+", text):
        raise ValueError(f"unsupported expression {expr!r}")
    return eval(text, {"__builtins__": {}}) & ULONG_MASK  # noqa: S307 - digits and ~|() only


def generate(header: str) -> str:
    """Return the cdef text for the given header text."""
    out = [
        "/* Generated from pkcs11.h by gen_cdef.py; do not edit by hand. */",
    ]
    known: dict[str, int] = {}
    skipping_cplusplus = 0
    in_comment = False
    for line in header.splitlines():
        stripped = line.strip()
        if in_comment:
            in_comment = "*/" not in stripped
            continue
        if stripped.startswith("/*") and "*/" not in stripped:
            in_comment = True
            continue
        if stripped.startswith("#ifdef __cplusplus"):
            skipping_cplusplus = 1
            continue
        if skipping_cplusplus:
            if stripped.startswith("#endif"):
                skipping_cplusplus = 0
            continue
        if stripped.startswith("#"):
            m = _DEFINE.match(stripped)
            if m and not m.group(1).startswith("KS_PKCS11_H"):
                value = _evaluate(m.group(2), known)
                known[m.group(1)] = value
                out.append(f"#define {m.group(1)} 0x{value:08X}" if value > 9 else
                           f"#define {m.group(1)} {value}")
            continue
        out.append(line)
    text = "\n".join(out).strip() + "\n"
    return re.sub(r"\n{3,}", "\n\n", text)


def main(argv: list[str]) -> int:
    """Write (or with --check, verify) pkcs11.cdef; return the exit status."""
    fresh = generate(HEADER.read_text())
    if "--check" in argv:
        if CDEF.read_text() != fresh:
            print("pkcs11.cdef is stale: run native/include/gen_cdef.py", file=sys.stderr)
            return 1
        return 0
    CDEF.write_text(fresh)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
