"""Reader of the NIST CAVP and RFC vector files that the ``cryptography_vectors`` package ships.

Those files are ``Key = Value`` blocks (as tests/vectors/*.txt, read by the same
:class:`~tests.vectors.loader.Vector`, so a test must read every field) under bracketed section
lines: ``[SHA-1]``, ``[shared secret length = 192]``, ``[EC - SHA256]``. Each block comes with
the sections in force where it starts, as a dict (``name = value`` sections by name, bare ones
under ``"_"``). Indented lines are the intermediate values CAVP prints for information
(``Counter``, ``Hash input 1``); they are not fields.
"""

from __future__ import annotations

import cryptography_vectors

from tests.vectors.loader import Vector, VectorFileError


def parse_sections(text: str, source: str) -> list[tuple[dict[str, str], Vector]]:
    """The blocks of a CAVP-style file with their sections. Raises VectorFileError."""
    out: list[tuple[dict[str, str], Vector]] = []
    sections: dict[str, str] = {}
    fields: dict[str, str] = {}
    start = 0

    def flush() -> None:
        nonlocal fields
        if fields:
            out.append((dict(sections), Vector(source, start, fields)))
            fields = {}

    for number, raw in enumerate(text.splitlines(), start=1):
        if raw[:1] in ("\t", " ") and raw.strip():
            continue  # an intermediate value
        line = raw.strip()
        if line.startswith("#"):
            continue
        if not line:
            flush()
            continue
        if line.startswith("[") and line.endswith("]"):
            flush()
            name, sep, value = line[1:-1].partition("=")
            if sep:
                sections[name.strip()] = value.strip()
            else:
                sections["_"] = name.strip()
            continue
        name, sep, value = line.partition("=")
        name = name.strip()
        if not sep or not name or name in fields:
            raise VectorFileError(f"{source}:{number}: expected one 'Key = Value'")
        if not fields:
            start = number
        fields[name] = value.strip()
    flush()
    return out


def load_pyca(path: str) -> list[tuple[dict[str, str], Vector]]:
    """The blocks of cryptography_vectors' file ``path`` ("KDF/ansx963_2001.txt").
    Raises FileNotFoundError, VectorFileError."""
    with cryptography_vectors.open_vector_file(path, "r") as f:
        blocks = parse_sections(f.read(), path)
    if not blocks:
        raise VectorFileError(f"{path}: no vectors")
    return blocks
