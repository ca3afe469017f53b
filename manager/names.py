"""The key-name grammar (docs/manager.md, "Key names").

A key name is one or more segments joined by ``/``; a segment is ASCII letters, digits,
``_``, ``-`` and ``.``, is not empty and is not ``.`` or ``..``; the whole name is at most
128 characters. So ``payments/dek`` and ``eu-west.1/db_main`` are names, and names with
spaces, control or look-alike characters, ``..``, a leading or trailing ``/`` are not.
"""

from __future__ import annotations

import re

from .errors import PolicyViolation

MAX_NAME_LENGTH = 128
_SEGMENT = re.compile(r"[A-Za-z0-9_.\-]+")


def name_problem(name: object) -> str | None:
    """Why ``name`` is not a key name, or None when it is one."""
    if not isinstance(name, str) or not name:
        return "a key name cannot be empty"
    if len(name) > MAX_NAME_LENGTH:
        return f"a key name is at most {MAX_NAME_LENGTH} characters (this one has {len(name)})"
    for segment in name.split("/"):
        if not segment:
            return "a key name has no empty segment (no leading, trailing or double '/')"
        if segment in (".", ".."):
            return "a key name has no '.' or '..' segment"
        if not _SEGMENT.fullmatch(segment):
            return "a key name is ASCII letters, digits and '/', '_', '-', '.' only"
    return None


def check_key_name(name: object) -> str:
    """Return ``name`` if it follows the grammar; raise PolicyViolation saying why not."""
    problem = name_problem(name)
    if problem is not None:
        raise PolicyViolation(f"invalid key name {name!r}: {problem}")
    return name  # type: ignore[return-value]
