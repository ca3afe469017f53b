"""CKM_DES3_ECB, CKM_DES3_CBC and CKM_DES3_CBC_PAD through token/ops.h (the legacy family,
token/ops_des3.c): cross-checked with `cryptography` for every length 0..80, every split
point, in place (out == in) with bytes held over, and the section 5.2 conventions (a length
query changes nothing; CKR_BUFFER_TOO_SMALL keeps the operation)."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, modes
from keystead.core import ffi, lib

from tests.native.ops_support import DECRYPT, ENCRYPT, QUERY, Op, mechanism, rng, run_parts, splits

try:
    from cryptography.hazmat.decrepit.ciphers.algorithms import TripleDES
except ImportError:  # pragma: no cover - older cryptography
    from cryptography.hazmat.primitives.ciphers.algorithms import TripleDES  # type: ignore

IV = bytes(range(8))
MECHS = ["ECB", "CBC", "CBC_PAD"]
KT = lib.CKK_DES3


def mech_of(name: str):
    m = getattr(lib, f"CKM_DES3_{name}")
    return mechanism(m) if name == "ECB" else mechanism(m, IV)


def reference(name: str, key: bytes, data: bytes, decrypt: bool = False) -> bytes:
    c = Cipher(TripleDES(key), modes.ECB() if name == "ECB" else modes.CBC(IV))
    if name == "CBC_PAD" and not decrypt:
        p = padding.PKCS7(64).padder()
        data = p.update(data) + p.finalize()
    ctx = c.decryptor() if decrypt else c.encryptor()
    out = ctx.update(data) + ctx.finalize()
    if name == "CBC_PAD" and decrypt:
        u = padding.PKCS7(64).unpadder()
        out = u.update(out) + u.finalize()
    return out


@pytest.mark.parametrize("name", MECHS)
def test_every_length_and_split(name):
    r = rng(f"des3-{name}")
    key = r.randbytes(24)
    mech = mech_of(name)
    for n in range(0, 81) if name == "CBC_PAD" else range(0, 81, 8):
        pt = r.randbytes(n)
        ct = reference(name, key, pt)
        with Op(ENCRYPT, mech, key, KT) as op:
            assert op.oneshot(pt)[:2] == (lib.CKR_OK, ct)
        with Op(DECRYPT, mech, key, KT) as op:
            assert op.oneshot(ct)[:2] == (lib.CKR_OK, pt)
        for cut in range(0, n + 1, 3):
            assert run_parts(ENCRYPT, mech, key, splits(pt, [cut]), KT) == (lib.CKR_OK, ct)
        for cut in range(len(ct) + 1):
            cuts = sorted({cut, (cut * 5) % (len(ct) + 1)})
            assert run_parts(DECRYPT, mech, key, splits(ct, cuts), KT) == (lib.CKR_OK, pt)


@pytest.mark.parametrize("name", MECHS)
def test_in_place_multi_part(name):
    r = rng(f"des3-inplace-{name}")
    key = r.randbytes(24)
    pt = r.randbytes(8 * 70 + (5 if name == "CBC_PAD" else 0))
    ct = reference(name, key, pt)
    for direction, src, want in ((ENCRYPT, pt, ct), (DECRYPT, ct, pt)):
        with Op(direction, mech_of(name), key, KT) as op:
            got = b""
            for part in splits(src, [3, 5, 13, 300, 301, 400]):
                buf = ffi.new("uint8_t[]", part + bytes(16))
                n = ffi.new("CK_ULONG *", len(part) + 16)
                assert lib.ks_op_update(op.op, buf, n, buf, len(part)) == lib.CKR_OK
                got += bytes(buf[0 : n[0]])
            rv, tail, _ = op.final()
            assert rv == lib.CKR_OK
            assert got + tail == want


@pytest.mark.parametrize("name", MECHS)
def test_length_query_and_short_buffer_change_nothing(name):
    r = rng(f"des3-query-{name}")
    key = r.randbytes(24)
    pt = r.randbytes(40 if name != "CBC_PAD" else 37)
    ct = reference(name, key, pt)
    with Op(ENCRYPT, mech_of(name), key, KT) as op:
        rv, _, need = op.update(pt, room=QUERY)
        assert rv == lib.CKR_OK and need == 40 - (8 if name == "CBC_PAD" else 0)
        rv, _, need2 = op.update(pt, room=need - 1) if need else (lib.CKR_BUFFER_TOO_SMALL, 0, 0)
        assert rv == lib.CKR_BUFFER_TOO_SMALL and need2 == need
        rv, got, _ = op.update(pt)
        assert rv == lib.CKR_OK
        rv, tail, _ = op.final()
        assert (rv, got + tail) == (lib.CKR_OK, ct)
    with Op(DECRYPT, mech_of(name), key, KT) as op:
        rv, _, bound = op.oneshot(ct, room=QUERY)
        assert rv == lib.CKR_OK and bound >= len(pt)
        rv, _, exact = op.oneshot(ct, room=len(pt) - 1)
        assert (rv, exact) == (lib.CKR_BUFFER_TOO_SMALL, len(pt))
        assert op.oneshot(ct)[:2] == (lib.CKR_OK, pt)


def test_key_length_and_parameters():
    for n in (8, 16, 23, 25, 32):
        assert Op(ENCRYPT, mech_of("ECB"), bytes(n), KT).rv == lib.CKR_KEY_SIZE_RANGE
    assert Op(ENCRYPT, mechanism(lib.CKM_DES3_ECB, IV), bytes(24), KT).rv == \
        lib.CKR_MECHANISM_PARAM_INVALID
    for iv in (bytes(7), bytes(16)):
        assert Op(ENCRYPT, mechanism(lib.CKM_DES3_CBC, iv), bytes(24), KT).rv == \
            lib.CKR_MECHANISM_PARAM_INVALID
    assert Op(ENCRYPT, mech_of("CBC"), bytes(24), lib.CKK_AES).rv == \
        lib.CKR_KEY_TYPE_INCONSISTENT


def test_bad_padding_is_one_code():
    key = bytes(range(24))
    # one block of bad padding, decrypted alone with the IV it was made with
    for last in (b"\x00" * 8, b"\x01" * 7 + b"\x09", b"\x02" * 6 + b"\x03\x02"):
        ct = Cipher(TripleDES(key), modes.CBC(IV)).encryptor().update(last)
        with Op(DECRYPT, mech_of("CBC_PAD"), key, KT) as op:
            assert op.oneshot(ct)[0] == lib.CKR_ENCRYPTED_DATA_INVALID
    with Op(DECRYPT, mech_of("CBC_PAD"), key, KT) as op:
        assert op.oneshot(bytes(12))[0] == lib.CKR_ENCRYPTED_DATA_LEN_RANGE
    with Op(ENCRYPT, mech_of("ECB"), key, KT) as op:
        assert op.oneshot(bytes(12))[0] == lib.CKR_DATA_LEN_RANGE
