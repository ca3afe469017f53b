"""What the RSA padding tests share: keys as keystead._core EVP_PKEY handles, thin wrappers
over crypto/rsa.h and crypto/rsa_pad.h that return (status, output), and a reader of the
PKCS#1 encryption vector files of the `cryptography_vectors` package.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from keystead.core import ffi, lib

#: ks_md of each hash name, and the `cryptography` hash and hashlib name beside it.
MDS = {
    "sha1": (lib.KS_MD_SHA1, hashes.SHA1, "sha1"),
    "sha224": (lib.KS_MD_SHA224, hashes.SHA224, "sha224"),
    "sha256": (lib.KS_MD_SHA256, hashes.SHA256, "sha256"),
    "sha384": (lib.KS_MD_SHA384, hashes.SHA384, "sha384"),
    "sha512": (lib.KS_MD_SHA512, hashes.SHA512, "sha512"),
}


def pkcs8(key: rsa.RSAPrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def spki(key: rsa.RSAPublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.DER,
                            serialization.PublicFormat.SubjectPublicKeyInfo)


class Key:
    """An RSA EVP_PKEY in keystead._core (crypto/rsa.h ks_rsa_from_der), freed with the
    object. Raises ValueError when the DER is refused."""

    def __init__(self, der: bytes, private: bool) -> None:
        handle = lib.ks_rsa_from_der(der, len(der), 1 if private else 0)
        if handle == ffi.NULL:
            raise ValueError("ks_rsa_from_der refused the key")
        self.handle = ffi.gc(handle, lib.ks_rsa_free)
        self.k = lib.ks_rsa_size(self.handle)


def raw(key: Key, data: bytes, private: bool) -> tuple[int, bytes]:
    out = ffi.new("uint8_t[]", max(key.k, 1))
    fn = lib.ks_rsa_private_raw if private else lib.ks_rsa_public_raw
    st = fn(key.handle, out, data, len(data))
    return st, bytes(out[0 : key.k])


def kdk(key: Key, ct: bytes) -> bytes:
    out = ffi.new("uint8_t[]", lib.KS_RSA_KDK_LEN)
    assert lib.ks_rsa_ir_kdk(key.handle, out, ct, len(ct)) == lib.KS_OK
    return bytes(out)


def pkcs1_decode(em: bytes, kdk_bytes: bytes | None) -> tuple[int, bytes]:
    k = len(em)
    size = max(lib.ks_rsa_pkcs1_max_msg(k), 1)
    out = ffi.new("uint8_t[]", size)
    n = ffi.new("size_t *")
    st = lib.ks_rsa_pkcs1_decode(out, n, size, em, k,
                                 ffi.NULL if kdk_bytes is None else kdk_bytes)
    if st != lib.KS_OK:
        assert bytes(out) == bytes(size), "a failed decode leaves its output wiped"
    return st, bytes(out[0 : n[0]])


def oaep_decode(em: bytes, md: str, mgf: str, label: bytes) -> tuple[int, bytes]:
    k = len(em)
    size = max(lib.ks_rsa_oaep_max_msg(k, MDS[md][0]), 1)
    out = ffi.new("uint8_t[]", size)
    n = ffi.new("size_t *")
    st = lib.ks_rsa_oaep_decode(out, n, size, em, k, MDS[md][0], MDS[mgf][0], label,
                                len(label))
    if st != lib.KS_OK:
        assert bytes(out) == bytes(size), "a failed decode leaves its output wiped"
    return st, bytes(out[0 : n[0]])


def decrypt_pkcs1(key: Key, ct: bytes, implicit: bool) -> tuple[int, bytes]:
    st, em = raw(key, ct, private=True)
    if st != lib.KS_OK:
        return st, b""
    return pkcs1_decode(em, kdk(key, ct) if implicit else None)


def decrypt_oaep(key: Key, ct: bytes, md: str, mgf: str, label: bytes) -> tuple[int, bytes]:
    st, em = raw(key, ct, private=True)
    if st != lib.KS_OK:
        return st, b""
    return oaep_decode(em, md, mgf, label)


def encrypt_pkcs1(key: Key, msg: bytes) -> tuple[int, bytes]:
    em = ffi.new("uint8_t[]", key.k)
    st = lib.ks_rsa_pkcs1_encode(em, key.k, msg, len(msg))
    if st != lib.KS_OK:
        return st, b""
    return raw(key, bytes(em), private=False)


def encrypt_oaep(key: Key, msg: bytes, md: str, mgf: str, label: bytes) -> tuple[int, bytes]:
    em = ffi.new("uint8_t[]", key.k)
    st = lib.ks_rsa_oaep_encode(em, key.k, msg, len(msg), MDS[md][0], MDS[mgf][0], label,
                                len(label))
    if st != lib.KS_OK:
        return st, b""
    return raw(key, bytes(em), private=False)


def mgf1(seed: bytes, length: int, md: str) -> bytes:
    out = b""
    counter = 0
    while len(out) < length:
        out += hashlib.new(MDS[md][2], seed + counter.to_bytes(4, "big")).digest()
        counter += 1
    return out[:length]


def oaep_em(k: int, db_body: bytes, md: str, label: bytes, first: int = 0,
            seed: bytes | None = None) -> bytes:
    """An OAEP block built by hand (RFC 8017 7.1.1 step 2) from the DB after the label hash:
    db_body is PS || 0x01 || M when well formed; anything else makes a malformed block."""
    h = hashlib.new(MDS[md][2])
    h_len = h.digest_size
    l_hash = hashlib.new(MDS[md][2], label).digest()
    db = l_hash + db_body
    assert len(db) == k - h_len - 1
    seed = seed if seed is not None else bytes(range(1, h_len + 1))
    masked_db = bytes(a ^ b for a, b in zip(db, mgf1(seed, len(db), md), strict=True))
    masked_seed = bytes(a ^ b for a, b in zip(seed, mgf1(masked_db, h_len, md), strict=True))
    return bytes([first]) + masked_seed + masked_db


# ---- the PKCS#1 vector files of cryptography_vectors -------------------------------------

_PRIVATE_FIELDS = {
    "Modulus": "n", "Public exponent": "e", "Exponent": "d", "Prime 1": "p", "Prime 2": "q",
    "Prime exponent 1": "dmp1", "Prime exponent 2": "dmq1", "Coefficient": "iqmp",
}
_CASE = re.compile(r"^# (?:OAEP|PKCS#1 v1\.5 Encryption) Example")
_ALGS = re.compile(r"alg=(\w+) mgf1=(\w+)")


@dataclass
class CryptVector:
    """One encryption example: the key (PKCS#8 DER), the message, the ciphertext, and for
    the OAEP files the hash and MGF1 hash named in the example's title (SHA-1 otherwise)."""

    key_der: bytes
    message: bytes
    ciphertext: bytes
    md: str = "sha1"
    mgf: str = "sha1"


def _key_der(parts: dict[str, str]) -> bytes:
    num = {name: int(parts[field_name], 16) for field_name, name in _PRIVATE_FIELDS.items()}
    public = rsa.RSAPublicNumbers(num["e"], num["n"])
    private = rsa.RSAPrivateNumbers(num["p"], num["q"], num["d"], num["dmp1"], num["dmq1"],
                                    num["iqmp"], public)
    return pkcs8(private.private_key(unsafe_skip_rsa_key_validation=True))


def load_crypt_vectors(path: Path) -> list[CryptVector]:
    """Every example of a PKCS#1 v2.1 style vector file (oaep-vect.txt,
    pkcs1v15crypt-vectors.txt, oaep-custom/*.txt). Raises KeyError on a missing field."""
    vectors: list[CryptVector] = []
    key_fields: dict[str, str] = {}
    case: dict[str, str] | None = None
    algs = ("sha1", "sha1")
    in_private = False
    current: dict[str, str] | None = None
    name = ""

    def close_case() -> None:
        if case is not None:
            message = case.get("Message to be encrypted", case.get("Message"))
            if message is None:
                raise KeyError("no message")
            vectors.append(CryptVector(_key_der(key_fields), bytes.fromhex(message),
                                       bytes.fromhex(case["Encryption"]), *algs))

    for raw_line in path.read_text(encoding="utf-8").splitlines():
        line = raw_line.strip()
        if line.startswith("# Example") or line.startswith("# ====="):
            close_case()
            case, current, in_private = None, None, False
            if line.startswith("# Example"):
                key_fields = {}
        elif line.startswith("# Private key"):
            in_private, current = True, key_fields
        elif _CASE.match(line):
            close_case()
            case, in_private = {}, False
            current = case
            found = _ALGS.search(line)
            algs = (found.group(1), found.group(2)) if found else ("sha1", "sha1")
        elif line.startswith("#") and line.endswith(":"):
            name = line[1:-1].strip()
            if current is not None and (in_private or current is case):
                current[name] = ""
        elif (current is not None and name in current
              and re.fullmatch(r"[0-9a-fA-F ]+", line)):
            current[name] += line.replace(" ", "")
    close_case()
    return vectors
