"""Secrets in memory and on disk (docs/robustness-2.md; "a destroyed key's bytes absent
from the database file").

A child imports a key of a distinctive value, uses it, and pauses at checkpoints while this
test reads the child's whole memory (/proc/PID/maps + /proc/PID/mem):

* while the key lives, every copy of its value or of its AES round keys, and of the token key
  (which the test recovers from the database with the PIN), lies in memory that is locked
  (smaps VmFlags "lo") and excluded from core dumps ("dd");
* after C_DestroyObject no copy of the key is left anywhere, after C_Logout and C_Finalize no
  copy of the token key either;
* unloading the module without C_Finalize (what exit does) wipes a live key.

And after C_DestroyObject of token keys (sensitive, sealed; and not sensitive) neither the
value nor its sealed form is in the database file, its WAL or its shared-memory file.
"""

from __future__ import annotations

import os
import re
import resource
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from tests.robustness.support import ROOT, USER_PIN, key_template, provision_token

_SBOX: list[int] = []


def sbox() -> list[int]:
    """The AES S-box (FIPS 197 5.1.1), computed rather than typed."""
    if not _SBOX:
        inv = [0] * 256
        for a in range(1, 256):
            for b in range(1, 256):
                x, y, p = a, b, 0
                while y:
                    if y & 1:
                        p ^= x
                    x = ((x << 1) ^ 0x11B) if x & 0x80 else x << 1
                    y >>= 1
                if p == 1:
                    inv[a] = b
                    break
        for a in range(256):
            b = inv[a]
            s = b
            for i in range(1, 5):
                s ^= ((b << i) | (b >> (8 - i))) & 0xFF
            _SBOX.append(s ^ 0x63)
    return _SBOX


def aes256_schedule(key: bytes) -> bytes:
    """The 240-byte AES-256 encryption key schedule (FIPS 197 5.2)."""
    s, w, rcon = sbox(), list(key), 1
    while len(w) < 240:
        t = w[-4:]
        if len(w) % 32 == 0:
            t = [s[t[1]] ^ rcon, s[t[2]], s[t[3]], s[t[0]]]
            rcon = ((rcon << 1) ^ 0x11B) if rcon & 0x80 else rcon << 1
        elif len(w) % 32 == 16:
            t = [s[b] for b in t]
        w += [a ^ b for a, b in zip(w[-32:-28], t, strict=True)]
    return bytes(w)


def test_aes256_schedule_matches_fips197() -> None:
    key = bytes(range(32))  # FIPS 197 C.3; A.3 gives w[8] = a573c29f
    sched = aes256_schedule(key)
    assert sched[32:36].hex() == "a573c29f"
    assert sched[-16:].hex() == "24fc79ccbf0979e9371ac23c6d68de36"


def needles(value: bytes) -> dict[str, bytes]:
    sched = aes256_schedule(value)
    return {"value": value, "round key 2": sched[32:48], "last round key": sched[224:240]}


def mappings(pid: int) -> list[tuple[int, int, str, str]]:
    """(start, end, name, VmFlags) of every readable mapping of pid."""
    out, cur = [], None
    for line in Path(f"/proc/{pid}/smaps").read_text().splitlines():
        m = re.match(r"^([0-9a-f]+)-([0-9a-f]+) (\S+) \S+ \S+ \S+\s*(.*)$", line)
        if m:
            cur = [int(m.group(1), 16), int(m.group(2), 16), m.group(4), "", m.group(3)]
            out.append(cur)
        elif line.startswith("VmFlags:") and cur is not None:
            cur[3] = line.split(":", 1)[1]
    return [(s, e, n, f) for s, e, n, f, perms in out if perms.startswith("r")]


def scan(pid: int, wanted: dict[str, bytes]) -> list[tuple[str, int, str, str]]:
    """Every (needle, address, mapping name, VmFlags) where a needle occurs in pid's memory."""
    hits = []
    try:
        mem_file = open(f"/proc/{pid}/mem", "rb", buffering=0)  # noqa: SIM115
    except PermissionError as exc:  # ptrace restricted (container policy): cannot look
        pytest.skip(f"cannot read a child's memory here: {exc}")
    with mem_file as mem:
        for start, end, name, flags in mappings(pid):
            if name == "[vvar]":
                continue
            try:
                mem.seek(start)
                data = mem.read(end - start)
            except OSError:
                continue
            for what, needle in wanted.items():
                for m in re.finditer(re.escape(needle), data):
                    hits.append((what, start + m.start(), name, flags))
    return hits


@pytest.fixture
def token(tmp_path: Path) -> tuple[str, dict[str, str], Path]:
    serial, env = provision_token(tmp_path / "tokens")
    return serial, env, tmp_path / "tokens"


def can_lock() -> bool:
    """Whether ks_secure_alloc can lock pages here (else it falls back to the heap)."""
    soft = resource.getrlimit(resource.RLIMIT_MEMLOCK)[0]
    return soft == resource.RLIM_INFINITY or soft >= 1 << 20


def test_key_material_locked_then_gone(token: tuple[str, dict[str, str], Path]) -> None:
    serial, env, token_dir = token
    tk = token_key(token_dir)
    seen = run_checkpoints(serial, env, [], ("live", "destroyed", "logged-out", "finalized"),
                           {"token key": tk, "token round key 2": aes256_schedule(tk)[32:48]})
    # The object holds the value; the operations (and their key schedules) ended already.
    assert {"value", "token key"} <= {h[0] for h in seen["live"]}, "the scan cannot see keys"
    if can_lock():
        unlocked = [h for h in seen["live"] if " lo" not in h[3] or " dd" not in h[3]]
        assert unlocked == [], f"key material outside locked, undumped pages: {unlocked}"
    # Destroyed: the key is gone, the token key (still logged in) stays.
    assert "token key" in {h[0] for h in seen["destroyed"]}
    assert {h[0] for h in seen["destroyed"]} <= {"token key", "token round key 2"}
    for point in ("logged-out", "finalized"):
        assert seen[point] == [], f"after {point}: {seen[point]}"


def test_live_key_wiped_when_module_unloads(token: tuple[str, dict[str, str], Path]) -> None:
    """No C_Finalize (an application that just exits): the destructor wipes live secrets."""
    serial, env, _ = token
    seen = run_checkpoints(serial, env, ["unload"], ("live", "unloaded"))
    assert "value" in {h[0] for h in seen["live"]}
    assert seen["unloaded"] == [], seen["unloaded"]


_CREATE = r"""
import sys
from tests.robustness.support import key_template, open_token
r, slot, h = open_token(sys.argv[1])
for label, sensitive in (("disk-sealed", True), ("disk-plain", False)):
    r.create_object(h, key_template(label, sensitive, 0, b"d"))
r.close_all_sessions(slot)
r.finalize()
"""

_DESTROY = r"""
import sys
from keystead.softhsm_bridge.ck import Attribute as A
from tests.robustness.support import open_token
r, slot, h = open_token(sys.argv[1])
for label in ("disk-sealed", "disk-plain"):
    (k,) = r.find_objects(h, {A.LABEL: label})
    r.destroy_object(h, k)
r.close_all_sessions(slot)
r.finalize()
"""


def test_destroyed_key_absent_from_database_files(token: tuple[str, dict[str, str], Path]
                                                  ) -> None:
    serial, env, token_dir = token
    py = [sys.executable, "-c"]
    subprocess.run([*py, _CREATE, serial], cwd=ROOT, env=env, check=True, timeout=60)
    (db,) = token_dir.glob("token-*.sqlite")
    with sqlite3.connect(db) as con:
        stored = [bytes(row[0]) for row in con.execute(
            "SELECT a.value FROM attributes a JOIN objects o ON a.handle = o.handle"
            " WHERE CAST(o.label AS TEXT) LIKE 'disk-%' AND a.type = 17")]
    con.close()
    values = {lab: key_template(lab, True, 0, b"")[17] for lab in ("disk-sealed", "disk-plain")}
    assert len(stored) == 2
    files = [db, db.with_name(db.name + "-wal"), db.with_name(db.name + "-shm")]

    def on_disk() -> bytes:
        return b"".join(p.read_bytes() for p in files if p.exists())

    before = on_disk()
    assert all(s in before for s in stored)  # the test can see what it looks for
    subprocess.run([*py, _DESTROY, serial], cwd=ROOT, env=env, check=True, timeout=60)
    after = on_disk()
    for label, v in values.items():
        assert v not in after, f"{label}: the value is still on disk"
        assert v[:16] not in after and v[16:] not in after, label
    for s in stored:
        assert s not in after, "a stored (sealed or plain) CKA_VALUE is still on disk"
        assert s[len(s) // 2:] not in after, "part of a stored value is still on disk"


def token_key(token_dir: Path) -> bytes:
    """The token key, as C_Login recovers it: ks_store_login on the token's database."""
    from keystead.core import lib

    from tests.native.store_support import Store

    (db,) = token_dir.glob("token-*.sqlite")
    with Store(db, create=False) as store:
        rv, key = store.login(lib.CKU_USER, USER_PIN.encode())
    assert rv == lib.CKR_OK
    return key


def run_checkpoints(serial: str, env: dict[str, str], mode: list[str],
                    points: tuple[str, ...], extra: dict[str, bytes] | None = None
                    ) -> dict[str, list[tuple[str, int, str, str]]]:
    """Run mem_worker, scan its memory at each checkpoint; return the hits per checkpoint."""
    value = os.urandom(16) + b"keystead-memscan"  # distinctive, and unlike any other data
    wanted = {**needles(value), **(extra or {})}
    child = subprocess.Popen([sys.executable, "-m", "tests.robustness.mem_worker", serial,
                              *mode], cwd=ROOT, env=env, stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert child.stdin is not None and child.stdout is not None
    seen = {}
    try:
        child.stdin.write(value)
        child.stdin.flush()
        for point in points:
            line = child.stdout.readline().decode().strip()
            if line != point:
                child.kill()
                raise AssertionError(f"{line!r} != {point!r}: {child.stderr.read().decode()}")
            seen[point] = scan(child.pid, wanted)
            child.stdin.write(b"\n")
            child.stdin.flush()
        assert child.wait(timeout=30) == 0, child.stderr.read().decode()[-3000:]
    finally:
        child.kill()
        child.wait()
    return seen
