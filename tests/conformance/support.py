"""Helpers for conformance tests: assert exact CK_RV codes, build common templates."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from keystead.softhsm_bridge.ck import Attribute as A
from keystead.softhsm_bridge.ck import KeyType, ObjectClass
from keystead.softhsm_bridge.errors import CKR_OK, rv_name, rv_of, rv_value


def code(name: str | int) -> int:
    """A CK_RV from its spec name ("CKR_X" or "X") or an int."""
    if isinstance(name, int):
        return name
    return CKR_OK if name in ("CKR_OK", "OK") else rv_value(name)


def assert_rv(rv: int, expected: str | int) -> None:
    """Assert a raw CK_RV, naming both codes on failure."""
    want = code(expected)
    assert rv == want, f"got {rv_name(rv)} ({rv:#x}), spec requires {rv_name(want)} ({want:#x})"


class _Caught:
    rv: int | None = None


@contextmanager
def raises_rv(expected: str | int) -> Iterator[_Caught]:
    """``with raises_rv("CKR_KEY_UNEXTRACTABLE"):`` - the block must raise the exception of
    exactly that CK_RV (from the bridge or from python-pkcs11)."""
    caught = _Caught()
    want = code(expected)
    try:
        yield caught
    except Exception as exc:  # noqa: BLE001 - every layer's exception is mapped to its code
        caught.rv = rv_of(exc)
        assert caught.rv == want, (
            f"got {rv_name(caught.rv)} ({caught.rv:#x}), spec requires {rv_name(want)}"
        )
        return
    raise AssertionError(f"no error raised, spec requires {rv_name(want)}")


def aes_key(value: bytes | None = None, **extra: Any) -> dict[int, Any]:
    """A template for a session AES secret key (with CKA_VALUE when ``value`` is given)
    usable for every operation; ``extra`` overrides by attribute name (``SENSITIVE=False``)."""
    t: dict[int, Any] = {
        A.CLASS: ObjectClass.SECRET_KEY, A.KEY_TYPE: KeyType.AES, A.TOKEN: False,
        A.ENCRYPT: True, A.DECRYPT: True, A.WRAP: True, A.UNWRAP: True,
        A.SIGN: True, A.VERIFY: True, A.EXTRACTABLE: True, A.SENSITIVE: False,
    }
    if value is not None:
        t[A.VALUE] = value
    for k, v in extra.items():
        t[A[k]] = v
    return t


def generic_key(
    value: bytes, key_type: int = KeyType.GENERIC_SECRET, **extra: Any
) -> dict[int, Any]:
    """A template for a session generic-secret (HMAC) key with CKA_VALUE ``value``."""
    t = aes_key(value)
    t[A.KEY_TYPE] = key_type
    for a in (A.ENCRYPT, A.DECRYPT, A.WRAP, A.UNWRAP):
        t.pop(a, None)
    for k, v in extra.items():
        t[A[k]] = v
    return t


def data_object(value: bytes = b"data", **extra: Any) -> dict[int, Any]:
    """A template for a session data object."""
    t: dict[int, Any] = {A.CLASS: ObjectClass.DATA, A.TOKEN: False, A.VALUE: value,
                         A.LABEL: "conformance-data"}
    for k, v in extra.items():
        t[A[k]] = v
    return t


def ulong(value: bytes) -> int:
    """Decode a CK_ULONG attribute value."""
    return int.from_bytes(value, "little")


def bbool(value: bytes) -> bool:
    """Decode a CK_BBOOL attribute value (exactly one byte)."""
    assert len(value) == 1, f"CK_BBOOL of length {len(value)}"
    return value != b"\x00"


_PRELUDE = """
import json, sys
from keystead.softhsm_bridge.raw import RawModule
r = RawModule(sys.argv[1])
ffi = r.ffi
NULL = ffi.NULL
out = {}
"""


def run_raw(module_path: str, body: str, timeout: float = 120,
            env: dict[str, str] | None = None) -> dict[str, Any]:
    """Run ``body`` in a fresh Python process holding a *not yet initialised* RawModule
    ``r`` for ``module_path``; ``body`` fills the dict ``out``, which is returned.

    For C_Initialize/C_Finalize scenarios, which cannot run in the test process (the
    module is initialised there once for python-pkcs11). The environment, including the
    module's configuration variable, is inherited unless ``env`` gives the environment.
    """
    import json
    import subprocess
    import sys
    import textwrap

    script = _PRELUDE + textwrap.dedent(body) + "\nprint(json.dumps(out))\n"
    proc = subprocess.run([sys.executable, "-c", script, module_path], capture_output=True,
                          text=True, timeout=timeout, check=False, env=env)
    assert proc.returncode == 0, f"subprocess failed ({proc.returncode}):\n{proc.stderr[-3000:]}"
    return json.loads(proc.stdout.strip().splitlines()[-1])
