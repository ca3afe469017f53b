"""What the ctgrind tests share: build a native/ct/ctgrind_*.c program with the crypto
sources, run it under valgrind memcheck with its secrets marked undefined, name the function
of every report on secret data, and check those against the one allow list
(native/ct/allowed_sites.txt, which scripts/ct.sh reads too).

A program prints "OK" when its own checks pass, or a line with "SKIP" when this processor or
valgrind cannot run the path asked for.
"""

from __future__ import annotations

import importlib
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

_NATIVE = str(Path(__file__).resolve().parents[2] / "native")


def _names() -> list[str]:
    text = (Path(_NATIVE) / "ct" / "allowed_sites.txt").read_text(encoding="utf-8")
    return [line.split()[0] for line in text.splitlines()
            if line.strip() and not line.startswith("#")]


#: Functions where a secret-dependent decision is allowed (native/ct/allowed_sites.txt).
ALLOWED = frozenset(n for n in _names() if not n.startswith("~"))
#: Copy helpers whose reports are charged to their caller (the "~" lines of the same file).
TRANSPARENT = frozenset(n[1:] for n in _names() if n.startswith("~"))
_REPORT = re.compile(r"^==\d+== (Conditional jump or move depends|Use of uninitialised value)")
_FRAME = re.compile(r"^==\d+==\s+(?:at|by) 0x[0-9A-F]+: (\S+)")


def report_sites(stderr: str) -> list[str]:
    """The innermost function of each memcheck report on secret data that is not a copy
    helper (TRANSPARENT), without the compiler's clone suffixes (``.part.0``,
    ``.constprop.0``); ``?`` when valgrind names none."""
    lines = stderr.splitlines()
    sites = []
    for i, line in enumerate(lines):
        if not _REPORT.match(line):
            continue
        site = "?"
        for following in lines[i + 1:]:
            frame = _FRAME.match(following)
            if frame is None:
                break
            site = frame.group(1).split(".")[0]
            if site not in TRANSPARENT:
                break
        sites.append(site)
    return sites


def build(tmp_path_factory: pytest.TempPathFactory, source: str) -> str:
    """native/ct/<source> built with the crypto sources; skips without valgrind."""
    if shutil.which("valgrind") is None:
        pytest.skip("valgrind is not installed")
    if _NATIVE not in sys.path:
        sys.path.append(_NATIVE)
    native_build = importlib.import_module("build")  # native/build.py
    out = tmp_path_factory.mktemp(Path(source).stem) / Path(source).stem
    return native_build.build_bench(str(out), source=source, folder="ct")


def run(program: str, arg: str) -> list[str]:
    """Run program arg under memcheck; its report sites (skips when the program does).

    Fails when a site is not on the allow list: a secret-dependent branch or index."""
    # valgrind cannot host a process with ASan preloaded (the sanitizer step preloads it)
    env = {k: v for k, v in os.environ.items() if k not in ("LD_PRELOAD", "ASAN_OPTIONS")}
    done = subprocess.run(["valgrind", "-q", program, arg], capture_output=True, text=True,
                          timeout=300, check=False, env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    if "SKIP" in done.stdout:
        pytest.skip(done.stdout.strip())
    assert done.stdout.strip() == "OK", done.stdout
    sites = report_sites(done.stderr)
    outside = sorted(set(sites) - ALLOWED - {"???"})  # "???": inside libcrypto, its own
    assert not outside, f"secret-dependent branch or index in {outside}\n{done.stderr}"
    return sites
