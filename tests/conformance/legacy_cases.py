"""The legacy mechanisms (README, Configuration: ``legacy_mechanisms``) as scenarios that run
on a raw session: CKM_DES3_KEY_GEN, CKM_DES3_ECB, CKM_DES3_CBC, CKM_DES3_CBC_PAD and CKM_MD5,
cross-checked against the ``cryptography`` package both ways, NIST CAVP TDES vectors (the
``cryptography_vectors`` package) and the RFC 1321 MD5 suite.

Each scenario is ``f(raw, h) -> None`` and raises on a deviation. test_legacy.py runs them
in-process against SoftHSMv2 (which always has these mechanisms) and, for keystead, in a
subprocess whose configuration turns ``legacy_mechanisms`` on (legacy_worker.py): a module
reads its configuration once per process.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from keystead.softhsm_bridge.ck import Attribute as A
from keystead.softhsm_bridge.ck import KeyType, Mechanism, ObjectClass
from keystead.softhsm_bridge.errors import CKR_OK, rv_name, rv_value
from keystead.softhsm_bridge.raw import RawModule

try:  # cryptography 43 moved TripleDES to the decrepit module
    from cryptography.hazmat.decrepit.ciphers.algorithms import TripleDES
except ImportError:  # pragma: no cover - older cryptography
    from cryptography.hazmat.primitives.ciphers.algorithms import TripleDES  # type: ignore
from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, modes

CKK_DES3 = 0x15
CKM_DES3_KEY_GEN = 0x131
CKM_DES3_ECB = 0x132
CKM_DES3_CBC = 0x133
CKM_DES3_CBC_PAD = 0x136
CKM_MD5 = 0x210
CKM_RSA_PKCS_KEY_PAIR_GEN = 0x0
CKM_RSA_PKCS = 0x1
CKM_SHA256_RSA_PKCS = 0x40
LEGACY = (CKM_DES3_KEY_GEN, CKM_DES3_ECB, CKM_DES3_CBC, CKM_DES3_CBC_PAD, CKM_MD5)
CIPHERS = (CKM_DES3_ECB, CKM_DES3_CBC, CKM_DES3_CBC_PAD)

Scenario = Callable[[RawModule, int], None]


def set_parity(key: bytes) -> bytes:
    """Odd parity in every byte (FIPS 46-3); the cipher ignores the low bits."""
    return bytes((b & 0xFE) | (bin(b >> 1).count("1") + 1) % 2 for b in key)


def parity_ok(key: bytes) -> bool:
    return all(bin(b).count("1") % 2 == 1 for b in key)


def des3_key(value: bytes | None = None, **extra: Any) -> dict[int, Any]:
    t: dict[int, Any] = {
        A.CLASS: ObjectClass.SECRET_KEY, A.KEY_TYPE: CKK_DES3, A.TOKEN: False,
        A.ENCRYPT: True, A.DECRYPT: True, A.EXTRACTABLE: True, A.SENSITIVE: False,
    }
    if value is not None:
        t[A.VALUE] = value
    t.update({A[k]: v for k, v in extra.items()})
    return t


def ref(mech: int, key: bytes, iv: bytes | None, data: bytes, encrypt: bool) -> bytes:
    """The same operation through the cryptography package."""
    mode = modes.ECB() if mech == CKM_DES3_ECB else modes.CBC(iv or b"")
    c = Cipher(TripleDES(key), mode)
    if encrypt:
        if mech == CKM_DES3_CBC_PAD:
            p = padding.PKCS7(64).padder()
            data = p.update(data) + p.finalize()
        e = c.encryptor()
        return e.update(data) + e.finalize()
    d = c.decryptor()
    out = d.update(data) + d.finalize()
    if mech == CKM_DES3_CBC_PAD:
        u = padding.PKCS7(64).unpadder()
        out = u.update(out) + u.finalize()
    return out


def call_rv(raw: RawModule, fn: str, *args: Any) -> int:
    return raw.call(fn, *args)


def expect(rv: int, name: str, what: str) -> None:
    want = CKR_OK if name == "CKR_OK" else rv_value(name)
    if rv != want:
        raise AssertionError(f"{what}: got {rv_name(rv)}, spec requires {name}")


def _iv(mech: int) -> bytes | None:
    return None if mech == CKM_DES3_ECB else bytes(range(8))


def _multi(raw: RawModule, what: str, h: int, mech: int, key: int, data: bytes,
           iv: bytes | None, cuts: tuple[int, ...]) -> bytes:
    raw.op_init(what, h, mech, key, iv)
    out = b""
    pos = 0
    for cut in (*cuts, len(data)):
        out += raw.update(what, h, data[pos:cut])
        pos = cut
    return out + raw.final(what, h)


# -- scenarios ------------------------------------------------------------------------------


def mechanisms_listed(raw: RawModule, h: int) -> None:
    slot = raw.session_info(h)["slot"]
    listed = set(raw.mechanism_list(slot))
    missing = [hex(m) for m in LEGACY if m not in listed]
    assert not missing, f"not listed: {missing}"
    for m in CIPHERS:
        _, _, flags = raw.mechanism_info(slot, m)
        assert flags & 0x300 == 0x300, f"{m:#x}: CKF_ENCRYPT|CKF_DECRYPT missing ({flags:#x})"
    assert raw.mechanism_info(slot, CKM_MD5)[2] & 0x400, "CKM_MD5 without CKF_DIGEST"


def keygen_parity_and_attributes(raw: RawModule, h: int) -> None:
    for _ in range(8):
        k = raw.generate_key(h, CKM_DES3_KEY_GEN, des3_key())
        value = raw.get_attribute(h, k, A.VALUE)
        assert len(value) == 24, len(value)
        assert parity_ok(value), f"parity not set: {value.hex()}"
        assert raw.get_attribute(h, k, A.KEY_TYPE) == CKK_DES3.to_bytes(8, "little")
        assert raw.get_attribute(h, k, A.LOCAL) == b"\x01"
        gen = int.from_bytes(raw.get_attribute(h, k, A.KEY_GEN_MECHANISM), "little")
        assert gen == CKM_DES3_KEY_GEN, hex(gen)
        # 4.10: the first three bytes of the ECB encryption of a zero block
        kcv = ref(CKM_DES3_ECB, value, None, bytes(8), True)[:3]
        assert raw.get_attribute(h, k, A.CHECK_VALUE) == kcv


def keygen_value_len_fixed(raw: RawModule, h: int) -> None:
    """A DES3 key is 24 bytes: CKA_VALUE_LEN, not part of the key type, cannot ask another."""
    m = raw.mechanism(CKM_DES3_KEY_GEN)
    t = raw.template({**des3_key(), A.VALUE_LEN: 16})
    oh = raw.ffi.new("CK_OBJECT_HANDLE *")
    rv = raw.call("C_GenerateKey", h, m.ptr, t.ptr, t.count, oh)
    assert rv != CKR_OK, "a 16-byte DES3 key was generated"


def crosscheck_both_ways(raw: RawModule, h: int) -> None:
    rng = os.urandom
    for mech in CIPHERS:
        key = set_parity(rng(24))
        hk = raw.create_object(h, des3_key(key))
        lengths = range(0, 41) if mech == CKM_DES3_CBC_PAD else range(0, 65, 8)
        for n in lengths:
            data, iv = rng(n), _iv(mech)
            ct = raw.encrypt(h, mech, hk, data, iv)
            assert ct == ref(mech, key, iv, data, True), f"{mech:#x} n={n} encrypt"
            other = ref(mech, key, iv, data, True)
            assert raw.decrypt(h, mech, hk, other, iv) == data, f"{mech:#x} n={n} decrypt"


def multipart_matches_single(raw: RawModule, h: int) -> None:
    for mech in CIPHERS:
        key = set_parity(os.urandom(24))
        hk = raw.create_object(h, des3_key(key))
        data = os.urandom(64 if mech != CKM_DES3_CBC_PAD else 61)
        iv = _iv(mech)
        for cuts in ((), (1,), (7, 8, 9), (3, 21, 40), (16, 32, 48)):
            ct = _multi(raw, "Encrypt", h, mech, hk, data, iv, cuts)
            assert ct == ref(mech, key, iv, data, True), f"{mech:#x} cuts={cuts}"
            pt = _multi(raw, "Decrypt", h, mech, hk, ct, iv, cuts)
            assert pt == data, f"{mech:#x} cuts={cuts} decrypt"


def _rsp(path: Path) -> Iterator[tuple[str, dict[str, str]]]:
    section = ""
    rec: dict[str, str] = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if line.startswith("[") and line.endswith("]"):
            section = line[1:-1]
        elif " = " in line:
            k, v = line.split(" = ", 1)
            rec[k] = v
        elif not line and rec:
            yield section, rec
            rec = {}
    if rec:
        yield section, rec


def vectors_dir() -> Path:
    import cryptography_vectors

    return Path(cryptography_vectors.__file__).parent


def nist_tdes_known_answers(raw: RawModule, h: int) -> None:
    base = vectors_dir() / "ciphers" / "3DES"
    files = {CKM_DES3_ECB: base / "ECB" / "TECBMMT3.rsp", CKM_DES3_CBC: base / "CBC" /
             "TCBCMMT3.rsp"}
    count = 0
    for mech, path in files.items():
        for section, v in _rsp(path):
            if "KEY1" not in v:
                continue
            key = bytes.fromhex(v["KEY1"] + v["KEY2"] + v["KEY3"])
            key = set_parity(key)  # the cipher ignores parity bits
            iv = bytes.fromhex(v["IV"]) if "IV" in v else None
            pt, ct = bytes.fromhex(v["PLAINTEXT"]), bytes.fromhex(v["CIPHERTEXT"])
            hk = raw.create_object(h, des3_key(key))
            if section == "ENCRYPT":
                assert raw.encrypt(h, mech, hk, pt, iv) == ct, f"{path.name} {v['COUNT']}"
            else:
                assert raw.decrypt(h, mech, hk, ct, iv) == pt, f"{path.name} {v['COUNT']}"
            raw.destroy_object(h, hk)
            count += 1
    assert count >= 40, count


def bad_inputs(raw: RawModule, h: int) -> None:
    hk = raw.create_object(h, des3_key(set_parity(os.urandom(24))))
    # ECB and CBC take whole blocks; CBC_PAD's ciphertext is whole blocks
    for mech, what, rv in ((CKM_DES3_ECB, "Encrypt", "CKR_DATA_LEN_RANGE"),
                           (CKM_DES3_CBC, "Encrypt", "CKR_DATA_LEN_RANGE"),
                           (CKM_DES3_CBC, "Decrypt", "CKR_ENCRYPTED_DATA_LEN_RANGE"),
                           (CKM_DES3_CBC_PAD, "Decrypt", "CKR_ENCRYPTED_DATA_LEN_RANGE")):
        raw.op_init(what, h, mech, hk, _iv(mech))
        rv_got, _, _ = raw.call_out(f"C_{what}", h, b"x" * 12, 12, capacity=64)
        expect(rv_got, rv, f"{mech:#x} C_{what} of 12 bytes")
    # an AES key is not a DES3 key
    aes = raw.create_object(h, {**des3_key(os.urandom(16)), A.KEY_TYPE: KeyType.AES})
    m = raw.mechanism(CKM_DES3_ECB)
    expect(raw.call("C_EncryptInit", h, m.ptr, aes), "CKR_KEY_TYPE_INCONSISTENT", "AES key")


def bad_padding(raw: RawModule, h: int) -> None:
    """CBC_PAD decryption whose last block does not end in valid PKCS#7 padding."""
    hk = raw.create_object(h, des3_key(set_parity(os.urandom(24))))
    key = raw.get_attribute(h, hk, A.VALUE)
    forged = Cipher(TripleDES(key), modes.CBC(bytes(range(8)))).encryptor().update(bytes(8))
    raw.op_init("Decrypt", h, CKM_DES3_CBC_PAD, hk, bytes(range(8)))
    rv_got, _, _ = raw.call_out("C_Decrypt", h, forged, 8, capacity=64)
    expect(rv_got, "CKR_ENCRYPTED_DATA_INVALID", "zero padding byte")


def bad_iv_length(raw: RawModule, h: int) -> None:
    """Mechanisms 3.0, DES3-CBC: the parameter is an 8-byte IV."""
    hk = raw.create_object(h, des3_key(set_parity(os.urandom(24))))
    for mech in (CKM_DES3_CBC, CKM_DES3_CBC_PAD):
        for iv in (bytes(16), bytes(7)):
            m = raw.mechanism(mech, iv)
            expect(raw.call("C_EncryptInit", h, m.ptr, hk), "CKR_MECHANISM_PARAM_INVALID",
                   f"{mech:#x} with a {len(iv)}-byte IV")


def parity_refused_on_create(raw: RawModule, h: int) -> None:
    """Mechanisms 3.0, DES3 secret key objects: creating a key of wrong parity is an error."""
    bad = bytearray(set_parity(os.urandom(24)))
    bad[5] ^= 1
    t = raw.template(des3_key(bytes(bad)))
    oh = raw.ffi.new("CK_OBJECT_HANDLE *")
    expect(raw.call("C_CreateObject", h, t.ptr, t.count, oh), "CKR_ATTRIBUTE_VALUE_INVALID",
           "a DES3 key of wrong parity")


def parity_refused_on_unwrap(raw: RawModule, h: int) -> None:
    """The same rule at C_UnwrapKey: wrapped DES3 key material of wrong parity is an invalid
    wrapped key (CKR_WRAPPED_KEY_INVALID); of right parity it unwraps."""
    from cryptography.hazmat.primitives.keywrap import aes_key_wrap

    kek_value = os.urandom(32)
    kek = raw.create_object(h, {
        A.CLASS: ObjectClass.SECRET_KEY, A.KEY_TYPE: KeyType.AES, A.TOKEN: False,
        A.UNWRAP: True, A.VALUE: kek_value})
    good = set_parity(os.urandom(24))
    bad = bytearray(good)
    bad[11] ^= 1
    m = raw.mechanism(Mechanism.AES_KEY_WRAP)
    t = raw.template(des3_key())
    oh = raw.ffi.new("CK_OBJECT_HANDLE *")
    wrapped = aes_key_wrap(kek_value, bytes(bad))
    expect(raw.call("C_UnwrapKey", h, m.ptr, kek, wrapped, len(wrapped), t.ptr, t.count, oh),
           "CKR_WRAPPED_KEY_INVALID", "a wrapped DES3 key of wrong parity")
    back = raw.unwrap_key(h, Mechanism.AES_KEY_WRAP, kek, aes_key_wrap(kek_value, good),
                          des3_key())
    assert raw.get_attribute(h, back, A.VALUE) == good


def md5_known_answers(raw: RawModule, h: int) -> None:
    text = (vectors_dir() / "hashes" / "MD5" / "rfc-1321.txt").read_text()
    vectors = []
    rec: dict[str, str] = {}
    for line in text.splitlines():
        if " = " in line:
            k, v = line.split(" = ", 1)
            rec[k.strip()] = v.strip()
            if k.strip() == "MD":
                vectors.append(rec)
                rec = {}
    assert len(vectors) == 7, len(vectors)
    for v in vectors:
        msg = bytes.fromhex(v["Msg"])[: int(v["Len"]) // 8]
        raw.op_init("Digest", h, CKM_MD5, 0)
        assert raw.single("Digest", h, msg).hex() == v["MD"], v
    for n in (0, 1, 55, 56, 63, 64, 65, 1000):
        data = os.urandom(n)
        raw.op_init("Digest", h, CKM_MD5, 0)
        assert raw.single("Digest", h, data) == hashlib.md5(data).digest(), n
        raw.op_init("Digest", h, CKM_MD5, 0)
        raw.update("Digest", h, data[: n // 3])
        raw.update("Digest", h, data[n // 3:])
        assert raw.final("Digest", h) == hashlib.md5(data).digest(), n


def des3_key_carried_by_aes_kw(raw: RawModule, h: int) -> None:
    """A DES3 key leaves and re-enters the token under an AES key-wrap key, intact."""
    kek = raw.create_object(h, {
        A.CLASS: ObjectClass.SECRET_KEY, A.KEY_TYPE: KeyType.AES, A.TOKEN: False,
        A.WRAP: True, A.UNWRAP: True, A.VALUE: os.urandom(32)})
    k = raw.generate_key(h, CKM_DES3_KEY_GEN, des3_key())
    wrapped = raw.wrap_key(h, Mechanism.AES_KEY_WRAP, kek, k)
    back = raw.unwrap_key(h, Mechanism.AES_KEY_WRAP, kek, wrapped, des3_key())
    assert raw.get_attribute(h, back, A.VALUE) == raw.get_attribute(h, k, A.VALUE)


def des3_wraps_and_unwraps(raw: RawModule, h: int) -> None:
    """Under a policy that lets them carry keys: CKM_DES3_CBC_PAD wraps and unwraps."""
    kek_value = set_parity(os.urandom(24))
    kek = raw.create_object(h, des3_key(kek_value, WRAP=True, UNWRAP=True))
    secret = os.urandom(16)
    target = raw.create_object(h, {
        A.CLASS: ObjectClass.SECRET_KEY, A.KEY_TYPE: KeyType.AES, A.TOKEN: False,
        A.EXTRACTABLE: True, A.SENSITIVE: False, A.VALUE: secret})
    iv = bytes(range(8))
    wrapped = raw.wrap_key(h, CKM_DES3_CBC_PAD, kek, target, iv)
    assert wrapped == ref(CKM_DES3_CBC_PAD, kek_value, iv, secret, True)
    back = raw.unwrap_key(h, CKM_DES3_CBC_PAD, kek, wrapped, {
        A.CLASS: ObjectClass.SECRET_KEY, A.KEY_TYPE: KeyType.AES, A.TOKEN: False,
        A.EXTRACTABLE: True, A.SENSITIVE: False}, iv)
    assert raw.get_attribute(h, back, A.VALUE) == secret


def strict_des3_carries_no_keys(raw: RawModule, h: int) -> None:
    """keystead's strict wrap policy: only the authenticated key-wrap mechanisms carry keys,
    so the DES3 mechanisms have no CKF_WRAP/CKF_UNWRAP and C_WrapKey refuses them for a
    secret the token made as it refuses CKM_AES_CBC_PAD (README, Wrap policy)."""
    slot = raw.session_info(h)["slot"]
    for m in CIPHERS:
        assert raw.mechanism_info(slot, m)[2] & 0x60000 == 0, hex(m)
    kek = raw.create_object(h, des3_key(set_parity(os.urandom(24)), WRAP=True))
    aes_kek = raw.create_object(h, {
        A.CLASS: ObjectClass.SECRET_KEY, A.KEY_TYPE: KeyType.AES, A.TOKEN: False,
        A.WRAP: True, A.VALUE: os.urandom(16)})
    # a secret the token made: only an authenticated key wrap may carry it
    target = raw.generate_key(h, Mechanism.AES_KEY_GEN, {
        A.CLASS: ObjectClass.SECRET_KEY, A.KEY_TYPE: KeyType.AES, A.TOKEN: False,
        A.EXTRACTABLE: True, A.SENSITIVE: True, A.VALUE_LEN: 16})
    aes_rv = raw.call_out("C_WrapKey", h, raw.mechanism(Mechanism.AES_CBC_PAD, bytes(16)).ptr,
                          aes_kek, target, capacity=64)[0]
    des_rv = raw.call_out("C_WrapKey", h, raw.mechanism(CKM_DES3_CBC_PAD, bytes(8)).ptr,
                          kek, target, capacity=64)[0]
    assert aes_rv != CKR_OK and des_rv == aes_rv, (rv_name(aes_rv), rv_name(des_rv))


def rsa_1024_generation(raw: RawModule, h: int) -> None:
    """RSA key pairs go down to 1024 bits (C_GenerateKeyPair and C_GetMechanismInfo)."""
    slot = raw.session_info(h)["slot"]
    low, high, _ = raw.mechanism_info(slot, CKM_RSA_PKCS_KEY_PAIR_GEN)
    assert low <= 1024 <= high, (low, high)
    pub, priv = raw.generate_key_pair(
        h, CKM_RSA_PKCS_KEY_PAIR_GEN, {A.TOKEN: False, A.MODULUS_BITS: 1024},
        {A.TOKEN: False, A.SENSITIVE: False, A.EXTRACTABLE: True})
    assert int.from_bytes(raw.get_attribute(h, pub, A.MODULUS_BITS), "little") == 1024
    modulus = raw.get_attribute(h, pub, A.MODULUS)
    assert len(modulus.lstrip(b"\0")) == 128 and modulus.lstrip(b"\0")[0] & 0x80
    assert raw.get_attribute(h, priv, A.MODULUS) == modulus


class NotHere(Exception):
    """A scenario whose mechanism this build does not offer yet (reported as a skip)."""


def rsa_1024_signs(raw: RawModule, h: int) -> None:
    """A 1024-bit RSA key signs (CKM_SHA256_RSA_PKCS) and the signature verifies in
    `cryptography`."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding as asym
    from cryptography.hazmat.primitives.asymmetric import rsa

    slot = raw.session_info(h)["slot"]
    if CKM_SHA256_RSA_PKCS not in raw.mechanism_list(slot):
        raise NotHere("no CKM_SHA256_RSA_PKCS in this build")
    pub, priv = raw.generate_key_pair(
        h, CKM_RSA_PKCS_KEY_PAIR_GEN, {A.TOKEN: False, A.MODULUS_BITS: 1024, A.VERIFY: True},
        {A.TOKEN: False, A.SIGN: True})
    raw.op_init("Sign", h, CKM_SHA256_RSA_PKCS, priv)
    sig = raw.single("Sign", h, b"legacy")
    n = int.from_bytes(raw.get_attribute(h, pub, A.MODULUS), "big")
    e = int.from_bytes(raw.get_attribute(h, pub, A.PUBLIC_EXPONENT), "big")
    key = rsa.RSAPublicNumbers(e, n).public_key()
    assert key.key_size == 1024
    key.verify(sig, b"legacy", asym.PKCS1v15(), hashes.SHA256())


def rsa_1024_never_wraps(raw: RawModule, h: int) -> None:
    """keystead: legacy_mechanisms is the caller's setting, so under the strict policy a
    1024-bit RSA key never carries a key (CKR_WRAPPING_KEY_SIZE_RANGE), even where 2048 bits
    would; wrap_policy = compat, which gives up the policy for PKCS#11's own rules, lets it
    (python-pkcs11's suite wraps under RSA-1024)."""
    slot = raw.session_info(h)["slot"]
    if CKM_RSA_PKCS not in raw.mechanism_list(slot):
        raise NotHere("no CKM_RSA_PKCS in this build")
    # Under strict only the key-wrap mechanisms advertise CKF_WRAP (OAEP among them).
    compat = raw.mechanism_info(slot, CKM_RSA_PKCS)[2] & 0x20000  # CKF_WRAP
    pub, _ = raw.generate_key_pair(
        h, CKM_RSA_PKCS_KEY_PAIR_GEN, {A.TOKEN: False, A.MODULUS_BITS: 1024, A.WRAP: True},
        {A.TOKEN: False, A.UNWRAP: True})
    target = raw.create_object(h, {
        A.CLASS: ObjectClass.SECRET_KEY, A.KEY_TYPE: KeyType.AES, A.TOKEN: False,
        A.EXTRACTABLE: True, A.SENSITIVE: False, A.VALUE: os.urandom(16)})
    if compat:
        mech = raw.mechanism(CKM_RSA_PKCS)
    else:
        from . import rsa_support

        mech = raw.mechanism(rsa_support.RSA_OAEP, rsa_support.oaep_params(raw.ffi, "sha1"))
    rv = raw.call_out("C_WrapKey", h, mech.ptr, pub, target, capacity=512)[0]
    expect(rv, "CKR_OK" if compat else "CKR_WRAPPING_KEY_SIZE_RANGE",
           "wrapping under a 1024-bit RSA key")


#: Scenarios of the mechanisms themselves (keystead with legacy_mechanisms = on, SoftHSMv2).
CASES: dict[str, Scenario] = {
    "mechanisms-listed": mechanisms_listed,
    "keygen-parity-and-attributes": keygen_parity_and_attributes,
    "keygen-value-len-fixed": keygen_value_len_fixed,
    "crosscheck-both-ways": crosscheck_both_ways,
    "multipart-matches-single": multipart_matches_single,
    "nist-tdes-known-answers": nist_tdes_known_answers,
    "bad-inputs": bad_inputs,
    "bad-iv-length": bad_iv_length,
    "bad-padding": bad_padding,
    "parity-refused-on-create": parity_refused_on_create,
    "parity-refused-on-unwrap": parity_refused_on_unwrap,
    "md5-known-answers": md5_known_answers,
    "des3-key-carried-by-aes-kw": des3_key_carried_by_aes_kw,
    "rsa-1024-generation": rsa_1024_generation,
    "rsa-1024-signs": rsa_1024_signs,
}

#: keystead only, by wrap policy.
STRICT_CASES: dict[str, Scenario] = {"strict-des3-carries-no-keys": strict_des3_carries_no_keys}
COMPAT_CASES: dict[str, Scenario] = {"des3-wraps-and-unwraps": des3_wraps_and_unwraps,
                                     "rsa-1024-never-wraps": rsa_1024_never_wraps}
