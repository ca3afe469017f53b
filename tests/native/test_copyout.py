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
    "p11/keys.c": {"out"},  # a local CK_ULONG read from the template
    "p11/objects.c": {"&after"},
    "p11/slots.c": {"info->label", "info->serialNumber", "info->utcTime", "&meta", "info"},
    "token/attrs.c": {"value", "buf + off + PACK_HEADER", "copy", "out", "&set->items[i + 1]",
                      "&set->items[i]"},
    "token/audit.c": {"&first", "&next", "hex", "p + 4", "tail"},
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
    "token/ops_kw.c": {"&op->u.kw", "iv"},
    "token/ops_mac.c": {"mac"},
    "token/ops_pkey_sign.c": {"hash", "spec"},  # a message hash, a local spec
    "token/ops_rsa_enc.c": {"em", "em + st->k - len", "msg", "kdk", "st->label", "st", "em + 2",
                            "em + k - len"},
    "token/ops_wrap.c": {"work"},
    "token/pin.c": {"kek", "key", "token_key", "out", "w"},
    "token/policy.c": {"&m", "now", "out", "out->day", "out->month", "out->year", "out + 4"},
    "token/role_cache.c": {"c", "c->slot[i].fp"},  # the token's role cache
    "token/rules_new.c": {"block", "md", "&s", "&v", "out", "fixed"},
    "token/rules_pair.c": {"v", "out + h"},  # a component the module read, a DER it builds
    "token/rules_set.c": {"&to", "&v"},
    "token/rules_table.c": {"&v"},
    "token/store_auth.c": {"ipad", "inner", "m->opad", "s->fault_uid", "msg", "uid", "id",
                           "mac", "cref", "a->token_key", "out", "sum", "v1"},
    "token/store_counters.c": {"ref + 8"},
    "token/store_migrate.c": {"uid", "ref + 8", "a->token_key"},
    "token/store_objects.c": {"uid"},
    "token/store_read.c": {"clear", "&v", "uid"},
    "token/store_schema.c": {"out", "label"},
    "token/store_seal.c": {"out", "aad"},
    "token/token.c": {"raw"},  # the token's pool of unique-ID bits
    "token/token_audit.c": {"out", "u"},
    "token/wrap_policy.c": {"fp", "name", "pad", "inner"},
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
