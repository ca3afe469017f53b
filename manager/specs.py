"""What the manager can create: key purposes, their algorithms and allowed operations."""

from __future__ import annotations

from dataclasses import dataclass, replace

from .errors import PolicyViolation
from .policy import KeyType


@dataclass(frozen=True)
class KeySpec:
    """How a key of one purpose is made in the token and what it may do."""

    key_type: KeyType
    algorithm: str  # "AES", "HMAC-SHA256"; for key pairs one of keypairs.ALGORITHM_NAMES
    lengths: tuple[int, ...]
    default_length: int
    operations: tuple[str, ...]
    protect_ops: tuple[str, ...]
    process_ops: tuple[str, ...]
    #: A key pair (keypairs.py): the protect operations use the private key, the process
    #: operations the public key.
    pair: bool = False
    strengths: tuple[tuple[int, int], ...] = ()

    def strength(self, length_bits: int) -> int:
        """Security strength in bits (SP 800-57 Part 1 Rev. 5, Table 2 / SP 800-107)."""
        if self.strengths:
            return dict(self.strengths)[length_bits]
        return min(length_bits, 256)


SPECS: dict[KeyType, KeySpec] = {
    KeyType.SYMMETRIC_DATA_ENCRYPTION: KeySpec(
        KeyType.SYMMETRIC_DATA_ENCRYPTION, "AES", (128, 192, 256), 256,
        ("encrypt", "decrypt"), ("encrypt",), ("decrypt",)),
    KeyType.SYMMETRIC_KEY_WRAPPING: KeySpec(
        KeyType.SYMMETRIC_KEY_WRAPPING, "AES", (128, 192, 256), 256,
        ("wrap", "unwrap"), ("wrap",), ("unwrap",)),
    KeyType.SYMMETRIC_AUTHENTICATION: KeySpec(
        KeyType.SYMMETRIC_AUTHENTICATION, "HMAC-SHA256", (256, 384, 512), 256,
        ("sign", "verify"), ("sign",), ("verify",)),
    KeyType.PRIVATE_SIGNATURE: KeySpec(
        KeyType.PRIVATE_SIGNATURE, "RSA", (2048, 3072, 4096), 3072,
        ("sign", "verify"), ("sign",), ("verify",), pair=True),
    KeyType.PRIVATE_STATIC_KEY_AGREEMENT: KeySpec(
        KeyType.PRIVATE_STATIC_KEY_AGREEMENT, "X25519", (255,), 255,
        ("derive",), ("derive",), (), pair=True),
}


def spec_of(key_type: KeyType, algorithm: str) -> KeySpec:
    """The spec of an existing key (a key pair's spec names its own algorithm)."""
    spec = SPECS[key_type]
    if not spec.pair:
        return spec
    from .keypairs import pair_algorithm

    alg = pair_algorithm(key_type, algorithm)
    return replace(spec, algorithm=alg.name, lengths=alg.lengths,
                   default_length=alg.default_length, strengths=alg.strengths)


def spec_for(key_type: KeyType, length_bits: int | None,
             algorithm: str | None = None) -> tuple[KeySpec, int]:
    """The spec and key length for a new key (``algorithm``: of a key pair; None: the
    type's default).

    Raises PolicyViolation for a purpose the manager does not create, an algorithm or a
    length it does not allow.
    """
    spec = SPECS.get(key_type)
    if spec is not None and spec.pair:
        from .keypairs import pair_algorithm

        spec = spec_of(key_type, pair_algorithm(key_type, algorithm).name)
    elif spec is not None and algorithm is not None and algorithm.upper() != spec.algorithm:
        raise PolicyViolation(f"{key_type.value} keys are {spec.algorithm}, not {algorithm}")
    if spec is None:
        creatable = ", ".join(k.value for k in SPECS)
        raise PolicyViolation(
            f"the manager creates only these key types: {creatable} (not {key_type.value})")
    length = spec.default_length if length_bits is None else length_bits
    if length not in spec.lengths:
        raise PolicyViolation(
            f"{spec.algorithm} {key_type.value} keys are {', '.join(map(str, spec.lengths))} "
            f"bits long, not {length}")
    return spec, length
