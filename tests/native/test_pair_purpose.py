"""One key, one purpose (token/pair_policy.h, SP 800-57 Part 1 5.2): under the strict wrap
policy a private key may not both sign and decrypt, nor a public key both verify and
encrypt; compat allows it; a key that already has both may change, never gain them."""

from __future__ import annotations

import itertools

import pytest
from keystead.core import ffi, lib

from tests.native.rules_support import Attrs

SIGNS = (lib.CKA_SIGN, lib.CKA_SIGN_RECOVER)
DECRYPTS = (lib.CKA_DECRYPT, lib.CKA_UNWRAP)
VERIFIES = (lib.CKA_VERIFY, lib.CKA_VERIFY_RECOVER)
ENCRYPTS = (lib.CKA_ENCRYPT, lib.CKA_WRAP)
USAGES = (*SIGNS, *DECRYPTS, *VERIFIES, *ENCRYPTS, lib.CKA_DERIVE)


def config(policy: int):
    cfg = ffi.new("ks_config *")
    cfg.wrap_policy = policy
    return cfg


def key(cls: int, *true: int) -> Attrs:
    a = Attrs()
    a.set(lib.CKA_CLASS, cls)
    for t in USAGES:
        a.set(t, t in true)
    return a


def check(policy: int, after: Attrs, before: Attrs | None = None) -> int:
    return lib.ks_pair_check_purpose(config(policy), before.p if before else ffi.NULL, after.p)


@pytest.mark.parametrize(("cls", "first", "second"), [
    (lib.CKO_PRIVATE_KEY, SIGNS, DECRYPTS),
    (lib.CKO_PUBLIC_KEY, VERIFIES, ENCRYPTS),
])
def test_two_purposes_refused_under_strict_only(cls, first, second) -> None:
    for a, b in itertools.product(first, second):
        both = key(cls, a, b)
        assert check(lib.KS_WRAP_POLICY_STRICT, both) == lib.CKR_TEMPLATE_INCONSISTENT
        assert check(lib.KS_WRAP_POLICY_COMPAT, both) == lib.CKR_OK
        # gaining the second purpose by a change is refused as well
        assert check(lib.KS_WRAP_POLICY_STRICT, both, key(cls, a)) == \
            lib.CKR_TEMPLATE_INCONSISTENT
        # a key made with both under compat may still change (its state, say)
        assert check(lib.KS_WRAP_POLICY_STRICT, both, key(cls, a, b)) == lib.CKR_OK
    for a in (*first, *second):
        assert check(lib.KS_WRAP_POLICY_STRICT, key(cls, a)) == lib.CKR_OK


def test_one_purpose_and_other_classes_pass() -> None:
    strict = lib.KS_WRAP_POLICY_STRICT
    assert check(strict, key(lib.CKO_PRIVATE_KEY, lib.CKA_SIGN, lib.CKA_DERIVE)) == lib.CKR_OK
    assert check(strict, key(lib.CKO_PRIVATE_KEY, lib.CKA_DECRYPT, lib.CKA_UNWRAP)) == lib.CKR_OK
    assert check(strict, key(lib.CKO_PUBLIC_KEY, lib.CKA_ENCRYPT, lib.CKA_WRAP)) == lib.CKR_OK
    # the usages of the other class do not count: a private key's CKA_ENCRYPT is not a purpose
    assert check(strict, key(lib.CKO_PRIVATE_KEY, lib.CKA_SIGN, lib.CKA_ENCRYPT)) == lib.CKR_OK
    # secret keys are the wrap policy's roles' business, not this rule's
    assert check(strict, key(lib.CKO_SECRET_KEY, *USAGES)) == lib.CKR_OK
    assert lib.ks_pair_check_purpose(ffi.NULL, ffi.NULL,
                                     key(lib.CKO_PRIVATE_KEY, *USAGES).p) == lib.CKR_OK
