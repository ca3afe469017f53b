"""CKM_AES_GCM through token/ops.h (PKCS#11 3.0 mechanisms, AES-GCM; SP 800-38D).

Known answers: the GCM spec test cases 1-18 (tests/vectors/gcm_spec.txt), single- and
multi-part, negative cases failing with CKR_ENCRYPTED_DATA_INVALID. Cross-checks with
`cryptography` for every key size and every length 0..1024 (random IVs, AAD and tag
lengths), every tag length 32..128, IV lengths outside cryptography's range against a
reference built here, every split point of a few lengths. Conventions: C_DecryptUpdate
returns nothing, the plaintext comes out of C_DecryptFinal only after the tag verifies, and
a bad tag writes nothing there; length queries and CKR_BUFFER_TOO_SMALL change nothing; malformed
CK_GCM_PARAMS are CKR_MECHANISM_PARAM_INVALID.
"""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from keystead.core import ffi, lib

from tests.native.ops_support import (
    DECRYPT,
    ENCRYPT,
    KEY_SIZES,
    QUERY,
    SIGN,
    Op,
    gcm_mech,
    mechanism,
    rng,
    run_oneshot,
    run_parts,
    splits,
)
from tests.vectors.loader import load

TAG_BITS = list(range(32, 129, 8))


def gf_mul(x: int, y: int) -> int:
    """Multiplication in GF(2^128) with GCM's bit order (SP 800-38D 6.3)."""
    r = 0xE1 << 120
    z = 0
    for i in range(127, -1, -1):
        if (x >> i) & 1:
            z ^= y
        y = (y >> 1) ^ r if y & 1 else y >> 1
    return z


def ghash(h: int, data: bytes) -> int:
    y = 0
    for i in range(0, len(data), 16):
        y = gf_mul(y ^ int.from_bytes(data[i : i + 16].ljust(16, b"\0"), "big"), h)
    return y


def ref_gcm(key: bytes, iv: bytes, aad: bytes, pt: bytes) -> bytes:
    """SP 800-38D 7.1 from AES-ECB and the GHASH above: ciphertext || 16-byte tag."""
    ecb = Cipher(algorithms.AES(key), modes.ECB()).encryptor()
    h = int.from_bytes(ecb.update(bytes(16)), "big")
    if len(iv) == 12:
        j0 = int.from_bytes(iv + b"\0\0\0\1", "big")
    else:
        pad = (16 - len(iv) % 16) % 16
        j0 = ghash(h, iv + bytes(pad + 8) + (len(iv) * 8).to_bytes(8, "big"))

    def block(j: int) -> bytes:
        ctr = (j0 & ~0xFFFFFFFF) | ((j0 + j) & 0xFFFFFFFF)
        return ecb.update(ctr.to_bytes(16, "big"))

    stream = b"".join(block(1 + i) for i in range((len(pt) + 15) // 16))
    ct = bytes(a ^ b for a, b in zip(pt, stream, strict=False))
    lens = (len(aad) * 8).to_bytes(8, "big") + (len(ct) * 8).to_bytes(8, "big")
    pad_a = bytes((16 - len(aad) % 16) % 16)
    pad_c = bytes((16 - len(ct) % 16) % 16)
    s = ghash(h, aad + pad_a + ct + pad_c + lens)
    tag = (s ^ int.from_bytes(block(0), "big")).to_bytes(16, "big")
    return ct + tag


def reference(key: bytes, iv: bytes, aad: bytes, pt: bytes, tag_len: int = 16) -> bytes:
    """ciphertext || tag (truncated to tag_len) from `cryptography` (IVs of 8..128 bytes)."""
    if not 8 <= len(iv) <= 128:
        out = ref_gcm(key, iv, aad, pt)
        return out[: len(pt) + tag_len]
    enc = Cipher(algorithms.AES(key), modes.GCM(iv)).encryptor()
    enc.authenticate_additional_data(aad)
    ct = enc.update(pt) + enc.finalize()
    return ct + enc.tag[:tag_len]


def test_reference_agrees_with_cryptography():
    r = rng("ref")
    for n in (0, 5, 16, 33):
        key, iv, aad, pt = r.randbytes(16), r.randbytes(12 + n % 3), r.randbytes(n), r.randbytes(n)
        assert ref_gcm(key, iv, aad, pt) == reference(key, iv, aad, pt)


@pytest.mark.parametrize("vec", load("gcm_spec.txt"), ids=str)
def test_spec_vectors(vec):
    with vec:
        vec.text("Source")
        key, iv, aad = vec.hex("Key"), vec.hex("IV"), vec.hex("AAD")
        pt, ct, tag = vec.hex("Plaintext"), vec.hex("Ciphertext"), vec.hex("Tag")
        result = vec.text("Result")
    mech = gcm_mech(iv, aad, len(tag) * 8)
    if result == "PASS":
        assert run_oneshot(ENCRYPT, mech, key, pt) == (lib.CKR_OK, ct + tag)
        assert run_oneshot(DECRYPT, mech, key, ct + tag) == (lib.CKR_OK, pt)
        assert run_parts(ENCRYPT, mech, key, splits(pt, [min(7, len(pt))])) == (
            lib.CKR_OK, ct + tag)
        assert run_parts(DECRYPT, mech, key, splits(ct + tag, [len(ct) // 2])) == (
            lib.CKR_OK, pt)
    else:
        assert run_oneshot(DECRYPT, mech, key, ct + tag)[0] == lib.CKR_ENCRYPTED_DATA_INVALID
        assert run_parts(DECRYPT, mech, key, [ct, tag])[0] == lib.CKR_ENCRYPTED_DATA_INVALID


@pytest.mark.parametrize("key_len", KEY_SIZES)
def test_every_length_against_cryptography(key_len):
    r = rng(f"gcm-{key_len}")
    key = r.randbytes(key_len)
    for n in range(0, 1025):
        iv = r.randbytes(r.choice((12, 12, 8, 16, 60, 128)))
        aad = r.randbytes(r.choice((0, 1, 16, 20, 64)))
        tag_bits = r.choice(TAG_BITS)
        pt = r.randbytes(n)
        expect = reference(key, iv, aad, pt, tag_bits // 8)
        mech = gcm_mech(iv, aad, tag_bits)
        assert run_oneshot(ENCRYPT, mech, key, pt) == (lib.CKR_OK, expect), n
        assert run_oneshot(DECRYPT, mech, key, expect) == (lib.CKR_OK, pt), n


@pytest.mark.parametrize("tag_bits", TAG_BITS)
def test_every_tag_length(tag_bits):
    r = rng(f"tag-{tag_bits}")
    key, iv, aad, pt = r.randbytes(32), r.randbytes(12), r.randbytes(13), r.randbytes(77)
    expect = reference(key, iv, aad, pt, tag_bits // 8)
    mech = gcm_mech(iv, aad, tag_bits)
    assert run_oneshot(ENCRYPT, mech, key, pt) == (lib.CKR_OK, expect)
    assert run_oneshot(DECRYPT, mech, key, expect) == (lib.CKR_OK, pt)
    bad = expect[:-1] + bytes([expect[-1] ^ 1])
    assert run_oneshot(DECRYPT, mech, key, bad)[0] == lib.CKR_ENCRYPTED_DATA_INVALID


@pytest.mark.parametrize("iv_len", [1, 2, 7, 11, 13, 129, 256, 1000])
def test_iv_lengths_outside_cryptography(iv_len):
    r = rng(f"iv-{iv_len}")
    key, iv, aad, pt = r.randbytes(16), r.randbytes(iv_len), r.randbytes(5), r.randbytes(40)
    expect = reference(key, iv, aad, pt)
    mech = gcm_mech(iv, aad)
    assert run_oneshot(ENCRYPT, mech, key, pt) == (lib.CKR_OK, expect)
    assert run_oneshot(DECRYPT, mech, key, expect) == (lib.CKR_OK, pt)


def test_iv_bits_is_not_the_iv_length():
    """ulIvBits is informational in 3.0: a value that disagrees with ulIvLen changes nothing."""
    key, iv = bytes(16), bytes(range(12))
    expect = reference(key, iv, b"", b"data")
    for iv_bits in (0, 8, 96, 12345):
        assert run_oneshot(ENCRYPT, gcm_mech(iv, b"", 128, iv_bits), key, b"data") == (
            lib.CKR_OK, expect)


def test_every_split_point():
    r = rng("split")
    key, iv, aad = r.randbytes(24), r.randbytes(12), r.randbytes(20)
    mech = gcm_mech(iv, aad, 96)
    for n in (0, 1, 15, 16, 17, 40, 100):
        pt = r.randbytes(n)
        full = reference(key, iv, aad, pt, 12)
        for cut in range(n + 1):
            assert run_parts(ENCRYPT, mech, key, splits(pt, [cut])) == (lib.CKR_OK, full)
        for cut in range(len(full) + 1):
            assert run_parts(DECRYPT, mech, key, splits(full, [cut])) == (lib.CKR_OK, pt)
        for cut in range(0, len(full) + 1, 5):
            cuts = sorted({cut, (cut * 3 + 1) % (len(full) + 1)})
            assert run_parts(DECRYPT, mech, key, splits(full, cuts)) == (lib.CKR_OK, pt)


def test_decrypt_update_returns_nothing_until_the_tag_verifies():
    r = rng("hold")
    key, iv, pt = r.randbytes(16), r.randbytes(12), r.randbytes(5000)
    full = reference(key, iv, b"", pt)
    with Op(DECRYPT, gcm_mech(iv), key) as op:
        for part in splits(full, [1, 100, 4096, 5001]):
            rv, _, need = op.update(part, QUERY)
            assert (rv, need) == (lib.CKR_OK, 0)
            assert op.update(part, 0) == (lib.CKR_OK, b"", 0)
        rv, _, need = op.final(QUERY)
        assert (rv, need) == (lib.CKR_OK, len(pt))
        rv, _, need = op.final(10)
        assert (rv, need) == (lib.CKR_BUFFER_TOO_SMALL, len(pt))
        assert op.final(len(pt)) == (lib.CKR_OK, pt, len(pt))


def _fail_unwritten(call, plain_len: int) -> None:
    """call(buffer, n) must fail with CKR_ENCRYPTED_DATA_INVALID and write nothing there: the
    plaintext is staged in module memory until the tag verifies."""
    size = 64
    buf = ffi.new("uint8_t[]", b"\xaa" * size)
    n = ffi.new("CK_ULONG *", size)
    assert call(buf, n) == lib.CKR_ENCRYPTED_DATA_INVALID
    assert plain_len <= size and bytes(buf[0:size]) == b"\xaa" * size


def test_bad_tag_writes_nothing():
    r = rng("wipe")
    key, iv, pt = r.randbytes(32), r.randbytes(12), r.randbytes(40)
    full = bytearray(reference(key, iv, b"", pt))
    full[-3] ^= 0x80
    bad = bytes(full)
    with Op(DECRYPT, gcm_mech(iv), key) as op:
        _fail_unwritten(lambda buf, n: lib.ks_op_oneshot(op.op, buf, n, bad, len(bad)), len(pt))
    with Op(DECRYPT, gcm_mech(iv), key) as op:
        assert op.update(bad[:30])[0] == lib.CKR_OK
        assert op.update(bad[30:])[0] == lib.CKR_OK
        _fail_unwritten(lambda buf, n: lib.ks_op_final(op.op, buf, n), len(pt))
    # A flipped ciphertext bit, AAD or IV is caught the same way.
    good = reference(key, iv, b"aad", pt)
    flipped = bytes([good[0] ^ 1]) + good[1:]
    assert run_oneshot(DECRYPT, gcm_mech(iv, b"aad"), key, flipped)[0] == (
        lib.CKR_ENCRYPTED_DATA_INVALID)
    assert run_oneshot(DECRYPT, gcm_mech(iv, b"aae"), key, good)[0] == (
        lib.CKR_ENCRYPTED_DATA_INVALID)
    assert run_oneshot(DECRYPT, gcm_mech(iv[:-1] + b"\0", b"aad"), key, good)[0] == (
        lib.CKR_ENCRYPTED_DATA_INVALID)


def test_length_queries_and_short_buffers():
    r = rng("len")
    key, iv, aad, pt = r.randbytes(16), r.randbytes(12), r.randbytes(3), r.randbytes(50)
    full = reference(key, iv, aad, pt, 15)
    mech = gcm_mech(iv, aad, 120)
    with Op(ENCRYPT, mech, key) as op:
        assert op.oneshot(pt, QUERY)[::2] == (lib.CKR_OK, len(full))
        assert op.oneshot(pt, len(full) - 1)[::2] == (lib.CKR_BUFFER_TOO_SMALL, len(full))
        assert op.oneshot(pt, len(full)) == (lib.CKR_OK, full, len(full))
    with Op(DECRYPT, mech, key) as op:
        assert op.oneshot(full, QUERY)[::2] == (lib.CKR_OK, len(pt))
        assert op.oneshot(full, len(pt) - 1)[::2] == (lib.CKR_BUFFER_TOO_SMALL, len(pt))
        assert op.oneshot(full, len(pt)) == (lib.CKR_OK, pt, len(pt))
    with Op(ENCRYPT, mech, key) as op:
        assert op.update(pt[:20], QUERY)[::2] == (lib.CKR_OK, 20)
        assert op.update(pt[:20], 19)[::2] == (lib.CKR_BUFFER_TOO_SMALL, 20)
        rv1, c1, _ = op.update(pt[:20])
        rv2, c2, _ = op.update(pt[20:])
        assert op.final(QUERY)[::2] == (lib.CKR_OK, 15)
        assert op.final(14)[::2] == (lib.CKR_BUFFER_TOO_SMALL, 15)
        rv3, t, _ = op.final(15)
        assert (rv1, rv2, rv3) == (lib.CKR_OK,) * 3
        assert c1 + c2 + t == full


def test_in_place_single_part():
    r = rng("inplace")
    key, iv, pt = r.randbytes(16), r.randbytes(12), r.randbytes(100)
    full = reference(key, iv, b"", pt)
    with Op(ENCRYPT, gcm_mech(iv), key) as op:
        buf = ffi.new("uint8_t[]", pt + bytes(16))
        n = ffi.new("CK_ULONG *", len(pt) + 16)
        assert lib.ks_op_oneshot(op.op, buf, n, buf, len(pt)) == lib.CKR_OK
        assert bytes(buf[0 : n[0]]) == full
    with Op(DECRYPT, gcm_mech(iv), key) as op:
        buf = ffi.new("uint8_t[]", full)
        n = ffi.new("CK_ULONG *", len(full))
        assert lib.ks_op_oneshot(op.op, buf, n, buf, len(full)) == lib.CKR_OK
        assert bytes(buf[0 : n[0]]) == pt


def test_input_shorter_than_tag():
    key, iv = bytes(16), bytes(12)
    mech = gcm_mech(iv, b"", 128)
    assert run_oneshot(DECRYPT, mech, key, bytes(15))[0] == lib.CKR_ENCRYPTED_DATA_LEN_RANGE
    assert run_parts(DECRYPT, mech, key, [bytes(7), bytes(8)])[0] == (
        lib.CKR_ENCRYPTED_DATA_LEN_RANGE)
    # Exactly a tag: an empty plaintext.
    tag = reference(key, iv, b"", b"")
    assert run_oneshot(DECRYPT, mech, key, tag) == (lib.CKR_OK, b"")


def _raw_gcm(**fields) -> object:
    p = ffi.new("CK_GCM_PARAMS *")
    iv = ffi.new("CK_BYTE[16]")
    p.pIv, p.ulIvLen, p.ulIvBits = iv, 12, 96
    p.pAAD, p.ulAADLen, p.ulTagBits = ffi.NULL, 0, 128
    for name, value in fields.items():
        setattr(p, name, value)
    mech = mechanism(lib.CKM_AES_GCM, p)
    mech.keep.append(iv)
    return mech


@pytest.mark.parametrize(
    "fields",
    [
        {"ulIvLen": 0},
        {"pIv": ffi.NULL},
        {"ulIvLen": 1 << 32},
        {"ulAADLen": 5},
        {"ulAADLen": 1 << 32},
        {"ulTagBits": 0},
        {"ulTagBits": 24},
        {"ulTagBits": 33},
        {"ulTagBits": 100},
        {"ulTagBits": 136},
    ],
    ids=str,
)
def test_bad_parameters(fields):
    mech = _raw_gcm(**fields)
    for direction in (ENCRYPT, DECRYPT):
        assert Op(direction, mech, bytes(16)).rv == lib.CKR_MECHANISM_PARAM_INVALID


def test_parameter_shape():
    assert Op(ENCRYPT, mechanism(lib.CKM_AES_GCM), bytes(16)).rv == (
        lib.CKR_MECHANISM_PARAM_INVALID)
    good = _raw_gcm()
    short = mechanism(lib.CKM_AES_GCM, good.ptr.pParameter, length=40)
    short.keep.append(good)
    assert Op(ENCRYPT, short, bytes(16)).rv == lib.CKR_MECHANISM_PARAM_INVALID
    assert Op(ENCRYPT, good, bytes(16)).rv == lib.CKR_OK
    assert Op(ENCRYPT, good, bytes(20)).rv == lib.CKR_KEY_SIZE_RANGE
    assert Op(ENCRYPT, good, bytes(16), lib.CKK_GENERIC_SECRET).rv == (
        lib.CKR_KEY_TYPE_INCONSISTENT)
    assert Op(SIGN, good, bytes(16)).rv == lib.CKR_MECHANISM_INVALID


GCM_IMPLS = [i for i in (lib.KS_GCM_IMPL_VAES512, lib.KS_GCM_IMPL_VAES256, lib.KS_GCM_IMPL_AESNI,
                         lib.KS_GCM_IMPL_LIBCRYPTO) if lib.ks_gcm_impl_supported(i)]


@pytest.fixture(params=GCM_IMPLS, ids=lambda i: f"impl{i}")
def gcm_impl(request):
    """Force each GCM (and, for libcrypto, AES) path the processor has, then restore."""
    impl = request.param
    assert lib.ks_gcm_set_impl(impl) == lib.KS_OK
    forced_aes = impl == lib.KS_GCM_IMPL_LIBCRYPTO
    if forced_aes:
        assert lib.ks_aes_set_impl(lib.KS_AES_IMPL_LIBCRYPTO) == lib.KS_OK
    try:
        yield impl
    finally:
        assert lib.ks_gcm_set_impl(lib.KS_GCM_IMPL_AUTO) == lib.KS_OK
        if forced_aes:
            assert lib.ks_aes_set_impl(lib.KS_AES_IMPL_AUTO) == lib.KS_OK


def test_every_dispatch_path(gcm_impl):
    r = rng(f"path-{gcm_impl}")
    key, aad = r.randbytes(32), r.randbytes(21)
    for n in list(range(0, 300)) + [511, 512, 513, 1024, 4096]:
        iv = r.randbytes(r.choice((12, 16)))
        pt = r.randbytes(n)
        full = reference(key, iv, aad, pt)
        mech = gcm_mech(iv, aad)
        assert run_oneshot(ENCRYPT, mech, key, pt) == (lib.CKR_OK, full), n
        assert run_oneshot(DECRYPT, mech, key, full) == (lib.CKR_OK, pt), n
        cuts = sorted(r.sample(range(n + 1), min(n + 1, 3)))
        assert run_parts(ENCRYPT, mech, key, splits(pt, cuts)) == (lib.CKR_OK, full), n
        assert run_parts(DECRYPT, mech, key, splits(full, cuts)) == (lib.CKR_OK, pt), n
    bad = reference(key, bytes(12), b"", b"x" * 40)
    bad = bad[:-1] + bytes([bad[-1] ^ 1])
    assert run_oneshot(DECRYPT, gcm_mech(bytes(12)), key, bad)[0] == (
        lib.CKR_ENCRYPTED_DATA_INVALID)
