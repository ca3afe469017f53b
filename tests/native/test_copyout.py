"""Nothing crosses the API before it is final (crypto/copyout.h).

1. The module's stores into a caller's output buffer, observed one by one: the buffer is a
   page of shared memory that tests/native/c/copyout_tracer.c keeps read-only, single-stepping
   each store and taking a snapshot after it. No snapshot may hold the key being wrapped or an
   unverified plaintext; every written byte must already hold its final value; a failed GCM
   decryption writes nothing. Deterministic: no second thread, no race to win.
2. The same calls on a module built with -DKS_COPYOUT_CHECK, whose copy-out helper aborts on
   a caller byte written twice in one call.
3. A source check: in native/p11 and native/token, memcpy, memmove, memset and ks_wipe write
   only module memory; writes to caller memory go through ks_copy_out / ks_copy_out_fill.
   And every call of a crypto function that writes an output (any function of native/crypto's
   headers with a non-const byte pointer or array parameter: a cipher kernel, a digest, a
   MAC...) writes module memory, or runs inside a producer that ks_copy_out_produce calls and
   writes that producer's dst: a kernel never writes caller memory but through the helper.
"""

from __future__ import annotations

import os
import platform
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from keystead import module_path

ROOT = Path(__file__).resolve().parents[2]
NATIVE = ROOT / "native"
TRACER = Path(__file__).resolve().parent / "c" / "copyout_tracer.c"
MODES = ["kw", "kwp", "kw-zero-pad", "gcm-good", "gcm-bad", "gcm-final-bad", "msg-bad",
         "bulk-bad", "bulk-some"]

pytestmark = pytest.mark.skipif(
    platform.system() != "Linux" or platform.machine() != "x86_64" or shutil.which("cc") is None,
    reason="the tracer single-steps stores with the x86-64 trap flag on Linux")


@pytest.fixture(scope="module")
def tracer(tmp_path_factory: pytest.TempPathFactory) -> Path:
    exe = tmp_path_factory.mktemp("tracer") / "copyout_tracer"
    subprocess.run(["cc", "-std=c11", "-O1", "-Wall", "-Wextra", "-Werror",
                    f"-I{NATIVE / 'include'}", "-o", str(exe), str(TRACER), "-ldl"], check=True)
    return exe


@pytest.fixture(scope="module")
def conf(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("conf") / "keystead.conf"
    path.write_text("token_dir = :memory:\npin_kdf_cost = fast\n")
    return path


@pytest.fixture(scope="module")
def checked_module(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The module built with -DKS_COPYOUT_CHECK (about a minute of compiling)."""
    out = tmp_path_factory.mktemp("checked")
    sys.path.insert(0, str(NATIVE))
    try:
        import build  # native/build.py
    finally:
        sys.path.remove(str(NATIVE))
    so = out / "libkeystead-pkcs11-checked.so"
    build.build_module(str(so), tmp_dir=str(out / "obj"), extra_flags=("-DKS_COPYOUT_CHECK",))
    return so


def _trace(tracer: Path, module: Path | str, mode: str, conf: Path) -> None:
    env = {**os.environ, "KEYSTEAD_CONF": str(conf)}
    res = subprocess.run([str(tracer), str(module), mode], env=env, capture_output=True,
                         text=True, check=False)
    assert res.returncode == 0 and res.stdout.startswith("ok"), (
        f"{mode}: rc={res.returncode} {res.stdout.strip()} {res.stderr.strip()[-400:]}")


@pytest.mark.parametrize("mode", MODES)
def test_stores_into_the_callers_buffer(tracer: Path, conf: Path, mode: str) -> None:
    _trace(tracer, module_path(), mode, conf)


@pytest.mark.parametrize("mode", MODES)
def test_checked_build_writes_each_byte_once(tracer: Path, conf: Path, checked_module: Path,
                                             mode: str) -> None:
    _trace(tracer, checked_module, mode, conf)


# Destinations of memcpy/memmove/memset/ks_wipe in native/p11 and native/token that are
# module memory (locals, module state, module-owned buffers), by file. A write whose
# destination is not listed fails the check: if it is caller memory, use ks_copy_out; if it
# is module memory, add it here.
MODULE_MEMORY: dict[str, set[str]] = {
    "p11/bulk.c": {"work", "a.fixed", "iv"},
    "p11/general.c": {"block", "&info"},
    "p11/keys.c": {"out", "value"},  # a local CK_ULONG read from the template
    "p11/objects.c": {"&after"},
    "p11/slots.c": {"info->label", "info->serialNumber", "info->utcTime", "&meta", "info"},
    "token/attrs.c": {"value", "buf + off + PACK_HEADER", "copy", "out", "&set->items[i + 1]",
                      "&set->items[i]"},
    "token/audit.c": {"&first", "&next", "hex", "p + 4", "tail", "out", "tail + 32", "first.key"},
    "token/audit_file.c": {"&s", "slot(f", "f->head + OFF_BOOT", "h", "buf", "f->map + end"},
    "token/config.c": {"out", "cfg"},
    "token/derive_ecdh.c": {"out", "z"},  # the derived value (locked module memory), Z
    "token/ops_des3.c": {"iv", "plain", "last", "last + tail_len", "carry", "blk", "blk + c",
                         "st->buf", "st->buf + nc", "st->buf + c", "st", "st->iv"},
    "token/pair_policy.c": {"key_info"},  # a copy of the SubjectPublicKeyInfo
    "token/gcm_hold.c": {"h->buf + h->len"},  # ciphertext held back, in module memory
    "token/gcm_iv.c": {"r", "r->uid"},
    "token/log.c": {"b->data + b->len"},
    "token/module.c": {"ks_mod.sessions", "ks_mod.tokens"},
    "token/msg_gcm.c": {"tag", "iv"},
    "token/ops_aes_block.c": {"carry", "iv", "last", "plain", "prev", "st", "tmp", "st->buf",
                              "st->buf + nc", "st->iv", "tmp + c", "last + st->buf_len",
                              "last + tail"},
    "token/ops_aes_gcm.c": {"tag"},
    "token/gcm_out.c": {"ctx", "full"},
    "token/ops_kw.c": {"&op->u.kw", "iv"},
    "token/ops_mac.c": {"mac"},
    "token/ops_pkey_sign.c": {"hash", "spec", "sig", "buf"},  # a message hash, a local spec
    "token/ops_rsa_enc.c": {"em", "em + st->k - len", "msg", "kdk", "st->label", "st", "em + 2",
                            "em + k - len", "tmp", "c", "work + st->k"},
    "token/ops_wrap.c": {"work"},
    "token/pin.c": {"kek", "key", "token_key", "out", "w", "w->salt", "w->iv", "w->wrapped",
                    "w->wrapped + KS_TOKEN_KEY_LEN", "out + KS_SEAL_IV_LEN"},
    "token/policy.c": {"&m", "now", "out", "out->day", "out->month", "out->year", "out + 4"},
    "token/role_cache.c": {"c", "c->slot[i].fp"},  # the token's role cache
    "token/rules_new.c": {"block", "md", "&s", "&v", "out", "fixed"},
    "token/rules_pair.c": {"v", "out + h", "point"},  # components the module reads, a DER
    "token/rules_set.c": {"&to", "&v"},
    "token/rules_table.c": {"&v"},
    "token/store_auth.c": {"ipad", "inner", "m->opad", "s->fault_uid", "msg", "uid", "id",
                           "mac", "cref", "a->token_key", "out", "sum", "v1", "ct",
                           "ct + sizeof(id)", "a->token_id"},
    "token/store_counters.c": {"ref + 8"},
    "token/store_migrate.c": {"uid", "ref + 8", "a->token_key"},
    "token/store_objects.c": {"uid", "raw"},
    "token/store_read.c": {"clear", "&v", "uid"},
    "token/store_schema.c": {"out", "label", "rnd"},
    "token/store_seal.c": {"out", "aad", "ct", "ct + in_len"},
    "token/token_audit.c": {"out", "u"},
    "token/wrap_policy.c": {"fp", "name", "pad", "inner", "out"},
    "token/token.c": {"raw", "tok->uid_pool"},  # the pool of unique-ID bits
    "p11/keypair.c": {"p8", "spki", "point"},  # a generated curve key's DER, module buffers
}

WRITE = re.compile(r"\b(memcpy|memmove|memset|ks_wipe|bzero|explicit_bzero|strcpy|strncpy)"
                   r"\s*\(\s*([^,]+),")


def test_no_write_to_caller_memory_bypasses_the_helper() -> None:
    bad = []
    for sub in ("p11", "token"):
        for path in sorted((NATIVE / sub).glob("*.c")):
            rel = f"{sub}/{path.name}"
            allowed = MODULE_MEMORY.get(rel, set())
            for n, line in enumerate(path.read_text().splitlines(), 1):
                for m in WRITE.finditer(line):
                    if m.group(2).strip() not in allowed:
                        bad.append(f"native/{rel}:{n}: {m.group(1)}({m.group(2).strip()}, ...)")
    assert not bad, ("writes that are not known module memory; caller memory is written "
                     "only through ks_copy_out (crypto/copyout.h):\n" + "\n".join(bad))


def test_the_source_check_catches_a_bypass() -> None:
    """The pattern finds what the old wrap did (so the check above can fail)."""
    line = "    memmove(at, in, in_len);"
    m = WRITE.search(line)
    assert m is not None and m.group(2) not in MODULE_MEMORY["token/ops_wrap.c"]


# ---- crypto kernels write caller memory only through ks_copy_out_produce ----------------

CRYPTO = NATIVE / "crypto"
# The helper's own header and the wipe (checked above with memcpy and memset) are not kernels.
NOT_KERNELS = {"copyout.h", "mem.h"}
COMMENT = re.compile(r"/\*.*?\*/|//[^\n]*", re.S)
PROTO = re.compile(r"\b(ks_[a-z0-9_]+)\s*\(([^;{}()]*)\)\s*;")
OUT_PARAM = re.compile(r"^(?!const\b)[\w\s]*\b(uint8_t|char)\s*(\*\s*\w+|\w+\s*\[[^]]*\])$")
# Crypto functions that write their output through ks_copy_out themselves (the key wrap works
# in locked memory and copies the result out once: crypto/kw.c).
DOORS = {"ks_kw_wrap", "ks_kwp_wrap", "ks_kw_unwrap", "ks_kwp_unwrap"}
DEFINITION = re.compile(r"^[a-z_][\w \t\*]*?\b(\w+)\s*\(([^;{}()]*)\)\s*\{", re.M)
PRODUCER_PARAMS = "void *arg, uint8_t *dst, size_t len"


def crypto_writers() -> dict[str, list[int]]:
    """Functions declared in native/crypto/*.h with output parameters: name -> positions."""
    found: dict[str, list[int]] = {}
    for header in sorted(CRYPTO.glob("*.h")):
        if header.name in NOT_KERNELS:
            continue
        for m in PROTO.finditer(COMMENT.sub(" ", header.read_text())):
            if m.group(1) in DOORS:
                continue
            params = [" ".join(p.split()) for p in m.group(2).split(",")]
            outs = [i for i, p in enumerate(params) if OUT_PARAM.match(p)]
            if outs:
                found[m.group(1)] = outs
    return found


def call_args(text: str, start: int) -> list[str]:
    """The top-level arguments of the call whose "(" is at start."""
    depth, args, cur = 0, [], []
    for ch in text[start:]:
        if ch == "(":
            depth += 1
            if depth == 1:
                continue
        elif ch == ")":
            depth -= 1
            if depth == 0:
                args.append("".join(cur))
                break
        elif ch == "," and depth == 1:
            args.append("".join(cur))
            cur = []
            continue
        cur.append(ch)
    return [" ".join(a.split()) for a in args]


def kernel_writes(rel: str, text: str, writers: dict[str, list[int]]) -> list[str]:
    """Calls in one source file whose output is neither module memory nor a producer's dst."""
    text = COMMENT.sub(lambda m: "\n" * m.group(0).count("\n"), text)
    defs = [(m.start(), m.group(1), " ".join(m.group(2).split()))
            for m in DEFINITION.finditer(text)]
    producers = {name for _, name, params in defs if params == PRODUCER_PARAMS}
    allowed = MODULE_MEMORY.get(rel, set())
    bad = []
    call = re.compile(r"\b(" + "|".join(sorted(writers, key=len, reverse=True)) + r")\s*\(")
    for m in call.finditer(text):
        within = [name for pos, name, _ in defs if pos < m.start()]
        if within and within[-1] == m.group(1):
            continue  # not a call: a definition of the same name
        args = call_args(text, m.end() - 1)
        for i in writers[m.group(1)]:
            dst = args[i] if i < len(args) else ""
            in_producer = bool(within) and within[-1] in producers
            to_dst = in_producer and (dst == "dst" or dst.startswith("dst + "))
            if dst in allowed or dst == "NULL" or to_dst:
                continue
            line = text.count("\n", 0, m.start()) + 1
            bad.append(f"native/{rel}:{line}: {m.group(1)}(... {dst} ...)")
    for name in producers:  # a producer runs only under the helper
        uses = len(re.findall(r"\b" + name + r"\b", text))
        through = len(re.findall(r"ks_copy_out_produce\([^;]*\b" + name + r"\b", text))
        if uses != 1 + through:
            bad.append(f"native/{rel}: producer {name} is called other than by "
                       "ks_copy_out_produce")
    return bad


def test_kernels_write_caller_memory_only_through_the_helper() -> None:
    kw = COMMENT.sub(" ", (CRYPTO / "kw.c").read_text())
    assert "ks_copy_out(out" in kw and "memcpy(out" not in kw  # the doors are doors
    writers = crypto_writers()
    assert {"ks_aes_ctr_xor", "ks_gcm_encrypt", "ks_gcm_decrypt_verified", "ks_digest_final",
            "ks_hmac_final", "ks_cmac_final", "ks_des3_cbc_encrypt"} <= set(writers)
    bad = []
    for sub in ("p11", "token"):
        for path in sorted((NATIVE / sub).glob("*.c")):
            bad += kernel_writes(f"{sub}/{path.name}", path.read_text(), writers)
    assert not bad, ("crypto outputs that are not known module memory; a kernel writes caller "
                     "memory only as a producer of ks_copy_out_produce (crypto/copyout.h):\n"
                     + "\n".join(bad))


def test_the_kernel_check_catches_a_direct_write() -> None:
    """What the AES block family did before (a kernel straight into the caller's out) fails,
    and the same call inside a producer passes."""
    writers = crypto_writers()
    direct = ("static ks_status run(ks_op *op, uint8_t *out, const uint8_t *in, size_t n)\n{\n"
              "    return ks_aes_encrypt_blocks(&op->u.blk.key, out, in, n);\n}\n")
    assert kernel_writes("token/ops_aes_block.c", direct, writers)
    produced = ("static ks_status blocks(void *arg, uint8_t *dst, size_t len)\n{\n"
                "    return ks_aes_encrypt_blocks(arg, dst, dst, len / 16);\n}\n"
                "static ks_status run(void *key, uint8_t *out, size_t n)\n{\n"
                "    return ks_copy_out_produce(out, n, blocks, key);\n}\n")
    assert not kernel_writes("token/ops_aes_block.c", produced, writers)
    called = produced + "static void f(uint8_t *out) { blocks(0, out, 16); }\n"
    assert kernel_writes("token/ops_aes_block.c", called, writers)
