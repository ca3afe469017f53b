"""Key pairs on a PKCS#11 token, for :class:`~keystead.manager.pkcs11_token.Pkcs11Token`:
generation (C_GenerateKeyPair), state, signing and reading the public key.

Both keys of a version carry the version's CKA_ID (the PKCS#11 convention that pairs a
private key with its public key). The private key is sensitive and unextractable and has
only its purpose's flag (CKA_SIGN, or CKA_DERIVE for key agreement); the public key is a
public object (CKA_PRIVATE false) with CKA_VERIFY for a signature pair and no usage flag for
a key-agreement pair. On keystead's token both carry the lifecycle state and dates, as secret
keys do; elsewhere the state is mapped onto those flags (protect flag only while active,
verify while the version may process), as for secret keys.

Signing picks the token's mechanism from its C_GetMechanismList: the hashed mechanism
(CKM_SHA256_RSA_PKCS_PSS, CKM_ECDSA_SHA384, ...) where the token offers it, else the raw one
(CKM_RSA_PKCS_PSS, CKM_RSA_PKCS over a DigestInfo, CKM_ECDSA) over a digest computed here
(SoftHSMv2 2.6.1 offers CKM_ECDSA only). Either way the message is hashed here too, once,
for the audit record.
"""

from __future__ import annotations

import contextlib
import struct
import sys
from collections.abc import Iterable

from keystead.softhsm_bridge import errors as bridge_errors
from keystead.softhsm_bridge.ck import (
    CKA_KS_LIFECYCLE_STATE,
    CKA_KS_TRANSITION_REASON,
    CKA_KS_USAGE_LIMIT,
)

from .errors import OperationRefused, TokenFailure
from .keypairs import (
    CURVES,
    EC,
    ED25519,
    ED25519_OID,
    PKCS1V15,
    PSS,
    RSA,
    X25519_OID,
    pair_algorithm,
)
from .lifecycle import TOKEN_STATE_CODES, State, can_process, can_protect
from .policy import KeyType
from .specs import KeySpec
from .tokenport import Windows

CKO_PUBLIC_KEY, CKO_PRIVATE_KEY = 0x2, 0x3
CKA_CLASS, CKA_TOKEN, CKA_PRIVATE, CKA_LABEL, CKA_ID = 0x0, 0x1, 0x2, 0x3, 0x102
CKA_UNIQUE_ID = 0x4
CKA_KEY_TYPE, CKA_SENSITIVE, CKA_EXTRACTABLE = 0x100, 0x103, 0x162
CKA_ENCRYPT, CKA_DECRYPT, CKA_WRAP, CKA_UNWRAP = 0x104, 0x105, 0x106, 0x107
CKA_SIGN, CKA_SIGN_RECOVER, CKA_VERIFY, CKA_VERIFY_RECOVER, CKA_DERIVE = (
    0x108, 0x109, 0x10A, 0x10B, 0x10C)
CKA_MODULUS, CKA_MODULUS_BITS, CKA_PUBLIC_EXPONENT = 0x120, 0x121, 0x122
CKA_PUBLIC_KEY_INFO, CKA_EC_PARAMS, CKA_EC_POINT = 0x129, 0x180, 0x181

CKM_RSA_PKCS, CKM_RSA_PKCS_PSS = 0x1, 0xD
CKM_SHA256_RSA_PKCS, CKM_SHA256_RSA_PKCS_PSS = 0x40, 0x43
CKM_ECDSA, CKM_EDDSA = 0x1041, 0x1057
CKM_ECDSA_SHA = {"sha256": 0x1044, "sha384": 0x1045, "sha512": 0x1046}
CKM_SHA256, CKG_MGF1_SHA256 = 0x250, 0x2
#: RFC 8017 9.2 note 1: the DER DigestInfo prefix of SHA-256, for CKM_RSA_PKCS over a digest.
SHA256_DIGEST_INFO = bytes.fromhex("3031300d060960864801650304020105000420")
#: As for secret keys (pkcs11_token.py): a limit makes keystead's token count every use.
EXACT_COUNT_LIMIT = 2**64 - 1

#: Flags a key of each class may carry (PKCS#11 3.0 4.8, 4.9); every one is set explicitly,
#: since a token's default for one left out may be true.
_PUBLIC_FLAGS = (CKA_ENCRYPT, CKA_VERIFY, CKA_VERIFY_RECOVER, CKA_WRAP, CKA_DERIVE)
_PRIVATE_FLAGS = (CKA_DECRYPT, CKA_SIGN, CKA_SIGN_RECOVER, CKA_UNWRAP, CKA_DERIVE)


def pss_params() -> bytes:
    """CK_RSA_PKCS_PSS_PARAMS {hashAlg SHA-256, MGF1-SHA-256, sLen 32} (three CK_ULONGs)."""
    return struct.pack("=QQQ", CKM_SHA256, CKG_MGF1_SHA256, 32)


def pair_flags(key_type: KeyType, may_protect: bool, may_process: bool
               ) -> tuple[dict[int, bool], dict[int, bool]]:
    """(public, private) usage flags of a pair of ``key_type``: the purpose's flag on as
    the state allows, every other flag off."""
    public = dict.fromkeys(_PUBLIC_FLAGS, False)
    private = dict.fromkeys(_PRIVATE_FLAGS, False)
    if key_type is KeyType.PRIVATE_SIGNATURE:
        private[CKA_SIGN] = may_protect
        public[CKA_VERIFY] = may_process
    else:
        private[CKA_DERIVE] = may_protect
    return public, private


def private_key_ends(key_type: KeyType, state: State) -> bool:
    """True when a pair's private key is destroyed on entering ``state``: a private
    signature key "shall be destroyed at the end of its cryptoperiod" (SP 800-57 Part 1
    Rev. 5, 5.3.6), which deactivation ends; its public key stays and verifies until the
    recipient-usage period ends. Key-agreement pairs keep both keys until destroyed."""
    return key_type is KeyType.PRIVATE_SIGNATURE and state is State.DEACTIVATED


def private_keys_expected(key_type: KeyType, deactivated: bool) -> int:
    """How many private keys a version of a pair keeps on the token (0 once a signature
    pair was deactivated)."""
    return 0 if deactivated and key_type is KeyType.PRIVATE_SIGNATURE else 1


def generation_templates(key_type: KeyType, algorithm: str, length_bits: int
                         ) -> tuple[int, dict[int, object], dict[int, object]]:
    """(mechanism, public template, private template) of the algorithm's own attributes."""
    alg = pair_algorithm(key_type, algorithm)
    public: dict[int, object] = {CKA_CLASS: CKO_PUBLIC_KEY, CKA_KEY_TYPE: alg.ck_key_type}
    private: dict[int, object] = {CKA_CLASS: CKO_PRIVATE_KEY, CKA_KEY_TYPE: alg.ck_key_type}
    if alg.name == RSA:
        public[CKA_MODULUS_BITS] = length_bits
        public[CKA_PUBLIC_EXPONENT] = b"\x01\x00\x01"
    elif alg.name == EC:
        public[CKA_EC_PARAMS] = CURVES[length_bits][1]
    else:
        public[CKA_EC_PARAMS] = ED25519_OID if alg.name == ED25519 else X25519_OID
    return alg.gen_mechanism, public, private


def find_pair(raw, session: int, object_id: bytes) -> tuple[list[int], list[int]]:
    """(public handles, private handles) carrying ``object_id``."""
    return (raw.find_objects(session, {CKA_CLASS: CKO_PUBLIC_KEY, CKA_ID: object_id}),
            raw.find_objects(session, {CKA_CLASS: CKO_PRIVATE_KEY, CKA_ID: object_id}))


def sign_mechanism(algorithm: str, length_bits: int, scheme: str, offered: Iterable[int]
                   ) -> tuple[int, bytes | None, bool]:
    """(mechanism, parameter, takes the digest) for a signature; the hashed mechanism when
    the token offers it. Raises OperationRefused when the token offers neither form."""
    offers = set(offered)
    if algorithm == RSA and scheme == PSS:
        choices = [(CKM_SHA256_RSA_PKCS_PSS, False), (CKM_RSA_PKCS_PSS, True)]
        param = pss_params()
    elif algorithm == RSA and scheme == PKCS1V15:
        choices, param = [(CKM_SHA256_RSA_PKCS, False), (CKM_RSA_PKCS, True)], None
    elif algorithm == EC:
        choices = [(CKM_ECDSA_SHA[CURVES[length_bits][2]], False), (CKM_ECDSA, True)]
        param = None
    elif algorithm == ED25519:
        choices, param = [(CKM_EDDSA, False)], None
    else:
        raise OperationRefused(f"{algorithm} keys do not sign")
    for mech, prehashed in choices:
        if mech in offers:
            return mech, param, prehashed
    names = " or ".join(hex(m) for m, _ in choices)
    raise OperationRefused(f"the token offers no mechanism for {scheme} signatures ({names})")


def digest_input(mechanism: int, digest: bytes) -> bytes:
    """What a raw mechanism signs for ``digest``: the DigestInfo for CKM_RSA_PKCS (RFC 8017
    9.2), the digest itself for CKM_RSA_PKCS_PSS and CKM_ECDSA."""
    return SHA256_DIGEST_INFO + digest if mechanism == CKM_RSA_PKCS else digest


def sign(raw, session: int, handle: int, mechanism: int, param: bytes | None,
         chunks: Iterable[bytes]) -> bytes:
    """C_SignInit, then C_Sign when ``chunks`` holds one chunk, else C_SignUpdate of each
    (read as they come: a stream is never held whole) and C_SignFinal."""
    it = iter(chunks)
    first = next(it, b"")
    second = next(it, None)
    raw.op_init("Sign", session, mechanism, handle, param)
    if second is None:
        return raw.single("Sign", session, first)
    try:
        raw.update("Sign", session, first)
        raw.update("Sign", session, second)
        for part in it:
            raw.update("Sign", session, part)
    except BaseException:
        # The input failed (or the token refused a part) mid-operation: end the operation so
        # the session can sign again (C_SignFinal ends it on any result; PKCS#11 3.0 5.2).
        with contextlib.suppress(bridge_errors.PKCS11Error):
            raw.final("Sign", session)
        raise
    return raw.final("Sign", session)


def public_material(raw, session: int, handle: int, algorithm: str) -> dict[str, bytes]:
    """What the public key object says of itself: ``spki`` (CKA_PUBLIC_KEY_INFO) when the
    token fills it, and the components (RSA modulus and exponent; EC parameters and point)."""
    attrs = [CKA_PUBLIC_KEY_INFO]
    attrs += [CKA_MODULUS, CKA_PUBLIC_EXPONENT] if algorithm == RSA else [CKA_EC_PARAMS,
                                                                         CKA_EC_POINT]
    out: dict[str, bytes] = {}
    for attr in attrs:  # one by one: a token may not know CKA_PUBLIC_KEY_INFO (2.40)
        res = raw.get_attributes(session, handle, [attr])
        value = res.values.get(attr) if res.rv == 0 else None
        if value:
            out[{CKA_PUBLIC_KEY_INFO: "spki", CKA_MODULUS: "n", CKA_PUBLIC_EXPONENT: "e",
                 CKA_EC_PARAMS: "params", CKA_EC_POINT: "point"}[attr]] = value
    return out


class KeyPairPort:
    """The key-pair half of :class:`~keystead.manager.pkcs11_token.Pkcs11Token` (which
    provides ``_call``, ``_dates``, ``_governed``, ``_mechanisms`` and
    ``enforces_lifecycle``)."""

    def _pair_flags(self, spec: KeySpec, state: State, *, override: bool = False
                    ) -> tuple[dict[int, bool], dict[int, bool]]:
        keystead = self.enforces_lifecycle  # type: ignore[attr-defined]
        return pair_flags(spec.key_type, keystead or can_protect(state),
                          keystead or can_process(state, override=override))

    def generate_pair(self, spec: KeySpec, length_bits: int, object_id: bytes, label: str,
                      state: State, windows: Windows) -> str | None:
        """C_GenerateKeyPair: both keys with the version's CKA_ID and label; returns the
        private key's CKA_UNIQUE_ID when the token has one."""
        mech, public, private = generation_templates(spec.key_type, spec.algorithm,
                                                     length_bits)
        pub_flags, priv_flags = self._pair_flags(spec, state)
        common: dict[int, object] = {CKA_TOKEN: True, CKA_ID: object_id, CKA_LABEL: label,
                                     **self._dates(windows)}  # type: ignore[attr-defined]
        if self.enforces_lifecycle:  # type: ignore[attr-defined]
            common[CKA_KS_LIFECYCLE_STATE] = TOKEN_STATE_CODES[state]
            common[CKA_KS_USAGE_LIMIT] = EXACT_COUNT_LIMIT
        public.update({**common, CKA_PRIVATE: False, **pub_flags})
        private.update({**common, CKA_PRIVATE: True, CKA_SENSITIVE: True,
                        CKA_EXTRACTABLE: False, **priv_flags})

        def run(raw, session):
            _, hpriv = raw.generate_key_pair(session, mech, public, private)
            res = raw.get_attributes(session, hpriv, [CKA_UNIQUE_ID])
            value = res.values.get(CKA_UNIQUE_ID) if res.rv == 0 else None
            return value.decode("utf-8", "replace") if value else None

        return self._call("C_GenerateKeyPair", run)  # type: ignore[attr-defined]

    def apply_pair_state(self, object_id: bytes, spec: KeySpec, state: State,
                         windows: Windows, reason: str) -> None:
        """Both keys of a pair follow ``state`` and ``windows`` (destroyed: nothing to
        write; :meth:`destroy_pair` removes them). A deactivated signature pair's private
        key is destroyed (:func:`private_key_ends`)."""
        if state is State.DESTROYED:
            return
        pub_flags, priv_flags = self._pair_flags(spec, state)
        keystead = self.enforces_lifecycle  # type: ignore[attr-defined]
        ends = private_key_ends(spec.key_type, state)

        def run(raw, session):
            publics, privates = find_pair(raw, session, object_id)
            if not publics and not privates:
                raise TokenFailure(f"key pair {object_id.hex()} is not on the token")
            if ends:
                for handle in privates:
                    raw.destroy_object(session, handle)
                privates = []
            for handles, flags in ((publics, pub_flags), (privates, priv_flags)):
                for handle in handles:
                    if keystead:
                        template: dict[int, object] = {
                            **self._governed(),  # type: ignore[attr-defined]
                            **self._dates(windows)}  # type: ignore[attr-defined]
                        # keystead moves the other key of a pair itself (suspension,
                        # compromise, resumption: docs/policy.md, "Key pairs"); a key that is
                        # in the state already takes no transition, only the dates.
                        now = raw.get_attribute(session, handle, CKA_KS_LIFECYCLE_STATE)
                        if int.from_bytes(now, sys.byteorder) != TOKEN_STATE_CODES[state]:
                            template[CKA_KS_LIFECYCLE_STATE] = TOKEN_STATE_CODES[state]
                            template[CKA_KS_TRANSITION_REASON] = reason or state.value
                    else:
                        template = {**flags, **self._dates(windows)}  # type: ignore[attr-defined]
                    raw.set_attributes(session, handle, template)

        self._call("C_SetAttributeValue", run)  # type: ignore[attr-defined]

    def destroy_pair(self, object_id: bytes) -> None:
        """Destroy both keys of a pair; missing ones are not an error."""
        def run(raw, session):
            publics, privates = find_pair(raw, session, object_id)
            for handle in privates + publics:
                raw.destroy_object(session, handle)

        self._call("C_DestroyObject", run)  # type: ignore[attr-defined]

    def pair_objects(self, object_id: bytes) -> tuple[int, int]:
        """How many (public, private) keys carry ``object_id``."""
        publics, privates = self.pair_inventory(object_id)
        return len(publics), len(privates)

    def pair_inventory(self, object_id: bytes) -> tuple[list, list]:
        """The (public, private) keys carrying ``object_id``, read back as the doctor
        compares them (:class:`.token_inventory.TokenObject`)."""
        from .token_inventory import read_object

        keystead = self.enforces_lifecycle  # type: ignore[attr-defined]

        def run(raw, session):
            publics, privates = find_pair(raw, session, object_id)
            return ([read_object(raw, session, h, keystead) for h in publics],
                    [read_object(raw, session, h, keystead) for h in privates])

        return self._call("C_FindObjects", run)  # type: ignore[attr-defined]

    def set_pair_flags(self, object_id: bytes, spec: KeySpec, state: State) -> None:
        """Both keys' usage flags as ``state`` wants them (the doctor's repair)."""
        pub_flags, priv_flags = self._pair_flags(spec, state)

        def run(raw, session):
            publics, privates = find_pair(raw, session, object_id)
            for handles, flags in ((publics, pub_flags), (privates, priv_flags)):
                for handle in handles:
                    raw.set_attributes(session, handle, flags)

        self._call("C_SetAttributeValue", run)  # type: ignore[attr-defined]

    def sign_plan(self, algorithm: str, length_bits: int, scheme: str
                  ) -> tuple[int, bytes | None, bool]:
        """(mechanism, parameter, takes the digest) this token signs with
        (:func:`sign_mechanism`)."""
        return sign_mechanism(algorithm, length_bits, scheme,
                              self._mechanisms())  # type: ignore[attr-defined]

    def sign_with(self, object_id: bytes, mech: int, param: bytes | None,
                  data: Iterable[bytes]) -> bytes:
        """Sign ``data`` (chunks, streamed) with the pair's private key and ``mech``; the
        signature as the token gives it."""
        def run(raw, session):
            _, privates = find_pair(raw, session, object_id)
            if len(privates) != 1:
                raise OperationRefused(
                    f"the token holds {len(privates)} private keys with CKA_ID "
                    f"{object_id.hex()}; run `keystead doctor`")
            return sign(raw, session, privates[0], mech, param, data)

        return self._call("C_Sign", run)  # type: ignore[attr-defined]

    def public_key(self, object_id: bytes, algorithm: str) -> dict[str, bytes]:
        """The pair's public key as the token describes it (:func:`public_material`)."""
        def run(raw, session):
            publics, _ = find_pair(raw, session, object_id)
            if len(publics) != 1:
                raise OperationRefused(
                    f"the token holds {len(publics)} public keys with CKA_ID "
                    f"{object_id.hex()}; run `keystead doctor`")
            return public_material(raw, session, publics[0], algorithm)

        return self._call("C_GetAttributeValue", run)  # type: ignore[attr-defined]
