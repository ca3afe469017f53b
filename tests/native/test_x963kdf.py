"""The ANSI X9.63 KDF (crypto/x963kdf.h): the CAVP SP 800-135 vectors shipped in
cryptography_vectors, random parameters cross-checked against ``cryptography``'s X963KDF for
every hash, and every invalid parameter."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.x963kdf import X963KDF
from keystead.core import ffi, lib

from tests.native.crypto_support import rng
from tests.native.kex_support import MD, x963
from tests.vectors.pyca import load_pyca

HASHES = {lib.KS_MD_SHA1: hashes.SHA1, lib.KS_MD_SHA224: hashes.SHA224,
          lib.KS_MD_SHA256: hashes.SHA256, lib.KS_MD_SHA384: hashes.SHA384,
          lib.KS_MD_SHA512: hashes.SHA512}
VECTORS = load_pyca("KDF/ansx963_2001.txt")


@pytest.mark.parametrize("section, vec", VECTORS, ids=[str(v) for _, v in VECTORS])
def test_cavp_vectors(section: dict[str, str], vec) -> None:
    md = MD[section["_"]]
    with vec:
        vec.int("COUNT")
        z, info, want = vec.hex("Z"), vec.hex("SharedInfo"), vec.hex("key_data")
        assert len(z) == (int(section["shared secret length"]) + 7) // 8
        assert len(info) * 8 == int(section["SharedInfo length"])
        assert len(want) == (int(section["key data length"]) + 7) // 8
        assert x963(md, z, info, len(want)) == (lib.KS_OK, want)


def test_every_hash_in_the_vectors() -> None:
    assert {MD[s["_"]] for s, _ in VECTORS} == set(HASHES)


@pytest.mark.parametrize("md", list(HASHES), ids=[h.name for h in HASHES.values()])
def test_matches_cryptography(md: int) -> None:
    r = rng(f"x963-{md}")
    for _ in range(25):
        z = r.randbytes(r.choice([1, 32, 48, 66, r.randrange(1, 200)]))
        info = r.randbytes(r.choice([0, 0, 1, 16, r.randrange(0, 300)]))
        length = r.choice([1, 16, 32, 64, 65, r.randrange(1, 400)])
        want = X963KDF(HASHES[md](), length, info or None).derive(z)
        assert x963(md, z, info, length) == (lib.KS_OK, want)


def test_bad_parameters() -> None:
    assert x963(lib.KS_MD_SHA256, b"z", b"", 0)[0] == lib.KS_ERR_ARGS
    assert x963(lib.KS_MD_SHA256, b"", b"", 16)[0] == lib.KS_ERR_ARGS
    assert x963(lib.KS_MD_NONE, b"z", b"", 16)[0] == lib.KS_ERR_ARGS
    assert x963(99, b"z", b"", 16)[0] == lib.KS_ERR_ARGS
    out = ffi.new("uint8_t[16]")
    assert lib.ks_x963_kdf(lib.KS_MD_SHA256, out, 16, b"z", 1, ffi.NULL, 3) == lib.KS_ERR_ARGS
    assert lib.ks_x963_kdf(lib.KS_MD_SHA256, ffi.NULL, 16, b"z", 1, ffi.NULL, 0) == \
        lib.KS_ERR_ARGS
    assert lib.ks_x963_kdf(lib.KS_MD_SHA256, out, 16, ffi.NULL, 1, ffi.NULL, 0) == \
        lib.KS_ERR_ARGS


def test_counter_bound() -> None:
    """SEC 1 3.6.1: more than 2^32 - 1 hash blocks is refused before any hashing (the length
    is checked, nothing that large is allocated)."""
    out = ffi.new("uint8_t[1]")
    too_long = 20 * (2**32 - 1) + 1
    assert lib.ks_x963_kdf(lib.KS_MD_SHA1, out, too_long, b"z", 1, ffi.NULL, 0) == lib.KS_ERR_LEN
