"""The attacks of tests/attacks/catalog.py as searches, and the holes the search finds.

A recipe gives the search an attack's ingredients (which calls, templates, mechanisms and
attribute changes it uses), never its order or its arguments, and says which found
sequences are that attack (``shows``: the attack's own trick occurs in the sequence). The
search rediscovers the attack when, with those ingredients, it finds a leaking sequence that
shows it. Two catalog attacks are not modelled (NOT_MODELLED says why).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from . import rules as R
from .rules import CBC, CBC_PAD, CTR, ECB, KW, Move
from .search import Alphabet

Path = tuple[Move, ...]

NOT_MODELLED = {
    "key-binding": "values are atoms in the model: half of a blob is not a term",
    "truncated-unwrap": "values are atoms in the model: a prefix of a value is not a term",
}

#: Catalogue attacks that the search finds as one of the hole families below rather than
#: from a recipe of their own (test_model_search.py checks that it does).
FOUND_AS_HOLES = {
    "data-key-wraps-across-tokens": "the cross-token split (cross_token_split)",
    "trusted-kek-for-data": "the hole trusted-kek-for-data",
}


@dataclass(frozen=True)
class Recipe:
    attack: str
    alphabet: Alphabet
    depth: int
    shows: Callable[[Path], bool] = lambda path: True  # the attack's own trick is in it
    imported: str | None = None  # the attacker's import I in A, with these usages
    shared: bool = False  # the SO's trusted KEK S1 in A and B
    target: str = "S X"  # the target's flags: sensitive, extractable, no usage

    def start(self) -> R.State:
        """The target TA in A (sensitive, extractable, with python-pkcs11's usages only
        where the attack uses them), and only what the attack needs, so that no shorter
        route hides the attack's own trick."""
        objs = [R.target("A", "TA")._replace(flags=frozenset(self.target.split()))]
        if self.imported is not None:
            objs.append(R.Obj("A", "I", frozenset(self.imported.split()), known=True))
        if self.shared:
            objs += [R.so_kek("A", "S1"), R.so_kek("B", "S1")]
        lengths = tuple((v, 32) for v in ("TA", "S1", "I", "N"))
        return R.State(tuple(objs), frozenset(), frozenset({"I", "N"}), frozenset(),
                       frozenset(), lengths, frozenset({"TA", "S1"}), frozenset())


def _has(op: str, *args: object) -> Callable[[Path], bool]:
    """The sequence has a call ``op`` whose trailing arguments are ``args``."""
    n = len(args)
    return lambda path: any(m[0] == op and m[len(m) - n:] == args for m in path)


def _under_itself(path: Path) -> bool:
    return any(m[0] == "wrap" and m[2] == m[3] for m in path)


def _wrap_then_decrypt(path: Path) -> bool:
    keks = {m[2] for m in path if m[0] == "wrap" and m[2] != m[3]}
    return any(m[0] == "decrypt" and m[2] in keks for m in path)


def _ab(*ops: str, **kw: object) -> Alphabet:
    """The attack's calls; no key wrapped under itself but in the attack that does it."""
    kw.setdefault("self_wrap", False)
    return Alphabet(ops=frozenset(ops), **kw)  # type: ignore[arg-type]


NONE: tuple = ()
S1_B = 2  # in a start with the shared KEK and no import: TA@A, S1@A, S1@B
W_ = "E D W U X"  # the attacker's import with every usage
RECIPES = [
    Recipe("wrap-decrypt", _ab("gen", "wrap", "decrypt", gen=("dflt",), changes=NONE,
                               wrap=(CBC_PAD, KW), decrypt=(CBC_PAD, ECB)), 3,
           _wrap_then_decrypt),
    Recipe("encrypt-unwrap", _ab("gen", "encrypt", "unwrap", "wrap", gen=("dflt",),
                                 encrypt=(CBC_PAD, KW), unwrap=(CBC_PAD, KW), wrap=(KW,),
                                 unwrap_templates=("dflt",)), 4,
           lambda p: any(m[0] == "encrypt" for m in p) and any(m[0] == "unwrap" for m in p)),
    *[Recipe(f"raw-block-oracle-{mode}",
             _ab("gen", "encrypt", "unwrap", "wrap", gen=("dflt",), encrypt=(mode,),
                 unwrap=(KW,), wrap=(KW,), unwrap_templates=("dflt",)), 4,
             lambda p, mode=mode: any(m[:2] == ("encrypt", mode) for m in p))
      for mode in (ECB, CBC, CTR)],
    Recipe("reimport-weaker", _ab("gen", "wrap", "unwrap", "read", gen=("kek",),
                                  wrap=(KW,), unwrap=(KW,), unwrap_templates=("open",)), 4,
           _has("unwrap", "open")),
    Recipe("reimport-conflicting-roles",
           _ab("gen", "wrap", "unwrap", "decrypt", gen=("kek",), wrap=(KW,),
               unwrap=(KW,), unwrap_templates=("wrap", "decrypt"), decrypt=(ECB,)), 6,
           _has("unwrap", "decrypt")),
    Recipe("known-wrapping-key", _ab("copy", "wrap", changes=NONE, wrap=(KW, CBC_PAD)), 2,
           imported=W_),
    Recipe("trojan-wrapped-key", _ab("unwrap", "wrap", unwrap=(KW,), wrap=(KW,),
                                     unwrap_templates=("wrap",)), 2,
           _has("unwrap", "wrap"), imported="U"),
    Recipe("forge-generated-kek", _ab("copy", "wrap", changes=(("LOCAL", True),),
                                      wrap=(KW,)), 3, _has("copy", "LOCAL", True),
           imported=W_),
    Recipe("overwrite-kek-value", _ab("gen", "set", "copy", "wrap", gen=("wraponly",),
                                      changes=(("VALUE", True),), wrap=(KW,)), 3,
           lambda p: any(m[0] in ("set", "copy") for m in p)),
    Recipe("weak-wrapping-key", _ab("gen", "wrap", gen=("dflt16",), wrap=(KW,)), 2),
    Recipe("read-sensitive", _ab("read"), 1),
    Recipe("read-unextractable", _ab("gen", "read", gen=("unextractable",)), 2),
    Recipe("make-extractable", _ab("gen", "set", "copy", "wrap", gen=("kept",),
                                   changes=(("X", True),), wrap=(KW,)), 3,
           lambda p: any(m[0] in ("set", "copy") for m in p), imported=W_, target="S"),
    Recipe("sensitive-later", _ab("gen", "read", "set", "wrap", gen=("open",),
                                  changes=(("S", True),), wrap=(KW,)), 4,
           _has("set", "S", True)),
    Recipe("set-clear-sensitive", _ab("set", "read", changes=(("S", False),)), 2),
    Recipe("set-flip-role", _ab("gen", "wrap", "set", "decrypt", gen=("wraponly",),
                                changes=(("D", True),), wrap=(KW,), decrypt=(ECB,)), 4,
           _has("set", "D", True)),
    Recipe("copy-clear-sensitive", _ab("copy", "read", changes=(("S", False),)), 2),
    Recipe("copy-change-role", _ab("gen", "wrap", "copy", "decrypt", gen=("wraponly",),
                                   changes=(("D", True),), wrap=(KW,), decrypt=(ECB,)), 4,
           _has("copy", "D", True)),
    Recipe("wrap-under-itself", _ab("wrap", "decrypt", wrap=(KW, CBC_PAD),
                                    decrypt=(KW, CBC_PAD), self_wrap=True), 2, _under_itself,
           target="E D W U S X"),
    Recipe("keystream-reuse", _ab("gen", "wrap", gen=("wraponly",), wrap=(CTR,)), 3,
           imported="X"),
    Recipe("wrap-with-trusted-bypass",
           _ab("set", "wrap", "unwrap", changes=(("WT", True),), wrap=(KW,), unwrap=(KW,),
               unwrap_templates=("dflt",)), 4,
           lambda p: bool(p) and p[0] == ("set", 0, "WT", True),
           imported=W_, shared=True),
    Recipe("self-trusted-kek", _ab("set", "copy", "wrap", changes=(("T", True),),
                                   wrap=(KW,)), 3, _has("set", "T", True), imported=W_),
    Recipe("role-split-across-tokens",
           _ab("gen", "wrap", "unwrap", "decrypt", gen=("kek",), wrap=(KW,),
               unwrap=(KW,), unwrap_templates=("decrypt",), decrypt=(ECB,)), 5,
           lambda p: any(m[0] == "unwrap" and m[2] == S1_B for m in p), shared=True),
]


# -- the holes the search finds in the strict rule sets --------------------------------------

def _made(path: Path, start: R.State) -> list[tuple[int, Move]]:
    """(object index, call) for every object the sequence made, in the model's numbering
    (the start's objects come first; a found sequence makes only calls that succeed)."""
    n = len(start.objs)
    out = []
    for m in path:
        if m[0] in ("gen", "copy", "unwrap"):
            out.append((n, m))
            n += 1
    return out


def unwrapped_kek(path: Path, start: R.State) -> bool:
    """A key unwrapped under a key that guards a secret wraps a key: the cross-token role
    split (it has the data role where it was wrapped), or a known value laundered through
    a trusted KEK (it was known before it was wrapped)."""
    unwrapped = {i for i, m in _made(path, start) if m[0] == "unwrap"}
    return any(m[0] == "wrap" and m[2] in unwrapped for m in path)


def trusted_kek_for_data(path: Path, start: R.State) -> bool:
    """The SO's shared, trusted KEK is given a data usage by the user (C_SetAttributeValue
    or C_CopyObject with CKA_ENCRYPT or CKA_DECRYPT true), so that one token uses it for data
    while another wraps under it."""
    so = {i for i, o in enumerate(start.objs) if o.token_object}
    return any(m[0] in ("set", "copy") and m[1] in so and m[2] in ("E", "D") and m[3]
               for m in path)


HOLES = {"unwrapped-kek": unwrapped_kek, "trusted-kek-for-data": trusted_kek_for_data}

# The holes each rule set still has (the search must find nothing else).
EXPECTED_HOLES = {
    R.STRICT_TODAY.name: {"unwrapped-kek", "trusted-kek-for-data"},
    R.STRICT_FIXED.name: {"trusted-kek-for-data"},
    R.STRICT_TRUSTED_KEK.name: set(),
}


def holes(path: Path, start: R.State | None = None) -> set[str]:
    """The holes a found sequence shows."""
    return {name for name, shows in HOLES.items() if shows(path, start or R.initial())}


def cross_token_split(path: Path) -> bool:
    """The issue's split: a value unwrapped in one token wraps a key there, and another
    token, where that value has the data role, decrypts with it."""
    s = R.initial()
    unwrapped: set[int] = set()
    wrapped_with: set[tuple[str, str]] = set()
    decrypted_with: set[tuple[str, str]] = set()
    for m in path:
        n = len(s.objs)
        rv, s = R.step(R.STRICT_TODAY, s, m)
        if rv != R.OK:
            continue
        if m[0] == "unwrap":
            unwrapped.add(n)
        elif m[0] == "wrap" and m[2] in unwrapped:
            wrapped_with.add((s.objs[m[2]].tok, s.objs[m[2]].value))
        elif m[0] == "decrypt":
            decrypted_with.add((s.objs[m[2]].tok, s.objs[m[2]].value))
    return any(v == v2 and t != t2 for t, v in wrapped_with for t2, v2 in decrypted_with)
