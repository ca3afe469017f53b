"""The legacy mechanisms (README, Configuration: ``legacy_mechanisms``): CKM_DES3_KEY_GEN,
CKM_DES3_ECB, CKM_DES3_CBC, CKM_DES3_CBC_PAD and CKM_MD5.

With the setting on (keystead in a subprocess, legacy_worker.py; SoftHSMv2 in-process, which
always has them) every scenario of legacy_cases.py must hold; with it off (the suite's own
keystead, which runs with the defaults) they are absent from C_GetMechanismList and every
use answers CKR_MECHANISM_INVALID.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from keystead.softhsm_bridge.ck import Attribute as A
from keystead.softhsm_bridge.modules import KEYSTEAD

from . import legacy_cases as lc
from .support import assert_rv

ROOT = Path(__file__).resolve().parents[2]


def _run_worker(base: Path, policy: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "KEYSTEAD_CONF"}
    proc = subprocess.run([sys.executable, "-m", "tests.conformance.legacy_worker", str(base),
                           policy], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=300, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def keystead_on(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, str]]:
    """keystead with legacy_mechanisms = on, under each wrap policy: scenario -> outcome."""
    return {p: _run_worker(tmp_path_factory.mktemp(f"legacy-{p}"), p)
            for p in ("strict", "compat")}


# SoftHSMv2 2.6.1, measured by these scenarios.
SOFTHSM_DEVIATIONS = {
    "parity-refused-on-create": "SoftHSMv2 accepts a DES3 key of wrong parity at "
                                "C_CreateObject (CKR_OK); mechanisms 3.0 (DES3 secret key "
                                "objects) makes it an error",
    "parity-refused-on-unwrap": "SoftHSMv2 unwraps DES3 key material of wrong parity "
                                "(CKR_OK); mechanisms 3.0 (DES3 secret key objects) makes it "
                                "an error",
    "bad-iv-length": "SoftHSMv2 answers CKR_MECHANISM_INVALID for a DES3-CBC IV that is not "
                     "8 bytes; the parameter is invalid, not the mechanism "
                     "(CKR_MECHANISM_PARAM_INVALID)",
    "bad-padding": "SoftHSMv2 answers CKR_GENERAL_ERROR for a DES3-CBC-PAD ciphertext whose "
                   "padding is invalid; 5.9 C_Decrypt: CKR_ENCRYPTED_DATA_INVALID",
}


@pytest.mark.parametrize("name", list(lc.CASES), ids=list(lc.CASES))
def test_legacy_on(request, module, raw, rsession, keystead_on, name: str) -> None:
    if module.kind == KEYSTEAD:
        for policy in ("strict", "compat"):
            got = keystead_on[policy][name]
            if got.startswith("skip: "):
                pytest.skip(got[6:])
            assert got == "ok", f"{policy}: {got}"
        return
    if name in SOFTHSM_DEVIATIONS:  # strict: a deviation that goes away fails the test
        request.applymarker(pytest.mark.xfail(reason=SOFTHSM_DEVIATIONS[name], strict=True))
    try:
        lc.CASES[name](raw, rsession)
    except lc.NotHere as exc:
        pytest.skip(str(exc))


@pytest.mark.parametrize("policy,name", [("strict", n) for n in lc.STRICT_CASES] +
                         [("compat", n) for n in lc.COMPAT_CASES])
def test_legacy_on_by_wrap_policy(keystead_on, policy: str, name: str) -> None:
    got = keystead_on[policy][name]
    if got.startswith("skip: "):
        pytest.skip(got[6:])
    assert got == "ok", got


def test_legacy_off_absent(module, raw, rsession) -> None:
    if module.kind != KEYSTEAD:
        pytest.skip("legacy_mechanisms is a keystead setting")
    slot = raw.session_info(rsession)["slot"]
    listed = set(raw.mechanism_list(slot))
    assert not listed & set(lc.LEGACY)
    info = raw.ffi.new("CK_MECHANISM_INFO *")
    for m in lc.LEGACY:
        assert_rv(raw.call("C_GetMechanismInfo", slot, m, info), "CKR_MECHANISM_INVALID")


def test_legacy_off_refused(module, raw, rsession) -> None:
    if module.kind != KEYSTEAD:
        pytest.skip("legacy_mechanisms is a keystead setting")
    h = rsession
    # a DES3 key object can be held (a token may outlive a configuration), not used
    key = raw.create_object(h, lc.des3_key(lc.set_parity(os.urandom(24))))
    for m in lc.CIPHERS:
        mech = raw.mechanism(m, lc._iv(m))
        assert_rv(raw.call("C_EncryptInit", h, mech.ptr, key), "CKR_MECHANISM_INVALID")
        assert_rv(raw.call("C_DecryptInit", h, mech.ptr, key), "CKR_MECHANISM_INVALID")
    assert_rv(raw.call("C_DigestInit", h, raw.mechanism(lc.CKM_MD5).ptr),
              "CKR_MECHANISM_INVALID")
    t = raw.template(lc.des3_key())
    oh = raw.ffi.new("CK_OBJECT_HANDLE *")
    assert_rv(raw.call("C_GenerateKey", h, raw.mechanism(lc.CKM_DES3_KEY_GEN).ptr, t.ptr,
                       t.count, oh), "CKR_MECHANISM_INVALID")
    assert raw.get_attribute(h, key, A.KEY_TYPE) == lc.CKK_DES3.to_bytes(8, "little")


def test_legacy_off_rsa_floor(module, raw, rsession) -> None:
    """Without legacy_mechanisms, RSA keys are 2048 bits at least: the generator reports and
    enforces it (5.18 has no size code: CKR_ATTRIBUTE_VALUE_INVALID on CKA_MODULUS_BITS)."""
    if module.kind != KEYSTEAD:
        pytest.skip("legacy_mechanisms is a keystead setting")
    slot = raw.session_info(rsession)["slot"]
    assert raw.mechanism_info(slot, lc.CKM_RSA_PKCS_KEY_PAIR_GEN)[0] == 2048
    m = raw.mechanism(lc.CKM_RSA_PKCS_KEY_PAIR_GEN)
    tp = raw.template({A.TOKEN: False, A.MODULUS_BITS: 1024})
    tk = raw.template({A.TOKEN: False})
    hp, hk = raw.ffi.new("CK_OBJECT_HANDLE *"), raw.ffi.new("CK_OBJECT_HANDLE *")
    assert_rv(raw.call("C_GenerateKeyPair", rsession, m.ptr, tp.ptr, tp.count, tk.ptr,
                       tk.count, hp, hk), "CKR_ATTRIBUTE_VALUE_INVALID")


def test_legacy_off_rsa_1024_key_not_used(module, raw, rsession) -> None:
    """A 1024-bit RSA key imported with C_CreateObject is held, not used, without
    legacy_mechanisms (CKR_KEY_SIZE_RANGE at the Init)."""
    if module.kind != KEYSTEAD:
        pytest.skip("legacy_mechanisms is a keystead setting")
    slot = raw.session_info(rsession)["slot"]
    if lc.CKM_SHA256_RSA_PKCS not in raw.mechanism_list(slot):
        pytest.skip("no CKM_SHA256_RSA_PKCS in this build")
    from cryptography.hazmat.primitives.asymmetric import rsa

    n = rsa.generate_private_key(65537, 1024).private_numbers()
    def big(v: int) -> bytes:
        return v.to_bytes((v.bit_length() + 7) // 8, "big")
    key = raw.create_object(rsession, {
        A.CLASS: 3, A.KEY_TYPE: 0, A.TOKEN: False, A.SIGN: True,
        A.MODULUS: big(n.public_numbers.n), A.PUBLIC_EXPONENT: big(n.public_numbers.e),
        A.PRIVATE_EXPONENT: big(n.d), A.PRIME_1: big(n.p), A.PRIME_2: big(n.q),
        A.EXPONENT_1: big(n.dmp1), A.EXPONENT_2: big(n.dmq1), A.COEFFICIENT: big(n.iqmp)})
    m = raw.mechanism(lc.CKM_SHA256_RSA_PKCS)
    assert_rv(raw.call("C_SignInit", rsession, m.ptr, key), "CKR_KEY_SIZE_RANGE")
