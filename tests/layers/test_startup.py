"""Start-up: a ``keystead`` command that needs no token loads neither python-pkcs11, nor
cffi's declaration parser, nor the bridge's raw layer, nor importlib.metadata; one that
does uses the PKCS#11 declarations parsed at build time (docs/manager.md, "Start-up time").

Each check runs the command in a fresh interpreter and reads ``sys.modules`` when it ends:
what was imported, not how long it took (timings belong to scripts/bench_cli.py).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

#: Modules a command that needs no token must not import.
HEAVY = ("pkcs11", "asn1crypto", "cffi", "pycparser", "importlib.metadata",
         "keystead.softhsm_bridge.raw", "keystead.softhsm_bridge.provision",
         "keystead.softhsm_bridge.session", "keystead._pkcs11_ffi", "keystead.bench")

_PROBE = """
import atexit, json, sys
def report():
    sys.__stderr__.write("\\nMODULES " + json.dumps(sorted(sys.modules)) + "\\n")
atexit.register(report)
from keystead.manager.cli import main
sys.argv = ["keystead", *sys.argv[1:]]
main()
"""


def _modules_after(args: list[str], env: dict[str, str]) -> set[str]:
    done = subprocess.run([sys.executable, "-c", _PROBE, *args], env=env,
                          capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    line = [x for x in done.stderr.splitlines() if x.startswith("MODULES ")][-1]
    return set(json.loads(line.removeprefix("MODULES ")))


@pytest.fixture(scope="module")
def env(tmp_path_factory) -> dict[str, str]:
    """A catalogue made by ``keystead init`` with one key row, on a token directory."""
    work = tmp_path_factory.mktemp("startup")
    (work / "tokens").mkdir()
    (work / "keystead.conf").write_text(f"token_dir = {work / 'tokens'}\npin_kdf_cost = fast\n")
    environ = {k: v for k, v in os.environ.items() if not k.startswith("KEYSTEAD_")}
    environ.update({"KEYSTEAD_CONF": str(work / "keystead.conf"),
                    "KEYSTEAD_CATALOGUE": str(work / "catalogue.db"),
                    "KEYSTEAD_MODULE_NAME": "keystead", "KEYSTEAD_TOKEN": "startup",
                    "KEYSTEAD_SO_PIN": "startup-so-1234", "KEYSTEAD_PIN": "startup-user-1234",
                    "KEYSTEAD_MANAGER_PIN": "startup-manager-1234"})
    for args in (["init"], ["token", "init"]):
        done = subprocess.run([sys.executable, "-c",
                               "from keystead.manager.cli import main; main()", *args],
                              env=environ, capture_output=True, text=True, check=False)
        assert done.returncode == 0, done.stderr
    return environ

#: Modules a command that reads the catalogue only does not import either: keystead's
#: extension (the lifecycle table is read from it on first use), the host name (an audit
#: record's), temporary files (outputs, drill mode), tracebacks (KEYSTEAD_DEBUG), hashing.
READ_ONLY_LAZY = ("keystead._core", "_cffi_backend", "socket", "tempfile", "traceback",
                  "hashlib")


@pytest.mark.parametrize("args", [
    ["--help"], ["key", "list"], ["key", "list", "--json"], ["key", "policy", "table"],
    ["audit", "show", "--limit", "5"], ["rotate", "--due", "--dry-run"], ["module-path"],
], ids=" ".join)
def test_a_command_that_only_reads_loads_its_helpers_on_first_use(env, args):
    loaded = _modules_after(args, env)
    assert sorted(m for m in READ_ONLY_LAZY if m in loaded) == []
    assert "keystead.manager.cli" in loaded


def test_the_lifecycle_table_is_still_the_tokens_when_first_used():
    code = ("import sys; from keystead.manager import TRANSITIONS, lifecycle; "
            "print('keystead._core' in sys.modules, lifecycle.TRANSITIONS is TRANSITIONS, "
            "lifecycle.edges_for(None) is TRANSITIONS)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True)
    assert done.stdout.split() == ["True", "True", "True"]


@pytest.mark.parametrize("args", [
    ["--help"], ["key", "list"], ["key", "list", "--json"], ["key", "policy", "table"],
    ["audit", "show", "--limit", "5"], ["rotate", "--due", "--dry-run"], ["module-path"],
], ids=" ".join)
def test_a_command_without_a_token_imports_nothing_heavy(env, args):
    loaded = _modules_after(args, env)
    heavy = sorted(m for m in loaded
                   if m in HEAVY or m.startswith(tuple(h + "." for h in HEAVY)))
    assert heavy == []
    assert "keystead.manager.cli" in loaded  # the probe ran the real command


def test_a_command_on_the_token_does_not_load_python_pkcs11(env):
    loaded = _modules_after(["key", "create", "startup/dek"], env)
    assert "keystead.softhsm_bridge.raw" in loaded and "keystead._pkcs11_ffi" in loaded
    assert not [m for m in loaded if m.split(".")[0] in ("pkcs11", "asn1crypto", "cffi")]
    loaded = _modules_after(["key", "show", "--usage", "startup/dek"], env)
    assert "keystead.softhsm_bridge.raw" in loaded and "pkcs11" not in loaded
    for args in (["key", "show", "startup/dek"], ["key", "policy", "show", "startup/dek"],
                 ["audit", "show", "--key", "startup/dek"]):
        loaded = _modules_after(args, env)  # a key to show now exists: still nothing heavy
        assert not [m for m in loaded if m in HEAVY or m.startswith(
            tuple(h + "." for h in HEAVY))], args


def test_a_command_on_the_token_loads_no_fallbacks(env):
    """The host name of audit records comes from uname (no socket); pkg-config (subprocess,
    shutil) is for finding SoftHSMv2, importlib.resources for a cdef parsed at run time."""
    loaded = _modules_after(["key", "create", "startup/fallbacks"], env)
    assert "keystead.softhsm_bridge.raw" in loaded
    assert [m for m in ("socket", "subprocess", "importlib.resources") if m in loaded] == []


def test_python_pkcs11_is_refused_a_module_the_raw_layer_initialised_alone(env):
    code = """
from keystead.softhsm_bridge import BridgeError, load, pkcs11_lib, raw_only_process, resolve
raw_only_process()
info = resolve("keystead")
load(info)
try:
    pkcs11_lib(info)
except BridgeError as exc:
    print("refused:", exc)
"""
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                          text=True, check=True)
    assert done.stdout.startswith("refused: ") and "raw layer alone" in done.stdout


def test_the_raw_layer_uses_the_declarations_parsed_at_build_time():
    code = ("import sys; from keystead.softhsm_bridge import raw; "
            "print(raw.cdef_source()); print('cffi' in sys.modules)")
    environ = {k: v for k, v in os.environ.items() if k != "KEYSTEAD_PKCS11_CDEF"}
    done = subprocess.run([sys.executable, "-c", code], env=environ, capture_output=True,
                          text=True, check=True)
    source, parser_loaded = done.stdout.split()
    assert source == "keystead._pkcs11_ffi"
    assert parser_loaded == "False"  # cffi's Python package (the cdef parser) never loaded


def test_a_cdef_named_in_the_environment_is_parsed_instead(tmp_path):
    repo = Path(__file__).resolve().parents[2]
    cdef = tmp_path / "pkcs11.cdef"
    cdef.write_text((repo / "native" / "include" / "pkcs11.cdef").read_text())
    code = ("from keystead.softhsm_bridge import raw; print(raw.cdef_source()); "
            "print(raw.get_ffi().sizeof('CK_GCM_PARAMS') > 0)")
    done = subprocess.run([sys.executable, "-c", code],
                          env={**os.environ, "KEYSTEAD_PKCS11_CDEF": str(cdef)},
                          capture_output=True, text=True, check=True)
    assert done.stdout.split() == [str(cdef), "True"]
