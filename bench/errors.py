"""The one expected failure of ``keystead bench`` (the CLI prints it as one line)."""

from __future__ import annotations


class BenchError(Exception):
    """A benchmark could not run: a module missing, a worker failed, no source tree."""


__all__ = ["BenchError"]
