"""CKM_AES_ECB, CKM_AES_CBC, CKM_AES_CBC_PAD and CKM_AES_CTR through token/ops.h.

Known answers: SP 800-38A appendix F (ECB, CBC, CTR; every key size), single- and
multi-part. Cross-checks with `cryptography` for every key size and every length 0..1024,
every split point of a few lengths, in place (out == in) too. The PKCS#11 conventions of
section 5.2: a length query answers the length and changes nothing, CKR_BUFFER_TOO_SMALL
answers the length and the operation goes on; the errors of the mechanism chapter: bad
padding, bad lengths, bad parameters, counter exhaustion.
"""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from keystead.core import ffi, lib

from tests.native.ops_support import (
    DECRYPT,
    ENCRYPT,
    KEY_SIZES,
    QUERY,
    SIGN,
    Op,
    ctr_mech,
    mechanism,
    rng,
    run_oneshot,
    run_parts,
    splits,
)
from tests.vectors.loader import load

IV = bytes(range(16))
MECHS = ["ECB", "CBC", "CBC_PAD", "CTR"]


def mech_of(name: str, iv: bytes = IV, bits: int = 128):
    if name == "ECB":
        return mechanism(lib.CKM_AES_ECB)
    if name == "CTR":
        return ctr_mech(iv, bits)
    return mechanism(getattr(lib, f"CKM_AES_{name}"), iv)


def reference(name: str, key: bytes, data: bytes, iv: bytes = IV, decrypt: bool = False) -> bytes:
    """The same operation in the `cryptography` package."""
    mode = {"ECB": modes.ECB(), "CTR": modes.CTR(iv)}.get(name, modes.CBC(iv))
    cipher = Cipher(algorithms.AES(key), mode)
    if name == "CBC_PAD" and not decrypt:
        padder = padding.PKCS7(128).padder()
        data = padder.update(data) + padder.finalize()
    ctx = cipher.decryptor() if decrypt else cipher.encryptor()
    out = ctx.update(data) + ctx.finalize()
    if name == "CBC_PAD" and decrypt:
        unpadder = padding.PKCS7(128).unpadder()
        out = unpadder.update(out) + unpadder.finalize()
    return out


def lengths_for(name: str, limit: int = 1024) -> range:
    return range(0, limit + 1, 16) if name in ("ECB", "CBC") else range(0, limit + 1)


@pytest.mark.parametrize("vec", load("aes_sp800_38a.txt"), ids=str)
def test_sp800_38a(vec):
    with vec:
        vec.text("Section")
        mode = vec.text("Mode")
        key = vec.hex("Key")
        iv = vec.hex("Counter") if mode == "CTR" else vec.hex("IV") if mode == "CBC" else IV
        pt = vec.hex("Plaintext")
        ct = vec.hex("Ciphertext")
    mech = mech_of(mode, iv)
    assert run_oneshot(ENCRYPT, mech, key, pt) == (lib.CKR_OK, ct)
    assert run_oneshot(DECRYPT, mech, key, ct) == (lib.CKR_OK, pt)
    # The same, streamed in uneven parts.
    assert run_parts(ENCRYPT, mech, key, splits(pt, [5, 16, 37, 50])) == (lib.CKR_OK, ct)
    assert run_parts(DECRYPT, mech, key, splits(ct, [1, 31, 32, 63])) == (lib.CKR_OK, pt)


@pytest.mark.parametrize("key_len", KEY_SIZES)
@pytest.mark.parametrize("name", MECHS)
def test_cross_check_every_length(name, key_len):
    r = rng(f"{name}-{key_len}")
    key = r.randbytes(key_len)
    iv = r.randbytes(16)
    mech = mech_of(name, iv)
    for n in lengths_for(name):
        pt = r.randbytes(n)
        expect = reference(name, key, pt, iv)
        assert run_oneshot(ENCRYPT, mech, key, pt) == (lib.CKR_OK, expect), n
        assert run_oneshot(DECRYPT, mech, key, expect) == (lib.CKR_OK, pt), n


@pytest.mark.parametrize("name", MECHS)
def test_every_split_point(name):
    r = rng(f"split-{name}")
    key = r.randbytes(32)
    iv = r.randbytes(16)
    mech = mech_of(name, iv)
    for n in (0, 1, 15, 16, 17, 48, 100) if name not in ("ECB", "CBC") else (0, 16, 48, 96):
        pt = r.randbytes(n)
        ct = reference(name, key, pt, iv)
        for cut in range(n + 1):
            assert run_parts(ENCRYPT, mech, key, splits(pt, [cut])) == (lib.CKR_OK, ct)
            assert run_parts(DECRYPT, mech, key, splits(ct, [cut])) == (lib.CKR_OK, pt)
        for cut in range(0, len(ct) + 1, 3):
            cuts = sorted({cut, (cut * 7) % (len(ct) + 1)})
            assert run_parts(DECRYPT, mech, key, splits(ct, cuts)) == (lib.CKR_OK, pt)


@pytest.mark.parametrize("name", MECHS)
def test_in_place_multi_part(name):
    """out == in in every update, with bytes held over from the previous call."""
    r = rng(f"inplace-{name}")
    key = r.randbytes(16)
    mech = mech_of(name)
    pt = r.randbytes(16 * 70)
    ct = reference(name, key, pt)
    for direction, src, want in ((ENCRYPT, pt, ct), (DECRYPT, ct, pt)):
        with Op(direction, mech, key) as op:
            got = b""
            for part in splits(src, [3, 700, 701, 1119]):
                buf = ffi.new("uint8_t[]", part + bytes(32))
                n = ffi.new("CK_ULONG *", len(part) + 32)
                assert lib.ks_op_update(op.op, buf, n, buf, len(part)) == lib.CKR_OK
                got += bytes(buf[0 : n[0]])
            rv, tail, _ = op.final()
            assert rv == lib.CKR_OK
            assert got + tail == want


@pytest.mark.parametrize("name", MECHS)
def test_length_query_changes_nothing(name):
    r = rng(f"query-{name}")
    key = r.randbytes(24)
    mech = mech_of(name)
    pt = r.randbytes(64 if name in ("ECB", "CBC") else 70)
    ct = reference(name, key, pt)
    with Op(ENCRYPT, mech, key) as op:
        rv, _, need = op.oneshot(pt, QUERY)
        assert rv == lib.CKR_OK
        assert need == len(ct)
        assert op.oneshot(pt, need) == (lib.CKR_OK, ct, len(ct))
    with Op(DECRYPT, mech, key) as op:
        rv, _, need = op.oneshot(ct, QUERY)
        assert rv == lib.CKR_OK
        # CBC_PAD can only bound the plaintext before decrypting: one byte below the input.
        assert need == (len(ct) - 1 if name == "CBC_PAD" else len(pt))
        assert op.oneshot(ct, need) == (lib.CKR_OK, pt, len(pt))
    with Op(ENCRYPT, mech, key) as op:
        out = b""
        for part in splits(pt, [10, 33]):
            rv, _, need = op.update(part, QUERY)
            assert rv == lib.CKR_OK
            rv, got, n = op.update(part, need)
            assert (rv, n) == (lib.CKR_OK, need)
            out += got
        rv, _, need = op.final(QUERY)
        assert rv == lib.CKR_OK
        rv, got, n = op.final(need)
        assert (rv, n) == (lib.CKR_OK, need)
        assert out + got == ct


@pytest.mark.parametrize("name", MECHS)
def test_buffer_too_small_keeps_operation(name):
    r = rng(f"small-{name}")
    key = r.randbytes(32)
    mech = mech_of(name)
    pt = r.randbytes(48 if name in ("ECB", "CBC") else 50)
    ct = reference(name, key, pt)
    for direction, src, want in ((ENCRYPT, pt, ct), (DECRYPT, ct, pt)):
        with Op(direction, mech, key) as op:
            rv, _, need = op.oneshot(src, 1)
            assert rv == lib.CKR_BUFFER_TOO_SMALL
            assert need == len(want)  # exact, even for CBC_PAD decryption
            assert op.oneshot(src, need) == (lib.CKR_OK, want, len(want))
        with Op(direction, mech, key) as op:
            rv, _, need = op.update(src[:40], 0)
            assert rv == (lib.CKR_BUFFER_TOO_SMALL if need else lib.CKR_OK)
            rv, got, _ = op.update(src[:40], need)
            assert rv == lib.CKR_OK
            rv, got2, _ = op.update(src[40:])
            assert rv == lib.CKR_OK
            rv, _, need = op.final(0)
            if need:
                assert rv == lib.CKR_BUFFER_TOO_SMALL
                rv, got3, _ = op.final(need)
            else:
                rv, got3, _ = op.final(0)
            assert rv == lib.CKR_OK
            assert got + got2 + got3 == want


def cbc_raw(key: bytes, blocks: bytes, iv: bytes = IV) -> bytes:
    enc = Cipher(algorithms.AES(key), modes.CBC(iv)).encryptor()
    return enc.update(blocks) + enc.finalize()


@pytest.mark.parametrize(
    "last",
    [
        bytes(16),                         # pad byte 0
        bytes(15) + b"\x11",               # pad byte 17
        bytes(14) + b"\x01\x02",           # 2 claimed, one byte wrong
        b"\x10" * 15 + b"\x0f",            # 15 claimed, first one wrong? (0x10 != 0x0f)
        b"\x05" * 15 + b"\x10",            # 16 claimed, not all 0x10
        bytes(13) + b"\x04\x03\x03",       # 3 claimed, fine... but byte before is 0x04
    ],
)
def test_cbc_pad_bad_padding(last):
    key = bytes(range(32))
    p = last[-1]
    valid = 1 <= p <= 16 and last.endswith(bytes([p]) * p)
    ct = cbc_raw(key, b"A" * 16 + last)
    mech = mech_of("CBC_PAD")
    rv, _ = run_oneshot(DECRYPT, mech, key, ct)
    assert rv == (lib.CKR_OK if valid else lib.CKR_ENCRYPTED_DATA_INVALID)
    rv, _ = run_parts(DECRYPT, mech, key, [ct[:20], ct[20:]])
    assert rv == (lib.CKR_OK if valid else lib.CKR_ENCRYPTED_DATA_INVALID)


def test_cbc_pad_every_valid_pad_length():
    key = bytes(range(16))
    mech = mech_of("CBC_PAD")
    for p in range(1, 17):
        data = b"x" * (16 - p)
        ct = cbc_raw(key, data + bytes([p]) * p)
        assert run_oneshot(DECRYPT, mech, key, ct) == (lib.CKR_OK, data)
        assert run_parts(DECRYPT, mech, key, [ct]) == (lib.CKR_OK, data)


@pytest.mark.parametrize("name", ["ECB", "CBC"])
def test_block_length_errors(name):
    key = bytes(16)
    mech = mech_of(name)
    assert run_oneshot(ENCRYPT, mech, key, bytes(15))[0] == lib.CKR_DATA_LEN_RANGE
    assert run_oneshot(DECRYPT, mech, key, bytes(17))[0] == lib.CKR_ENCRYPTED_DATA_LEN_RANGE
    assert run_parts(ENCRYPT, mech, key, [bytes(20)])[0] == lib.CKR_DATA_LEN_RANGE
    assert run_parts(DECRYPT, mech, key, [bytes(20)])[0] == lib.CKR_ENCRYPTED_DATA_LEN_RANGE


def test_cbc_pad_length_errors():
    key = bytes(16)
    mech = mech_of("CBC_PAD")
    for n in (0, 1, 15, 17, 31):
        assert run_oneshot(DECRYPT, mech, key, bytes(n))[0] == lib.CKR_ENCRYPTED_DATA_LEN_RANGE
        assert run_parts(DECRYPT, mech, key, [bytes(n)])[0] == lib.CKR_ENCRYPTED_DATA_LEN_RANGE


def test_ctr_counter_exhaustion():
    key = bytes(16)
    for direction, rv_len in ((ENCRYPT, lib.CKR_DATA_LEN_RANGE),
                              (DECRYPT, lib.CKR_ENCRYPTED_DATA_LEN_RANGE)):
        # One counter bit: two counter blocks, 32 bytes, then the counter would repeat.
        mech = ctr_mech(bytes(16), 1)
        assert run_oneshot(direction, mech, key, bytes(32))[0] == lib.CKR_OK
        assert run_oneshot(direction, mech, key, bytes(33))[0] == rv_len
        with Op(direction, mech, key) as op:
            assert op.update(bytes(20))[0] == lib.CKR_OK
            assert op.update(bytes(12))[0] == lib.CKR_OK
            rv, _, n = op.update(bytes(1))
            assert rv == rv_len


def test_ctr_counter_wraps_within_its_bits():
    """ulCounterBits = 8 from 0xfe: the low byte wraps to 0x00, the bytes above stay."""
    key = bytes(range(16))
    start = bytes(range(100, 115)) + b"\xfe"
    blocks = b"".join(start[:15] + bytes([(0xFE + i) & 0xFF]) for i in range(4))
    ecb = Cipher(algorithms.AES(key), modes.ECB()).encryptor()
    keystream = ecb.update(blocks) + ecb.finalize()
    pt = bytes(range(64))
    expect = bytes(a ^ b for a, b in zip(pt, keystream, strict=True))
    assert run_oneshot(ENCRYPT, ctr_mech(start, 8), key, pt) == (lib.CKR_OK, expect)


@pytest.mark.parametrize(
    "mech",
    [
        mechanism(lib.CKM_AES_ECB, b"\0" * 16),
        mechanism(lib.CKM_AES_CBC),
        mechanism(lib.CKM_AES_CBC, bytes(15)),
        mechanism(lib.CKM_AES_CBC_PAD, bytes(17)),
        mechanism(lib.CKM_AES_CBC_PAD, bytes(16), length=8),
        ctr_mech(bytes(16), 0),
        ctr_mech(bytes(16), 129),
        mechanism(lib.CKM_AES_CTR),
        mechanism(lib.CKM_AES_CTR, bytes(16)),
    ],
    ids=["ecb+param", "cbc-none", "cbc-15", "cbcpad-17", "cbcpad-len8", "ctr-0", "ctr-129",
         "ctr-none", "ctr-short"],
)
def test_bad_parameters(mech):
    for direction in (ENCRYPT, DECRYPT):
        assert Op(direction, mech, bytes(16)).rv == lib.CKR_MECHANISM_PARAM_INVALID


@pytest.mark.parametrize("name", MECHS)
def test_key_checks(name):
    mech = mech_of(name)
    for n in (0, 8, 15, 17, 31, 33, 64):
        assert Op(ENCRYPT, mech, bytes(n)).rv == lib.CKR_KEY_SIZE_RANGE
    assert Op(ENCRYPT, mech, bytes(16), lib.CKK_GENERIC_SECRET).rv == lib.CKR_KEY_TYPE_INCONSISTENT
    assert Op(SIGN, mech, bytes(16)).rv == lib.CKR_MECHANISM_INVALID


def test_unknown_mechanism():
    assert Op(ENCRYPT, mechanism(0x80001234), bytes(16)).rv == lib.CKR_MECHANISM_INVALID
    assert Op(ENCRYPT, mechanism(lib.CKM_SHA256), bytes(16)).rv == lib.CKR_MECHANISM_INVALID


def test_started_only_after_data():
    with Op(ENCRYPT, mech_of("CBC"), bytes(16)) as op:
        assert lib.ks_op_started(op.op) == 0
        assert op.update(bytes(16), QUERY)[0] == lib.CKR_OK
        assert lib.ks_op_started(op.op) == 0
        assert op.update(bytes(16), 0)[0] == lib.CKR_BUFFER_TOO_SMALL
        assert lib.ks_op_started(op.op) == 0
        assert op.update(bytes(16))[0] == lib.CKR_OK
        assert lib.ks_op_started(op.op) == 1
        assert lib.ks_op_mechanism(op.op) == lib.CKM_AES_CBC
        assert lib.ks_op_kind_of(op.op) == ENCRYPT


AES_IMPLS = [i for i in (lib.KS_AES_IMPL_AESNI, lib.KS_AES_IMPL_LIBCRYPTO)
             if lib.ks_aes_impl_supported(i)]


@pytest.mark.parametrize("impl", AES_IMPLS, ids=lambda i: f"impl{i}")
@pytest.mark.parametrize("name", MECHS)
def test_every_aes_path(impl, name):
    assert lib.ks_aes_set_impl(impl) == lib.KS_OK
    try:
        r = rng(f"path-{impl}-{name}")
        key, iv = r.randbytes(32), r.randbytes(16)
        mech = mech_of(name, iv)
        for n in lengths_for(name, 300):
            pt = r.randbytes(n)
            ct = reference(name, key, pt, iv)
            assert run_oneshot(ENCRYPT, mech, key, pt) == (lib.CKR_OK, ct), n
            cuts = sorted(r.sample(range(len(ct) + 1), min(len(ct) + 1, 2)))
            assert run_parts(DECRYPT, mech, key, splits(ct, cuts)) == (lib.CKR_OK, pt), n
    finally:
        assert lib.ks_aes_set_impl(lib.KS_AES_IMPL_AUTO) == lib.KS_OK
