"""The worker process of ``keystead bench``: ``python -m keystead.bench.worker MODE``
with the options as JSON on stdin; prints one JSON document on stdout, progress on stderr.

MODE is ``main`` (the interleaved workloads) or ``scale:<module>``. A worker of its own
keeps the caller's process free of loaded modules (each module reads its token directory
once per process) and gives every module a fresh temporary directory.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
import traceback
from pathlib import Path

from .options import BenchOptions


def main(argv: list[str]) -> int:
    mode = argv[0] if argv else "main"
    opts = BenchOptions.from_json(json.loads(sys.stdin.read()))
    base = Path(tempfile.mkdtemp(prefix="keystead-bench-", dir=opts.tmpdir))
    try:
        if mode == "main":
            from .measure import measure

            result = measure(opts, base)
        elif mode.startswith("scale:"):
            from .scale import ScaleRun

            result = ScaleRun(mode.split(":", 1)[1], base, opts.scale_budget, opts.quick).run()
        else:
            raise ValueError(f"unknown worker mode {mode!r}")
    except Exception as exc:
        if "KEYSTEAD_BENCH_TRACE" in os.environ:
            traceback.print_exc()
        print(json.dumps({"error": f"{type(exc).__name__}: {exc}".splitlines()[0]}))
        return 1
    finally:
        shutil.rmtree(base, ignore_errors=True)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    code = main(sys.argv[1:])
    sys.stdout.flush()
    sys.stderr.flush()
    # No interpreter teardown: the loaded modules are never finalised under python-pkcs11's
    # or the raw layer's feet (python-pkcs11 calls C_Finalize when its lib is collected).
    os._exit(code)
