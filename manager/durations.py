"""Parse and print durations such as ``2y``, ``90d``, ``12h``, ``30m``, ``45s``, ``0``."""

from __future__ import annotations

import re
from datetime import timedelta

_UNITS = {"y": 365 * 86400, "w": 7 * 86400, "d": 86400, "h": 3600, "m": 60, "s": 1}
_TERM = re.compile(r"(\d+)([ywdhms])")


def parse_duration(text: str) -> timedelta:
    """``"1y6d"`` -> timedelta. A year is 365 days. Raises ValueError on anything else."""
    s = text.strip().lower()
    if s in ("0", "0s"):
        return timedelta(0)
    pos, total = 0, 0
    for match in _TERM.finditer(s):
        if match.start() != pos:
            break
        total += int(match.group(1)) * _UNITS[match.group(2)]
        pos = match.end()
    if pos != len(s) or not s:
        raise ValueError(f"{text!r} is not a duration (examples: 2y, 90d, 12h, 30m, 0)")
    return timedelta(seconds=total)


def format_duration(delta: timedelta) -> str:
    """A short form that :func:`parse_duration` reads back: 730 days -> ``2y``."""
    seconds = int(delta.total_seconds())
    if seconds == 0:
        return "0"
    out = []
    for unit in ("y", "d", "h", "m", "s"):
        size = _UNITS[unit]
        if seconds >= size:
            out.append(f"{seconds // size}{unit}")
            seconds %= size
    return "".join(out)
