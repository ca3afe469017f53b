"""The token's own audit trail: every kind of event recorded, every kind of tampering found.

Events are produced by a real consumer (pkcs11-tool) against the installed module in a fresh
token directory; the trail is then checked with keystead.token_audit.verify.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import keystead
import pytest
from keystead import token_audit

pytestmark = pytest.mark.skipif(shutil.which("pkcs11-tool") is None, reason="needs opensc")

SO_PIN = "12345678"
PIN = "1234"


def tool(env: dict[str, str], *args: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(["pkcs11-tool", "--module", keystead.module_path(), *args],
                          env=env, capture_output=True, text=True, check=check)


@pytest.fixture()
def trail(tmp_path: Path) -> tuple[Path, bytes]:
    """A token with a trail of 8+ records: init, logins (one failed), keygen, key use."""
    conf = tmp_path / "ks.conf"
    conf.write_text(f"token_dir = {tmp_path}\npin_kdf_cost = fast\n")
    env = {"KEYSTEAD_CONF": str(conf), "PATH": "/usr/bin:/bin"}
    tool(env, "--init-token", "--slot-index", "0", "--label", "audit", "--so-pin", SO_PIN)
    tool(env, "--init-pin", "--slot-index", "0", "--so-pin", SO_PIN, "--pin", PIN)
    tool(env, "--slot-index", "0", "--login", "--pin", PIN, "--keygen", "--key-type", "aes:32",
         "--label", "k1")
    tool(env, "--slot-index", "0", "--login", "--pin", "99999", "--list-objects", check=False)
    data = tmp_path / "pt.bin"
    data.write_bytes(b"x" * 100)
    tool(env, "--slot-index", "0", "--login", "--pin", PIN, "--encrypt", "--label", "k1",
         "-m", "AES-CBC-PAD", "--iv", "00" * 16, "-i", str(data), "-o",
         str(tmp_path / "ct.bin"))
    db = tmp_path / "token-0.sqlite"
    return db, token_audit.read_key(f"{db}.audit-key")


def test_intact_trail_verifies_and_names_every_event(trail):
    db, key = trail
    report = token_audit.verify(db, key)
    assert report.ok, report.problems
    events = [(r["event"], r["rv"]) for r in token_audit.records(db)]
    kinds = {e for e, _ in events}
    assert {"init-token", "login", "init-pin", "generate", "use"} <= kinds
    assert ("login", 0xA0) in events  # the failed login, CKR_PIN_INCORRECT
    generated = next(r for r in token_audit.records(db) if r["event"] == "generate")
    assert len(generated["object"]) == 32 and generated["mechanism"] == 0x1080


def test_key_file_is_private(trail):
    db, _ = trail
    assert Path(f"{db}.audit-key").stat().st_mode & 0o077 == 0


def test_a_new_key_never_goes_into_an_old_readable_key_file(trail):
    """C_InitToken again over a key file that was left world-readable: O_CREAT's mode does
    not apply to an existing file, so the new k_1 must not land there readable."""
    db, old_key = trail
    key_file = Path(f"{db}.audit-key")
    key_file.chmod(0o644)
    conf = db.parent / "ks.conf"
    tool({"KEYSTEAD_CONF": str(conf), "PATH": "/usr/bin:/bin"}, "--init-token",
         "--slot-index", "0", "--label", "again", "--so-pin", SO_PIN)
    assert token_audit.read_key(key_file) != old_key
    assert key_file.stat().st_mode & 0o077 == 0


def end_of_records(data: bytes) -> int:
    """The header's `end`: where the records stop (zero space may follow, version 2)."""
    return token_audit._state(data[:token_audit.HEADER_SIZE]).end


def spans(db: Path) -> list[tuple[int, int]]:
    """(start, end) byte offsets of every record in the trail file."""
    data = token_audit.audit_path(db).read_bytes()
    end = end_of_records(data)
    found, _, problem = token_audit._records(data, end)
    assert problem is None
    ends = [r.offset for r in found[1:]] + [end]
    return [(r.offset, e) for r, e in zip(found, ends, strict=True)]


def rewrite(db: Path, edit) -> None:
    """Replace the trail file's bytes with edit(bytes, spans)."""
    path = token_audit.audit_path(db)
    path.write_bytes(edit(path.read_bytes(), spans(db)))


def test_edited_record_is_named(trail):
    db, key = trail

    def edit(data, sp):
        rec = bytearray(data[sp[2][0]:sp[2][1]])
        rec[13] ^= 1  # a digit of the year: length, seq "3", time length, then the time
        return data[:sp[2][0]] + bytes(rec) + data[sp[2][1]:]
    rewrite(db, edit)
    report = token_audit.verify(db, key)
    assert not report.ok and report.problems[0].startswith("record 3:")


def test_edited_record_with_recomputed_chain_fails_the_seal(trail):
    db, key = trail
    rows = token_audit.records(db)
    # An attacker who recomputes the chain value still cannot make the seal without k_3.
    import hashlib

    sp = spans(db)
    data = token_audit.audit_path(db).read_bytes()
    prev = data[sp[1][1] - 64:sp[1][1] - 32]
    row = rows[2] | {"rv": 0xA0}
    fields = [str(row[c]) for c in token_audit.COLUMNS]
    enc = token_audit._encode(fields)
    chain = hashlib.sha256(token_audit.CHAIN_LABEL + prev + enc).digest()
    a, b = sp[2]
    forged = len(enc).to_bytes(4, "big") + enc + chain + data[b - 32:b]
    token_audit.audit_path(db).write_bytes(data[:a] + forged + data[b:])
    report = token_audit.verify(db, key)
    assert not report.ok and report.problems[0].startswith("record 3: seal")


def test_deleted_record_is_found(trail):
    db, key = trail
    rewrite(db, lambda data, sp: data[:sp[3][0]] + data[sp[3][1]:])
    report = token_audit.verify(db, key)
    assert not report.ok and report.problems[0].startswith("record 5:")


def test_reordered_records_are_found(trail):
    db, key = trail

    def swap(data, sp):
        (a, b), (c, d) = sp[2], sp[3]
        return data[:a] + data[c:d] + data[a:b] + data[d:]
    rewrite(db, swap)
    report = token_audit.verify(db, key)
    assert not report.ok and "expected sequence number 3" in report.problems[0]


def test_inserted_record_is_found(trail):
    db, key = trail
    rewrite(db, lambda data, sp: data[:sp[3][0]] + data[sp[2][0]:sp[2][1]] + data[sp[3][0]:])
    report = token_audit.verify(db, key)
    assert not report.ok and "expected sequence number 4 (inserted" in report.problems[0]


def test_truncated_tail_is_found(trail):
    db, key = trail
    rewrite(db, lambda data, sp: data[:sp[-1][0]])
    report = token_audit.verify(db, key)
    assert not report.ok and "deleted from the end" in report.problems[0]


def test_bytes_after_the_last_record_are_found(trail):
    db, key = trail
    rewrite(db, lambda data, sp: data + b"\x00\x00\x00\x10" + b"x" * 80)
    report = token_audit.verify(db, key)
    assert not report.ok and "after the last sealed record" in report.problems[0]


def test_damaged_header_or_missing_file_is_reported(trail):
    db, key = trail
    rewrite(db, lambda data, sp: b"not-an-audit-trl" + data[16:])
    report = token_audit.verify(db, key)
    assert not report.ok and "not a keystead audit trail" in report.problems[0]
    token_audit.audit_path(db).unlink()
    report = token_audit.verify(db, key)
    assert not report.ok and "no audit trail" in report.problems[0]


def test_the_file_holds_no_key_that_sealed_a_record(trail):
    """Forward security: after record i is sealed, k_i is gone from the file (both state
    slots), so whoever takes the machine later cannot re-seal records 1..i."""
    import hashlib

    db, k1 = trail
    data = token_audit.audit_path(db).read_bytes()
    n = len(token_audit.records(db))
    key, sealed = k1, []
    for _ in range(n):
        sealed.append(key)
        key = hashlib.sha256(token_audit.EVOLVE_LABEL + key).digest()
    assert all(k not in data for k in sealed)
    assert key in data[:token_audit.HEADER_SIZE]  # the next epoch key, in the active slot


def test_wrong_key_fails_at_the_first_record(trail):
    db, _ = trail
    report = token_audit.verify(db, bytes(32))
    assert not report.ok and report.problems[0].startswith("record 1: seal")


def test_malformed_key_file(tmp_path):
    bad = tmp_path / "k"
    bad.write_text("zz")
    with pytest.raises(token_audit.AuditKeyError):
        token_audit.read_key(bad)


FLUSH_CHILD = r"""
import sys, time
from keystead import token_audit
from keystead.softhsm_bridge.provision import prepare, provision
from keystead.softhsm_bridge.modules import resolve
from keystead.softhsm_bridge.ck import Attribute as A, Mechanism
from keystead.softhsm_bridge.raw import open_raw
info = resolve("keystead")
prepare(info, sys.argv[1])
tok = provision(info, None, label="flush", so_pin="12345678", user_pin="87654321")
raw = open_raw(info.path)
h = raw.open_session(tok.slot_id)
raw.login(h, 1, "87654321")
key = raw.generate_key(h, Mechanism.AES_KEY_GEN, {A.VALUE_LEN: 32, A.TOKEN: True})
raw.encrypt(h, Mechanism.AES_ECB, key, bytes(16))
db = f"{sys.argv[1]}/token-{tok.slot_id}.sqlite"
def uses():
    return sum(r["event"] == "use" for r in token_audit.records(db))
before = uses()
time.sleep(2.5)  # no call into the module meanwhile
print(before, uses())
"""


def test_key_use_is_written_within_seconds_without_further_calls(tmp_path):
    """Counts reach the trail at least every second even when the application is idle."""
    out = subprocess.run([sys.executable, "-c", FLUSH_CHILD, str(tmp_path / "tokens")],
                         capture_output=True, text=True, timeout=120, check=True)
    before, after = (int(x) for x in out.stdout.split()[-2:])
    assert before == 0 and after == 1, out.stdout


WRITER_CHILD = r"""
import sys
from keystead.softhsm_bridge.modules import resolve
from keystead.softhsm_bridge.ck import Attribute as A, Mechanism
from keystead.softhsm_bridge.errors import DeviceError
from keystead.softhsm_bridge.raw import open_raw
info = resolve("keystead")
raw = open_raw(info.path)
raw.initialize()
h = raw.open_session(int(sys.argv[1]))
raw.login(h, 1, "87654321")
print("ready", flush=True)
tolerate = sys.argv[3:] == ["tolerate"]  # count refused calls instead of stopping at one
refused = 0
for _ in range(int(sys.argv[2])):
    try:
        k = raw.generate_key(h, Mechanism.AES_KEY_GEN, {A.VALUE_LEN: 32, A.TOKEN: False})
        raw.destroy_object(h, k)
    except DeviceError:
        if not tolerate:
            raise
        refused += 1
print("done", refused, flush=True)
"""


PROVISION_CHILD = r"""
import os, sys
from keystead.softhsm_bridge.provision import prepare, provision
from keystead.softhsm_bridge.modules import resolve
info = resolve("keystead")
prepare(info, sys.argv[1])
tok = provision(info, None, label="shared", so_pin="12345678", user_pin="87654321")
print(tok.slot_id, os.environ["KEYSTEAD_CONF"])
"""


@pytest.fixture()
def shared_token(tmp_path: Path) -> tuple[dict[str, str], Path, int]:
    """A provisioned keystead token in tmp_path: (environment for children, db, slot)."""
    import os

    tokens = tmp_path / "tokens"
    out = subprocess.run([sys.executable, "-c", PROVISION_CHILD, str(tokens)],
                         capture_output=True, text=True, timeout=120, check=True)
    slot, conf = out.stdout.split()[-2:]
    env = dict(os.environ, KEYSTEAD_CONF=conf)
    return env, tokens / f"token-{slot}.sqlite", int(slot)


def test_two_processes_append_to_one_trail(shared_token):
    """Records from two processes at once land whole, in one chain, none lost."""
    env, db, slot = shared_token
    before = len(token_audit.records(db))
    procs = [subprocess.Popen([sys.executable, "-c", WRITER_CHILD, str(slot), "150"], env=env,
                              stdout=subprocess.PIPE, text=True) for _ in range(2)]
    for p in procs:
        out, _ = p.communicate(timeout=300)
        assert p.returncode == 0 and "done" in out
    report = token_audit.verify(db, token_audit.read_key(f"{db}.audit-key"))
    assert report.ok, report.problems
    rows = token_audit.records(db)[before:]
    pids = {r["pid"] for r in rows if r["event"] in ("generate", "destroy")}
    assert len(pids) == 2
    assert sum(r["event"] == "generate" for r in rows) == 300
    assert sum(r["event"] == "destroy" for r in rows) == 300


def test_a_writer_killed_mid_append_leaves_a_whole_trail(shared_token):
    """SIGKILL at a random moment of a stream of appends: the next process recovers the lock
    and the trail still verifies (the record of a call that never returned may be missing,
    never half there)."""
    import signal
    import time

    env, db, slot = shared_token
    for delay in (0.05, 0.13, 0.21):
        p = subprocess.Popen([sys.executable, "-c", WRITER_CHILD, str(slot), "100000"],
                             env=env, stdout=subprocess.PIPE, text=True)
        assert p.stdout is not None and p.stdout.readline().strip() == "ready"
        time.sleep(delay)
        p.send_signal(signal.SIGKILL)
        p.wait(timeout=30)
        a_writer_appends_and_the_trail_verifies(env, db, slot)


def a_writer_appends_and_the_trail_verifies(env: dict[str, str], db: Path, slot: int) -> None:
    """A new process appends two generate/destroy pairs; the whole trail then verifies."""
    survivor = subprocess.run([sys.executable, "-c", WRITER_CHILD, str(slot), "2"],
                              env=env, capture_output=True, text=True, timeout=120)
    assert survivor.returncode == 0, survivor.stderr
    report = token_audit.verify(db, token_audit.read_key(f"{db}.audit-key"))
    assert report.ok, report.problems
    assert token_audit.records(db)[-1]["event"] == "destroy"


# A child's first lines: map the trail named by argv[1] and take its lock as the token does.
HOLD_THE_LOCK = r"""
import ctypes, mmap, os, struct, sys
f = open(sys.argv[1], "r+b")
m = mmap.mmap(f.fileno(), 4096)
lock = ctypes.c_void_p(ctypes.addressof(ctypes.c_char.from_buffer(m, 64)))
assert ctypes.CDLL(None).pthread_mutex_lock(lock) == 0
"""

DIE_HOLDING_LOCK = HOLD_THE_LOCK + r"""
f.seek(struct.unpack_from("<Q", m, 192 + 128 * (m[128] & 1) + 8)[0])  # the records' end
f.write(b"\x00\x00\x00\x50half a record")  # an append that never committed
f.flush()
os._exit(0)  # dies holding the trail's lock
"""


def test_a_process_that_dies_holding_the_lock_is_recovered_from(shared_token):
    """The trail's lock is robust: the next process gets it (EOWNERDEAD), cuts off the
    uncommitted bytes and appends; nothing hangs and the trail verifies."""
    env, db, slot = shared_token
    subprocess.run([sys.executable, "-c", DIE_HOLDING_LOCK, str(token_audit.audit_path(db))],
                   check=True, timeout=60)
    report = token_audit.verify(db, token_audit.read_key(f"{db}.audit-key"))
    assert not report.ok and "after the last sealed record" in report.problems[0]
    a_writer_appends_and_the_trail_verifies(env, db, slot)


TAKE_LOCK_AND_COPY_IT = HOLD_THE_LOCK + r"""
sys.stdout.write(m[64:128].hex())
sys.stdout.flush()
os._exit(0)
"""


def test_a_lock_held_when_the_machine_went_down_does_not_hang_the_next_boot(shared_token):
    """The header page may reach the disk while a process holds the trail's lock; after a
    reboot its owner is a thread that never existed in this boot, which no kernel marks as
    dead. The first process of the new boot must make the lock anew, not wait forever."""
    env, db, slot = shared_token
    path = token_audit.audit_path(db)
    out = subprocess.run([sys.executable, "-c", TAKE_LOCK_AND_COPY_IT, str(path)],
                         capture_output=True, text=True, check=True, timeout=60)
    stale = bytes.fromhex(out.stdout)
    with open(path, "r+b") as f:  # the page as the disk had it: locked, from another boot
        f.seek(24)
        f.write(b"\x00" * 36)
        f.seek(64)
        f.write(stale)
    a_writer_appends_and_the_trail_verifies(env, db, slot)


DIE_HOLDING_LOCK_WITH_DAMAGED_END = HOLD_THE_LOCK + r"""
active = m[128] & 1
struct.pack_into("<Q", m, 192 + 128 * active + 8, 0)  # end: 0, inside the header
os._exit(0)
"""


def test_recovery_never_cuts_into_the_header(shared_token):
    """A process that has the trail open recovers from a dead holder whose header says the
    records end at byte 0: it must refuse to append, not cut the mapped page away (SIGBUS),
    and the calls it cannot record are refused (CKR_DEVICE_ERROR), not done unrecorded."""
    env, db, slot = shared_token
    p = subprocess.Popen([sys.executable, "-c", WRITER_CHILD, str(slot), "20000", "tolerate"],
                         env=env, stdout=subprocess.PIPE, text=True)
    assert p.stdout is not None and p.stdout.readline().strip() == "ready"
    subprocess.run([sys.executable, "-c", DIE_HOLDING_LOCK_WITH_DAMAGED_END,
                    str(token_audit.audit_path(db))], check=True, timeout=60)
    still_writing = p.poll() is None
    out, _ = p.communicate(timeout=300)
    assert p.returncode == 0 and "done" in out
    assert still_writing, "the writer ended before the damage: make it write longer"
    assert int(out.split()[-1]) > 0  # the calls after the damage were refused
    assert token_audit.audit_path(db).stat().st_size >= token_audit.HEADER_SIZE


def test_a_huge_sparse_trail_is_reported_not_raised(trail, tmp_path):
    """A trail grown to terabytes of holes (an attacker's truncate(1)) is read record by
    record, not into memory at once: a report, no MemoryError."""
    db, key = trail
    copy = tmp_path / "huge.sqlite"
    shutil.copy(token_audit.audit_path(db), token_audit.audit_path(copy))
    try:
        with open(token_audit.audit_path(copy), "r+b") as f:
            f.seek(128)
            active = f.read(1)[0] & 1
            f.seek(192 + 128 * active + 8)
            f.write((2**43).to_bytes(8, "little"))  # end: 8 TiB
            f.seek(token_audit.HEADER_SIZE)
            f.write(b"\x00" * 4)  # record 1's length: 0, a record that is not one
            f.truncate(2**43)
    except OSError as exc:
        pytest.skip(f"no sparse files of 8 TiB here ({exc})")
    report = token_audit.verify(copy, key)
    assert not report.ok and report.problems[0].startswith("record 1: malformed")


def test_a_trail_verified_while_the_token_appends_verifies(shared_token):
    """An auditor may verify a token in use: reading the header before records that a busy
    writer keeps appending (or between a record's write and its commit) is no tampering."""
    env, db, slot = shared_token
    key = token_audit.read_key(f"{db}.audit-key")
    p = subprocess.Popen([sys.executable, "-c", WRITER_CHILD, str(slot), "4000"], env=env,
                         stdout=subprocess.PIPE, text=True)
    assert p.stdout is not None and p.stdout.readline().strip() == "ready"
    problems = []
    while p.poll() is None:
        problems += token_audit.verify(db, key).problems
    p.communicate(timeout=120)
    assert p.returncode == 0
    assert not problems, problems[:3]


def test_a_cut_trail_with_a_rolled_back_header_fails_against_the_checkpoint(trail):
    """Someone who saved the file, let the token append, then put the saved file back (the
    tail cut, the header rolled back) leaves a trail whole as far as it goes: a local verify
    passes. The checkpoint an auditor kept from after the append exposes it."""
    db, key = trail
    path = token_audit.audit_path(db)
    saved = path.read_bytes()
    early = token_audit.verify(db, key).checkpoint
    conf = db.parent / "ks.conf"
    tool({"KEYSTEAD_CONF": str(conf), "PATH": "/usr/bin:/bin"}, "--slot-index", "0",
         "--login", "--pin", PIN, "--list-objects")
    late = token_audit.verify(db, key)
    assert late.ok and late.checkpoint is not None and early is not None
    assert late.checkpoint.seq > early.seq
    assert token_audit.verify(db, key, early).ok  # an old checkpoint: the trail went on
    path.write_bytes(saved)  # the cut and the roll-back
    assert token_audit.verify(db, key).ok
    report = token_audit.verify(db, key, late.checkpoint)
    assert not report.ok and "checkpoint is at record" in report.problems[0]
    forged = token_audit.Checkpoint(early.seq, bytes(32))  # same length, other history
    report = token_audit.verify(db, key, forged)
    assert not report.ok and report.problems[0].startswith(f"record {early.seq}: chain")


def test_checkpoints_parse_and_print(trail):
    db, key = trail
    cp = token_audit.verify(db, key).checkpoint
    assert token_audit.parse_checkpoint(str(cp)) == cp
    for bad in ("", "5", "x:00", "0:" + "00" * 32, "3:" + "00" * 31, "-1:" + "00" * 32):
        with pytest.raises(token_audit.CheckpointError):
            token_audit.parse_checkpoint(bad)


def version_1_trail(k1: bytes, rows: list[list[str]]) -> bytes:
    """A trail in the version-1 layout, built here: the header (magic, version 1, header
    size, no lock or boot yet, state slot 0 active) and the sealed records, the file ending
    where they end."""
    import hashlib
    import hmac
    import struct

    header = bytearray(token_audit.HEADER_SIZE)
    header[:16] = token_audit.MAGIC
    struct.pack_into("<II", header, 16, 1, token_audit.HEADER_SIZE)
    body, chain, key = bytearray(), bytes(32), k1
    for fields in rows:
        enc = token_audit._encode(fields)
        chain = hashlib.sha256(token_audit.CHAIN_LABEL + chain + enc).digest()
        body += len(enc).to_bytes(4, "big") + enc + chain
        body += hmac.new(key, chain, hashlib.sha256).digest()
        key = hashlib.sha256(token_audit.EVOLVE_LABEL + key).digest()
    struct.pack_into("<QQ32s32s", header, 192, len(rows) + 1,
                     token_audit.HEADER_SIZE + len(body), chain, key)
    return bytes(header + body)


def test_a_version_1_trail_is_read_and_taken_over(shared_token):
    """A trail written before version 2 (no space after the records): the reader verifies
    it, names bytes after its records (the old rule), and the token appends to it, after
    which it is a version-2 trail that still verifies from record 1."""
    env, db, slot = shared_token
    key = token_audit.read_key(f"{db}.audit-key")
    rows = [[str(r[c]) for c in token_audit.COLUMNS] for r in token_audit.records(db)]
    path = token_audit.audit_path(db)
    old = version_1_trail(key, rows)
    path.write_bytes(old + b"\x00")
    report = token_audit.verify(db, key)
    assert not report.ok and "1 bytes after the last sealed record" in report.problems[0]
    path.write_bytes(old)
    report = token_audit.verify(db, key)
    assert report.ok and report.records == len(rows), report.problems
    a_writer_appends_and_the_trail_verifies(env, db, slot)
    data = path.read_bytes()
    assert data[16] == 2 and len(data) > end_of_records(data)  # version 2, space ahead
    assert len(token_audit.records(db)) == len(rows) + 5  # login + 2 x (generate, destroy)
