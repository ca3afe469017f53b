"""Property tests of the attribute code: packed templates round-trip, any byte string either
unpacks or is refused with CKR_ATTRIBUTE_VALUE_INVALID, and any template made of known and
unknown types with arbitrary values gets one of the codes PKCS#11 3.0 4.1.1 names, with the
output set left untouched on refusal (valgrind/ASan runs of this file catch memory errors).
"""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from keystead.core import ffi, lib

from tests.native.rules_support import (
    CREATE,
    GENERATE,
    KS_STATE,
    UNWRAP,
    Attrs,
    Raw,
    Template,
    new,
    snapshot,
)

FAST = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
TYPES = [
    lib.CKA_CLASS, lib.CKA_KEY_TYPE, lib.CKA_VALUE, lib.CKA_VALUE_LEN, lib.CKA_LABEL,
    lib.CKA_TOKEN, lib.CKA_SENSITIVE, lib.CKA_EXTRACTABLE, lib.CKA_TRUSTED, lib.CKA_LOCAL,
    lib.CKA_START_DATE, lib.CKA_APPLICATION, lib.CKA_MODULUS, lib.CKA_CHECK_VALUE,
    lib.CKA_ALLOWED_MECHANISMS, lib.CKA_UNIQUE_ID, KS_STATE, 0x7777,
]  # fmt: skip
CODES = {
    lib.CKR_OK, lib.CKR_ATTRIBUTE_TYPE_INVALID, lib.CKR_ATTRIBUTE_VALUE_INVALID,
    lib.CKR_ATTRIBUTE_READ_ONLY, lib.CKR_TEMPLATE_INCOMPLETE, lib.CKR_TEMPLATE_INCONSISTENT,
    lib.CKR_KEY_SIZE_RANGE,
}  # fmt: skip

values = st.one_of(
    st.booleans(),
    st.integers(min_value=0, max_value=2**64 - 1),
    st.binary(max_size=40),
    st.builds(Raw, st.none(), st.integers(min_value=1, max_value=64)),
)
pairs = st.lists(st.tuples(st.sampled_from(TYPES), values), max_size=8)


@FAST
@given(st.lists(st.tuples(st.sampled_from(TYPES), st.binary(max_size=24)), max_size=10,
                unique_by=lambda p: p[0]))
def test_pack_unpack_round_trip(items: list[tuple[int, bytes]]) -> None:
    t = Template(items)
    out = ffi.new("uint8_t **")
    out_len = ffi.new("size_t *")
    assert lib.ks_attrs_pack(out, out_len, t.arr, t.count) == lib.CKR_OK
    s = Attrs()
    assert lib.ks_attrs_unpack(s.p, out[0], out_len[0]) == lib.CKR_OK
    assert snapshot(s) == dict(items)


@FAST
@given(st.binary(max_size=120))
def test_unpack_any_bytes(blob: bytes) -> None:
    s = Attrs()
    buf = ffi.new("uint8_t[]", blob or b"\0")
    rv = lib.ks_attrs_unpack(s.p, buf, len(blob))
    assert rv in (lib.CKR_OK, lib.CKR_ATTRIBUTE_VALUE_INVALID)


@FAST
@given(st.sampled_from([CREATE, GENERATE, UNWRAP]), pairs, pairs)
def test_any_template_gets_a_named_code(origin: int, tmpl: list, extra: list) -> None:
    r = new(origin, tmpl, extra)
    assert r.rv in CODES
    if r.rv != lib.CKR_OK:
        assert r.obj.p.count == 0  # nothing half built
        assert r.why.reason != ffi.NULL
