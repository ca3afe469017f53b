"""``keystead bench``: the same workloads through PKCS#11 (python-pkcs11) on keystead and on
SoftHSMv2, and in-process through ``cryptography`` (OpenSSL) as the hardware reference,
interleaved in one run; plus the object-count scale benchmark and the pure-C core benchmark.

Use :func:`run_bench` with :class:`BenchOptions`; :func:`render_table` prints the report.
"""

from __future__ import annotations

from .errors import BenchError
from .options import BenchOptions
from .render import render_table
from .runner import run_bench

__all__ = ["BenchError", "BenchOptions", "render_table", "run_bench"]
