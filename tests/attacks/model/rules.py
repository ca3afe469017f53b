"""The token's key-management rules as a function from (state, call) to (CK_RV, state).

Values are symbolic: a key value is a name ("TA", "S1", "g3"...), a ciphertext is the term
(mechanism family, key value, plaintext value), and the attacker knows a set of values and
holds a set of terms. What each call checks, and in which order, follows the module
(native/p11/keys.c, native/p11/guard.c, native/token/rules_set.c, native/token/wrap_policy.c)
so that a sequence of calls answers here as it answers there, call by call.

Three rule sets: ``compat`` (PKCS#11's own rules: CKA_EXTRACTABLE, CKA_WRAP_WITH_TRUSTED,
CKA_SENSITIVE and CKA_TRUSTED one way, templates), ``strict`` (the six rules of the README's
"Wrap policy" as the module has them today) and ``strict-fixed`` (strict, and a key unwrapped
under a key that guards a secret gets the data role at unwrap, in whichever token unwraps it).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import NamedTuple

OK = "CKR_OK"
KFNP = "CKR_KEY_FUNCTION_NOT_PERMITTED"
NOT_WRAPPABLE = "CKR_KEY_NOT_WRAPPABLE"
UNEXTRACTABLE = "CKR_KEY_UNEXTRACTABLE"
MECH_INVALID = "CKR_MECHANISM_INVALID"
SIZE_RANGE = "CKR_WRAPPING_KEY_SIZE_RANGE"
INCONSISTENT = "CKR_TEMPLATE_INCONSISTENT"
READ_ONLY = "CKR_ATTRIBUTE_READ_ONLY"
SENSITIVE = "CKR_ATTRIBUTE_SENSITIVE"

# Mechanisms by family. KW and CBC-PAD carry whole values; ECB, and CBC or CTR on one chosen
# block, are one AES block under the key (an oracle); CTR as a wrapping mechanism XORs the
# value with a keystream that a second wrapping under the same counter repeats.
KW, CBC_PAD, ECB, CBC, CTR = "kw", "cbcpad", "ecb", "cbc", "ctr"
WHOLE = (KW, CBC_PAD)
KEY_WRAP_MODES = (KW,)

USAGE = ("E", "D", "W", "U")  # CKA_ENCRYPT, CKA_DECRYPT, CKA_WRAP, CKA_UNWRAP
# The other flags: S CKA_SENSITIVE, X CKA_EXTRACTABLE, WT CKA_WRAP_WITH_TRUSTED, T CKA_TRUSTED.


@dataclass(frozen=True)
class Rules:
    name: str
    strict: bool
    unwrap_fixes_data: bool  # strict-fixed: an unwrapped secret value is a data key
    trusted_is_kek: bool = False  # a trusted key's value wraps and does nothing else


COMPAT = Rules("compat", False, False)
STRICT_TODAY = Rules("strict-before-fixes", True, False)
STRICT_FIXED = Rules("strict-fixed", True, True)
# strict-fixed, and a key the SO trusts is a wrapping key in every token (without it a user
# may set CKA_DECRYPT on the SO's shared KEK and use it for data).
STRICT_TRUSTED_KEK = Rules("strict-fixed-trusted-kek", True, True, True)
RULE_SETS = {r.name: r for r in (COMPAT, STRICT_TODAY, STRICT_FIXED, STRICT_TRUSTED_KEK)}
# The rules the module's strict profile follows (replays compare the module with them): the
# role split fix (a key unwrapped under a key that guards a secret gets the data role) and
# the trusted-KEK rule (native/token/wrap_policy.c key_role). STRICT_TODAY and STRICT_FIXED
# are the profile before those fixes, kept so that the search shows what each fix closes.
STRICT_RULES = STRICT_TRUSTED_KEK


class Obj(NamedTuple):
    """One secret-key object: in which token, of which value, with which attributes."""

    tok: str
    value: str
    flags: frozenset[str]
    local: bool = False  # CKA_LOCAL (generated here)
    always_sensitive: bool = False
    never_extractable: bool = False
    known: bool = False  # CKA_KS_VALUE_KNOWN: imported, or unwrapped under a known key
    token_object: bool = False  # the SO's shared KEKs


class State(NamedTuple):
    objs: tuple[Obj, ...]
    roles: frozenset[tuple[str, str, str]]  # (token, value, "kek" | "data")
    know: frozenset[str]  # values the attacker knows
    cts: frozenset[tuple[str, str, str]]  # (family, key value, plaintext value) held
    oracles: frozenset[tuple[str, str]]  # ("enc" | "dec", key value): one block at will
    lengths: tuple[tuple[str, int], ...]  # value -> bytes
    secrets: frozenset[str]  # values that are sensitive (generated sensitive, or the SO's)
    weakened: frozenset[str]  # secret values wrapped under a shorter key
    fresh: int = 0  # generated values so far

    def length(self, value: str) -> int:
        return dict(self.lengths)[value]

    def key(self) -> tuple:
        """The canonical form: objects as a multiset (their order is the handles')."""
        return (frozenset(Counter(self.objs).items()), self.roles, self.know, self.cts,
                self.oracles, self.weakened, self.lengths, self.secrets)

    def leaked(self) -> frozenset[str]:
        return self.know & self.secrets


# -- templates -------------------------------------------------------------------------------

GEN_TEMPLATES: dict[str, tuple[frozenset[str], int]] = {
    # python-pkcs11's defaults: every usage, sensitive, extractable
    "dflt": (frozenset({"E", "D", "W", "U", "S", "X"}), 32),
    "dflt16": (frozenset({"E", "D", "W", "U", "S", "X"}), 16),
    "open": (frozenset({"E", "D", "W", "U", "X"}), 32),  # not sensitive: readable
    "wraponly": (frozenset({"W", "S", "X"}), 32),
    "kek": (frozenset({"W", "U", "S", "X"}), 32),
    "unextractable": (frozenset({"E", "D", "W", "U"}), 32),  # neither sensitive nor extractable
    "kept": (frozenset({"E", "D", "W", "U", "S"}), 32),  # sensitive, not extractable
}
UNWRAP_TEMPLATES: dict[str, frozenset[str]] = {
    "dflt": frozenset({"E", "D", "W", "U", "S", "X"}),
    "open": frozenset({"E", "D", "W", "U", "X"}),  # asks CKA_SENSITIVE false
    "wrap": frozenset({"W", "S", "X"}),
    "decrypt": frozenset({"D", "S", "X"}),
}
# (attribute, new value) changes by C_SetAttributeValue or C_CopyObject. LOCAL and VALUE
# stand for the forged CKA_LOCAL true and an overwritten CKA_VALUE.
CHANGES: tuple[tuple[str, bool], ...] = tuple(
    [(f, v) for f in USAGE for v in (False, True)]
    + [("S", True), ("S", False), ("X", False), ("X", True), ("WT", True), ("T", False),
       ("T", True), ("LOCAL", True), ("VALUE", True)])


def target(tok: str, value: str, wrap_with_trusted: bool = False) -> Obj:
    flags = GEN_TEMPLATES["dflt"][0] | ({"WT"} if wrap_with_trusted else set())
    return Obj(tok, value, frozenset(flags), local=True, always_sensitive=True)


def so_kek(tok: str, value: str) -> Obj:
    """The SO's imported KEK: wrap and unwrap only, sensitive, not extractable, trusted."""
    return Obj(tok, value, frozenset({"W", "U", "S", "T"}), known=True, token_object=True)


def imported(tok: str, value: str) -> Obj:
    """The attacker's own import: every usage, readable."""
    return Obj(tok, value, frozenset({"E", "D", "W", "U", "X"}), known=True)


# -- the policy's notions (native/token/wrap_policy.c) ---------------------------------------

def value_known(o: Obj) -> bool:
    if o.known:
        return True
    if "S" not in o.flags and "X" in o.flags:
        return True
    return o.local and not o.always_sensitive and not o.never_extractable


def guards_secret(o: Obj) -> bool:
    return not value_known(o) or "T" in o.flags


def _role(s: State, tok: str, value: str) -> str | None:
    for t, v, r in s.roles:
        if t == tok and v == value:
            return r
    return None


def _use(rules: Rules, s: State, o: Obj, role: str) -> tuple[str, State]:
    """ks_wrap_policy_use: a value that guards a secret gets its role at first use; a known
    value only obeys a role fixed before."""
    if not rules.strict:
        return OK, s
    fixed = _role(s, o.tok, o.value)
    if rules.trusted_is_kek and "T" in o.flags:
        return (OK if role == "kek" else KFNP), s
    if guards_secret(o):
        if fixed is None:
            return OK, s._replace(roles=s.roles | {(o.tok, o.value, role)})
        return (OK if fixed == role else KFNP), s
    return (OK if fixed in (None, role) else KFNP), s


# -- knowledge -------------------------------------------------------------------------------

def close(s: State) -> State:
    """What the attacker derives offline: a ciphertext under a key it knows, or under a key
    it has a decryption oracle for, gives the plaintext; a CTR ciphertext whose keystream it
    has (an encryption oracle, or the same key and counter over a value it knows) too."""
    know = set(s.know)
    changed = True
    while changed:
        changed = False
        for fam, k, p in s.cts:
            if p in know:
                continue
            if k in know or ("dec", k) in s.oracles or (
                    fam == CTR and (("enc", k) in s.oracles or any(
                        f2 == CTR and k2 == k and p2 in know for f2, k2, p2 in s.cts))):
                know.add(p)
                changed = True
    return s if len(know) == len(s.know) else s._replace(know=frozenset(know))


def forgeable(s: State, fam: str, k: str, p: str) -> bool:
    """The attacker can present (fam, k, p) without the token: it knows k, or it has an
    encryption oracle under k (RFC 3394 and CBC computed block by block), and p."""
    return p in s.know and (k in s.know or ("enc", k) in s.oracles)


# -- the calls -------------------------------------------------------------------------------

def _with_obj(s: State, i: int, o: Obj) -> State:
    objs = list(s.objs)
    objs[i] = o
    return s._replace(objs=tuple(objs))


def generate(rules: Rules, s: State, tok: str, tmpl: str) -> tuple[str, State]:
    flags, length = GEN_TEMPLATES[tmpl]
    value = f"g{s.fresh + 1}"
    o = Obj(tok, value, flags, local=True, always_sensitive="S" in flags,
            never_extractable="X" not in flags)
    secret = "S" in flags or "X" not in flags
    secrets = s.secrets | ({value} if secret else set())
    return OK, s._replace(objs=s.objs + (o,), fresh=s.fresh + 1, secrets=secrets,
                       lengths=s.lengths + ((value, length),))


def change(rules: Rules, s: State, i: int, attr: str, new: bool, copy: bool
           ) -> tuple[str, State]:
    """C_SetAttributeValue (copy False) or C_CopyObject (copy True) of one attribute."""
    o = s.objs[i]
    held = attr in o.flags
    if attr in ("LOCAL", "VALUE"):
        return READ_ONLY, s  # CKA_LOCAL is the token's; CKA_VALUE is never changed (4.10)
    if held != new:
        if attr == "S" and held:
            return READ_ONLY, s
        if attr == "X" and not held:
            return READ_ONLY, s
        if attr == "WT" and held:
            return READ_ONLY, s
        if attr == "T" and new:
            return READ_ONLY, s  # only the SO sets CKA_TRUSTED
        if attr == "T" and rules.strict:
            return READ_ONLY, s  # only the SO takes it away (strict)
    flags = (o.flags | {attr}) if new else (o.flags - {attr})
    n = o._replace(flags=frozenset(flags), token_object=False if copy else o.token_object)
    if copy:
        return OK, s._replace(objs=s.objs + (n,))
    return OK, _with_obj(s, i, n)


def wrap(rules: Rules, s: State, mech: str, ki: int, xi: int) -> tuple[str, State]:
    kek, key = s.objs[ki], s.objs[xi]
    if "W" not in kek.flags:
        return KFNP, s
    if "X" not in key.flags:
        return UNEXTRACTABLE, s
    if "WT" in key.flags and "T" not in kek.flags:
        return NOT_WRAPPABLE, s
    if rules.strict:
        if not guards_secret(kek):
            if not value_known(key):
                return KFNP, s
            rv, s = _use(rules, s, kek, "kek")
            if rv == OK:
                rv, s = _use(rules, s, key, "data")
            if rv != OK:
                return rv, s
        else:
            if mech not in KEY_WRAP_MODES:
                return MECH_INVALID, s
            if guards_secret(key) and s.length(kek.value) < s.length(key.value):
                return SIZE_RANGE, s
            if kek.value == key.value:
                return NOT_WRAPPABLE, s
            if _role(s, kek.tok, kek.value) == "data":
                return KFNP, s
            if rules.trusted_is_kek and "T" in key.flags:
                return NOT_WRAPPABLE, s
            if _role(s, key.tok, key.value) == "kek":
                return NOT_WRAPPABLE, s
            rv, s = _use(rules, s, kek, "kek")
            if rv == OK:
                rv, s = _use(rules, s, key, "data")
                rv = NOT_WRAPPABLE if rv == KFNP else rv
            if rv != OK:
                return rv, s
    weakened = s.weakened
    if key.value in s.secrets and s.length(kek.value) < s.length(key.value):
        weakened = weakened | {key.value}
    return OK, close(s._replace(cts=s.cts | {(mech, kek.value, key.value)}, weakened=weakened))


def unwrap(rules: Rules, s: State, mech: str, ki: int, blob: tuple[str, str, str],
           tmpl: str) -> tuple[str, State]:
    """C_UnwrapKey of a blob the attacker holds or can make (the search offers no other:
    a blob under another key fails its integrity check and teaches nothing)."""
    kek = s.objs[ki]
    if "U" not in kek.flags:
        return KFNP, s
    rv, s = _use(rules, s, kek, "kek")  # fixed before the blob is even looked at
    if rv != OK:
        return rv, s
    flags = UNWRAP_TEMPLATES[tmpl]
    guards = guards_secret(kek)
    if rules.strict and guards:
        if mech not in KEY_WRAP_MODES:
            return MECH_INVALID, s
        if "S" not in flags:
            return INCONSISTENT, s
    value = blob[2]
    o = Obj(kek.tok, value, flags, known=not guards)
    if rules.unwrap_fixes_data and guards:
        fixed = _role(s, o.tok, value)
        if fixed == "kek":
            return KFNP, s
        s = s._replace(roles=s.roles | {(o.tok, value, "data")})
    return OK, s._replace(objs=s.objs + (o,))


def encrypt(rules: Rules, s: State, mech: str, i: int) -> tuple[str, State]:
    """C_Encrypt of the attacker's value N (KW, CBC-PAD), or of one chosen block (ECB, CTR:
    an encryption oracle under the key)."""
    o = s.objs[i]
    if "E" not in o.flags:
        return KFNP, s
    rv, s = _use(rules, s, o, "data")
    if rv != OK:
        return rv, s
    if mech in WHOLE:
        return OK, close(s._replace(cts=s.cts | {(mech, o.value, "N")}))
    return OK, close(s._replace(oracles=s.oracles | {("enc", o.value)}))


def decrypt(rules: Rules, s: State, mech: str, i: int, ct: tuple[str, str, str] | None
            ) -> tuple[str, State]:
    """C_Decrypt of a ciphertext the attacker holds (KW, CBC-PAD), or of one chosen block
    (ECB: a decryption oracle under the key)."""
    o = s.objs[i]
    if "D" not in o.flags:
        return KFNP, s
    rv, s = _use(rules, s, o, "data")
    if rv != OK:
        return rv, s
    if ct is not None:
        return OK, close(s._replace(know=s.know | {ct[2]}))
    return OK, close(s._replace(oracles=s.oracles | {("dec", o.value)}))


def read(rules: Rules, s: State, i: int) -> tuple[str, State]:
    """C_GetAttributeValue(CKA_VALUE)."""
    o = s.objs[i]
    if "S" in o.flags or "X" not in o.flags:
        return SENSITIVE, s
    return OK, close(s._replace(know=s.know | {o.value}))


Move = tuple


def step(rules: Rules, s: State, move: Move) -> tuple[str, State]:
    """Apply one call; a refused call leaves the state as the module leaves it (a role fixed
    before the refusal stays fixed)."""
    op = move[0]
    if op == "gen":
        return generate(rules, s, move[1], move[2])
    if op in ("set", "copy"):
        return change(rules, s, move[1], move[2], move[3], op == "copy")
    if op == "wrap":
        return wrap(rules, s, move[1], move[2], move[3])
    if op == "unwrap":
        return unwrap(rules, s, move[1], move[2], move[3], move[4])
    if op == "encrypt":
        return encrypt(rules, s, move[1], move[2])
    if op == "decrypt":
        return decrypt(rules, s, move[1], move[2], move[3])
    if op == "read":
        return read(rules, s, move[1])
    raise ValueError(f"unknown call {op!r}")


def initial() -> State:
    """Three tokens. A holds its target TA, the SO's KEK S1 (shared with B) and the
    attacker's import I; B holds TB, S1 and the SO's S2 (shared with C); C holds S2. The
    attacker knows I and N, a value it chose; the SO's KEKs are imported and trusted."""
    objs = (
        target("A", "TA"), so_kek("A", "S1"), imported("A", "I"),
        target("B", "TB"), so_kek("B", "S1"), so_kek("B", "S2"),
        so_kek("C", "S2"),
    )
    lengths = tuple((v, 32) for v in ("TA", "TB", "S1", "S2", "I", "N"))
    return State(objs, frozenset(), frozenset({"I", "N"}), frozenset(), frozenset(), lengths,
                 frozenset({"TA", "TB", "S1", "S2"}), frozenset())
