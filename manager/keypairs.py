"""Key-pair algorithms the manager creates, and how each one signs.

A key pair lives in the catalogue as one key whose type is its private key's (SP 800-57
Part 1 Rev. 5, 5.1.1: ``private-signature`` or ``private-static-key-agreement``) and whose
algorithm and length say what it is: ``RSA`` 2048/3072/4096, ``EC`` 256/384/521 (P-256,
P-384, P-521), ``Ed25519`` and ``X25519`` (255). Signatures (docs/manager.md, "Signing"):
RSA-PSS with SHA-256 (MGF1-SHA-256, 32-byte salt) by default or PKCS#1 v1.5 with SHA-256;
ECDSA with the hash that matches the curve (SHA-256, SHA-384, SHA-512; FIPS 186-5 6.4,
RFC 7518 3.4), the signature DER-encoded (X9.62 ECDSA-Sig-Value, as OpenSSL writes it);
Ed25519 pure (RFC 8032), over the whole message.
"""

from __future__ import annotations

from dataclasses import dataclass

from .errors import PolicyViolation
from .policy import KeyType

# PKCS#11 3.0 key types and key-pair generation mechanisms (pkcs11t.h).
CKK_RSA, CKK_EC, CKK_EC_EDWARDS, CKK_EC_MONTGOMERY = 0x0, 0x3, 0x40, 0x41
CKM_RSA_PKCS_KEY_PAIR_GEN, CKM_EC_KEY_PAIR_GEN = 0x0, 0x1040
CKM_EC_EDWARDS_KEY_PAIR_GEN, CKM_EC_MONTGOMERY_KEY_PAIR_GEN = 0x1055, 0x1056

RSA, EC, ED25519, X25519 = "RSA", "EC", "Ed25519", "X25519"

#: Named curves by field size: (JOSE/NIST name, DER of the OID for CKA_EC_PARAMS, hash).
CURVES: dict[int, tuple[str, bytes, str]] = {
    256: ("P-256", bytes.fromhex("06082a8648ce3d030107"), "sha256"),
    384: ("P-384", bytes.fromhex("06052b81040022"), "sha384"),
    521: ("P-521", bytes.fromhex("06052b81040023"), "sha512"),
}
#: RFC 8410 OIDs (DER) of the Edwards and Montgomery curves, for CKA_EC_PARAMS.
ED25519_OID = bytes.fromhex("06032b6570")
X25519_OID = bytes.fromhex("06032b656e")


@dataclass(frozen=True)
class PairAlgorithm:
    """One algorithm of key pairs: its lengths, PKCS#11 key type and generation mechanism,
    and the security strength of each length (SP 800-57 Part 1 Rev. 5, Table 2)."""

    name: str
    ck_key_type: int
    gen_mechanism: int
    strengths: tuple[tuple[int, int], ...]  # (length in bits, security strength)
    default_length: int

    @property
    def lengths(self) -> tuple[int, ...]:
        return tuple(n for n, _ in self.strengths)

    def strength(self, length_bits: int) -> int:
        return dict(self.strengths)[length_bits]


_RSA = PairAlgorithm(RSA, CKK_RSA, CKM_RSA_PKCS_KEY_PAIR_GEN,
                     ((2048, 112), (3072, 128), (4096, 128)), 3072)
_EC_SIGN = PairAlgorithm(EC, CKK_EC, CKM_EC_KEY_PAIR_GEN, ((256, 128), (384, 192), (521, 256)),
                         256)
_EC_AGREE = PairAlgorithm(EC, CKK_EC, CKM_EC_KEY_PAIR_GEN, ((256, 128),), 256)
_ED25519 = PairAlgorithm(ED25519, CKK_EC_EDWARDS, CKM_EC_EDWARDS_KEY_PAIR_GEN,
                         ((255, 128),), 255)
_X25519 = PairAlgorithm(X25519, CKK_EC_MONTGOMERY, CKM_EC_MONTGOMERY_KEY_PAIR_GEN,
                        ((255, 128),), 255)

#: What each pair type may be made of; the first algorithm is the default.
PAIR_ALGORITHMS: dict[KeyType, tuple[PairAlgorithm, ...]] = {
    KeyType.PRIVATE_SIGNATURE: (_RSA, _EC_SIGN, _ED25519),
    KeyType.PRIVATE_STATIC_KEY_AGREEMENT: (_X25519, _EC_AGREE),
}

#: Every algorithm name any pair type takes (the CLI's --algorithm choices).
ALGORITHM_NAMES: tuple[str, ...] = (RSA, EC, ED25519, X25519)


def is_pair_type(key_type: KeyType | str) -> bool:
    return str(key_type) in {str(k) for k in PAIR_ALGORITHMS}


def pair_algorithm(key_type: KeyType, algorithm: str | None) -> PairAlgorithm:
    """The algorithm ``algorithm`` (case-insensitive; None: the type's default) of pairs of
    ``key_type``. Raises PolicyViolation when the type does not take it."""
    choices = PAIR_ALGORITHMS[key_type]
    if algorithm is None:
        return choices[0]
    for alg in choices:
        if alg.name.lower() == algorithm.lower():
            return alg
    names = ", ".join(a.name for a in choices)
    raise PolicyViolation(f"{key_type.value} keys are {names}, not {algorithm}")


def label(algorithm: str, length_bits: int) -> str:
    """``RSA-3072``, ``EC-P256``, ``Ed25519``, ``AES-256``: what a key is, for display."""
    if algorithm == EC:
        return "EC-" + CURVES[length_bits][0].replace("-", "")
    if algorithm in (ED25519, X25519):
        return algorithm
    return f"{algorithm}-{length_bits}"


# ---- signature schemes

PSS, PKCS1V15, ECDSA, EDDSA = "pss", "pkcs1v15", "ecdsa", "eddsa"
#: RSA takes one of these (``keystead sign --scheme``); the first is the default.
RSA_SCHEMES = (PSS, PKCS1V15)


def scheme_for(algorithm: str, requested: str | None) -> str:
    """The signature scheme for a key of ``algorithm``; ``requested`` must fit it. Raises
    PolicyViolation otherwise (a key-agreement key has none)."""
    if algorithm == RSA:
        scheme = requested or PSS
        if scheme not in RSA_SCHEMES:
            raise PolicyViolation(f"RSA keys sign with {' or '.join(RSA_SCHEMES)}, not {scheme}")
        return scheme
    natural = {EC: ECDSA, ED25519: EDDSA}.get(algorithm)
    if natural is None:
        raise PolicyViolation(f"{algorithm} keys do not sign")
    if requested not in (None, natural):
        raise PolicyViolation(f"{algorithm} keys sign with {natural}, not {requested}")
    return natural


def hash_name(algorithm: str, length_bits: int) -> str | None:
    """The hash a signature of this key uses (hashlib name), None for Ed25519 (pure)."""
    if algorithm == EC:
        return CURVES[length_bits][2]
    if algorithm == RSA:
        return "sha256"
    return None
