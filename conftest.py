"""Session fixtures shared by every test suite.

``module`` is parametrised over keystead and SoftHSMv2: each is pointed at its own
temporary token directory and provisioned once per test session (a module reads its
configuration once per process, so the environment variable is set before the first
load and never changed). Tests reach tokens only through keystead.softhsm_bridge.

Module differences are data: ``@pytest.mark.requires(Mechanism.X)`` skips a module that
lacks a mechanism (keystead must have every mechanism a test requires, so for keystead it
fails instead), and ``xfail_quirk(request, module, "name")`` turns a recorded SoftHSMv2
deviation (softhsm_bridge/quirks.py) into a strict xfail with the quirk's reason.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from keystead.softhsm_bridge import quirks
from keystead.softhsm_bridge import session as bridge_session
from keystead.softhsm_bridge.ck import CKU_USER
from keystead.softhsm_bridge.config import TokenEnv
from keystead.softhsm_bridge.errors import CKR_OK, UserAlreadyLoggedIn, check
from keystead.softhsm_bridge.modules import KEYSTEAD, KNOWN_MODULES, ModuleInfo, resolve
from keystead.softhsm_bridge.provision import Token, load, prepare, provision
from keystead.softhsm_bridge.raw import RawModule

SO_PIN = "so-pin-1234"
USER_PIN = "user-pin-5678"
_labels = itertools.count(1)


@dataclass
class ModuleUnderTest:
    """One module as the tests see it: its main token, raw access, and its quirks."""

    name: str
    info: ModuleInfo
    token: Token
    raw: RawModule
    token_env: TokenEnv | None
    base: Path
    _mechs: set[int] | None = field(default=None, repr=False)

    @property
    def kind(self) -> str:
        return self.info.kind

    @property
    def slot(self) -> int:
        return self.token.slot_id

    def mechanisms(self) -> set[int]:
        """The mechanisms C_GetMechanismList reports for the main token's slot."""
        if self._mechs is None:
            self._mechs = set(self.raw.mechanism_list(self.slot))
        return self._mechs

    def fresh_token(self, prefix: str = "fresh") -> Token:
        """Provision another token in this module's directory (for lockout and PIN tests)."""
        label = f"{prefix}-{next(_labels)}"
        return provision(self.info, None, label=label, so_pin=SO_PIN, user_pin=USER_PIN)

    def has_quirk(self, name: str) -> bool:
        return quirks.has(self.info, name)


_PREPARED: dict[str, ModuleUnderTest] = {}

# Configuration each module gets for the conformance suite, beyond the token directory.
# keystead runs with its defaults, the `strict` wrap policy included: its rules guard only
# values that are secret, so known-answer scenarios with imported keys behave as PKCS#11
# says (README, "Wrap policy"); tests/attacks covers what strict refuses.
MODULE_OPTIONS: dict[str, dict[str, str]] = {}


def _module_under_test(name: str, tmp_path_factory: pytest.TempPathFactory) -> ModuleUnderTest:
    cached = _PREPARED.get(name)
    if cached is not None:
        return cached
    info = resolve(name)  # FileNotFoundError while keystead is not built: the tests error
    base = tmp_path_factory.mktemp(f"{name}-tokens")
    _, env = prepare(info, base / "tokens", **MODULE_OPTIONS.get(info.kind, {}))
    token = provision(info, None, label=f"{name}-main", so_pin=SO_PIN, user_pin=USER_PIN)
    mut = ModuleUnderTest(name, info, token, load(info), env, base)
    _PREPARED[name] = mut
    return mut


@pytest.fixture(scope="session", params=list(KNOWN_MODULES), ids=list(KNOWN_MODULES))
def module(request: pytest.FixtureRequest,
           tmp_path_factory: pytest.TempPathFactory) -> ModuleUnderTest:
    """The module under test, its main token provisioned (once per session)."""
    return _module_under_test(request.param, tmp_path_factory)


@pytest.fixture
def token(module: ModuleUnderTest) -> Token:
    """The main provisioned token of the module under test."""
    return module.token


@pytest.fixture
def raw(module: ModuleUnderTest) -> RawModule:
    """The module's raw cffi layer (already initialised)."""
    return module.raw


def _reset(module: ModuleUnderTest, token: Token) -> None:
    # Closing all sessions also logs the application out (PKCS#11 3.0 5.6), so the next
    # test starts from "no session, nobody logged in".
    module.raw.close_all_sessions(token.slot_id)


@pytest.fixture
def session(module: ModuleUnderTest) -> Iterator[Any]:
    """A python-pkcs11 RW session on the main token, user logged in; all closed after."""
    s = bridge_session.open_session(module.token, rw=True, login_as=bridge_session.USER)
    try:
        yield s
    finally:
        _reset(module, module.token)


@pytest.fixture
def rsession(module: ModuleUnderTest) -> Iterator[int]:
    """A raw RW session handle on the main token, user logged in; all closed after."""
    r = module.raw
    h = r.open_session(module.slot, rw=True)
    rv = r.login(h, CKU_USER, module.token.user_pin)
    if rv not in (CKR_OK, UserAlreadyLoggedIn.rv):
        _reset(module, module.token)
        check(rv, "C_Login")
    try:
        yield h
    finally:
        _reset(module, module.token)


@pytest.fixture
def public_session(module: ModuleUnderTest) -> Iterator[int]:
    """A raw RW session handle on the main token, nobody logged in; all closed after."""
    h = module.raw.open_session(module.slot, rw=True)
    try:
        yield h
    finally:
        _reset(module, module.token)


_QUIRK_REASON = pytest.StashKey[str]()


def _apply_quirk(request: pytest.FixtureRequest, module: ModuleUnderTest, name: str) -> None:
    q = quirks.get(module.info, name)
    if q is None:
        if name not in {n for table in quirks.QUIRKS.values() for n in table}:
            raise KeyError(f"unknown quirk {name!r}: add it to softhsm_bridge/quirks.py")
        return
    if module.kind != KEYSTEAD:
        request.node.stash[_QUIRK_REASON] = q.reason
        request.applymarker(pytest.mark.xfail(reason=q.reason, strict=True))


@pytest.fixture
def xfail_quirk(request: pytest.FixtureRequest) -> Callable[[ModuleUnderTest, str], None]:
    """``xfail_quirk(module, "name")``: a strict xfail with the quirk's reason when
    ``module`` has quirk ``name``.

    Strict: if the module stops deviating, the test XPASSes and fails, so the quirks table
    gets corrected. keystead has no quirks, so its case always asserts the spec.
    """
    return lambda module, name: _apply_quirk(request, module, name)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "requires(mechanism, ...): the module must offer these mechanisms")


@pytest.fixture(autouse=True)
def _requires(request: pytest.FixtureRequest) -> None:
    marker = request.node.get_closest_marker("requires")
    if marker is None or "module" not in request.fixturenames:
        return
    mut: ModuleUnderTest = request.getfixturevalue("module")
    missing = [m for m in marker.args if int(m) not in mut.mechanisms()]
    if not missing:
        return
    names = ", ".join(getattr(m, "name", hex(int(m))) for m in missing)
    if mut.kind == KEYSTEAD:
        pytest.fail(f"keystead must offer {names} (README, Mechanisms), "
                    "but C_GetMechanismList lacks it")
    pytest.skip(f"{mut.name} does not offer {names}")


@dataclass
class Side:
    """One module of an interop pair, with a raw RW user session open on its main token."""

    mut: ModuleUnderTest
    h: int

    @property
    def raw(self) -> RawModule:
        return self.mut.raw


@pytest.fixture(params=[("keystead", "softhsm2"), ("softhsm2", "keystead")],
                ids=["from-keystead", "to-keystead"])
def pair(request: pytest.FixtureRequest,
         tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Side, Side]]:
    """(producer, consumer): both modules loaded in this process, a session on each."""
    sides = []
    try:
        for name in request.param:
            mut = _module_under_test(name, tmp_path_factory)
            h = mut.raw.open_session(mut.slot, rw=True)
            sides.append(Side(mut, h))
            rv = mut.raw.login(h, CKU_USER, mut.token.user_pin)
            if rv not in (CKR_OK, UserAlreadyLoggedIn.rv):
                check(rv, "C_Login")
        yield sides[0], sides[1]
    finally:
        for side in sides:
            _reset(side.mut, side.mut.token)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """A quirk applied inside a fixture (``xfail_quirk`` in a fixture body) also covers a
    failure of that fixture's setup: pytest evaluates xfail marks before fixtures run, so
    without this a setup failure caused by the recorded deviation would be an error."""
    outcome = yield
    rep = outcome.get_result()
    reason = item.stash.get(_QUIRK_REASON, None)
    if reason is not None and call.when == "setup" and rep.failed:
        rep.outcome = "skipped"
        rep.wasxfail = reason


#: Tests that take seconds each, and why: the quick tier (``scripts/test.sh --quick``) leaves
#: them out; the default command and CI run them. A file path marks every test in the file;
#: ``path::name`` marks one test (all its parameters). A test may also carry
#: ``@pytest.mark.slow`` itself.
SLOW_TESTS: dict[str, str] = {
    "tests/robustness": "child processes killed, raced and scanned; valgrind and dudect",
    "tests/attacks": "every attack against three module configurations",
    "tests/manager": "whole manager lifecycles on two tokens",
    "tests/cli": "the command line end to end, the demo and the benchmark",
    "tests/consumers": "OpenSSL, GnuTLS, OpenSC, Java, p11-kit and python-pkcs11's suite in "
                       "subprocesses",
    "tests/native/test_mem_ct.py::test_no_secret_dependent_branch_or_index": "valgrind",
    "tests/native/test_gcm.py::test_no_secret_dependent_branch_or_index": "valgrind",
    "tests/native/test_sha256.py::test_no_secret_dependent_branch_or_index": "valgrind",
    "tests/native/test_rsa_ct.py": "valgrind",
    "tests/native/test_token_audit_fuzz.py": "hypothesis over whole trail files",
    "tests/native/test_rules_fuzz.py": "hypothesis over templates",
    "tests/native/test_so_login_race.py": "a race run for seconds",
    "tests/native/test_ops_pkey_sign_cavp.py": "every CAVP RSA and ECDSA signature case",
    "tests/native/test_mem_slab.py::test_every_class_and_boundary_many_blocks": "stress",
    "tests/native/test_mem_slab.py::test_interleaved_random_stress": "stress",
    "tests/native/test_bulk_pool.py::test_helpers_leave_no_round_keys_behind": "memory scan",
    "tests/native/test_store_counters.py::test_kill_9_keeps_every_acknowledged_write": "kills",
    "tests/native/test_store_counters.py::test_two_processes_never_lose_an_add": "processes",
    "tests/native/test_store_counters.py::test_two_processes_creating_objects_at_once":
        "processes",
    "tests/native/test_token_audit.py::test_a_writer_killed_mid_append_leaves_a_whole_trail":
        "kills",
    "tests/native/test_token_audit.py::test_key_use_is_written_within_seconds_without_further_calls":
        "waits for the flusher",
    "tests/native/test_token_audit.py::test_two_processes_append_to_one_trail": "processes",
    "tests/native/test_token_audit.py::test_a_process_that_dies_holding_the_lock_is_recovered_from":
        "kills",
    "tests/conformance/test_threads.py": "threads and processes for seconds",
    "tests/conformance/test_session_objects_many.py": "thousands of objects in a child",
    "tests/conformance/test_message_counter.py::test_counter_persists_across_processes_and_finalize":
        "processes",
}


def _slow_reason(nodeid: str) -> str | None:
    path, _, rest = nodeid.partition("::")
    name = rest.split("[", 1)[0]
    for key, reason in SLOW_TESTS.items():
        kpath, _, kname = key.partition("::")
        if (path == kpath or path.startswith(kpath.rstrip("/") + "/")) and kname in ("", name):
            return reason
    return None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark the tests of :data:`SLOW_TESTS` slow."""
    for item in items:
        reason = _slow_reason(item.nodeid)
        if reason is not None:
            item.add_marker(pytest.mark.slow(reason=reason))
