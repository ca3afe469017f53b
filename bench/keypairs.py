"""The key-pair rows of ``keystead bench``: RSA-2048 signing (PKCS#1 v1.5 and PSS), RSA-2048
OAEP decryption and key generation, ECDSA P-256 and Ed25519 signing through python-pkcs11,
and at the PKCS#11 boundary (raw cffi, as the KW boundary rows) P-256 key generation into
session objects and an ECDH P-256 C_DeriveKey.

Each client gives an Op per row (:meth:`P11Pairs.op`, :func:`cryptography_op`); key
generation rows are measured sample by sample (:func:`sample`, one generation per sample,
the objects made destroyed outside the clock) so that their figure is a median with its
spread. A row whose mechanism the module does not offer is skipped with that reason.

The messages are 64 bytes; signing hashes them with SHA-256 (CKM_SHA256_RSA_PKCS,
CKM_SHA256_RSA_PKCS_PSS with a 32-byte salt and MGF1-SHA-256, CKM_ECDSA_SHA256; a module
without CKM_ECDSA_SHA256, as SoftHSMv2 2.6.1, gets CKM_ECDSA over a SHA-256 computed by the
caller, which the row says), Ed25519 signs them whole; OAEP uses SHA-256 and MGF1-SHA-256.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from typing import Any

from .timing import Op, timed_loop
from .workloads import Workload

CKM_RSA_PKCS_OAEP = 0x0009
CKM_ECDSA = 0x1041
CKM_ECDSA_SHA256 = 0x1044
CKM_EC_KEY_PAIR_GEN = 0x1040
CKM_ECDH1_DERIVE = 0x1050
CKD_NULL = 1
#: DER of the P-256 OID (SEC 2), the CKA_EC_PARAMS of a named curve.
P256_PARAMS = bytes.fromhex("06082a8648ce3d030107")
#: DER of id-Ed25519 (RFC 8410).
ED25519_PARAMS = bytes.fromhex("06032b6570")
KEYGEN_KINDS = ("pk-keygen-rsa", "pk-keygen-p256-raw")


class Unavailable(Exception):
    """The module cannot run the row; the message says why (the row shows it as skipped)."""


def _data(w: Workload) -> bytes:
    return bytes(range(256))[: w.size]


# ---- cryptography, in-process ----------------------------------------------------------


class CryptographyPairs:
    """The key-pair rows through ``cryptography`` (its bundled OpenSSL)."""

    def __init__(self) -> None:
        from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

        self.rsa = rsa.generate_private_key(65537, 2048)
        self.rsa_enc = rsa.generate_private_key(65537, 2048)
        self.ec = ec.generate_private_key(ec.SECP256R1())
        self.peer = ec.generate_private_key(ec.SECP256R1()).public_key()
        self.ed = ed25519.Ed25519PrivateKey.generate()

    def sample(self, w: Workload) -> float:
        from cryptography.hazmat.primitives.asymmetric import ec, rsa

        t0 = time.perf_counter()
        if w.kind == "pk-keygen-rsa":
            rsa.generate_private_key(65537, 2048)
        else:
            ec.generate_private_key(ec.SECP256R1())
        return time.perf_counter() - t0

    def op(self, w: Workload) -> Op | None:
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import ec, padding

        data, sha = _data(w), hashes.SHA256
        if w.kind == "pk-sign-rsa-pkcs":
            return timed_loop(lambda: self.rsa.sign(data, padding.PKCS1v15(), sha()))
        if w.kind == "pk-sign-rsa-pss":
            pss = padding.PSS(padding.MGF1(sha()), 32)
            return timed_loop(lambda: self.rsa.sign(data, pss, sha()))
        if w.kind == "pk-decrypt-rsa-oaep":
            oaep = padding.OAEP(padding.MGF1(sha()), sha(), None)
            ct = self.rsa_enc.public_key().encrypt(data, oaep)
            return timed_loop(lambda: self.rsa_enc.decrypt(ct, oaep))
        if w.kind == "pk-sign-ecdsa":
            return timed_loop(lambda: self.ec.sign(data, ec.ECDSA(sha())))
        if w.kind == "pk-sign-ed25519":
            return timed_loop(lambda: self.ed.sign(data))
        if w.kind == "pk-derive-ecdh-raw":
            return timed_loop(lambda: self.ec.exchange(ec.ECDH(), self.peer))
        if w.kind in KEYGEN_KINDS:
            return lambda n: sum(self.sample(w) for _ in range(n))
        return None


# ---- a PKCS#11 module through python-pkcs11 ---------------------------------------------


class P11Pairs:
    """The key-pair rows on one module: keys generated in its token at first use (token
    objects, as an application's long-lived keys are), python-pkcs11 for the calls and the
    bridge's raw layer for the boundary rows."""

    def __init__(self, session: Any, raw: Callable[[], Any]) -> None:
        self.session, self._raw_factory = session, raw
        self._raw: Any = None
        self._keys: dict[str, tuple[Any, Any]] = {}
        self.mechanisms = {int(m) for m in session.token.slot.get_mechanisms()}

    def _need(self, mech: int, what: str) -> None:
        if mech not in self.mechanisms:
            raise Unavailable(f"the module offers no {what}")

    def _pair(self, which: str) -> tuple[Any, Any]:
        from pkcs11 import Attribute, KeyType, MechanismFlag

        if which in self._keys:
            return self._keys[which]
        s = self.session
        sign = MechanismFlag.SIGN | MechanismFlag.VERIFY
        crypt = MechanismFlag.ENCRYPT | MechanismFlag.DECRYPT
        if which in ("rsa", "rsa-enc"):
            pub, priv = s.generate_keypair(KeyType.RSA, 2048, store=True,
                                           label=f"bench-{which}",
                                           capabilities=sign if which == "rsa" else crypt)
        else:
            params = ED25519_PARAMS if which == "ed25519" else P256_PARAMS
            ktype = KeyType.EC_EDWARDS if which == "ed25519" else KeyType.EC
            dom = s.create_domain_parameters(ktype, {Attribute.EC_PARAMS: params}, local=True)
            mech = None
            if which == "ed25519":
                from pkcs11 import Mechanism

                mech = Mechanism.EC_EDWARDS_KEY_PAIR_GEN
            pub, priv = dom.generate_keypair(store=True, label=f"bench-{which}",
                                             capabilities=sign | MechanismFlag.DERIVE,
                                             mechanism=mech)
        self._keys[which] = (pub, priv)
        return pub, priv

    def _sign_op(self, w: Workload) -> Op:
        from pkcs11 import MGF, Mechanism

        data = _data(w)
        if w.kind == "pk-sign-rsa-pkcs":
            self._need(int(Mechanism.SHA256_RSA_PKCS), "CKM_SHA256_RSA_PKCS")
            priv = self._pair("rsa")[1]
            return timed_loop(lambda: priv.sign(data, mechanism=Mechanism.SHA256_RSA_PKCS))
        if w.kind == "pk-sign-rsa-pss":
            self._need(int(Mechanism.SHA256_RSA_PKCS_PSS), "CKM_SHA256_RSA_PKCS_PSS")
            priv = self._pair("rsa")[1]
            param = (Mechanism.SHA256, MGF.SHA256, 32)
            return timed_loop(lambda: priv.sign(data, mechanism=Mechanism.SHA256_RSA_PKCS_PSS,
                                                mechanism_param=param))
        if w.kind == "pk-sign-ecdsa":
            priv = self._pair("p256")[1]
            if CKM_ECDSA_SHA256 in self.mechanisms:
                return timed_loop(lambda: priv.sign(data, mechanism=Mechanism.ECDSA_SHA256))
            self._need(CKM_ECDSA, "CKM_ECDSA")  # the caller hashes (SoftHSMv2 2.6.1)
            return timed_loop(lambda: priv.sign(hashlib.sha256(data).digest(),
                                                mechanism=Mechanism.ECDSA))
        self._need(int(Mechanism.EDDSA), "CKM_EDDSA")
        priv = self._pair("ed25519")[1]
        return timed_loop(lambda: priv.sign(data, mechanism=Mechanism.EDDSA))

    def _oaep_op(self, w: Workload) -> Op:
        from pkcs11 import MGF, Mechanism

        self._need(CKM_RSA_PKCS_OAEP, "CKM_RSA_PKCS_OAEP")
        pub, priv = self._pair("rsa-enc")
        param = (Mechanism.SHA256, MGF.SHA256, None)
        try:
            ct = pub.encrypt(_data(w), mechanism=Mechanism.RSA_PKCS_OAEP, mechanism_param=param)
        except Exception as exc:  # SoftHSMv2 2.6.1: CKR_ARGUMENTS_BAD for OAEP with SHA-256
            raise Unavailable(f"OAEP with SHA-256 refused: {type(exc).__name__}") from None
        return timed_loop(lambda: priv.decrypt(ct, mechanism=Mechanism.RSA_PKCS_OAEP,
                                               mechanism_param=param))

    def op(self, w: Workload) -> Op | None:
        if w.kind.startswith("pk-sign-"):
            return self._sign_op(w)
        if w.kind == "pk-decrypt-rsa-oaep":
            return self._oaep_op(w)
        if w.kind == "pk-derive-ecdh-raw":
            return self._boundary().derive()
        if w.kind in KEYGEN_KINDS:
            return lambda n: sum(self.sample(w) for _ in range(n))
        return None

    def _boundary(self) -> BoundaryPairs:
        if self._raw is None:
            self._raw = BoundaryPairs(self._raw_factory(), self.session.handle, self)
        return self._raw

    def sample(self, w: Workload) -> float:
        """One key generation, timed; its objects destroyed outside the clock."""
        from pkcs11 import KeyType

        if w.kind == "pk-keygen-p256-raw":
            return self._boundary().keygen_sample()
        t0 = time.perf_counter()
        from pkcs11 import MechanismFlag

        # A signing pair: keystead's strict policy gives a key of a pair one purpose.
        pub, priv = self.session.generate_keypair(
            KeyType.RSA, 2048, store=False,
            capabilities=MechanismFlag.SIGN | MechanismFlag.VERIFY)
        spent = time.perf_counter() - t0
        pub.destroy()
        priv.destroy()
        return spent


class BoundaryPairs:
    """C_GenerateKeyPair (CKM_EC_KEY_PAIR_GEN, P-256, session objects) and C_DeriveKey
    (CKM_ECDH1_DERIVE, CKD_NULL, a 32-byte generic secret) through the raw cffi layer, with
    templates and buffers built once."""

    def __init__(self, raw: Any, session: int, pairs: P11Pairs) -> None:
        from pkcs11 import Attribute, KeyType, ObjectClass

        self.raw, self.ffi, self.h, self.pairs = raw, raw.ffi, session, pairs
        a = Attribute
        self.pub_t = raw.template([(a.TOKEN, False), (a.VERIFY, True),
                                   (a.EC_PARAMS, P256_PARAMS)])
        self.priv_t = raw.template([(a.TOKEN, False), (a.SIGN, True), (a.DERIVE, True),
                                    (a.PRIVATE, True), (a.SENSITIVE, True)])
        self.derived_t = raw.template([(a.CLASS, int(ObjectClass.SECRET_KEY)),
                                       (a.KEY_TYPE, int(KeyType.GENERIC_SECRET)),
                                       (a.VALUE_LEN, 32), (a.TOKEN, False)])
        self.gen_mech = raw.mechanism(CKM_EC_KEY_PAIR_GEN, None)

    def keygen_sample(self) -> float:
        self.pairs._need(CKM_EC_KEY_PAIR_GEN, "CKM_EC_KEY_PAIR_GEN")
        ffi, raw = self.ffi, self.raw
        hpub, hpriv = ffi.new("CK_OBJECT_HANDLE *"), ffi.new("CK_OBJECT_HANDLE *")
        gen = raw.function("C_GenerateKeyPair")
        t0 = time.perf_counter()
        rv = gen(self.h, self.gen_mech.ptr, self.pub_t.ptr, self.pub_t.count, self.priv_t.ptr,
                 self.priv_t.count, hpub, hpriv)
        spent = time.perf_counter() - t0
        if rv:
            raise RuntimeError(f"C_GenerateKeyPair returned CK_RV 0x{rv:x}")
        raw.check("C_DestroyObject", self.h, hpub[0])
        raw.check("C_DestroyObject", self.h, hpriv[0])
        return spent

    def derive(self) -> Op:
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

        self.pairs._need(CKM_ECDH1_DERIVE, "CKM_ECDH1_DERIVE")
        ffi, raw = self.ffi, self.raw
        priv = self.pairs._pair("p256")[1]
        peer = ec.generate_private_key(ec.SECP256R1()).public_key().public_bytes(
            Encoding.X962, PublicFormat.UncompressedPoint)
        p = ffi.new("CK_ECDH1_DERIVE_PARAMS *")
        point = ffi.new("CK_BYTE[]", peer)
        p.kdf, p.ulSharedDataLen, p.pSharedData = CKD_NULL, 0, ffi.NULL
        p.ulPublicDataLen, p.pPublicData = len(peer), point
        mech = raw.mechanism(CKM_ECDH1_DERIVE, p)
        mech.keep.append(point)
        fn, h, base, t = raw.function("C_DeriveKey"), self.h, priv.handle, self.derived_t
        hp = ffi.new("CK_OBJECT_HANDLE *")

        def run(count: int) -> float:
            made = []
            clock = time.perf_counter
            t0 = clock()
            for _ in range(count):
                rv = fn(h, mech.ptr, base, t.ptr, t.count, hp)
                if rv:
                    raise RuntimeError(f"C_DeriveKey returned CK_RV 0x{rv:x}")
                made.append(hp[0])
            spent = clock() - t0
            for obj in made:  # session objects, destroyed outside the clock
                raw.check("C_DestroyObject", h, obj)
            return spent
        return run


__all__ = ["KEYGEN_KINDS", "CryptographyPairs", "P11Pairs", "Unavailable"]
