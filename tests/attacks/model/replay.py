"""Replay a model sequence against the real module, call by call.

:func:`three_tokens` loads keystead (a copy of the module file, so that each wrap policy
gets its own module instance and configuration in this process) with three provisioned
tokens. :func:`replay` sets up the model's initial state with fresh values (the SO imports
and trusts the shared KEKs, the user generates the targets and imports I), makes each call
with real handles and real blobs, and returns each call's CK_RV name, and for every secret
value the model says leaks, whether the attacker's candidate matches the key's check value.
The attacker's offline work (unwrapping a blob under a key it knows, RFC 3394 or CBC block
by block through a one-block oracle) is done as tests/attacks/blocks.py does it.
"""

from __future__ import annotations

import importlib
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import keystead
from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from keystead.softhsm_bridge.errors import rv_name
from keystead.softhsm_bridge.modules import KEYSTEAD, ModuleInfo
from keystead.softhsm_bridge.provision import Token
from keystead.softhsm_bridge.raw import RawModule
from pkcs11 import KeyType, ObjectClass

from ..actor import A, Actor, M, Refused
from ..blocks import aes_check_value, kw_unwrap, kw_unwrap_with, kw_wrap, kw_wrap_with
from ..instances import CONF_ENV, SO_PIN, USER_PIN
from . import rules as R
from .rules import CBC, CBC_PAD, CTR, ECB, KW, Move

provisioning = importlib.import_module("keystead.softhsm_bridge.provision")

TOKENS = ("A", "B", "C")
FLAG_ATTR = {"E": A.ENCRYPT, "D": A.DECRYPT, "W": A.WRAP, "U": A.UNWRAP, "S": A.SENSITIVE,
             "X": A.EXTRACTABLE, "WT": A.WRAP_WITH_TRUSTED, "T": A.TRUSTED, "LOCAL": A.LOCAL}
MECH = {KW: int(M.AES_KEY_WRAP), CBC_PAD: int(M.AES_CBC_PAD), ECB: int(M.AES_ECB),
        CBC: int(M.AES_CBC), CTR: int(M.AES_CTR)}
IV = bytes(16)


@dataclass
class Module:
    """One keystead module instance with three tokens."""

    policy: str
    raw: RawModule
    tokens: dict[str, Token]


def three_tokens(base: Path, policy: str) -> Module:
    base.mkdir(parents=True, exist_ok=True)
    so = base / f"libkeystead-model-{policy}.so"
    shutil.copyfile(keystead.module_path(), so)
    info = ModuleInfo(f"keystead-model-{policy}", str(so), KEYSTEAD)
    before = os.environ.get(CONF_ENV)
    try:
        provisioning.prepare(info, base / "tokens", wrap_policy=policy)
        raw = provisioning.load(info)
        tokens = {t: provisioning.provision(info, None, label=f"model-{policy}-{t}",
                                            so_pin=SO_PIN, user_pin=USER_PIN)
                  for t in TOKENS}
    finally:
        if before is None:
            os.environ.pop(CONF_ENV, None)
        else:
            os.environ[CONF_ENV] = before
    return Module(policy, raw, tokens)


def _flags(flags: frozenset[str]) -> dict[int, Any]:
    return {FLAG_ATTR[f]: f in flags for f in ("E", "D", "W", "U", "S", "X")} | (
        {A.WRAP_WITH_TRUSTED: True} if "WT" in flags else {})


@dataclass
class Run:
    """The attacker's side of one replay: handles, blobs, what it knows (by value name)."""

    actors: dict[str, Actor]
    handles: list[int] = field(default_factory=list)
    know: dict[str, bytes] = field(default_factory=dict)
    cts: dict[tuple[str, str, str], bytes] = field(default_factory=dict)
    enc_oracle: dict[str, Callable[[bytes], bytes]] = field(default_factory=dict)
    dec_oracle: dict[str, Callable[[bytes], bytes]] = field(default_factory=dict)


def _cbc_decrypt(key: bytes, blob: bytes) -> bytes:
    dec = Cipher(algorithms.AES(key), modes.CBC(IV)).decryptor()
    unpad = padding.PKCS7(128).unpadder()
    return unpad.update(dec.update(blob) + dec.finalize()) + unpad.finalize()


def _cbc_with(block: Callable[[bytes], bytes], data: bytes, decrypt: bool) -> bytes:
    """CBC (PKCS#7 padding, zero IV) computed one block at a time through an oracle."""
    out, prev = b"", IV
    if decrypt:
        for i in range(0, len(data), 16):
            c = data[i:i + 16]
            out += bytes(x ^ y for x, y in zip(block(c), prev, strict=True))
            prev = c
        unpad = padding.PKCS7(128).unpadder()
        return unpad.update(out) + unpad.finalize()
    pad = padding.PKCS7(128).padder()
    data = pad.update(data) + pad.finalize()
    for i in range(0, len(data), 16):
        prev = block(bytes(x ^ y for x, y in zip(data[i:i + 16], prev, strict=True)))
        out += prev
    return out


def _offline(run: Run) -> None:
    """The attacker's offline closure (rules.close, with bytes)."""
    changed = True
    while changed:
        changed = False
        for (fam, k, p), blob in run.cts.items():
            if p in run.know:
                continue
            got: bytes | None = None
            if fam == CTR:
                got = _ctr_plain(run, k, blob)
            elif fam == ECB:
                block = _ecb(run.know[k]) if k in run.know else run.dec_oracle.get(k)
                got = None if block is None else b"".join(
                    block(blob[i:i + 16]) for i in range(0, len(blob), 16))
            elif k in run.know:
                got = kw_unwrap(run.know[k], blob) if fam == KW else _cbc_decrypt(
                    run.know[k], blob)
            elif k in run.dec_oracle:
                oracle = run.dec_oracle[k]
                got = kw_unwrap_with(oracle, blob) if fam == KW else _cbc_with(
                    oracle, blob, True)
            if got is not None:
                run.know[p] = got
                changed = True


def _ecb(key: bytes) -> Callable[[bytes], bytes]:
    def dec(block: bytes) -> bytes:
        d = Cipher(algorithms.AES(key), modes.ECB()).decryptor()
        return d.update(block) + d.finalize()
    return dec


def _ctr_plain(run: Run, k: str, blob: bytes) -> bytes | None:
    """A CTR ciphertext under the counter every wrapping here uses: its keystream is the
    XOR of another such ciphertext with its known plaintext, or the oracle's output."""
    stream = None
    if k in run.enc_oracle or k in run.know:
        block = run.enc_oracle.get(k) or (lambda b: _aes(run.know[k], b))
        stream = block(bytes(16)) + block((1).to_bytes(16, "big"))
    else:
        for (fam, k2, p2), other in run.cts.items():
            if fam == CTR and k2 == k and p2 in run.know and len(other) == len(blob):
                stream = bytes(x ^ y for x, y in zip(other, run.know[p2], strict=True))
                break
    return None if stream is None else bytes(
        x ^ y for x, y in zip(blob, stream[:len(blob)], strict=True))


def _aes(key: bytes, block: bytes) -> bytes:
    e = Cipher(algorithms.AES(key), modes.ECB()).encryptor()
    return e.update(block) + e.finalize()


def _forge(run: Run, fam: str, k: str, p: str) -> bytes:
    if k in run.know:
        if fam == KW:
            return kw_wrap(run.know[k], run.know[p])
        enc = Cipher(algorithms.AES(run.know[k]), modes.CBC(IV)).encryptor()
        pad = padding.PKCS7(128).padder()
        return enc.update(pad.update(run.know[p]) + pad.finalize()) + enc.finalize()
    oracle = run.enc_oracle[k]
    return kw_wrap_with(oracle, run.know[p]) if fam == KW else _cbc_with(
        oracle, run.know[p], False)


def setup(mod: Module, s0: R.State) -> Run:
    """The model's start state on the real tokens, with fresh values."""
    actors = {t: Actor(mod.raw, mod.tokens[t], KEYSTEAD) for t in TOKENS}
    values = {v: os.urandom(n) for v, n in s0.lengths}
    labels: dict[int, str] = {}
    for t, actor in actors.items():  # the SO's KEKs first: the SO step closes sessions
        made = [(i, o) for i, o in enumerate(s0.objs) if o.tok == t and o.token_object]
        if not made:
            continue

        def create(h: int, made: list = made, actor: Actor = actor) -> None:
            for i, o in made:
                labels[i] = label = f"model-{o.value}-{os.urandom(6).hex()}"
                actor.token_objects.append(label)
                mod.raw.create_object(h, {
                    A.CLASS: ObjectClass.SECRET_KEY, A.KEY_TYPE: KeyType.AES, A.TOKEN: True,
                    A.PRIVATE: False, A.VALUE: values[o.value], A.LABEL: label,
                    A.TRUSTED: True, **_flags(o.flags - {"T"})})
        actor.as_so("SO: C_CreateObject(TRUSTED=true)", create)
    for actor in actors.values():
        actor.login_user()
    run = Run(actors)
    for i, o in enumerate(s0.objs):
        a = actors[o.tok]
        if o.token_object:
            h = a.find_token_object(labels[i])
        elif o.known:
            h = a.create(values[o.value], extra=_flags(o.flags))
        else:
            h = a.call("C_GenerateKey", mod.raw.generate_key, a.h, M.AES_KEY_GEN,
                       {A.CLASS: ObjectClass.SECRET_KEY, A.KEY_TYPE: KeyType.AES,
                        A.VALUE_LEN: 32, A.TOKEN: False, **_flags(o.flags)})
        run.handles.append(h)
    run.know = {v: values[v] for v in s0.know}
    return run


def _call(run: Run, s: R.State, m: Move) -> None:
    """Make the call ``m`` (raises Refused when the module refuses it)."""
    op = m[0]
    if op == "gen":
        flags, length = R.GEN_TEMPLATES[m[2]]
        a = run.actors[m[1]]
        run.handles.append(a.call("C_GenerateKey", a.raw.generate_key, a.h, M.AES_KEY_GEN, {
            A.CLASS: ObjectClass.SECRET_KEY, A.KEY_TYPE: KeyType.AES, A.VALUE_LEN: length,
            A.TOKEN: False, **_flags(flags)}))
        return
    if op in ("set", "copy"):
        o = s.objs[m[1]]
        a = run.actors[o.tok]
        attr, new = m[2], m[3]
        t: dict[int, Any] = {A.VALUE: os.urandom(32)} if attr == "VALUE" else {
            FLAG_ATTR[attr]: new}
        if op == "set":
            a.call("C_SetAttributeValue", a.raw.set_attributes, a.h, run.handles[m[1]], t)
        else:
            run.handles.append(a.call("C_CopyObject", a.raw.copy_object, a.h,
                                      run.handles[m[1]], {A.TOKEN: False, **t}))
        return
    if op == "read":
        o = s.objs[m[1]]
        run.know[o.value] = run.actors[o.tok].read_value(run.handles[m[1]])
        return
    o = s.objs[m[2]]
    a = run.actors[o.tok]
    h = run.handles[m[2]]
    mech = m[1]
    param = IV if mech == CBC_PAD else a.raw.ctr(bytes(16)) if mech == CTR else None
    if op == "wrap":
        key = s.objs[m[3]]
        blob = a.wrap(MECH[mech], h, run.handles[m[3]], param)
        run.cts[(mech, o.value, key.value)] = blob
    elif op == "unwrap":
        blob_term = m[3]
        blob = run.cts.get(blob_term) or _forge(run, *blob_term)
        flags = R.UNWRAP_TEMPLATES[m[4]]
        run.handles.append(a.unwrap(MECH[mech], h, blob, param, **{
            k: v for k, v in (("ENCRYPT", "E" in flags), ("DECRYPT", "D" in flags),
                              ("WRAP", "W" in flags), ("UNWRAP", "U" in flags),
                              ("SENSITIVE", "S" in flags), ("EXTRACTABLE", "X" in flags))}))
    elif op == "encrypt":
        if mech in R.WHOLE:
            run.cts[(mech, o.value, "N")] = a.encrypt(MECH[mech], h, run.know["N"], param)
        else:
            oracle = a.encrypt_block(mech, h)
            oracle(bytes(16))  # the call itself; the attacker keeps the oracle if it works
            run.enc_oracle[o.value] = oracle
    elif op == "decrypt":
        if m[3] is not None:
            run.know[m[3][2]] = a.decrypt(MECH[mech], h, run.cts[m[3]], param)
        else:
            oracle = a.decrypt_block(h)
            oracle(bytes(16))
            run.dec_oracle[o.value] = oracle


@dataclass
class Replayed:
    model: list[str]  # the model's answer to each call
    module: list[str]  # the module's, up to the first call where they differ
    leaked: dict[str, bool]  # secret value -> the attacker's candidate is its value

    @property
    def agree(self) -> bool:
        return self.model == self.module


def _possible(s: R.State, m: Move) -> bool:
    """The call can be made: its objects exist and the attacker has or can make its blob
    (a sequence found under one rule set, replayed under another, stops where it cannot)."""
    idx = {"set": [1], "copy": [1], "read": [1], "wrap": [2, 3], "unwrap": [2],
           "encrypt": [2], "decrypt": [2]}.get(m[0], [])
    if any(m[i] >= len(s.objs) for i in idx):
        return False
    if m[0] == "unwrap":
        return m[3] in s.cts or R.forgeable(s, *m[3])
    if m[0] == "decrypt" and m[3] is not None:
        return m[3] in s.cts
    return True


def replay(mod: Module, rules: R.Rules, path: tuple[Move, ...], start: R.State | None = None
           ) -> Replayed:
    """Make the calls of ``path`` as the model's attacker would, stopping at the first call
    the module answers otherwise than the model (or that cannot be made); then check each
    value the model says leaks against the key's check value."""
    s = start or R.initial()
    run = setup(mod, s)
    model: list[str] = []
    module: list[str] = []
    try:
        for m in path:
            if not _possible(s, m):
                break
            try:
                _call(run, s, m)
                module.append(R.OK)
            except Refused as exc:
                module.append(rv_name(exc.rv) if exc.rv is not None else str(exc))
            rv, s = R.step(rules, s, m)
            model.append(rv)
            if module[-1] != rv:
                return Replayed(model, module, {})
            _offline(run)
        leaked = {}
        for v in sorted(s.leaked()):
            holder = next(i for i, o in enumerate(s.objs) if o.value == v)
            cv = run.actors[s.objs[holder].tok].check_value(run.handles[holder])
            cand = run.know.get(v)
            leaked[v] = cand is not None and cv is not None and aes_check_value(cand) == cv
        return Replayed(model, module, leaked)
    finally:
        for actor in run.actors.values():
            actor.close()
