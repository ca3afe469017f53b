"""An audit that fails closed: an operation whose record cannot be written is refused with
CKR_DEVICE_ERROR and takes no effect, unless the configuration says ``audit_failure = log``.

Each case runs the module in a child process (the trail is opened once per process), on a
token provisioned by the fixture of test_token_audit, after damaging its trail: deleted,
made read-only, cut in the middle of a record, or on a full disk (RLIMIT_FSIZE in the child:
the file cannot grow past its size, and the kernel answers EFBIG, deterministically).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from keystead import token_audit

from tests.native.test_token_audit import (  # noqa: F401 (trail: a fixture)
    PIN,
    PROVISION_CHILD,
    SO_PIN,
    end_of_records,
    tool,
    trail,
)

pytestmark = pytest.mark.skipif(shutil.which("pkcs11-tool") is None, reason="needs opensc")

# argv: slot, user type to log in as (1 user, 0 SO). Prints what happened as JSON.
LOGIN_CHILD = r"""
import json, sys
from keystead.softhsm_bridge.modules import resolve
from keystead.softhsm_bridge.ck import Attribute as A, Mechanism
from keystead.softhsm_bridge.raw import open_raw
info = resolve("keystead")
raw = open_raw(info.path)
raw.initialize()
h = raw.open_session(int(sys.argv[1]))
pin = "87654321" if sys.argv[2] == "1" else "12345678"
rv = raw.login(h, int(sys.argv[2]), pin)
out = {"login": rv}
try:
    raw.generate_key(h, Mechanism.AES_KEY_GEN, {A.VALUE_LEN: 32, A.TOKEN: False})
    out["generate"] = "ok"
except Exception as exc:
    out["generate"] = type(exc).__name__
out["state"] = raw.session_info(h)["state"]
print(json.dumps(out))
"""

# argv: slot, iterations. Fills the trail's allocated space under RLIMIT_FSIZE, then tries
# every kind of operation once more. Prints what happened as JSON.
FULL_CHILD = r"""
import json, os, resource, sys
from keystead.softhsm_bridge.modules import resolve
from keystead.softhsm_bridge.ck import Attribute as A, Mechanism
from keystead.softhsm_bridge.errors import DeviceError
from keystead.softhsm_bridge.raw import open_raw
info = resolve("keystead")
raw = open_raw(info.path)
raw.initialize()
h = raw.open_session(int(sys.argv[1]))
assert raw.login(h, 1, "87654321") == 0
session = {A.VALUE_LEN: 32, A.TOKEN: False}
kek = raw.generate_key(h, Mechanism.AES_KEY_GEN, session | {A.WRAP: True, A.UNWRAP: True})
target = raw.generate_key(h, Mechanism.AES_KEY_GEN, session | {A.EXTRACTABLE: True})
victim = raw.generate_key(h, Mechanism.AES_KEY_GEN, session)
used = raw.generate_key(h, Mechanism.AES_KEY_GEN, session | {A.ENCRYPT: True})
wrapped = raw.wrap_key(h, Mechanism.AES_KEY_WRAP, kek, target)
trail = sys.argv[3]
size = os.stat(trail).st_size
resource.setrlimit(resource.RLIMIT_FSIZE, (size, size))  # SIGXFSZ is ignored by Python
def objects():
    return len(raw.find_objects(h, {}))
out = {"refused_after": None}
for i in range(int(sys.argv[2])):
    try:
        k = raw.generate_key(h, Mechanism.AES_KEY_GEN, session)
    except DeviceError:
        out["refused_after"] = i
        break
    try:
        raw.destroy_object(h, k)
    except DeviceError:
        out["refused_after"] = i
        out["destroy_refused_kept"] = raw.get_attribute(h, k, A.CLASS) is not None
        break
def attempt(name, fn):
    before = objects()
    try:
        fn()
        out[name] = "ok"
    except DeviceError:
        out[name] = "DeviceError"
    out[name + "_objects"] = objects() - before
attempt("generate", lambda: raw.generate_key(h, Mechanism.AES_KEY_GEN, session))
attempt("unwrap", lambda: raw.unwrap_key(h, Mechanism.AES_KEY_WRAP, kek, wrapped,
                                         {A.CLASS: 4, A.KEY_TYPE: 0x1F, A.TOKEN: False}))
m = raw.mechanism(Mechanism.AES_KEY_WRAP, None)
n = raw.ffi.new("CK_ULONG *", len(wrapped))
buf = raw.ffi.new("CK_BYTE[]", len(wrapped))
raw.ffi.memmove(buf, b"\xaa" * len(wrapped), len(wrapped))
rv = raw.call("C_WrapKey", h, m.ptr, kek, target, buf, n)
out["wrap"] = rv
out["wrap_output"] = bytes(raw.ffi.buffer(buf)).hex()
out["wrapped"] = wrapped.hex()
attempt("destroy", lambda: raw.destroy_object(h, victim))
try:
    raw.set_attributes(h, used, {A.LABEL: "changed"})
    out["set"] = "ok"
except DeviceError:
    out["set"] = "DeviceError"
out["label"] = raw.get_attribute(h, used, A.LABEL).decode()
try:
    raw.encrypt(h, Mechanism.AES_ECB, used, bytes(16))
    out["encrypt"] = "ok"
except DeviceError:
    out["encrypt"] = "DeviceError"
print(json.dumps(out))
"""


# PROVISION_CHILD with audit_failure = argv[2]: the token keeps the setting it was initialised
# under as a floor (README, "Configuration"), so a `log` token is initialised under `log`.
PROVISION_CHILD_WITH = PROVISION_CHILD.replace(
    "prepare(info, sys.argv[1])", "prepare(info, sys.argv[1], audit_failure=sys.argv[2])")
assert PROVISION_CHILD_WITH != PROVISION_CHILD


def provision(tmp_path: Path, setting: str) -> tuple[dict[str, str], Path, int, str]:
    """A provisioned token (environment, db, slot, audit_failure setting)."""
    tokens = tmp_path / "tokens"
    out = subprocess.run([sys.executable, "-c", PROVISION_CHILD_WITH, str(tokens), setting],
                         capture_output=True, text=True, timeout=120, check=True)
    slot, conf = out.stdout.split()[-2:]
    assert f"audit_failure = {setting}" in Path(conf).read_text()
    env = dict(os.environ, KEYSTEAD_CONF=conf)
    return env, tokens / f"token-{slot}.sqlite", int(slot), setting


@pytest.fixture(params=["refuse", "log"])
def token(request, tmp_path: Path) -> tuple[dict[str, str], Path, int, str]:
    return provision(tmp_path, request.param)


def child(env: dict[str, str], script: str, *args: str,
          prefix: tuple[str, ...] = ()) -> dict[str, object]:
    out = subprocess.run([*prefix, sys.executable, "-c", script, *args], env=env,
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.splitlines()[-1])


CKS_RW_PUBLIC_SESSION, CKS_RW_USER_FUNCTIONS, CKS_RW_SO_FUNCTIONS = 2, 3, 4
CKR_DEVICE_ERROR = 0x30


def expect_login(result: dict[str, object], setting: str, user: bool = True) -> None:
    """Refused: not logged in (so the key generation that follows is refused too). Logged
    only: logged in as before."""
    if setting == "refuse":
        assert (result["login"], result["state"]) == (CKR_DEVICE_ERROR, CKS_RW_PUBLIC_SESSION)
        assert result["generate"] != "ok"
    elif user:
        assert result == {"login": 0, "generate": "ok", "state": CKS_RW_USER_FUNCTIONS}
    else:
        assert (result["login"], result["state"]) == (0, CKS_RW_SO_FUNCTIONS)


def test_a_deleted_trail_refuses_the_login(token):
    env, db, slot, setting = token
    token_audit.audit_path(db).unlink()
    expect_login(child(env, LOGIN_CHILD, str(slot), "1"), setting)
    # The SO's login does not make a new trail either: the key file says there was one.
    expect_login(child(env, LOGIN_CHILD, str(slot), "0"), setting, user=False)
    assert not token_audit.audit_path(db).exists()


def test_a_read_only_trail_refuses_the_login(token):
    env, db, slot, setting = token
    token_audit.audit_path(db).chmod(0o400)
    # root opens any file for writing: run the child without capabilities when root.
    prefix = ("setpriv", "--inh-caps=-all", "--bounding-set=-all") if os.geteuid() == 0 else ()
    if prefix and shutil.which("setpriv") is None:
        pytest.skip("root without setpriv cannot be kept from writing the file")
    expect_login(child(env, LOGIN_CHILD, str(slot), "1", prefix=prefix), setting)


def test_a_trail_cut_in_a_record_refuses_the_login(token):
    env, db, slot, setting = token
    path = token_audit.audit_path(db)
    end = end_of_records(path.read_bytes())
    os.truncate(path, end - 40)  # inside the last record's seal
    expect_login(child(env, LOGIN_CHILD, str(slot), "1"), setting)
    if setting == "refuse":
        assert path.stat().st_size == end - 40  # never written to


def test_a_full_disk_refuses_every_operation_and_undoes_it(token):
    env, db, slot, setting = token
    path = token_audit.audit_path(db)
    result = child(env, FULL_CHILD, str(slot), "20000", str(path))
    report = token_audit.verify(db, token_audit.read_key(f"{db}.audit-key"))
    assert report.ok, report.problems
    if setting == "log":
        assert result["refused_after"] is None
        assert (result["generate"], result["unwrap"], result["wrap"]) == ("ok", "ok", 0)
        assert (result["destroy"], result["encrypt"]) == ("ok", "ok")
        assert (result["set"], result["label"]) == ("ok", "changed")
        assert result["wrap_output"] == result["wrapped"]
        return
    assert result["refused_after"] is not None and result["refused_after"] > 100
    assert (result["generate"], result["generate_objects"]) == ("DeviceError", 0)
    assert (result["unwrap"], result["unwrap_objects"]) == ("DeviceError", 0)
    assert result["wrap"] == CKR_DEVICE_ERROR  # refused before any output: the buffer is as
    assert result["wrap_output"] == "aa" * (len(result["wrapped"]) // 2)  # the caller left it
    assert (result["destroy"], result["destroy_objects"]) == ("DeviceError", 0)
    assert (result["set"], result["label"]) == ("DeviceError", "")  # not changed
    assert result["encrypt"] == "DeviceError"  # the key use does not start
    # Every record the token committed is whole, and none of the refused calls is in it.
    rows = token_audit.records(db)
    assert all(r["rv"] == 0 for r in rows if r["event"] in ("generate", "unwrap", "wrap"))


PRE_TRAIL_CHILD = r"""
import json, sys
from keystead.softhsm_bridge.modules import resolve
from keystead.softhsm_bridge.raw import open_raw
info = resolve("keystead")
raw = open_raw(info.path)
raw.initialize()
h = raw.open_session(int(sys.argv[1]))
out = {}
for who, pin in ((1, "87654321"), (0, "12345678"), (1, "87654321")):
    rv = raw.login(h, who, pin)
    out.setdefault(str(who), []).append(rv)
    if rv == 0:
        raw.logout(h)
print(json.dumps(out))
"""


def test_a_token_older_than_its_trail_gets_one_at_the_so_login(tmp_path):
    """A token made before tokens had a trail (no trail, no key file): the user is refused
    until the SO logs in once, which starts the trail and writes its initial key."""
    env, db, slot, _ = provision(tmp_path, "refuse")
    token_audit.audit_path(db).unlink()
    Path(f"{db}.audit-key").unlink()
    result = child(env, PRE_TRAIL_CHILD, str(slot))
    assert result == {"1": [CKR_DEVICE_ERROR, 0], "0": [0]}
    report = token_audit.verify(db, token_audit.read_key(f"{db}.audit-key"))
    assert report.ok, report.problems
    assert [r["event"] for r in token_audit.records(db)][:1] == ["login"]


def test_the_so_starts_a_new_trail_over_a_damaged_one(trail):  # noqa: F811
    """A trail that is not one any more (its header overwritten) refuses every call; the
    SO's answer is C_InitToken, which replaces the file and starts a new trail."""
    db, old_key = trail
    env = {"KEYSTEAD_CONF": str(db.parent / "ks.conf"), "PATH": "/usr/bin:/bin"}
    path = token_audit.audit_path(db)
    path.write_bytes(b"not-an-audit-trl" + path.read_bytes()[16:])
    refused = tool(env, "--slot-index", "0", "--login", "--pin", PIN, "--list-objects",
                   check=False)
    assert refused.returncode != 0 and "CKR_DEVICE_ERROR" in refused.stdout + refused.stderr
    tool(env, "--init-token", "--slot-index", "0", "--label", "anew", "--so-pin", SO_PIN)
    key = token_audit.read_key(f"{db}.audit-key")
    assert key != old_key
    report = token_audit.verify(db, key)
    assert report.ok and report.records == 1, report.problems


DELETE_WHILE_OPEN_CHILD = r"""
import json, os, sys, time
from keystead.softhsm_bridge.modules import resolve
from keystead.softhsm_bridge.ck import Attribute as A, Mechanism
from keystead.softhsm_bridge.errors import DeviceError
from keystead.softhsm_bridge.raw import open_raw
info = resolve("keystead")
raw = open_raw(info.path)
raw.initialize()
h = raw.open_session(int(sys.argv[1]))
assert raw.login(h, 1, "87654321") == 0
os.unlink(sys.argv[2])  # the trail goes while this process has it mapped
deadline = time.monotonic() + 60  # the module's thread looks once a second
out = {"refused": None}
while time.monotonic() < deadline and out["refused"] is None:
    step = "generate"
    try:
        k = raw.generate_key(h, Mechanism.AES_KEY_GEN, {A.VALUE_LEN: 32, A.TOKEN: False})
        step = "destroy"
        raw.destroy_object(h, k)
    except DeviceError:
        out["refused"] = step
out["left"] = len(raw.find_objects(h, {}))
print(json.dumps(out))
"""


def test_a_trail_deleted_while_open_is_found_and_refused(tmp_path):
    """The process that has the trail mapped keeps a file with no name: its records would
    vanish with it. The module's thread finds the missing link and later calls are refused
    (waited for as a condition, within a bound far above the one-second check)."""
    env, db, slot, _ = provision(tmp_path, "refuse")
    result = child(env, DELETE_WHILE_OPEN_CHILD, str(slot), str(token_audit.audit_path(db)))
    # A refused generation leaves no key; a refused destruction leaves the key it kept.
    assert result["refused"] in ("generate", "destroy")
    assert result["left"] == (1 if result["refused"] == "destroy" else 0)
