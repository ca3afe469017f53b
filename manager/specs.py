"""What the manager can create: key purposes, their algorithms and allowed operations."""

from __future__ import annotations

from dataclasses import dataclass

from .errors import PolicyViolation
from .policy import KeyType


@dataclass(frozen=True)
class KeySpec:
    """How a key of one purpose is made in the token and what it may do."""

    key_type: KeyType
    algorithm: str  # "AES" or "HMAC-SHA256"
    lengths: tuple[int, ...]
    default_length: int
    operations: tuple[str, ...]
    protect_ops: tuple[str, ...]
    process_ops: tuple[str, ...]

    def strength(self, length_bits: int) -> int:
        """Security strength in bits (SP 800-57 Part 1 Rev. 5, Table 2 / SP 800-107)."""
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
}


def spec_for(key_type: KeyType, length_bits: int | None) -> tuple[KeySpec, int]:
    """The spec and key length for a new key.

    Raises PolicyViolation for a purpose the manager does not create or a length it does
    not allow.
    """
    spec = SPECS.get(key_type)
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
