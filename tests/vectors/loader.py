"""The one loader of test-vector files (tests/vectors/*.txt).

A file is a sequence of blocks separated by blank lines; each block is ``Key = Value`` lines
(``#`` starts a comment line). Values are read through typed getters (``hex``, ``int``,
``text``); a test must read every field of its block, so that a field a test forgets (a
tag, an IV, an expected result) fails the test instead of passing silently. Use a block as a
context manager: leaving it without an exception checks that every field was read::

    @pytest.mark.parametrize("vec", load("kw.txt"), ids=str)
    def test_kw(vec):
        with vec:
            key = vec.hex("Key")
            ...
"""

from __future__ import annotations

from pathlib import Path
from types import TracebackType

VECTOR_DIR = Path(__file__).resolve().parent


class VectorFileError(ValueError):
    """A vector file is malformed (bad line, duplicate field, bad hex)."""


class UnreadFieldError(AssertionError):
    """A test finished without reading every field of its vector block."""


class Vector:
    """One block of a vector file: fields by name, with a record of the ones read."""

    def __init__(self, source: str, line: int, fields: dict[str, str]) -> None:
        self.source = source
        self.line = line
        self._fields = fields
        self._read: set[str] = set()

    def __str__(self) -> str:
        return f"{self.source}:{self.line}"

    __repr__ = __str__

    def _get(self, name: str) -> str:
        if name not in self._fields:
            raise KeyError(f"{self}: no field {name!r}")
        self._read.add(name)
        return self._fields[name]

    def has(self, name: str) -> bool:
        """Whether the block has the field (does not count as reading it)."""
        return name in self._fields

    def hex(self, name: str) -> bytes:
        """The field decoded from hex (an empty value is b""). Raises VectorFileError."""
        value = self._get(name)
        try:
            return bytes.fromhex(value)
        except ValueError as exc:
            raise VectorFileError(f"{self}: {name} is not hex") from exc

    def int(self, name: str) -> int:
        """The field as a decimal integer. Raises VectorFileError."""
        value = self._get(name)
        try:
            return int(value, 10)
        except ValueError as exc:
            raise VectorFileError(f"{self}: {name} is not an integer") from exc

    def text(self, name: str) -> str:
        """The field as written."""
        return self._get(name)

    def unread(self) -> list[str]:
        """Fields not read so far, in file order."""
        return [name for name in self._fields if name not in self._read]

    def check_all_read(self) -> None:
        """Raise UnreadFieldError when a field was never read."""
        missing = self.unread()
        if missing:
            raise UnreadFieldError(f"{self}: fields never read: {', '.join(missing)}")

    def __enter__(self) -> Vector:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is None:
            self.check_all_read()


def parse(text: str, source: str) -> list[Vector]:
    """Parse the text of a vector file. Raises VectorFileError on a malformed line."""
    blocks: list[Vector] = []
    fields: dict[str, str] = {}
    start = 0
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if line.startswith("#"):
            continue
        if not line:
            if fields:
                blocks.append(Vector(source, start, fields))
                fields = {}
            continue
        name, sep, value = line.partition("=")
        name = name.strip()
        if not sep or not name:
            raise VectorFileError(f"{source}:{number}: expected 'Key = Value'")
        if name in fields:
            raise VectorFileError(f"{source}:{number}: duplicate field {name!r}")
        if not fields:
            start = number
        fields[name] = value.strip()
    if fields:
        blocks.append(Vector(source, start, fields))
    return blocks


def load(name: str) -> list[Vector]:
    """All blocks of tests/vectors/<name>. Raises FileNotFoundError, VectorFileError."""
    path = VECTOR_DIR / name
    blocks = parse(path.read_text(encoding="utf-8"), name)
    if not blocks:
        raise VectorFileError(f"{name}: no vectors")
    return blocks
