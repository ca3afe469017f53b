"""The human table of a ``keystead bench`` report (``--json`` prints the report itself)."""

from __future__ import annotations

from typing import Any

from .workloads import CLIENTS


def _rate(cell: dict[str, Any] | None, size: int) -> str:
    if cell is None or "skipped" in cell:
        return "n/a"
    if "error" in cell:
        return "error"
    if size >= 4096 and "mb_per_s" in cell:
        return f"{cell['mb_per_s']:,.0f} MB/s"
    rate = cell["msgs_per_s"]
    if rate < 1e3:
        return f"{rate:,.1f} /s"
    return f"{rate / 1e6:.2f} M/s" if rate >= 1e6 else f"{rate / 1e3:,.1f} k/s"


def _ratio(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}x"


def _markdown(header: list[str], body: list[list[str]]) -> list[str]:
    align = ["---" if i == 0 else "---:" for i in range(len(header))]
    return ["| " + " | ".join(r) + " |" for r in [header, align, *body]]


def _table(header: list[str], body: list[list[str]], markdown: bool = False) -> list[str]:
    if markdown:
        return _markdown(header, body)
    widths = [max(len(r[i]) for r in [header, *body]) for i in range(len(header))]
    fmt = "  ".join(f"{{:{'<' if i == 0 else '>'}{w}}}" for i, w in enumerate(widths))
    return [fmt.format(*header), fmt.format(*("-" * w for w in widths)),
            *(fmt.format(*r) for r in body)]


def _main_table(report: dict[str, Any], markdown: bool = False) -> list[str]:
    modules = [m for m in CLIENTS if m in report["options"]["modules"]]
    labels = sorted({k for r in report["rows"] for k in r["ratios"]})
    tuned = [m for m in modules if any((r.get("tuned") or {}).get("results", {}).get(m)
                                       for r in report["rows"])]
    body = []
    for r in report["rows"]:
        t = (r.get("tuned") or {}).get("results", {})
        body.append([r["name"] + (f" (x{r['batch']})" if r["batch"] > 1 else ""),
                     *(_rate(r["results"].get(m), r["size"]) for m in modules),
                     *(_ratio(r["ratios"].get(k)) for k in labels),
                     *(_rate(t.get(m), r["size"]) if t else "" for m in tuned)])
    header = ["workload (per message)", *modules, *labels, *(f"{m} tuned" for m in tuned)]
    return _table(header, body, markdown)


def _goals(report: dict[str, Any], markdown: bool = False) -> list[str]:
    body = []
    for g in report["goals"]:
        v = g["measured"]
        shown = "n/a" if v is None else (f"{v / 1e6:.2f} M/s" if v > 1000 else f"{v:.2f}x")
        target = f"{g['target'] / 1e6:.1f} M/s" if g["target"] > 1000 else f"{g['target']}x"
        met = {True: "met", False: "MISSED", None: "n/a"}[g["met"]]
        body.append([g["what"], target, shown, met])
    return _table(["goal", "target", "measured", ""], body, markdown)


def _scale(report: dict[str, Any], markdown: bool = False) -> list[str]:
    body = []
    for module, run in (report.get("scale") or {}).items():
        for lv in run["levels"]:
            objs = f"{lv['objects']:,}" + (" (budget)" if lv["partial"] else "")
            body.append([module, objs, *(f"{lv[k]:,.1f}" for k in
                                         ("create_us", "find_label_us", "find_id_us",
                                          "find_class_us"))])
    return _table(["module", "objects", "create us", "find label us", "find id us",
                   "find class us"], body, markdown) if body else []


def _spread(report: dict[str, Any], markdown: bool = False) -> list[str]:
    """The sampled rows (key generation): median, quartiles and sample count per client."""
    body = []
    for r in report["rows"]:
        for client, cell in r["results"].items():
            if cell and "q1_us" in cell:
                body.append([r["name"], client, f"{cell['us_per_msg']:,.0f}",
                             f"{cell['q1_us']:,.0f}", f"{cell['q3_us']:,.0f}",
                             str(cell["samples"])])
    return _table(["key generation", "client", "median us", "q1 us", "q3 us", "samples"],
                  body, markdown) if body else []


def _versions(report: dict[str, Any]) -> list[str]:
    return [f"{name}: {text}" for name, text in sorted((report.get("versions") or {}).items())]


def render_table(report: dict[str, Any], markdown: bool = False) -> str:
    """The report as text (or Markdown tables): machine line, workloads, goals, then scale
    and C if measured."""
    m = report["machine"]
    build = report.get("build") or {}
    lines = [f"keystead bench  {report['date']}  {m['cpu']}, {m['cores']} cores, "
             f"{' '.join(m['flags'])}",
             f"keystead {build.get('version', '?')} at commit {build.get('commit', '?')}, "
             f"load average {' '.join(f'{x:.2f}' for x in m.get('load_avg', []))}", ""]
    lines += _main_table(report, markdown)
    spread = _spread(report, markdown)
    if spread:
        lines += ["", *spread]
    lines += ["", *_versions(report)]
    if report.get("tuning"):
        lines += ["", report["tuning"]]
    lines += [""] + _goals(report, markdown)
    scale = _scale(report, markdown)
    if scale:
        lines += ["", "C_CreateObject / C_FindObjects per call (median):", *scale]
    if report.get("c"):
        fence = ["```"] if markdown else []
        lines += ["", "pure-C core (native/bench/bench_core.c):", *fence,
                  report["c"]["text"].rstrip(), *fence]
    return "\n".join(lines)


__all__ = ["render_table"]
