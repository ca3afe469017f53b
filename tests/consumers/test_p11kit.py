"""p11-kit with key pairs in the token: its proxy module (the token configured as a p11-kit
module) and `p11-kit server` with its client module, both driven by pkcs11-tool."""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from pkcs11 import Mechanism

from .certs import self_signed
from .support import BOTH, LABEL, TOOL_TIMEOUT, USER_PIN, Target, configs, tool_missing

PROXY = "/usr/lib/x86_64-linux-gnu/p11-kit-proxy.so"
CLIENT = "/usr/lib/x86_64-linux-gnu/pkcs11/p11-kit-client.so"

pytestmark = tool_missing("p11-kit", "pkcs11-tool", PROXY, CLIENT)

M = Mechanism


def _as_user(module: str) -> list[str]:
    """p11-kit reads a user's module registrations (~/.config/pkcs11/modules) except in a
    program running as root. As root (CI), the proxy's callers run in an unprivileged user
    namespace (`unshare --user`: an ordinary user ID, files still reached as their owner),
    so the proxy finds the registration exactly as it does for a user."""
    if module != PROXY or os.getuid() != 0:
        return []
    if shutil.which("unshare") is None:
        pytest.skip("unshare (util-linux) is needed to run the proxy as a non-root user")
    return ["unshare", "--user"]


def through(target: Target, module: str, env: dict[str, str], *args: str) -> str:
    """pkcs11-tool, user logged in, on the token as ``module`` (proxy or client) shows it."""
    return target.run(*_as_user(module), "pkcs11-tool", "--module", module, "--token-label",
                      LABEL, "--login", "--pin", USER_PIN, *args, extra_env=env).stdout


def proxy_env(target: Target) -> dict[str, str]:
    """A home directory whose p11-kit user configuration registers the module (the file
    name overrides a system registration of the same module, as SoftHSMv2's package has)."""
    home = target.work / "home"
    modules = home / ".config" / "pkcs11" / "modules"
    modules.mkdir(parents=True, exist_ok=True)
    (modules / f"{target.kind}.module").write_text(f"module: {target.module}\n")
    return {"HOME": str(home)}


def sign_ec_and_check(target: Target, module: str, env: dict[str, str]) -> None:
    through(target, module, env, "--keypairgen", "--key-type", "EC:prime256v1", "--id", "40",
            "--label", "via-p11kit", "--usage-sign")
    data = os.urandom(100)
    w = target.work
    (w / "digest").write_bytes(hashlib.sha256(data).digest())
    through(target, module, env, "--sign", "-m", "ECDSA", "--id", "40", "-i", str(w / "digest"),
            "-o", str(w / "sig"), "--signature-format", "openssl")
    through(target, module, env, "--read-object", "--type", "pubkey", "--id", "40",
            "-o", str(w / "pub.der"))
    pub = serialization.load_der_public_key((w / "pub.der").read_bytes())
    assert isinstance(pub, ec.EllipticCurvePublicKey)
    pub.verify((w / "sig").read_bytes(), data, ec.ECDSA(hashes.SHA256()))


def write_and_read_certificate(target: Target, module: str, env: dict[str, str]) -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    cert = self_signed(key, "via-p11kit")
    w = target.work
    (w / "cert.der").write_bytes(cert.public_bytes(serialization.Encoding.DER))
    through(target, module, env, "--write-object", str(w / "cert.der"), "--type", "cert",
            "--id", "41", "--label", "via-p11kit-cert")
    through(target, module, env, "--read-object", "--type", "cert", "--id", "41",
            "-o", str(w / "back.der"))
    assert x509.load_der_x509_certificate((w / "back.der").read_bytes()) == cert


@configs(*BOTH)
def test_proxy_module_lists_the_token(target: Target) -> None:
    env = proxy_env(target)
    out = target.run(*_as_user(PROXY), "p11-kit", "list-modules", extra_env=env).stdout
    assert re.search(rf"^\s*token: {LABEL}$", out, re.M), out
    slots = target.run(*_as_user(PROXY), "pkcs11-tool", "--module", PROXY, "-L",
                       extra_env=env).stdout
    assert f"token label        : {LABEL}" in slots


@configs(*BOTH)
def test_proxy_module_generates_and_signs(target: Target) -> None:
    target.need(M.EC_KEY_PAIR_GEN, M.ECDSA)
    sign_ec_and_check(target, PROXY, proxy_env(target))


@configs(*BOTH)
def test_proxy_module_writes_and_reads_a_certificate(target: Target) -> None:
    target.need_certificates()
    write_and_read_certificate(target, PROXY, proxy_env(target))


def _wait_listening(sock: Path, proc: subprocess.Popen[bytes]) -> None:
    """Poll until the server accepts a connection on ``sock`` (or exits, or time runs out)."""
    deadline = time.monotonic() + TOOL_TIMEOUT
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"p11-kit server exited {proc.returncode}"
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
            try:
                probe.connect(str(sock))
                return
            except (FileNotFoundError, ConnectionRefusedError):
                pass
        time.sleep(0.02)  # the next poll of the socket, not a wait for an expected duration
    raise AssertionError(f"p11-kit server did not listen on {sock}")


@pytest.fixture
def server(target: Target) -> Iterator[dict[str, str]]:
    """`p11-kit server` in the foreground exporting the token on a socket in the test's
    directory; the client's environment once the socket accepts connections."""
    sock, log = target.work / "p11kit.sock", target.work / "p11kit-server.out"
    with log.open("wb") as out:
        proc = subprocess.Popen(["p11-kit", "server", "--foreground", "--provider",
                                 target.module, "--name", str(sock), f"pkcs11:token={LABEL}"],
                                stdin=subprocess.DEVNULL, stdout=out, stderr=out,
                                env=target.environ())
    try:
        _wait_listening(sock, proc)
        yield {"P11_KIT_SERVER_ADDRESS": f"unix:path={sock}"}
    finally:
        proc.terminate()
        proc.wait(timeout=TOOL_TIMEOUT)


@configs(*BOTH)
def test_server_and_client_module_generate_and_sign(target: Target,
                                                    server: dict[str, str]) -> None:
    slots = target.run("pkcs11-tool", "--module", CLIENT, "-L", extra_env=server).stdout
    assert f"token label        : {LABEL}" in slots
    target.need(M.EC_KEY_PAIR_GEN, M.ECDSA)
    sign_ec_and_check(target, CLIENT, server)


@configs(*BOTH)
def test_server_and_client_module_write_and_read_a_certificate(target: Target,
                                                               server: dict[str, str]) -> None:
    target.need_certificates()
    write_and_read_certificate(target, CLIENT, server)
