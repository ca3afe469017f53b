"""A key without a usage limit counts in leases reserved ahead (native/token/policy.c); the
unused part of a lease is given back at the close of the token's last session and at
C_Finalize, so another process reads the exact count afterwards, not a lease of 4096."""

from __future__ import annotations

import subprocess
import sys

import pytest

from .support import CKA_KS_USAGE_COUNT, provision_token

CHILD = """
import struct, sys
from tests.robustness.support import open_token, key_template
r, slot, h = open_token(sys.argv[1])
mode = sys.argv[2]
found = r.find_objects(h, {0x3: "lease-key"})
key = found[0] if found else r.create_object(h, key_template("lease-key", True, 0, b"lease"))
if mode == "count":
    value = r.get_attributes(h, key, [COUNT]).values[COUNT]
    print(struct.unpack("=Q", value)[0])
    sys.exit(0)
for _ in range(int(sys.argv[3])):
    r.encrypt(h, 0x1087, key, b"x" * 16, r.gcm(bytes(12), b"", 128))
if mode == "close":
    r.close_session(h)
elif mode == "finalize":
    r.finalize()
""".replace("COUNT", str(CKA_KS_USAGE_COUNT))


@pytest.fixture(scope="module")
def token(tmp_path_factory):
    return provision_token(tmp_path_factory.mktemp("lease") / "tokens")


def child(env, serial: str, *args: str) -> str:
    done = subprocess.run([sys.executable, "-c", CHILD, serial, *args], env=env,
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout.strip()


def test_lease_given_back_at_session_close_and_finalize(token):
    serial, env = token
    assert child(env, serial, "count") == "0"
    child(env, serial, "close", "3")  # three uses, then the last session closes
    assert child(env, serial, "count") == "3"
    child(env, serial, "finalize", "2")  # two more, then C_Finalize with the session open
    assert child(env, serial, "count") == "5"
    child(env, serial, "close", "4097")  # a second lease taken: still exact afterwards
    assert child(env, serial, "count") == str(5 + 4097)
