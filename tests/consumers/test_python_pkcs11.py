"""python-pkcs11's own test suite, from its PyPI sdist, run against the token.

keystead runs it with ``legacy_mechanisms = on`` (its RSA tests use 1024-bit keys, its DES
tests three-key DES3) and ``wrap_policy = compat``: the suite's default RSA template asks one
key pair for every purpose and its AES wrap test unwraps a key as non-sensitive, both
CKR_TEMPLATE_INCONSISTENT under strict by design (README, "Moving from SoftHSMv2").

scripts/setup.sh downloads the sdist of the python-pkcs11 release installed in .venv into
.venv/sdists (the test downloads it there itself if it is missing). The suite runs in a
subprocess with its own environment variables (PKCS11_MODULE, PKCS11_TOKEN_LABEL,
PKCS11_TOKEN_PIN, PKCS11_TOKEN_SO_PIN; its tests/__init__.py) against a fresh token. The
target is no failure; the tests it skips because the module lacks a mechanism are compared
with the list the README gives (README, "python-pkcs11's test suite").
"""

from __future__ import annotations

import re
import subprocess
import sys
import tarfile
import xml.etree.ElementTree as ET
from collections import Counter
from importlib.metadata import version
from pathlib import Path

from keystead.softhsm_bridge.config import write_config
from keystead.softhsm_bridge.modules import KEYSTEAD, SOFTHSM2
from pkcs11 import Mechanism

from .support import LABEL, SO_PIN, USER_PIN, Target, configs, module_info

M = Mechanism
SDISTS = Path(sys.prefix) / "sdists"
SUITE_TIMEOUT = 600  # the whole suite in one subprocess (about 15 s against SoftHSMv2 here)

#: The tests python-pkcs11's suite skips against keystead, by the family of the mechanisms it
#: requires (its skip message: "Requires <mechanism numbers>") or by its own marker, with the
#: reason (the README's table lists the same). Any other skip fails the test.
KEYSTEAD_SKIPS = {
    "DSA": "DSA: FIPS 186-5 no longer approves it for signatures",
    "DH": "finite-field Diffie-Hellman: key agreement is ECDH (and X25519/X448)",
    "DES2": "two-key Triple DES: SP 800-131A disallows it; legacy_mechanisms offers "
            "three-key DES3 only",
    "DES": "single DES: broken; legacy_mechanisms offers three-key DES3 only",
    "AES_MAC": "AES CBC-MAC: not secure for variable-length messages; keystead offers CMAC",
    "ENCRYPT_DATA": "key derivation by encryption (CKM_AES_ECB/CBC_ENCRYPT_DATA): keystead "
                    "derives keys by ECDH only; a key derived from a secret key with a caller's "
                    "data would take the base key's secrecy to a value the caller chose",
    "ML_KEM": "ML-KEM (PKCS#11 3.2): keystead implements PKCS#11 3.0",
    "ML_DSA": "ML-DSA (PKCS#11 3.2): keystead implements PKCS#11 3.0",
    "SoftHSMv2 only": "the suite's own marker: the test expects SoftHSMv2's slots, tokens or "
                      "SO PIN handling",
}
#: Tests of the suite that keystead does not run, with the reason (the README lists them):
#: their fixed keys are below what keystead takes even with legacy_mechanisms = on. Each is a
#: pytest node id of the suite; the run deselects them, so a deselected test never counts as
#: passed.
KEYSTEAD_DESELECTED = {
    "tests/test_ecc.py::ECCTests::test_derive_key":
        "ECDH over P-192 (prime192v1): keystead's curves are P-256, P-384, P-521, X25519 and "
        "X448 (SP 800-186 deprecates P-192)",
    "tests/test_x509.py::X509Tests::test_verify_certificate_rsa":
        "imports a certificate's RSA-512 public key: keystead takes RSA keys from 1024 bits "
        "(with legacy_mechanisms = on) or 2048",
}
_FAMILIES = (("DSA", r"DSA"), ("DH", r"DH_PKCS|X9_42_DH"), ("DES2", r"DES2_"),
             ("DES", r"DES_"), ("AES_MAC", r"AES_MAC"),
             ("ENCRYPT_DATA", r"AES_(ECB|CBC)_ENCRYPT_DATA"), ("ML_KEM", r"ML_KEM"),
             ("ML_DSA", r"ML_DSA"))


def skip_family(msg: str) -> str | None:
    """The KEYSTEAD_SKIPS entry a skip message belongs to, or None."""
    if msg.strip() == "SoftHSMv2 only":
        return msg.strip()
    m = re.fullmatch(r"Requires ([\d, ]+)", msg.strip())
    if m is None:
        return None
    families = set()
    for number in m.group(1).split(","):
        try:
            name = M(int(number)).name
        except ValueError:
            return None
        family = next((f for f, rx in _FAMILIES if re.match(rf"(?:{rx})", name)), None)
        if family is None:
            return None
        families.add(family)
    return families.pop() if len(families) == 1 else None


def sdist() -> Path:
    """The sdist of the installed python-pkcs11 (downloaded with pip when not there yet)."""
    release = version("python-pkcs11")
    SDISTS.mkdir(exist_ok=True)
    found = sorted(SDISTS.glob(f"python[-_]pkcs11-{release}.tar.gz"))
    if not found:
        subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps",
                        "--no-binary", "python-pkcs11", f"python-pkcs11=={release}",
                        "-d", str(SDISTS)], check=True, capture_output=True, timeout=600)
        found = sorted(SDISTS.glob(f"python[-_]pkcs11-{release}.tar.gz"))
    assert found, f"no sdist of python-pkcs11 {release} in {SDISTS}"
    return found[0]


def extract_tests(dest: Path) -> Path:
    """The sdist's tests/ package alone (its pkcs11/ source tree would shadow the installed,
    compiled package)."""
    with tarfile.open(sdist()) as tar:
        members = [m for m in tar.getmembers()
                   if re.match(r"[^/]+/tests/[^/]+\.py$", m.name) and m.isfile()]
        for m in members:
            m.name = "tests/" + m.name.rsplit("/", 1)[1]
        tar.extractall(dest, members=members, filter="data")
    return dest / "tests"


def run_suite(target: Target) -> tuple[Counter[str], list[tuple[str, str]], str]:
    """Run the suite; the outcome counts, the skipped tests with their messages, and the
    summary line. Its second module (PKCS11_MODULE2, for test_multilib) is the other token,
    SoftHSMv2 on an empty directory or keystead on one."""
    suite = target.work / "python-pkcs11"
    suite.mkdir()
    extract_tests(suite)
    junit = target.work / "python-pkcs11.xml"
    other = SOFTHSM2 if target.kind == KEYSTEAD else KEYSTEAD
    second = write_config(other, target.work / "module2-tokens")
    proc = target.run(sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                      "-p", "no:xdist", "--rootdir", str(suite), "-c", "/dev/null",
                      f"--junitxml={junit}", "tests",
                      *(f"--deselect={node}" for node in
                        (KEYSTEAD_DESELECTED if target.kind == KEYSTEAD else {})),
                      cwd=suite, check=False, timeout=SUITE_TIMEOUT,
                      extra_env={"PKCS11_MODULE": target.module, "PKCS11_TOKEN_LABEL": LABEL,
                                 "PKCS11_TOKEN_PIN": USER_PIN, "PKCS11_TOKEN_SO_PIN": SO_PIN,
                                 "PKCS11_MODULE2": module_info(other).path,
                                 second.env_var: str(second.conf_path)})
    counts: Counter[str] = Counter()
    skips: list[tuple[str, str]] = []
    assert junit.exists(), proc.stdout + proc.stderr
    for case in ET.parse(junit).getroot().iter("testcase"):
        name = f"{case.get('classname')}.{case.get('name')}"
        kinds = [child.tag for child in case]
        if "failure" in kinds or "error" in kinds:
            counts["failed"] += 1
        elif "skipped" in kinds:
            skipped = case.find("skipped")
            assert skipped is not None
            msg = skipped.get("message", "")
            if skipped.get("type") == "pytest.xfail":
                counts["xfailed"] += 1
            else:
                counts["skipped"] += 1
                skips.append((name, msg))
        else:
            counts["passed"] += 1
    summary = proc.stdout.strip().splitlines()[-1] if proc.stdout.strip() else ""
    failures = [line for line in proc.stdout.splitlines() if line.startswith("FAILED ")
                or line.startswith("ERROR ")]
    assert counts["failed"] == 0, "\n".join(failures) + "\n" + proc.stdout[-6000:]
    return counts, skips, summary


@configs("keystead-compat-legacy")
def test_suite_against_keystead(target: Target) -> None:
    target.need(M.RSA_PKCS_KEY_PAIR_GEN, M.EC_KEY_PAIR_GEN, M.RSA_PKCS, M.ECDSA)
    counts, skips, summary = run_suite(target)
    print(f"python-pkcs11 {version('python-pkcs11')} against keystead: {summary}")
    undocumented = [f"{name}: {msg}" for name, msg in skips if skip_family(msg) is None]
    assert not undocumented, "skips the README does not list:\n" + "\n".join(undocumented)
    assert counts["passed"] > 0


@configs("softhsm2")
def test_suite_against_softhsm2(target: Target) -> None:
    counts, _, summary = run_suite(target)
    print(f"python-pkcs11 {version('python-pkcs11')} against SoftHSMv2: {summary}")
    assert counts["passed"] > 0
