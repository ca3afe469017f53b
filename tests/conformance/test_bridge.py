"""The bridge itself: module resolution, configuration files, the CK_RV table, quirks data.

Not conformance scenarios of a module; these hold the tools the scenarios rely on.
"""

from __future__ import annotations

import pkcs11.exceptions as pe
import pytest
from keystead.softhsm_bridge import errors, quirks
from keystead.softhsm_bridge.config import make_token_env, write_config
from keystead.softhsm_bridge.errors import BridgeError, BridgeInternalError, rv_of
from keystead.softhsm_bridge.modules import SOFTHSM2, kind_of_path, resolve


def test_every_code_has_exactly_one_class():
    classes = [c for c in vars(errors).values()
               if isinstance(c, type) and issubclass(c, errors.PKCS11Error)
               and c is not errors.PKCS11Error]
    codes = [c.rv for c in classes]
    assert len(codes) == len(set(codes)) >= 90
    for c in classes:
        assert errors.error_for(c.rv).__class__ is c
        assert errors.rv_value(errors.rv_name(c.rv)) == c.rv


def test_unknown_and_vendor_codes_keep_rv():
    exc = errors.error_for(0x8000_0123, "C_X")
    assert type(exc) is errors.PKCS11Error and exc.rv == 0x8000_0123
    assert "CKR_VENDOR_DEFINED+0x123" in str(exc)


def test_ok_is_not_an_error():
    with pytest.raises(BridgeInternalError):
        errors.error_for(0)
    errors.check(0)


@pytest.mark.parametrize("exc, name", [
    (pe.PinIncorrect(), "CKR_PIN_INCORRECT"),
    (pe.AnotherUserAlreadyLoggedIn(), "CKR_USER_ANOTHER_ALREADY_LOGGED_IN"),
    (pe.PKCS11Error("Unmapped error code 0x1b"), "CKR_ACTION_PROHIBITED"),
    (pe.PKCS11Error("Buffer was too small. Should never see this."), "CKR_BUFFER_TOO_SMALL"),
    (errors.KeyUnextractable("C_WrapKey"), "CKR_KEY_UNEXTRACTABLE"),
])
def test_rv_of_maps_both_layers(exc, name):
    assert rv_of(exc) == errors.rv_value(name)


def test_rv_of_refuses_foreign_exceptions():
    with pytest.raises(BridgeInternalError):
        rv_of(ValueError("nothing to do with PKCS#11"))


def test_resolve_known_and_paths():
    info = resolve(SOFTHSM2)
    assert info.kind == SOFTHSM2 and info.path.endswith("libsofthsm2.so")
    assert resolve(info.path).kind == SOFTHSM2
    assert kind_of_path("/opt/x/libkeystead-pkcs11.so") == "keystead"
    assert kind_of_path("/opt/vendor/libcs_pkcs11.so") == "generic"
    with pytest.raises(BridgeError):
        resolve("no-such-module-name")
    with pytest.raises(FileNotFoundError):
        resolve("/nonexistent/lib.so")


def test_config_files(tmp_path):
    ks = write_config("keystead", tmp_path / "ks", log_level="debug")
    text = ks.conf_path.read_text()
    assert f"token_dir = {tmp_path / 'ks'}" in text
    assert "pin_kdf_cost = fast" in text and "log_level = debug" in text
    assert ks.env({})["KEYSTEAD_CONF"] == str(ks.conf_path)
    sh = make_token_env("softhsm2", tmp_path)
    text = sh.conf_path.read_text()
    assert f"directories.tokendir = {sh.token_dir}" in text
    assert "objectstore.backend = file" in text and sh.token_dir.is_dir()
    with pytest.raises(BridgeError):
        write_config("generic", tmp_path / "g")


def test_quirks_are_well_formed():
    assert quirks.QUIRKS["keystead"] == {}
    for name, q in quirks.QUIRKS["softhsm2"].items():
        assert q.name == name and q.spec and q.observed and q.evidence
        assert "(probe)" not in q.observed
    assert quirks.wrap_pad_mechanism("softhsm2") == 0x210A
    assert quirks.wrap_pad_mechanism("keystead") == 0x210B


_TOKEN_PATH = r"""
from keystead.softhsm_bridge import vendor
from keystead.softhsm_bridge.modules import KEYSTEAD, resolve
from keystead.softhsm_bridge.provision import prepare, provision
info, _ = prepare(resolve(KEYSTEAD), None)
token = provision(info, None, label="where", so_pin="12345678", user_pin="87654321")
print(vendor.token_path(token.slot_id))
"""


def test_vendor_token_path_is_the_modules_own(tmp_path):
    """The bridge finds a keystead token's file with the module's configuration code: a
    relative XDG_DATA_HOME is ignored (XDG Base Directory spec), as the module ignores it."""
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k != "KEYSTEAD_CONF"}
    env.update(HOME=str(tmp_path), XDG_DATA_HOME="relative/data")
    done = subprocess.run([sys.executable, "-c", _TOKEN_PATH], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    path = done.stdout.strip().splitlines()[-1]
    tokens = tmp_path / ".local" / "share" / "keystead" / "tokens"
    assert os.path.dirname(path) == str(tokens) and os.path.isfile(path), path
    assert not (tmp_path / "relative").exists()
