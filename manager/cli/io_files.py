"""Files of the data commands: stdin/stdout for ``-``, outputs written under a temporary
name in the destination's directory and renamed only on success (a failed or refused
command leaves no partial output), and a progress bar when stderr is a terminal."""

from __future__ import annotations

import contextlib
import io
import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO

import click


@contextlib.contextmanager
def source(path: str) -> Iterator[BinaryIO]:
    """The input: stdin's bytes for ``-``, else the file (one-line error when unreadable)."""
    if path == "-":
        yield sys.stdin.buffer
        return
    try:
        handle = open(path, "rb")  # noqa: SIM115 - closed below
    except OSError as exc:
        raise click.ClickException(f"cannot read {path}: {exc.strerror}") from None
    with handle:
        yield handle


class _Prefixed(io.RawIOBase):
    """``prefix``, then the rest of ``src``: a stream whose first bytes were read already."""

    def __init__(self, prefix: bytes, src: BinaryIO) -> None:
        super().__init__()
        self._prefix = memoryview(prefix)
        self._src = src

    def readable(self) -> bool:
        return True

    def readinto(self, buf) -> int:  # type: ignore[override]
        if len(self._prefix):
            n = min(len(buf), len(self._prefix))
            buf[:n] = self._prefix[:n]
            self._prefix = self._prefix[n:]
            return n
        return self._src.readinto(buf)


def prefixed(prefix: bytes, src: BinaryIO) -> BinaryIO:
    """A readable stream of ``prefix`` followed by what is left of ``src``."""
    return io.BufferedReader(_Prefixed(prefix, src))  # type: ignore[return-value]


@contextlib.contextmanager
def sink(path: str, failed: Callable[[OSError], None] | None = None) -> Iterator[BinaryIO]:
    """The output: stdout's bytes for ``-``; a device or FIFO as it is; else a temporary
    file (mode 0600) next to ``path`` that replaces it when the block ends without an
    exception. An output that cannot be opened is one line (ClickException), after
    ``failed(error)`` ran (the audit records the refusal)."""
    if path == "-":
        yield sys.stdout.buffer
        sys.stdout.buffer.flush()
        return
    target = Path(os.path.realpath(path))  # a symlink's target is replaced, not the link
    if target.exists() and not target.is_file():  # a device or FIFO: written as it is
        try:
            handle = open(target, "wb")  # noqa: SIM115 - closed below
        except OSError as exc:
            if failed is not None:
                failed(exc)
            raise click.ClickException(f"cannot write {path}: {exc.strerror}") from None
        with handle:
            yield handle
        return
    import tempfile  # here: start-up time (docs/manager.md)

    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".partial",
                                   dir=target.parent if str(target.parent) else ".")
    except OSError as exc:
        if failed is not None:
            failed(exc)
        raise click.ClickException(f"cannot write {path}: {exc.strerror}") from None
    try:
        with os.fdopen(fd, "wb") as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


@contextlib.contextmanager
def progress(src: BinaryIO, label: str) -> Iterator[Callable[[int], None] | None]:
    """A progress callback (bytes done) drawing a bar on stderr when it is a terminal."""
    if not sys.stderr.isatty():
        yield None
        return
    try:
        length = os.fstat(src.fileno()).st_size or None
    except (OSError, ValueError, AttributeError):
        length = None
    with click.progressbar(length=length, label=label, file=sys.stderr) as bar:
        yield bar.update
        if length is not None and bar.pos < length:  # headers and tags: not plaintext bytes
            bar.update(length - bar.pos)
