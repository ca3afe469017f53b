"""NIST CAVP response files (``.rsp``) shipped in the ``cryptography_vectors`` package.

A response file is a sequence of ``[section]`` headers and blocks of ``Key = Value`` lines;
fields given once at the head of a section (a modulus ``n``, a curve name) hold for every
block below them until the next header or until a block gives them again. :func:`load_rsp`
flattens that into one :class:`~tests.vectors.loader.Vector` per block, carrying the section
name as the field ``section`` and the fields in force, so that a test reads each vector alone
(and, as with every loaded vector, must read each field it was given).
"""

from __future__ import annotations

from pathlib import Path

from tests.vectors.loader import Vector, VectorFileError

#: Fields that start a new test case (a block holding them is a vector, not a header).
CASE_FIELDS = ("Msg", "S", "R", "Result")


def vectors_root() -> Path:
    """The directory of the installed ``cryptography_vectors`` package (ImportError if it
    is not installed)."""
    import cryptography_vectors

    return Path(cryptography_vectors.__file__).resolve().parent


def _flush(out: list[Vector], source: str, line: int, carried: dict[str, str],
           block: dict[str, str]) -> None:
    if any(k in block for k in CASE_FIELDS):
        out.append(Vector(source, line, {**carried, **block}))
    else:
        carried.update(block)


def load_rsp(relative: str) -> list[Vector]:
    """Every test case of the response file at ``relative`` under the vectors package, with
    the section's and the header blocks' fields carried into it."""
    path = vectors_root() / relative
    out: list[Vector] = []
    carried: dict[str, str] = {}
    block: dict[str, str] = {}
    start = 0
    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        line = raw.strip()
        if line.startswith("#"):
            continue
        if line.startswith("[") and line.endswith("]"):
            if block:
                _flush(out, relative, start, carried, block)
                block = {}
            carried = {"section": line[1:-1].strip()}
            continue
        if not line:
            if block:
                _flush(out, relative, start, carried, block)
                block = {}
            continue
        name, sep, value = line.partition("=")
        if not sep:
            raise VectorFileError(f"{relative}:{number}: expected 'Key = Value'")
        if not block:
            start = number
        block[name.strip()] = value.strip()
    if block:
        _flush(out, relative, start, carried, block)
    if not out:
        raise VectorFileError(f"{relative}: no vectors")
    return out


__all__ = ["load_rsp", "vectors_root"]
