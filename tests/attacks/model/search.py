"""Breadth-first search over sequences of calls, in the spirit of Tookan (Bortolozzo,
Centenaro, Focardi, Steel, CCS 2010): every sequence of up to ``depth`` calls from
:func:`rules.initial`, with states deduplicated by their canonical form, reporting each
sequence that ends with a sensitive value known to the attacker or wrapped under a shorter
key.

Moves that cannot help the attacker are not expanded (they are still counted, and may be
sampled for the replay): a call whose only effect is to fix a role (a fixed role only ever
refuses later calls), a call that leaves the state as it was, and a state that already
leaks. An :class:`Alphabet` says which templates, mechanisms and changes the calls may use.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass, field

from . import rules as R
from .rules import CBC_PAD, ECB, KW, Move, Rules, State


@dataclass(frozen=True)
class Alphabet:
    ops: frozenset[str] = frozenset({"gen", "set", "copy", "wrap", "unwrap", "encrypt",
                                     "decrypt", "read"})
    gen: tuple[str, ...] = ("dflt", "open")  # rules.GEN_TEMPLATES
    # setting a usage, and the changes the module may allow: clearing a usage never helps
    # an attacker, and the changes no module allows (CKA_SENSITIVE false, CKA_EXTRACTABLE
    # true, CKA_TRUSTED true by the user, CKA_LOCAL, CKA_VALUE) are tried by the recipes
    changes: tuple[tuple[str, bool], ...] = tuple((f, True) for f in R.USAGE) + (
        ("S", True), ("X", False), ("T", False))
    wrap: tuple[str, ...] = (KW, CBC_PAD)
    unwrap: tuple[str, ...] = (KW, CBC_PAD)
    unwrap_templates: tuple[str, ...] = ("dflt", "open")
    encrypt: tuple[str, ...] = (KW, CBC_PAD, ECB)
    decrypt: tuple[str, ...] = (KW, CBC_PAD, ECB)
    self_wrap: bool = True  # a key wrapped under itself (or a copy of itself)


FULL = Alphabet(gen=("dflt", "dflt16", "open"))
# The strict search's alphabet: one whole-value mechanism (CBC-PAD carries what KW carries,
# and a guarding key takes KW only), ECB as the one-block oracle, no C_CopyObject (a copy
# has its original's value and so its role; with only changes that add a usage or take
# away extractability, setting the original gives the attacker at least as much), and the
# changes a module may allow.
STRICT = Alphabet(ops=frozenset({"gen", "set", "wrap", "unwrap", "encrypt", "decrypt", "read"}),
                  changes=tuple((f, True) for f in R.USAGE) + (("S", True), ("X", False)),
                  wrap=(KW,), unwrap=(KW,), unwrap_templates=("dflt",), encrypt=(KW, ECB),
                  decrypt=(KW, ECB))
# Moving keys between tokens: generate, wrap, unwrap, decrypt (deeper, fewer calls), and
# the same with the user giving a key CKA_DECRYPT.
MOVE = Alphabet(ops=frozenset({"gen", "wrap", "unwrap", "decrypt"}), gen=("dflt",),
                wrap=(KW,), unwrap=(KW,), unwrap_templates=("dflt",), decrypt=(KW, ECB))
TRANSPORT = Alphabet(ops=MOVE.ops | {"set"}, gen=("dflt",), changes=(("D", True),),
                     wrap=(KW,), unwrap=(KW,), unwrap_templates=("dflt",), decrypt=(KW, ECB))


@dataclass
class Finding:
    path: tuple[Move, ...]
    leaked: frozenset[str]
    weakened: frozenset[str]


@dataclass
class Result:
    rules: str
    depth: int
    states: int = 0
    calls: int = 0
    findings: list[Finding] = field(default_factory=list)
    sample: list[tuple[Move, ...]] = field(default_factory=list)


def moves(a: Alphabet, s: State) -> Iterator[Move]:
    """Every call the attacker may make in ``s`` (handles are object indices)."""
    toks = sorted({o.tok for o in s.objs})
    if "gen" in a.ops:
        for t in toks:
            for tmpl in a.gen:
                yield ("gen", t, tmpl)
    for i, o in enumerate(s.objs):
        for op in ("set", "copy"):
            if op in a.ops:
                for attr, new in a.changes:
                    yield (op, i, attr, new)
        if "read" in a.ops and o.value not in s.know:
            yield ("read", i)
        if "encrypt" in a.ops:
            for mech in a.encrypt:
                yield ("encrypt", mech, i)
        if "decrypt" in a.ops:
            for mech in a.decrypt:
                if mech in R.WHOLE:
                    for ct in sorted(s.cts):
                        if ct[0] == mech and ct[1] == o.value and ct[2] not in s.know:
                            yield ("decrypt", mech, i, ct)
                elif ("dec", o.value) not in s.oracles:
                    yield ("decrypt", mech, i, None)
        for j, x in enumerate(s.objs):
            if x.tok != o.tok:
                continue
            if "wrap" in a.ops and (a.self_wrap or o.value != x.value):
                for mech in a.wrap:
                    if (mech, o.value, x.value) not in s.cts:
                        yield ("wrap", mech, i, j)
        if "unwrap" in a.ops:
            for mech in a.unwrap:
                blobs = {ct for ct in s.cts if ct[0] == mech and ct[1] == o.value}
                if R.forgeable(s, mech, o.value, "N"):
                    blobs.add((mech, o.value, "N"))
                for blob in sorted(blobs):
                    for tmpl in a.unwrap_templates:
                        yield ("unwrap", mech, i, blob, tmpl)


def _gain(s: State) -> tuple:
    """What a call may add for the attacker (the state without its roles)."""
    return (s.objs, s.know, s.cts, s.oracles, s.weakened)


def search(rules: Rules, depth: int, alphabet: Alphabet = FULL, start: State | None = None,
           sample: int = 0, seed: int = 0) -> Result:
    """Every sequence of up to ``depth`` calls from ``start`` (rules.initial() by default);
    with ``sample``, a seeded reservoir sample of that many of the sequences tried."""
    s0 = start or R.initial()
    res = Result(rules.name, depth)
    rng = random.Random(seed)
    seen_calls = 0
    frontier: list[tuple[State, tuple[Move, ...]]] = [(s0, ())]
    visited = {s0.key()}
    for _ in range(depth):
        nxt: list[tuple[State, tuple[Move, ...]]] = []
        for s, path in frontier:
            g = _gain(s)
            for m in moves(alphabet, s):
                rv, s2 = R.step(rules, s, m)
                res.calls += 1
                seq = path + (m,)
                if sample:  # reservoir sample of every sequence tried
                    seen_calls += 1
                    if len(res.sample) < sample:
                        res.sample.append(seq)
                    else:
                        k = rng.randrange(seen_calls)
                        if k < sample:
                            res.sample[k] = seq
                if rv != R.OK or _gain(s2) == g:
                    continue
                if s2.leaked() or s2.weakened & s2.secrets:
                    res.findings.append(Finding(seq, s2.leaked(), s2.weakened))
                    continue
                k2 = s2.key()
                if k2 not in visited:
                    visited.add(k2)
                    nxt.append((s2, seq))
        res.states += len(frontier)
        frontier = nxt
    res.states += len(frontier)
    return res


def describe(rules: Rules, path: tuple[Move, ...], start: State | None = None) -> str:
    """A sequence as one readable clause per call, with the model's answer."""
    s = start or R.initial()
    out = []
    for m in path:
        def name(i: int, s: State = s) -> str:
            return f"{s.objs[i].value}@{s.objs[i].tok}#{i}" if i < len(s.objs) else f"#{i}"
        op = m[0]
        if op == "gen":
            text = f"{m[1]}: C_GenerateKey({m[2]})"
        elif op in ("set", "copy"):
            fn = "C_SetAttributeValue" if op == "set" else "C_CopyObject"
            text = f"{fn}({name(m[1])}, {m[2]}={m[3]})"
        elif op == "wrap":
            text = f"C_WrapKey({m[1]}, kek={name(m[2])}, key={name(m[3])})"
        elif op == "unwrap":
            text = f"C_UnwrapKey({m[1]}, kek={name(m[2])}, blob={m[3]}, {m[4]})"
        elif op == "encrypt":
            text = f"C_Encrypt({m[1]}, {name(m[2])})"
        elif op == "decrypt":
            text = f"C_Decrypt({m[1]}, {name(m[2])}, {m[3]})"
        else:
            text = f"C_GetAttributeValue({name(m[1])}, CKA_VALUE)"
        try:
            rv, s = R.step(rules, s, m)
        except IndexError:
            out.append(f"{text} (no such object: the sequence ends)")
            break
        out.append(text if rv == R.OK else f"{text} -> {rv}")
    return "; ".join(out)


