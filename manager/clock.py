"""Clocks: where the manager learns what time it is.

Every date-driven decision (activation, end of the originator-usage period, scheduled
destruction) asks an injected :class:`Clock`, so tests and drills can move time on purpose.
All times are timezone-aware UTC datetimes.
"""

from __future__ import annotations

import os
import threading
from datetime import UTC, datetime, timedelta
from typing import Protocol

from .errors import SetupError


class Clock(Protocol):
    """Anything with ``now()`` returning an aware UTC datetime."""

    def now(self) -> datetime: ...


class SystemClock:
    """The wall clock."""

    def now(self) -> datetime:
        return datetime.now(UTC)


class ManualClock:
    """A clock that only moves when told to; thread-safe.

    ``ManualClock(start)`` reads ``start`` until :meth:`set` or :meth:`advance` is called.
    """

    def __init__(self, start: datetime | None = None) -> None:
        self._lock = threading.Lock()
        self._now = ensure_utc(start) if start is not None else datetime.now(UTC)

    def now(self) -> datetime:
        with self._lock:
            return self._now

    def set(self, when: datetime) -> None:
        with self._lock:
            self._now = ensure_utc(when)

    def advance(self, delta: timedelta) -> datetime:
        """Move forward by ``delta`` and return the new time."""
        with self._lock:
            self._now += delta
            return self._now


def ensure_utc(when: datetime) -> datetime:
    """Return ``when`` as an aware UTC datetime (naive values are taken to be UTC)."""
    if when.tzinfo is None:
        return when.replace(tzinfo=UTC)
    return when.astimezone(UTC)


def clock_from_env(environ: dict[str, str] | None = None, *, drill: bool = False) -> Clock:
    """The wall clock, unless ``KEYSTEAD_NOW`` names a fixed ISO 8601 time, which is honoured
    only in drill mode (``drill``: the CLI's ``--drill``, which writes nothing real).

    Raises SetupError if ``KEYSTEAD_NOW`` is set outside drill mode, or is not a time.
    """
    env = os.environ if environ is None else environ
    fixed = env.get("KEYSTEAD_NOW")
    if not fixed:
        return SystemClock()
    if not drill:
        raise SetupError(
            "KEYSTEAD_NOW (the clock override) is honoured only in drill mode: add --drill, "
            "which works on a copy of the catalogue and writes nothing real")
    try:
        when = datetime.fromisoformat(fixed)
        ensure_utc(when)
    except (ValueError, OverflowError):
        raise SetupError(f"KEYSTEAD_NOW={fixed!r} is not an ISO 8601 time "
                         "(example: 2027-01-01T00:00:00)") from None
    return ManualClock(when)
