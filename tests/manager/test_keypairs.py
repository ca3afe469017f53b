"""Key pairs in the manager: signing in the token cross-checked with ``cryptography``,
public-key export (PEM, DER, JWK field by field against RFC 7517/7518/8037/7638), rotation,
the per-type transitions, the SP 800-57 periods, bad input and the audit.

Every case runs against keystead and SoftHSMv2 (``module``). A case is skipped only when the
token's C_GetMechanismList lacks the key-pair generation mechanism of its algorithm (the
precise probe of :func:`need_pairs`), so keystead's cases run as soon as its token offers
key pairs.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
from datetime import timedelta

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa, utils
from keystead.manager import (
    IllegalTransition,
    KeyType,
    OperationRefused,
    PolicyTable,
    PolicyViolation,
    State,
)
from keystead.manager import lifecycle as lc
from keystead.manager.keypairs import PAIR_ALGORITHMS
from keystead.manager.policy import load_policy_file
from keystead.manager.pubkeys import jwk

from .helpers import manager_token

SIG = KeyType.PRIVATE_SIGNATURE
KA = KeyType.PRIVATE_STATIC_KEY_AGREEMENT
YEAR = timedelta(days=365)
#: Key-pair generation mechanisms (PKCS#11 3.0 current mechanisms 2.1.4, 2.3.6, 2.3.7).
GENERATION = {"RSA": ("CKM_RSA_PKCS_KEY_PAIR_GEN", 0x0), "EC": ("CKM_EC_KEY_PAIR_GEN", 0x1040),
              "Ed25519": ("CKM_EC_EDWARDS_KEY_PAIR_GEN", 0x1055),
              "X25519": ("CKM_EC_MONTGOMERY_KEY_PAIR_GEN", 0x1056)}
#: (algorithm, length, scheme, cryptography hash the signature must use)
SIGNING = [
    ("RSA", 2048, "pss", hashes.SHA256()), ("RSA", 2048, "pkcs1v15", hashes.SHA256()),
    ("RSA", 3072, "pss", hashes.SHA256()), ("RSA", 4096, "pkcs1v15", hashes.SHA256()),
    ("EC", 256, None, hashes.SHA256()), ("EC", 384, None, hashes.SHA384()),
    ("EC", 521, None, hashes.SHA512()), ("Ed25519", None, None, None),
]
SIGNING_IDS = [f"{a}-{n or ''}-{s or 'default'}" for a, n, s, _ in SIGNING]


def need_pairs(module, algorithm: str) -> None:
    """Skip when the token does not generate ``algorithm`` key pairs (C_GetMechanismList)."""
    name, mech = GENERATION[algorithm]
    if mech not in module.mechanisms():
        pytest.skip(f"{module.name}: C_GetMechanismList lacks {name}; no {algorithm} key pairs")


def b64url_decode(text: str) -> bytes:
    assert "=" not in text and "+" not in text and "/" not in text  # RFC 7515 2: unpadded
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def crypto_verify(public, algorithm: str, scheme: str | None, hash_, signature: bytes,
                  message: bytes) -> bool:
    """Verify with ``cryptography`` alone (not the manager's code)."""
    try:
        if algorithm == "RSA":
            pad = (padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32)
                   if scheme in (None, "pss") else padding.PKCS1v15())
            public.verify(signature, message, pad, hash_)
        elif algorithm == "EC":
            public.verify(signature, message, ec.ECDSA(hash_))
        else:
            public.verify(signature, message)
    except InvalidSignature:
        return False
    return True


def make_pair(km, module, name: str, algorithm: str, length: int | None, key_type=SIG):
    need_pairs(module, algorithm)
    return km.create_key(name, key_type, algorithm=algorithm, length_bits=length)


def private_key_signs(module, object_id: str) -> bool:
    """Whether the token itself lets an application start signing with the pair's private
    key: what an application bypassing the manager would get."""
    from keystead.softhsm_bridge.errors import PKCS11Error

    from .helpers import raw_key

    raw = module.raw
    session, _ = raw_key(module, manager_token(module), object_id)
    try:
        handles = raw.find_objects(session, {0x0: 0x3, 0x102: bytes.fromhex(object_id)})
        assert len(handles) == 1
        try:  # CKM_ECDSA: the pairs of these cases are P-256
            raw.op_init("Sign", session, 0x1041, handles[0])
        except PKCS11Error:
            return False
        return True
    finally:
        raw.close_session(session)


# ---- signatures, cross-checked

@pytest.mark.parametrize(("algorithm", "length", "scheme", "hash_"), SIGNING, ids=SIGNING_IDS)
def test_signature_verifies_with_cryptography(km, module, algorithm, length, scheme, hash_):
    key = make_pair(km, module, f"sig/{algorithm}{length}", algorithm, length)
    message = b"release 1.2.3 tarball digest"
    made = km.sign(key.name, message, scheme=scheme, subject="release 1.2.3")
    assert made.version == 1 and made.scheme == (scheme or {"RSA": "pss", "EC": "ecdsa",
                                                            "Ed25519": "eddsa"}[algorithm])
    _, pem = km.export_public(key.name, fmt="pem")
    _, der = km.export_public(key.name, fmt="der")
    public = serialization.load_pem_public_key(pem)
    assert public.public_bytes(serialization.Encoding.DER,
                               serialization.PublicFormat.SubjectPublicKeyInfo) == der
    assert crypto_verify(public, algorithm, scheme, hash_, made.signature, message)
    assert not crypto_verify(public, algorithm, scheme, hash_, made.signature, message + b"!")
    if algorithm == "RSA":
        assert public.key_size == length and len(made.signature) == length // 8
    elif algorithm == "EC":
        assert public.curve.key_size == length
        r, s = utils.decode_dss_signature(made.signature)  # DER, as OpenSSL writes it
        assert r > 0 and s > 0
    else:
        assert isinstance(public, ed25519.Ed25519PublicKey) and len(made.signature) == 64
    assert km.verify_signature(key.name, message, made.signature, scheme=scheme).valid
    bad = km.verify_signature(key.name, message + b"!", made.signature, scheme=scheme)
    assert not bad.valid and bad.tried == [1]


@pytest.mark.parametrize("algorithm", ["RSA", "EC", "Ed25519"])
def test_a_stream_is_signed_in_chunks(km, module, algorithm):
    """A message longer than one chunk goes to the token in parts (C_SignUpdate where the
    token hashes, one digest where it signs digests, whole for pure Ed25519)."""
    key = make_pair(km, module, f"stream/{algorithm}", algorithm,
                    2048 if algorithm == "RSA" else None)
    message = hashlib.shake_256(b"seed").digest(3 * (1 << 20) + 17)
    made = km.sign(key.name, io.BytesIO(message))
    public = serialization.load_pem_public_key(km.export_public(key.name)[1])
    assert crypto_verify(public, algorithm, None, hashes.SHA256(), made.signature, message)
    assert km.verify_signature(key.name, io.BytesIO(message), made.signature).valid


# ---- JWK, field by field

@pytest.mark.parametrize(("algorithm", "length"), [("RSA", 2048), ("EC", 256), ("EC", 384),
                                                   ("EC", 521), ("Ed25519", None)])
def test_jwk_fields(km, module, algorithm, length):
    key = make_pair(km, module, f"jwk/{algorithm}{length}", algorithm, length)
    _, j = km.export_public(key.name, fmt="jwk")
    public = serialization.load_pem_public_key(km.export_public(key.name)[1])
    assert "d" not in j and "p" not in j  # RFC 7518 6.2.2, 6.3.2: private members never
    assert j["use"] == "sig"  # RFC 7517 4.2
    if algorithm == "RSA":  # RFC 7518 6.3.1
        assert set(j) == {"kty", "n", "e", "kid", "use"}
        assert j["kty"] == "RSA" and j["e"] == "AQAB"
        n = b64url_decode(j["n"])
        assert n[0] != 0 and int.from_bytes(n, "big") == public.public_numbers().n
        assert len(n) == length // 8
        rebuilt = rsa.RSAPublicNumbers(65537, int.from_bytes(n, "big")).public_key()
    elif algorithm == "EC":  # RFC 7518 6.2.1: x and y the full coordinate size
        size = (length + 7) // 8
        assert set(j) == {"kty", "crv", "x", "y", "kid", "use", "alg"}
        assert j["kty"] == "EC" and j["crv"] == f"P-{length}"
        assert j["alg"] == {256: "ES256", 384: "ES384", 521: "ES512"}[length]  # RFC 7518 3.4
        x, y = b64url_decode(j["x"]), b64url_decode(j["y"])
        assert len(x) == len(y) == size
        nums = public.public_numbers()
        assert (int.from_bytes(x, "big"), int.from_bytes(y, "big")) == (nums.x, nums.y)
        curve = {256: ec.SECP256R1(), 384: ec.SECP384R1(), 521: ec.SECP521R1()}[length]
        rebuilt = ec.EllipticCurvePublicNumbers(nums.x, nums.y, curve).public_key()
    else:  # RFC 8037 2
        assert set(j) == {"kty", "crv", "x", "kid", "use", "alg"}
        assert j["kty"] == "OKP" and j["crv"] == "Ed25519" and j["alg"] == "EdDSA"
        x = b64url_decode(j["x"])
        assert len(x) == 32
        rebuilt = ed25519.Ed25519PublicKey.from_public_bytes(x)
    members = {"RSA": ("e", "kty", "n"), "EC": ("crv", "kty", "x", "y"),
               "Ed25519": ("crv", "kty", "x")}[algorithm]
    canonical = json.dumps({m: j[m] for m in members}, separators=(",", ":"), sort_keys=True)
    assert j["kid"] == base64.urlsafe_b64encode(
        hashlib.sha256(canonical.encode()).digest()).rstrip(b"=").decode()  # RFC 7638 3
    message = b"signed for a JWS"
    made = km.sign(key.name, message)
    hash_ = {384: hashes.SHA384(), 521: hashes.SHA512()}.get(length or 0, hashes.SHA256())
    assert crypto_verify(rebuilt, algorithm, None, hash_, made.signature, message)


def test_jwk_thumbprints_match_the_rfc_examples():
    """RFC 7638 3.1 (RSA) and RFC 8037 A.3 (Ed25519): the kid is the thumbprint."""
    n = ("0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_"
         "BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0"
         "_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTW"
         "hAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw")
    key = rsa.RSAPublicNumbers(65537, int.from_bytes(b64url_decode(n), "big")).public_key()
    j = jwk(key, signing=True, length_bits=2048)
    assert (j["n"], j["e"]) == (n, "AQAB")
    assert j["kid"] == "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
    x = "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"
    okp = jwk(ed25519.Ed25519PublicKey.from_public_bytes(b64url_decode(x)), signing=True,
              length_bits=255)
    assert okp["x"] == x
    assert okp["kid"] == "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"


@pytest.mark.parametrize(("algorithm", "crv"), [("X25519", "X25519"), ("EC", "P-256")])
def test_key_agreement_pair(km, module, algorithm, crv):
    key = make_pair(km, module, f"ka/{algorithm}", algorithm, None, KA)
    assert key.key_type is KA and key.operations == ("derive",)
    _, j = km.export_public(key.name, fmt="jwk")
    assert j["crv"] == crv and j["use"] == "enc" and j["alg"] == "ECDH-ES"
    assert j["kty"] == ("OKP" if algorithm == "X25519" else "EC")
    assert len(b64url_decode(j["x"])) == 32
    with pytest.raises(OperationRefused, match="private-static-key-agreement key; it cannot sign"):
        km.sign(key.name, b"m")
    view = km.show(key.name)
    assert view.versions[0].process_end == view.versions[0].protect_end  # one period


# ---- rotation and transitions

def test_rotation_keeps_the_old_public_key_verifying(km, module, clock):
    need_pairs(module, "EC")
    key = km.create_key("rot/signer", SIG, algorithm="EC", rup_extra=YEAR)
    old = km.sign(key.name, b"signed by v1")
    v1_oid = km.show(key.name).versions[0].object_id
    # v2's recipient-usage period ends after v1's (a policy applies to versions activated
    # from then on); the clock stays put while the token is used: keystead's token checks
    # the usage dates against its own clock
    km.set_policy(key.name, rup_extra=2 * YEAR)
    fresh = km.rotate(key.name)
    assert fresh.version == 2 and fresh.state is State.ACTIVE
    view = km.show(key.name)
    v1 = view.versions[0]
    assert v1.state is State.DEACTIVATED
    # the old private key signs no more: its cryptoperiod ended, so it is destroyed; the
    # public key stays (SP 800-57 Part 1 Rev. 5, 5.3.6)
    assert km.token.pair_objects(bytes.fromhex(v1_oid)) == (1, 0)
    assert private_key_signs(module, view.versions[1].object_id)
    new = km.sign(key.name, b"signed by v2")
    assert new.version == 2
    found = km.verify_signature(key.name, b"signed by v1", old.signature)
    assert found.valid and found.version == 1 and found.tried == [2, 1]
    assert km.export_public(key.name, 1)[0] == 1  # a deactivated pair's public key exports
    clock.advance(v1.process_end - clock.now() + timedelta(seconds=1))
    gone = km.verify_signature(key.name, b"signed by v1", old.signature)
    assert not gone.valid and gone.tried == [2]  # v1's recipient-usage period is over
    with pytest.raises(OperationRefused, match="outside its recipient-usage period"):
        km.verify_signature(key.name, b"signed by v1", old.signature, version=1)


def test_a_signature_pair_is_deactivated_before_it_is_destroyed(km, module):
    key = make_pair(km, module, "tr/signer", "EC", 256)
    with pytest.raises(IllegalTransition, match="deactivated first"):
        km.transition(key.name, State.DESTROYED, reason="done")
    km.deactivate(key.name)
    made_before = km.show(key.name).versions[0]
    assert km.token.pair_objects(bytes.fromhex(made_before.object_id)) == (1, 0)
    km.transition(key.name, State.DESTROYED, reason="done")
    assert km.token.pair_objects(bytes.fromhex(made_before.object_id)) == (0, 0)
    with pytest.raises(OperationRefused, match="destroyed; it cannot sign"):
        km.sign(key.name, b"m")
    with pytest.raises(OperationRefused, match="destroyed; it cannot process"):
        km.verify_signature(key.name, b"m", b"\0" * 64, version=1)
    with pytest.raises(OperationRefused, match="destroyed; its public key is not exported"):
        km.export_public(key.name)


def test_a_key_agreement_pair_may_be_destroyed_while_active(km, module):
    key = make_pair(km, module, "tr/agree", "EC", None, KA)
    ver = km.transition(key.name, State.DESTROYED, reason="never used")
    assert ver.state is State.DESTROYED
    assert km.token.pair_objects(bytes.fromhex(ver.object_id)) == (0, 0)
    kept = make_pair(km, module, "tr/agree2", "EC", None, KA)
    ver = km.deactivate(kept.name)  # a key-agreement pair keeps both keys while deactivated
    assert km.token.pair_objects(bytes.fromhex(ver.object_id)) == (1, 1)


def test_suspension_and_compromise_move_both_keys(km, module):
    key = make_pair(km, module, "tr/suspend", "EC", 256)
    made = km.sign(key.name, b"m")
    km.suspend(key.name)
    oid = km.show(key.name).versions[0].object_id
    assert not private_key_signs(module, oid)
    with pytest.raises(OperationRefused, match="suspended; it cannot sign"):
        km.sign(key.name, b"m")
    with pytest.raises(OperationRefused, match="no version of tr/suspend may verify"):
        km.verify_signature(key.name, b"m", made.signature)
    with pytest.raises(OperationRefused, match="without an override"):
        km.verify_signature(key.name, b"m", made.signature, version=1)
    assert km.verify_signature(key.name, b"m", made.signature, version=1, override=True,
                               reason="incident 7").valid
    km.compromise(key.name, reason="key file copied", replace=False)
    with pytest.raises(OperationRefused, match="compromised; its public key is not exported"):
        km.export_public(key.name)
    record = [r for r in km.audit_records() if r.action == "verify" and r.result == "ok"][-1]
    assert record.details["override"] == "suspended" and record.reason == "incident 7"


def test_the_pair_tables_are_the_token_table_narrowed():
    """One table: a pair takes the edges both its keys allow, each key type's edges are the
    token's (native/token/lifecycle.c) minus the straight destruction of keys that have a
    recipient-usage period."""
    assert lc.TRANSITIONS_BY_TYPE["private-signature"] == lc.TRANSITIONS
    assert lc.TRANSITIONS_BY_TYPE["private-static-key-agreement"] == lc.TRANSITIONS
    public = lc.TRANSITIONS_BY_TYPE["public-signature-verification"]
    assert State.DESTROYED not in public[State.ACTIVE]
    assert State.DESTROYED in public[State.DEACTIVATED]
    pair = lc.edges_for("private-signature")
    assert pair == {s: lc.TRANSITIONS[s] & public[s] for s in State}
    assert lc.edges_for("private-static-key-agreement") == lc.TRANSITIONS


# ---- periods (SP 800-57 Part 1 Rev. 5, 5.3.6 and Table 1)

def test_pair_cryptoperiods():
    table = PolicyTable()
    sig = table.default_policy(SIG)
    assert (sig.oup, sig.rup_extra) == (3 * YEAR, 3 * YEAR)  # private 1-3 y; public after
    ka = table.default_policy(KA)
    assert (ka.oup, ka.rup_extra) == (2 * YEAR, timedelta(0))  # one period of 1-2 years
    with pytest.raises(PolicyViolation, match="exceeds the policy maximum 3y"):
        table.with_overrides(SIG, sig, oup=4 * YEAR)
    with pytest.raises(PolicyViolation, match="recipient-usage period"):
        table.with_overrides(KA, ka, rup_extra=timedelta(days=1))


def test_a_policy_file_tightens_the_public_key_period(tmp_path):
    path = tmp_path / "policy.toml"
    path.write_text('[public-signature-verification]\nrup_extra = "1y"\n'
                    '[private-signature]\noup = "1y"\n')
    table = load_policy_file(path)
    assert (table.rule(SIG).oup_max, table.rule(SIG).rup_extra_max) == (YEAR, YEAR)
    with pytest.raises(PolicyViolation, match="exceeds"):
        table.with_overrides(SIG, table.default_policy(SIG), rup_extra=2 * YEAR)


def test_signing_keys_and_their_periods_in_the_catalogue(km, module):
    key = make_pair(km, module, "per/rsa", "RSA", 2048)
    assert (key.algorithm, key.length_bits, key.security_strength) == ("RSA", 2048, 112)
    assert key.operations == ("sign", "verify")
    v = km.show(key.name).versions[0]
    assert v.protect_end - v.activated_at == 3 * YEAR
    assert v.process_end - v.protect_end == 3 * YEAR
    assert [a.name for a in PAIR_ALGORITHMS[SIG]] == ["RSA", "EC", "Ed25519"]


# ---- bad input

def test_bad_input_is_refused_in_one_line(km, module):
    need_pairs(module, "EC")
    km.create_key("bad/dek")
    with pytest.raises(OperationRefused, match="data-encryption key; it cannot sign"):
        km.sign("bad/dek", b"m")
    with pytest.raises(OperationRefused, match="data-encryption key; it has no public key"):
        km.export_public("bad/dek")
    key = km.create_key("bad/ec", SIG, algorithm="EC")
    with pytest.raises(OperationRefused, match="EC keys sign with ecdsa, not pkcs1v15"):
        km.sign(key.name, b"m", scheme="pkcs1v15")
    with pytest.raises(PolicyViolation, match="private-signature keys are RSA, EC, Ed25519, "
                                              "not X25519"):
        km.create_key("bad/x", SIG, algorithm="X25519")
    with pytest.raises(PolicyViolation, match="keys are 256, 384, 521 bits long, not 255"):
        km.create_key("bad/c", SIG, algorithm="EC", length_bits=255)
    with pytest.raises(PolicyViolation, match="data-encryption keys are AES, not RSA"):
        km.create_key("bad/aes", algorithm="RSA")
    assert not km.verify_signature(key.name, b"m", b"not a signature").valid
    refused = [r for r in km.audit_records() if r.result.startswith("refused")]
    assert {r.action for r in refused} >= {"sign", "export-public"}
    assert all("\n" not in r.result for r in refused)


def test_every_use_is_in_the_audit(km, module):
    key = make_pair(km, module, "aud/signer", "Ed25519", None)
    made = km.sign(key.name, b"audited", subject="build 7")
    km.verify_signature(key.name, b"audited", made.signature)
    km.verify_signature(key.name, b"forged", made.signature)
    km.export_public(key.name, fmt="jwk")
    records = [r for r in km.audit_records() if r.key_name == key.name]
    sign = next(r for r in records if r.action == "sign")
    assert sign.reason == "build 7" and sign.version == 1 and sign.details["scheme"] == "eddsa"
    assert sign.details["digest"] == "sha256:" + hashlib.sha256(b"audited").hexdigest()
    verifies = [(r.version, r.result) for r in records if r.action == "verify"]
    assert verifies == [(1, "ok"), (None, "failed: the signature does not verify")]
    export = next(r for r in records if r.action == "export-public")
    assert export.details["format"] == "jwk" and len(export.details["spki_sha256"]) == 64
    assert km.verify_audit(with_token=False).chain.ok


def test_doctor_knows_key_pairs(km, module):
    """The doctor and the check before every use count a pair's keys: one public key, and
    one private key until a signature pair is deactivated."""
    from .helpers import raw_key

    key = make_pair(km, module, "doc/signer", "EC", 256)
    km.rotate(key.name)
    assert [f for f in km.doctor() if f.key == key.name] == []
    v2 = km.show(key.name).versions[1]
    session, _ = raw_key(module, manager_token(module), v2.object_id)
    try:
        publics = module.raw.find_objects(session, {0x0: 0x2,
                                                    0x102: bytes.fromhex(v2.object_id)})
        module.raw.destroy_object(session, publics[0])
    finally:
        module.raw.close_session(session)
    found = [f for f in km.doctor() if f.key == key.name]
    assert [(f.kind, f.version) for f in found] == [("missing", 2)]
    assert "0 public and 1 private keys" in found[0].detail
    with pytest.raises(OperationRefused, match="the token disagrees with the catalogue"):
        km.sign(key.name, b"m")


@pytest.mark.parametrize(("algorithm", "length"), [("RSA", 2048), ("EC", 256),
                                                   ("Ed25519", None)])
def test_public_key_info_is_filled(km, module, xfail_quirk, algorithm, length):
    """Both keys of a generated pair carry the SubjectPublicKeyInfo the manager exports
    (where a token leaves it empty, export-public reads the components instead)."""
    from .helpers import raw_key

    key = make_pair(km, module, f"spki/{algorithm}", algorithm, length)
    xfail_quirk(module, "public-key-info-empty")
    _, der = km.export_public(key.name, fmt="der")
    oid = km.show(key.name).versions[0].object_id
    session, _ = raw_key(module, manager_token(module), oid)
    try:
        for cls in (0x2, 0x3):  # CKO_PUBLIC_KEY, CKO_PRIVATE_KEY
            handles = module.raw.find_objects(session, {0x0: cls, 0x102: bytes.fromhex(oid)})
            assert module.raw.get_attribute(session, handles[0], 0x129) == der
    finally:
        module.raw.close_session(session)


def test_rotate_due_runs_a_signature_pair_through_its_periods(km, module, clock):
    """`rotate --due`: at the end of the OUP a new pair, the old private key destroyed and
    its public key verifying; at the end of the RUP the old pair's destruction."""
    need_pairs(module, "EC")
    key = km.create_key("due/signer", SIG, algorithm="EC", oup=timedelta(days=30),
                        rup_extra=timedelta(days=60))
    made = km.sign(key.name, b"v1 release", subject="release 1")
    clock.advance(timedelta(days=31))
    done = [(d.action, d.version, d.result) for d in km.run_due()]
    assert done == [("rotate", 1, "ok")]
    v1 = km.show(key.name).versions[0]
    assert v1.state is State.DEACTIVATED
    assert km.token.pair_objects(bytes.fromhex(v1.object_id)) == (1, 0)
    assert km.verify_signature(key.name, b"v1 release", made.signature).version == 1
    assert [r.reason for r in km.affected(key.name, 1)] == ["release 1"]  # what it signed
    clock.advance(timedelta(days=60))
    assert ("schedule-destroy", 1) in [(d.action, d.version) for d in km.run_due()]
    assert not km.verify_signature(key.name, b"v1 release", made.signature).valid


def test_doctor_compares_and_repairs_a_pair_state(km, module):
    """A pair whose keys the token holds in another state than the catalogue's is found
    (state codes on keystead's token, CKA_SIGN/CKA_VERIFY elsewhere), refused for use, and
    repaired from the catalogue."""
    from keystead.manager.base import windows_of

    key = make_pair(km, module, "doc/state", "EC", 256)
    ver = km.show(key.name).versions[0]
    oid = bytes.fromhex(ver.object_id)
    km.token.apply_state(oid, km.spec(key), State.SUSPENDED, windows_of(ver), "out of band")
    found = [f for f in km.doctor() if f.key == key.name]
    assert [f.kind for f in found] == ["state"]
    assert "catalogue state active" in found[0].detail
    with pytest.raises(OperationRefused, match="the token disagrees with the catalogue"):
        km.sign(key.name, b"m")
    repaired = [f for f in km.doctor(repair=True) if f.key == key.name]
    assert [f.repaired for f in repaired] == ["repaired"]
    assert [f for f in km.doctor() if f.key == key.name] == []
    assert km.sign(key.name, b"m").version == 1


def test_a_failed_signature_is_recorded_as_failed(km, module):
    """An input that fails half-way (after the use was checked and counted: a crash never
    under-counts) leaves one failed record and no signature."""
    key = make_pair(km, module, "fail/signer", "EC", 256)

    class Broken(io.RawIOBase):
        def __init__(self) -> None:
            self.calls = 0

        def readable(self) -> bool:
            return True

        def read(self, n: int = -1) -> bytes:
            self.calls += 1
            if self.calls > 2:  # after two chunks: the token is mid-operation
                raise OSError(5, "Input/output error")
            return b"x" * 10

    with pytest.raises(OSError, match="Input/output error"):
        km.sign(key.name, Broken())
    records = [r for r in km.audit_records() if r.key_name == key.name and r.action == "sign"]
    assert [r.result for r in records] == ["failed: Input/output error"]
    assert km.show(key.name).versions[0].usage_count == 1
    assert km.sign(key.name, b"next").version == 1  # the failed operation was ended


def test_the_token_counts_signatures(km, module):
    """On a token that counts uses (keystead's), a pair's private key counts each signature
    as the catalogue does (key show --usage)."""
    key = make_pair(km, module, "count/signer", "Ed25519", None)
    for _ in range(3):
        km.sign(key.name, b"m")
    view = km.show(key.name, token_usage=True)
    assert view.versions[0].usage_count == 3
    counted = {"token_usage_count": 3} if km.token.enforces_lifecycle else {}
    assert view.token_usage[1] == counted
