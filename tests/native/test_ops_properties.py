"""Properties every cipher operation keeps, on random mechanisms, keys, data and splits
(hypothesis): multi-part output equals single-part output, decryption inverts encryption,
and a length query answers at least what the call then writes (exactly, except the
documented bounds of CBC_PAD and KWP decryption)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from keystead.core import lib

from tests.native.ops_support import (
    DECRYPT,
    ENCRYPT,
    QUERY,
    Op,
    ctr_mech,
    gcm_mech,
    mechanism,
    run_oneshot,
    run_parts,
    splits,
)

STREAMING = ["ECB", "CBC", "CBC_PAD", "CTR", "GCM"]
BOUNDED = {"CBC_PAD", "KWP"}


def build(name: str, data: st.DataObject):
    iv = data.draw(st.binary(min_size=16, max_size=16))
    if name == "ECB":
        return mechanism(lib.CKM_AES_ECB)
    if name in ("CBC", "CBC_PAD"):
        return mechanism(getattr(lib, f"CKM_AES_{name}"), iv)
    if name == "CTR":
        return ctr_mech(iv, data.draw(st.integers(min_value=32, max_value=128)))
    if name == "GCM":
        gcm_iv = data.draw(st.binary(min_size=1, max_size=64))
        aad = data.draw(st.binary(max_size=40))
        tag = data.draw(st.sampled_from(list(range(32, 129, 8))))
        return gcm_mech(gcm_iv, aad, tag)
    return mechanism(lib.CKM_AES_KEY_WRAP if name == "KW" else lib.CKM_AES_KEY_WRAP_KWP)


def plaintext(name: str, data: st.DataObject) -> bytes:
    if name in ("ECB", "CBC"):
        return data.draw(st.binary(max_size=20).map(lambda b: b * 16))
    if name == "KW":
        return data.draw(st.integers(min_value=2, max_value=40).map(lambda n: bytes(8 * n)))
    if name == "KWP":
        return data.draw(st.binary(min_size=1, max_size=300))
    return data.draw(st.binary(max_size=300))


def cuts_of(data: st.DataObject, n: int) -> list[int]:
    return sorted(data.draw(st.lists(st.integers(min_value=0, max_value=n), max_size=4)))


@settings(max_examples=300, deadline=None)
@given(name=st.sampled_from(STREAMING), key_len=st.sampled_from([16, 24, 32]), data=st.data())
def test_multi_part_equals_single_part(name, key_len, data):
    key = data.draw(st.binary(min_size=key_len, max_size=key_len))
    mech = build(name, data)
    pt = plaintext(name, data)
    rv, ct = run_oneshot(ENCRYPT, mech, key, pt)
    assert rv == lib.CKR_OK
    assert run_parts(ENCRYPT, mech, key, splits(pt, cuts_of(data, len(pt)))) == (lib.CKR_OK, ct)
    assert run_parts(DECRYPT, mech, key, splits(ct, cuts_of(data, len(ct)))) == (lib.CKR_OK, pt)
    assert run_oneshot(DECRYPT, mech, key, ct) == (lib.CKR_OK, pt)


@settings(max_examples=300, deadline=None)
@given(name=st.sampled_from([*STREAMING, "KW", "KWP"]), data=st.data())
def test_length_query_answers_what_the_call_writes(name, data):
    key = data.draw(st.binary(min_size=16, max_size=16))
    mech = build(name, data)
    pt = plaintext(name, data)
    for direction in (ENCRYPT, DECRYPT):
        src = pt if direction == ENCRYPT else run_oneshot(ENCRYPT, mech, key, pt)[1]
        with Op(direction, mech, key) as op:
            rv, _, need = op.oneshot(src, QUERY)
            assert rv == lib.CKR_OK
            rv, out, got = op.oneshot(src, need)
            assert rv == lib.CKR_OK
            assert got == len(out)
            if direction == DECRYPT and name in BOUNDED:
                assert got <= need
            else:
                assert got == need
