"""The one expected failure of ``keystead bench`` (the CLI prints it as one line)."""

from __future__ import annotations

from ..errors import ManagerError


class BenchError(ManagerError):
    """A benchmark could not run: a module missing, a worker failed, no source tree."""


__all__ = ["BenchError"]
