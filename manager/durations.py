"""Parse and print durations: ``2y``, ``18mo``, ``6w``, ``90d``, ``12h``, ``30min``, ``45s``,
``0``, combinations (``1y6mo``), and ISO 8601 (``P1Y6M``, ``P2W``, ``PT12H``).

A year is 365 days and a month 30 days. A bare ``m`` is refused: it could mean months or
minutes (write ``mo`` or ``min``).
"""

from __future__ import annotations

import re
from datetime import timedelta

DAY = 86400
_UNITS = {"y": 365 * DAY, "mo": 30 * DAY, "w": 7 * DAY, "d": DAY, "h": 3600, "min": 60,
          "s": 1}
_TERM = re.compile(r"(\d+)(y|mo|w|d|h|min|s)")
_ISO = re.compile(
    r"p(?:(\d+)y)?(?:(\d+)m)?(?:(\d+)w)?(?:(\d+)d)?(?:t(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?)?")
_ISO_SIZES = (365 * DAY, 30 * DAY, 7 * DAY, DAY, 3600, 60, 1)
#: Larger than any cryptoperiod (and small enough for datetime arithmetic).
MAX_DURATION = timedelta(days=365 * 1000)
EXAMPLES = "examples: 2y, 18mo, 6w, 90d, 12h, 30min, 0, P1Y6M"


def parse_duration(text: str) -> timedelta:
    """``"1y6mo"`` or ``"P1Y6M"`` -> timedelta. Raises ValueError on anything else."""
    s = text.strip().lower()
    if s in ("0", "0s"):
        return timedelta(0)
    total = _parse_iso(s, text) if s.startswith("p") else _parse_terms(s, text)
    if total > MAX_DURATION.total_seconds():
        raise ValueError(f"{text!r} is too long a duration")
    return timedelta(seconds=total)


def _parse_terms(s: str, text: str) -> int:
    pos, total = 0, 0
    for match in _TERM.finditer(s):
        if match.start() != pos:
            break
        total += int(match.group(1)) * _UNITS[match.group(2)]
        pos = match.end()
    if pos != len(s) or not s:
        if re.search(r"\d+m(?!o|in)", s[pos:] if pos < len(s) else s):
            raise ValueError(f"{text!r}: 'm' is ambiguous; write 'mo' (months) or "
                             "'min' (minutes)")
        raise ValueError(f"{text!r} is not a duration ({EXAMPLES})")
    return total


def _parse_iso(s: str, text: str) -> int:
    match = _ISO.fullmatch(s)
    if match is None or not any(match.groups()) or s.endswith("t"):
        raise ValueError(f"{text!r} is not an ISO 8601 duration ({EXAMPLES})")
    return sum(int(g) * size for g, size in zip(match.groups(), _ISO_SIZES, strict=True) if g)


def format_duration(delta: timedelta) -> str:
    """A short form that :func:`parse_duration` reads back: 730 days -> ``2y``."""
    seconds = int(delta.total_seconds())
    if seconds == 0:
        return "0"
    out = []
    for unit in ("y", "d", "h", "min", "s"):
        size = _UNITS[unit]
        if seconds >= size:
            out.append(f"{seconds // size}{unit}")
            seconds %= size
    return "".join(out)
