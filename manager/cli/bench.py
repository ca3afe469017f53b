"""``keystead bench``: keystead vs SoftHSMv2 through python-pkcs11, and OpenSSL in-process.

Thin: parse, call :func:`keystead.bench.run_bench`, render. Progress goes to stderr.
"""

from __future__ import annotations

import json
import sys
from typing import Any

import click

# keystead.bench is imported when the command runs: it is start-up time that every other
# command would pay (docs/manager.md, "Start-up time").


def _modules(_ctx: click.Context, _param: click.Parameter,
             value: str | None) -> tuple[str, ...]:
    from keystead.bench.workloads import CLIENTS

    if value is None:
        return tuple(CLIENTS)
    names = tuple(v.strip() for v in value.split(",") if v.strip())
    unknown = [n for n in names if n not in CLIENTS]
    if unknown or not names:
        raise click.BadParameter(f"choose from {', '.join(CLIENTS)} (got {value!r})")
    return names


@click.command("bench")
@click.option("--quick", is_flag=True, help="Two short windows per figure (smoke test).")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.option("--markdown", is_flag=True, help="Print the tables as Markdown.")
@click.option("--from-json", "from_json", type=click.File("r"),
              help="Render a report saved with --json instead of measuring.")
@click.option("--threads", type=click.IntRange(1, 64), default=2, show_default=True,
              help="N of the 1 MiB throughput rows (1 and N threads, one session each).")
@click.option("--scale", is_flag=True,
              help="Also C_CreateObject/C_FindObjects at 100, 10,000 and 100,000 objects.")
@click.option("--scale-budget", type=click.FloatRange(min=1), default=None,
              help="Seconds of object creation per module for --scale [default: 600].")
@click.option("--c", "run_c", is_flag=True,
              help="Also the pure-C core benchmark (needs the source tree).")
@click.option("--source", type=click.Path(file_okay=False, exists=True),
              help="keystead's source tree for --c [default: current directory].")
@click.option("--modules", default=None, show_default="all", callback=_modules,
              help="Comma-separated clients: keystead, softhsm2, openssl, libcrypto.")
@click.option("--only", callback=lambda _c, _p, v: tuple(x for x in v.split(",") if x),
              default="", help="Comma-separated row-name prefixes to run (e.g. gcm-encrypt-1MiB).")
@click.option("--repeat", type=click.IntRange(1, 1000), default=None,
              help="Windows per figure (median) [default: 7, --quick 2].")
@click.option("--runs", type=click.IntRange(1, 20), default=None,
              help="Whole runs; each figure keeps its best median [default: 1].")
@click.option("--window", type=click.FloatRange(min=0.0001), default=None,
              help="Seconds per timing window [default: 0.1].")
@click.option("--keygen-samples", type=click.IntRange(5, 100000), default=None,
              help="Single generations per client of a key generation row [default: 200, "
                   "--quick 8].")
@click.option("--keygen-budget", type=click.FloatRange(min=1), default=None,
              help="Seconds per key generation row before it stops short of --keygen-samples "
                   "[default: 120, --quick 10].")
@click.option("--tmpdir", type=click.Path(file_okay=False, exists=True),
              help="Where the temporary token directories go (e.g. /dev/shm).")
@click.option("--tuning", type=click.Choice(["beside", "off", "only"]), default="beside",
              show_default=True,
              help="glibc malloc tuning: measure untuned and show the large-message rows tuned "
                   "beside them; untuned only; or every row tuned (see docs/bench.md).")
def bench(as_json: bool, markdown: bool, from_json: Any, tuning: str, run_c: bool,
          **options: Any) -> None:
    """Benchmark keystead against SoftHSMv2 and OpenSSL (see docs/bench.md)."""
    from keystead.bench import BenchError, BenchOptions, render_table, run_bench

    opts = BenchOptions.make(c=run_c, tune_malloc=tuning == "only",
                             tuned_beside=tuning == "beside", **options)
    try:
        if from_json is not None:
            report = json.load(from_json)
        else:
            report = run_bench(opts, argv=sys.argv[2:] if sys.argv[1:2] == ["bench"] else None)
    except BenchError as exc:
        raise click.ClickException(str(exc)) from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise click.ClickException(f"--from-json: not a saved report ({exc})") from None
    if as_json:
        click.echo(json.dumps(report, indent=2))
    else:
        click.echo(render_table(report, markdown=markdown))
