"""Fast PKCS#11 operations for the vector and cross-check suites (raw cffi layer).

One :class:`Ops` per test: it holds the module, a logged-in session and the mechanism
numbers of that module (RFC 5649 sits under 0x210A in SoftHSMv2, see quirks.py). Calls give
one output buffer large enough for the answer, so each operation is a single C call (the
length-query form is covered by test_encrypt.py); every helper returns the raw CK_RV
alongside the output, so that a refusal can be asserted by its exact code.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from keystead.softhsm_bridge import quirks
from keystead.softhsm_bridge.ck import Attribute as A
from keystead.softhsm_bridge.ck import KeyType, Mechanism, ObjectClass
from keystead.softhsm_bridge.errors import CKR_OK, check

# Headroom past the input for a tag, a padding block or a KW/KWP integrity block.
_SLACK = 64

HASHES = ("SHA1", "SHA224", "SHA256", "SHA384", "SHA512")
DIGEST_MECH = {"SHA1": Mechanism.SHA_1, "SHA224": Mechanism.SHA224,
               "SHA256": Mechanism.SHA256, "SHA384": Mechanism.SHA384,
               "SHA512": Mechanism.SHA512}
HMAC_MECH = {"SHA1": Mechanism.SHA_1_HMAC, "SHA224": Mechanism.SHA224_HMAC,
             "SHA256": Mechanism.SHA256_HMAC, "SHA384": Mechanism.SHA384_HMAC,
             "SHA512": Mechanism.SHA512_HMAC}
HMAC_GENERAL_MECH = {"SHA1": Mechanism.SHA_1_HMAC_GENERAL,
                     "SHA224": Mechanism.SHA224_HMAC_GENERAL,
                     "SHA256": Mechanism.SHA256_HMAC_GENERAL,
                     "SHA384": Mechanism.SHA384_HMAC_GENERAL,
                     "SHA512": Mechanism.SHA512_HMAC_GENERAL}


def secret_template(value: bytes, key_type: int) -> dict[int, Any]:
    """A session secret key of ``key_type`` holding ``value``, usable for every operation
    its type allows and extractable (so it can itself be wrapped)."""
    t: dict[int, Any] = {
        A.CLASS: ObjectClass.SECRET_KEY, A.KEY_TYPE: key_type, A.TOKEN: False,
        A.VALUE: value, A.SENSITIVE: False, A.EXTRACTABLE: True,
        A.SIGN: True, A.VERIFY: True,
    }
    if key_type == KeyType.AES:
        t.update({A.ENCRYPT: True, A.DECRYPT: True, A.WRAP: True, A.UNWRAP: True})
    return t


def unwrap_template() -> dict[int, Any]:
    """What C_UnwrapKey makes of a blob: a readable session generic-secret key."""
    return {A.CLASS: ObjectClass.SECRET_KEY, A.KEY_TYPE: KeyType.GENERIC_SECRET,
            A.TOKEN: False, A.SENSITIVE: False, A.EXTRACTABLE: True}


@dataclass
class Ops:
    """PKCS#11 calls on one module through one logged-in session ``h``."""

    mut: Any  # conftest.ModuleUnderTest
    h: int

    @property
    def raw(self) -> Any:
        return self.mut.raw

    @property
    def kwp(self) -> int:
        """The mechanism number under which this module offers RFC 5649."""
        return quirks.wrap_pad_mechanism(self.mut.info)

    def offers(self, mech: int) -> bool:
        return int(mech) in self.mut.mechanisms()

    # -- objects ---------------------------------------------------------------------------

    def aes(self, value: bytes) -> int:
        """Import an AES key with C_CreateObject (a session object)."""
        return self.raw.create_object(self.h, secret_template(value, KeyType.AES))

    def generic(self, value: bytes) -> int:
        """Import a CKK_GENERIC_SECRET key with C_CreateObject (a session object)."""
        return self.raw.create_object(self.h, secret_template(value, KeyType.GENERIC_SECRET))

    def destroy(self, *handles: int) -> None:
        for obj in handles:
            self.raw.destroy_object(self.h, obj)

    def value(self, obj: int) -> bytes:
        return self.raw.get_attribute(self.h, obj, A.VALUE)

    # -- mechanism parameters ---------------------------------------------------------------

    def gcm(self, iv: bytes, aad: bytes = b"", tag_bits: int = 128) -> Any:
        return self.raw.gcm(iv, aad, tag_bits)

    def ctr(self, counter_block: bytes) -> Any:
        return self.raw.ctr(counter_block, 128)

    def mac_len(self, n: int) -> bytes:
        """CK_MAC_GENERAL_PARAMS (a CK_ULONG) for a *_HMAC_GENERAL mechanism."""
        return n.to_bytes(self.raw.ffi.sizeof("CK_ULONG"), "little")

    # -- calls -------------------------------------------------------------------------------

    def init(self, what: str, mech: int, key: int = 0, param: Any = None) -> int:
        """C_<what>Init; returns the CK_RV."""
        m = self.raw.mechanism(mech, param)
        if what == "Digest":
            return self.raw.call("C_DigestInit", self.h, m.ptr)
        return self.raw.call(f"C_{what}Init", self.h, m.ptr, key)

    def _out(self, name: str, *args: Any, cap: int) -> tuple[int, bytes]:
        rv, out, _ = self.raw.call_out(name, self.h, *args, capacity=cap)
        return rv, out

    def one(self, what: str, mech: int, key: int, data: bytes,
            param: Any = None) -> tuple[int, bytes]:
        """Init, then the single-part C_Encrypt/C_Decrypt/C_Sign/C_Digest; (CK_RV, output).
        A refused init is returned as it is."""
        rv = self.init(what, mech, key, param)
        if rv != CKR_OK:
            return rv, b""
        return self._out(f"C_{what}", data, len(data), cap=len(data) + _SLACK)

    def must(self, what: str, mech: int, key: int, data: bytes, param: Any = None) -> bytes:
        """:meth:`one`, raising the mapped PKCS11Error on anything but CKR_OK."""
        rv, out = self.one(what, mech, key, data, param)
        check(rv, f"C_{what}")
        return out

    def verify(self, mech: int, key: int, data: bytes, sig: bytes, param: Any = None) -> int:
        """C_VerifyInit + C_Verify; the CK_RV (CKR_OK or CKR_SIGNATURE_INVALID answer)."""
        rv = self.init("Verify", mech, key, param)
        if rv != CKR_OK:
            return rv
        return self.raw.call("C_Verify", self.h, data, len(data), sig, len(sig))

    def _two_call(self, name: str, *args: Any) -> bytes:
        """The 5.2 convention: a length query (NULL buffer), then a buffer of that length."""
        rv, _, n = self.raw.call_out(name, self.h, *args, capacity=None)
        check(rv, name)
        rv, out, _ = self.raw.call_out(name, self.h, *args, capacity=n)
        check(rv, name)
        return out

    def parts(self, what: str, mech: int, key: int, chunks: list[bytes],
              param: Any = None) -> bytes:
        """Init, one C_<what>Update per chunk, C_<what>Final, each output fetched with a
        length query first (5.2); the concatenated output. Raises the mapped PKCS11Error on
        any refusal."""
        check(self.init(what, mech, key, param), f"C_{what}Init")
        out = b""
        for chunk in chunks:
            if what in ("Digest", "Sign"):
                check(self.raw.call(f"C_{what}Update", self.h, chunk, len(chunk)),
                      f"C_{what}Update")
            else:
                out += self._two_call(f"C_{what}Update", chunk, len(chunk))
        return out + self._two_call(f"C_{what}Final")

    def verify_parts(self, mech: int, key: int, chunks: list[bytes], sig: bytes) -> int:
        """C_VerifyInit, C_VerifyUpdate per chunk, C_VerifyFinal; the final CK_RV."""
        check(self.init("Verify", mech, key), "C_VerifyInit")
        for chunk in chunks:
            check(self.raw.call("C_VerifyUpdate", self.h, chunk, len(chunk)), "C_VerifyUpdate")
        return self.raw.call("C_VerifyFinal", self.h, sig, len(sig))

    def wrap(self, mech: int, kek: int, key: int) -> tuple[int, bytes]:
        """C_WrapKey into a buffer large enough; (CK_RV, wrapped bytes)."""
        m = self.raw.mechanism(mech)
        return self._out("C_WrapKey", m.ptr, kek, key, cap=4096)

    def unwrap(self, mech: int, kek: int, blob: bytes) -> tuple[int, int]:
        """C_UnwrapKey into a generic-secret session key; (CK_RV, new handle or 0)."""
        m = self.raw.mechanism(mech)
        t = self.raw.template(unwrap_template())
        oh = self.raw.ffi.new("CK_OBJECT_HANDLE *")
        rv = self.raw.call("C_UnwrapKey", self.h, m.ptr, kek, blob, len(blob), t.ptr, t.count,
                           oh)
        return rv, int(oh[0]) if rv == CKR_OK else 0


def split(data: bytes, at: int) -> list[bytes]:
    """``data`` as the non-empty parts of a cut at ``at`` (one part when ``at`` is an end,
    none for no data); empty updates have their own test."""
    return [part for part in (data[:at], data[at:]) if part]
