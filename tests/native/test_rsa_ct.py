"""The RSA encryption paddings in constant time: native/ct/ctgrind_rsa.c under valgrind
memcheck with the decrypted blocks, the implicit-rejection key and the private exponent
marked secret (tests/native/ctgrind_support.py, the allow list native/ct/allowed_sites.txt).
"""

from __future__ import annotations

import pytest

from tests.native import ctgrind_support


@pytest.fixture(scope="module")
def ctgrind_rsa(tmp_path_factory: pytest.TempPathFactory) -> str:
    return ctgrind_support.build(tmp_path_factory, "ctgrind_rsa.c")


@pytest.mark.parametrize("check", ["pkcs1", "oaep"])
def test_explicit_rejection_decides_only_at_the_end(ctgrind_rsa: str, check: str) -> None:
    """Every branch or address on the secret block is pad_result's accept/reject."""
    sites = ctgrind_support.run(ctgrind_rsa, check)
    assert set(sites) == {"pad_result"}, sites


def test_implicit_rejection_decides_nothing(ctgrind_rsa: str) -> None:
    """Under implicit rejection no decision depends on the block, the key derivation key or
    the private exponent: memcheck sees none (libcrypto's own reports, "???", aside)."""
    sites = ctgrind_support.run(ctgrind_rsa, "ir")
    assert set(sites) <= {"???"}, sites
