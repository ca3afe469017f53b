"""What every consumer test shares: a fresh token in a named configuration, and tools run
against it in subprocesses, exactly as a user would on a new machine.

A *configuration* is a module and the settings of its configuration file:

- ``keystead-strict``: keystead with its defaults (``wrap_policy = strict``);
- ``keystead-compat``: keystead with ``wrap_policy = compat`` (README, "Moving from SoftHSMv2");
- ``keystead-compat-legacy``: keystead with ``wrap_policy = compat`` and
  ``legacy_mechanisms = on`` (python-pkcs11's suite: RSA-1024 keys for every purpose, DES3);
- ``softhsm2``: SoftHSMv2 2.6.1 with a file object store.

Each test names the configurations it runs under with :func:`configs`; the ``target`` fixture
gives it a freshly initialised token there. :meth:`Target.need` states the mechanisms a
scenario needs, read from the module's own ``C_GetMechanismList`` in a subprocess: keystead
must offer them, except that a build without the key-pair mechanisms marks the scenario an
expected failure (``key pairs not in this build``) instead of failing it; SoftHSMv2 lacking one
skips the scenario.
"""

from __future__ import annotations

import functools
import json
import re
import shutil
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from keystead.softhsm_bridge.config import TokenEnv, make_token_env
from keystead.softhsm_bridge.modules import KEYSTEAD, ModuleInfo, resolve
from pkcs11 import Mechanism

SO_PIN, USER_PIN, LABEL = "12345678", "87654321", "consumer"

#: The settings of each configuration, by name (module kind, options of its configuration).
#: keystead's configurations log refused calls (README, "Configuration") to CALL_LOG beside
#: the configuration file, so that a test can read why a call was refused.
CALL_LOG = "keystead-calls.log"
_LOG = {"log_file": CALL_LOG, "log_level": "error"}
CONFIGS: dict[str, tuple[str, dict[str, str]]] = {
    "keystead-strict": (KEYSTEAD, {**_LOG}),
    "keystead-compat": (KEYSTEAD, {**_LOG, "wrap_policy": "compat"}),
    "keystead-compat-legacy": (KEYSTEAD, {**_LOG, "wrap_policy": "compat",
                                          "legacy_mechanisms": "on"}),
    "softhsm2": ("softhsm2", {}),
}

#: The mechanisms that make a build one "with key pairs": when keystead lacks a mechanism a
#: scenario needs and it is one of these, the scenario is an expected failure.
KEY_PAIR_MECHANISMS = frozenset({
    Mechanism.RSA_PKCS_KEY_PAIR_GEN, Mechanism.EC_KEY_PAIR_GEN, Mechanism.RSA_PKCS,
    Mechanism.SHA256_RSA_PKCS, Mechanism.SHA384_RSA_PKCS, Mechanism.SHA512_RSA_PKCS,
    Mechanism.SHA1_RSA_PKCS, Mechanism.RSA_PKCS_PSS, Mechanism.SHA256_RSA_PKCS_PSS,
    Mechanism.RSA_PKCS_OAEP, Mechanism.RSA_X_509, Mechanism.ECDSA, Mechanism.ECDSA_SHA1,
    Mechanism.ECDSA_SHA256, Mechanism.ECDSA_SHA384, Mechanism.ECDH1_DERIVE,
    Mechanism.EC_EDWARDS_KEY_PAIR_GEN, Mechanism.EDDSA,
})
KEY_PAIRS_MISSING = "key pairs not in this build"
CKR_ATTRIBUTE_VALUE_INVALID = 0x13

#: Time allowed to one tool run; a tool that hangs fails its test instead of the tier.
TOOL_TIMEOUT = 120


def configs(*names: str) -> Any:
    """Parametrise a test over the named configurations (the ``target`` fixture)."""
    for name in names:
        if name not in CONFIGS:
            raise KeyError(f"unknown consumer configuration {name!r}")
    return pytest.mark.parametrize("target", names, indirect=True)


BOTH = ("keystead-strict", "softhsm2")


def tool_missing(*tools: str) -> Any:
    """Skip when a tool is not installed (scripts/setup.sh installs every one of them)."""
    missing = [t for t in tools if shutil.which(t) is None and not Path(t).exists()]
    return pytest.mark.skipif(bool(missing),
                              reason=f"{', '.join(missing)} not installed: run scripts/setup.sh")


@functools.cache
def module_info(kind: str) -> ModuleInfo:
    return resolve(kind)


# In a subprocess with the target's configuration: the mechanism list of the token's slot,
# and the code C_CreateObject gives a public X.509 certificate session object (CKR_OK where
# the module has certificate objects).
_PROBE = """
import datetime, json, sys
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from pkcs11.constants import Attribute as A, CertificateType, ObjectClass
from keystead.softhsm_bridge.raw import open_raw
r = open_raw(sys.argv[1])
slot = next(s for s in r.slot_list(token_present=True) if r.token_info(s)["label"] == sys.argv[2])
key = ec.generate_private_key(ec.SECP256R1())
name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "probe")])
now = datetime.datetime.now(datetime.UTC)
cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
        .public_key(key.public_key()).serial_number(1).not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=1)).sign(key, hashes.SHA256()))
h = r.open_session(slot, rw=True)
t = r.template({A.CLASS: int(ObjectClass.CERTIFICATE),
                A.CERTIFICATE_TYPE: int(CertificateType.X_509), A.TOKEN: False,
                A.PRIVATE: False, A.SUBJECT: name.public_bytes(),
                A.VALUE: cert.public_bytes(serialization.Encoding.DER)})
rv = r.call("C_CreateObject", h, t.ptr, t.count, r.ffi.new("CK_OBJECT_HANDLE *"))
print(json.dumps({"mechanisms": sorted(set(r.mechanism_list(slot))), "certificate": rv}))
"""


@dataclass
class Target:
    """A configuration with one freshly initialised token labelled :data:`LABEL`."""

    name: str
    info: ModuleInfo
    env: TokenEnv
    work: Path
    _probe: dict[str, Any] | None = field(default=None, repr=False)

    @property
    def kind(self) -> str:
        return self.info.kind

    @property
    def module(self) -> str:
        return self.info.path

    @property
    def uri(self) -> str:
        return f"pkcs11:token={LABEL}"

    def environ(self, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        env = self.env.env()
        env.update(extra or {})
        return env

    def run(self, *args: str, extra_env: Mapping[str, str] | None = None, check: bool = True,
            stdin: str | bytes | None = None, binary: bool = False,
            cwd: Path | None = None,
            timeout: float = TOOL_TIMEOUT) -> subprocess.CompletedProcess[Any]:
        """Run a tool with this configuration selected; assert success unless ``check`` is
        False (the output is in the assertion message)."""
        proc = subprocess.run(list(args), capture_output=True, text=not binary,
                              env=self.environ(extra_env), timeout=timeout, check=False,
                              input=stdin if stdin is not None else ("" if not binary else b""),
                              cwd=cwd or self.work)
        if check:
            assert proc.returncode == 0, (
                f"{' '.join(args)} exited {proc.returncode}:\n{proc.stdout!s}\n{proc.stderr!s}")
        return proc

    def refused(self, fn: str) -> list[dict[str, Any]]:
        """keystead's log lines of the refused calls of function ``fn`` (CALL_LOG)."""
        path = self.env.conf_path.parent / CALL_LOG
        lines = [json.loads(x) for x in path.read_text().splitlines()] if path.exists() else []
        return [x for x in lines if x.get("fn") == fn and x.get("rv") != "CKR_OK"]

    # OpenSC pkcs11-tool ---------------------------------------------------------------------
    def tool(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return self.run("pkcs11-tool", "--module", self.module, *args, check=check)

    def user(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """pkcs11-tool on the token, the user logged in."""
        return self.tool("--token-label", LABEL, "--login", "--pin", USER_PIN, *args,
                         check=check)

    def init(self) -> None:
        self.tool("--init-token", "--slot-index", "0", "--label", LABEL, "--so-pin", SO_PIN)
        self.tool("--token-label", LABEL, "--login", "--login-type", "so", "--so-pin", SO_PIN,
                  "--init-pin", "--pin", USER_PIN)

    def slot_id(self) -> int:
        """The slot ID of the token (SoftHSMv2 renumbers slots: read it from the list)."""
        out = self.tool("--list-token-slots").stdout
        current = None
        for line in out.splitlines():
            m = re.match(r"Slot \d+ \((0x[0-9a-fA-F]+)\)", line)
            if m:
                current = int(m.group(1), 16)
            elif re.match(rf"\s*token label\s*:\s*{re.escape(LABEL)}\s*$", line):
                assert current is not None
                return current
        raise AssertionError(f"no slot holds token {LABEL!r}:\n{out}")

    # Mechanisms -------------------------------------------------------------------------------
    def probe(self) -> dict[str, Any]:
        if self._probe is None:
            out = self.run(sys.executable, "-c", _PROBE, self.module, LABEL).stdout
            self._probe = json.loads(out)
        return self._probe

    def mechanisms(self) -> set[int]:
        """C_GetMechanismList of the token's slot, read in a subprocess."""
        return set(self.probe()["mechanisms"])

    def need_certificates(self) -> None:
        """The scenario stores certificate objects. Certificates come with key pairs: a
        keystead build whose C_CreateObject refuses an X.509 certificate's class
        (CKR_ATTRIBUTE_VALUE_INVALID) marks it an expected failure."""
        rv = self.probe()["certificate"]
        if rv == 0:
            return
        if self.kind == KEYSTEAD and rv == CKR_ATTRIBUTE_VALUE_INVALID:
            pytest.xfail(f"{KEY_PAIRS_MISSING} (C_CreateObject of an X.509 certificate: "
                         "CKR_ATTRIBUTE_VALUE_INVALID)")
        pytest.fail(f"{self.name}: C_CreateObject of an X.509 certificate returned {rv:#x}")

    def need(self, *mechs: Mechanism) -> None:
        """The scenario needs ``mechs``: see the module docstring for what a lack does."""
        missing = [m for m in mechs if int(m) not in self.mechanisms()]
        if not missing:
            return
        names = ", ".join(f"CKM_{m.name}" for m in missing)
        if self.kind != KEYSTEAD:
            pytest.skip(f"{self.name} does not offer {names}")
        if all(m in KEY_PAIR_MECHANISMS for m in missing):
            pytest.xfail(f"{KEY_PAIRS_MISSING} ({names} not in C_GetMechanismList)")
        pytest.fail(f"keystead must offer {names} (README, Mechanisms)")


def make_target(name: str, base: Path) -> Target:
    """A fresh token directory for configuration ``name``, its token initialised."""
    kind, options = CONFIGS[name]
    info = module_info(kind)
    env = make_token_env(kind, base, **options)
    work = base / "work"
    work.mkdir(exist_ok=True)
    target = Target(name, info, env, work)
    target.init()
    return target


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path
