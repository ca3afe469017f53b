"""KEYSTEAD_CONF parsing (token/config.h): every key, the defaults, and error messages that
name the file, the line and the problem."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from keystead.core import ffi, lib


def load() -> tuple[int, object, str]:
    cfg = ffi.new("ks_config *")
    err = ffi.new("char[1024]")
    rv = lib.ks_config_load(cfg, err, len(err))
    return rv, cfg, ffi.string(err).decode()


def s(field: object) -> str:
    return ffi.string(field).decode()


@pytest.fixture
def conf(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """Write a configuration file and point KEYSTEAD_CONF at it."""
    path = tmp_path / "keystead.conf"

    def write(text: str) -> Path:
        path.write_text(text)
        monkeypatch.setenv("KEYSTEAD_CONF", str(path))
        return path

    return write


def test_default_dir_from_xdg(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KEYSTEAD_CONF", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    rv, cfg, err = load()
    assert (rv, err) == (lib.CKR_OK, "")
    want = tmp_path / "xdg" / "keystead" / "tokens"
    assert s(cfg.token_dir) == str(want)
    assert stat.S_IMODE(want.stat().st_mode) == 0o700
    assert (cfg.in_memory, s(cfg.log_file), s(cfg.source)) == (0, "", "")
    assert cfg.log_level == lib.KS_LOG_ERROR
    assert cfg.pin_kdf == lib.KS_PIN_KDF_SCRYPT
    assert cfg.pin_kdf_cost == lib.KS_KDF_COST_DEFAULT
    assert cfg.max_pin_attempts == 10
    assert cfg.wrap_policy == lib.KS_WRAP_POLICY_STRICT
    assert (cfg.kwp_alias_softhsm, cfg.audit_mode) == (0, lib.KS_AUDIT_COUNTS)
    assert cfg.audit_failure_log == 0  # an unrecordable operation is refused
    assert cfg.rsa_implicit_rejection == 1
    assert cfg.legacy_mechanisms == 0  # DES3, MD5 and RSA-1024 are off


def test_default_dir_from_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KEYSTEAD_CONF", raising=False)
    monkeypatch.delenv("XDG_DATA_HOME", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    rv, cfg, _ = load()
    assert rv == lib.CKR_OK
    assert s(cfg.token_dir) == str(tmp_path / ".local/share/keystead/tokens")
    assert os.path.isdir(s(cfg.token_dir))
    monkeypatch.setenv("XDG_DATA_HOME", "relative/ignored")  # XDG spec: must be absolute
    assert s(load()[1].token_dir) == str(tmp_path / ".local/share/keystead/tokens")


def test_every_key(conf, tmp_path: Path) -> None:
    path = conf(
        "# keystead configuration\n"
        "\n"
        f"  token_dir   =   {tmp_path}/tok  \n"
        f"log_file={tmp_path}/calls.log\n"
        "log_level = debug\n"
        "\t# indented comment\n"
        "pin_kdf = pbkdf2\n"
        "pin_kdf_cost = fast\n"
        "max_pin_attempts = 100\n"
        "wrap_policy = compat\n"
        "kwp_alias = softhsm\n"
        "audit_mode = per-op\r\n"
        "audit_failure = log\n"
        "rsa_implicit_rejection = off\n"
        "legacy_mechanisms = on\n"
    )
    rv, cfg, err = load()
    assert (rv, err) == (lib.CKR_OK, "")
    assert s(cfg.token_dir) == f"{tmp_path}/tok" and os.path.isdir(f"{tmp_path}/tok")
    assert s(cfg.log_file) == f"{tmp_path}/calls.log"
    assert s(cfg.source) == str(path)
    assert cfg.log_level == lib.KS_LOG_DEBUG
    assert (cfg.pin_kdf, cfg.pin_kdf_cost) == (lib.KS_PIN_KDF_PBKDF2, lib.KS_KDF_COST_FAST)
    assert cfg.max_pin_attempts == 100
    assert cfg.wrap_policy == lib.KS_WRAP_POLICY_COMPAT
    assert (cfg.kwp_alias_softhsm, cfg.audit_mode) == (1, lib.KS_AUDIT_PER_OP)
    assert cfg.audit_failure_log == 1
    assert cfg.rsa_implicit_rejection == 0
    assert cfg.legacy_mechanisms == 1


def test_comment_after_a_value(conf, tmp_path: Path) -> None:
    """A '#' after a space or tab starts a comment; a '#' inside a word is the value's."""
    conf(f"wrap_policy = compat   # SoftHSMv2 scripts\n"
         f"token_dir = {tmp_path}/a#b\t# the path holds a '#'\n"
         "log_level = info# not a comment\n")
    rv, cfg, err = load()
    assert rv == lib.CKR_FUNCTION_FAILED
    assert err.endswith(":3: bad value 'info# not a comment' for log_level "
                        "(expected off|error|info|debug)")
    conf(f"wrap_policy = compat   # SoftHSMv2 scripts\n"
         f"token_dir = {tmp_path}/a#b\t# the path holds a '#'\n"
         "max_pin_attempts = 3 #\n")
    rv, cfg, err = load()
    assert (rv, err) == (lib.CKR_OK, "")
    assert cfg.wrap_policy == lib.KS_WRAP_POLICY_COMPAT
    assert s(cfg.token_dir) == f"{tmp_path}/a#b" and cfg.max_pin_attempts == 3
    conf("token_dir = # nothing\n")
    assert load()[2].endswith(":1: empty value for token_dir")


def test_memory_and_relative_paths(conf, tmp_path: Path, monkeypatch) -> None:
    conf("token_dir = :memory:\nlog_file = logs/k.log\n")
    rv, cfg, _ = load()
    assert rv == lib.CKR_OK
    assert (cfg.in_memory, s(cfg.token_dir)) == (1, "")
    assert s(cfg.log_file) == f"{tmp_path}/logs/k.log"  # relative to the file's directory
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    conf("token_dir = ~/t\n")
    assert s(load()[1].token_dir) == f"{tmp_path}/home/t"
    conf("token_dir = rel/dir\n")
    assert s(load()[1].token_dir) == f"{tmp_path}/rel/dir"


BAD = [
    ("tokendir = /x\n", 1, "unknown key 'tokendir' (expected token_dir, log_file"),
    ("# c\n\ntoken_dir /x\n", 3, "missing '=' (expected `key = value`)"),
    ("= value\n", 1, "missing key before '='"),
    ("log_level = loud\n", 1, "bad value 'loud' for log_level (expected off|error|info|debug)"),
    ("pin_kdf = argon2\n", 1, "bad value 'argon2' for pin_kdf (expected scrypt|pbkdf2)"),
    ("pin_kdf_cost = slow\n", 1, "bad value 'slow' for pin_kdf_cost (expected default|fast)"),
    ("max_pin_attempts = 0\n", 1, "bad value '0' for max_pin_attempts (expected 1..100)"),
    ("max_pin_attempts = 101\n", 1, "bad value '101' for max_pin_attempts"),
    ("max_pin_attempts = 5x\n", 1, "bad value '5x' for max_pin_attempts"),
    ("max_pin_attempts = -1\n", 1, "bad value '-1' for max_pin_attempts"),
    ("wrap_policy = lax\n", 1, "bad value 'lax' for wrap_policy (expected strict|compat)"),
    ("kwp_alias = yes\n", 1, "bad value 'yes' for kwp_alias (expected none|softhsm)"),
    ("audit_mode = all\n", 1, "bad value 'all' for audit_mode (expected counts|per-op)"),
    ("rsa_implicit_rejection = yes\n", 1,
     "bad value 'yes' for rsa_implicit_rejection (expected off|on)"),
    ("audit_failure = ignore\n", 1,
     "bad value 'ignore' for audit_failure (expected refuse|log)"),
    ("legacy_mechanisms = yes\n", 1,
     "bad value 'yes' for legacy_mechanisms (expected off|on)"),
    ("token_dir =\n", 1, "empty value for token_dir"),
    ("log_level = info\n\nlog_level = info\n", 3,
     "duplicate key 'log_level' (first set on line 1)"),
    ("token_dir = /" + "a" * 5000 + "\n", 1, "line longer than 4096 bytes"),
    ("token_dir=" + "a" * 4080 + "\n", 1, "bad value for token_dir (path longer than 4095"),
]


@pytest.mark.parametrize(("text", "line", "problem"), BAD, ids=[b[2][:30] for b in BAD])
def test_errors_name_file_line_and_problem(conf, text: str, line: int, problem: str) -> None:
    path = conf(text)
    rv, _, err = load()
    assert rv == lib.CKR_FUNCTION_FAILED
    assert err.startswith(f"{path}:{line}: {problem}")


def test_missing_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KEYSTEAD_CONF", str(tmp_path / "nope.conf"))
    rv, _, err = load()
    assert rv == lib.CKR_FUNCTION_FAILED
    assert err == f"{tmp_path}/nope.conf: missing file (named by KEYSTEAD_CONF): " \
                  "No such file or directory"


def test_unreadable_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KEYSTEAD_CONF", str(tmp_path))  # a directory cannot be read as one
    rv, _, err = load()
    assert rv == lib.CKR_FUNCTION_FAILED
    assert err.startswith(f"{tmp_path}: unreadable file: ")


def test_token_dir_that_cannot_be_created(conf, tmp_path: Path) -> None:
    (tmp_path / "plain").write_text("")
    path = conf("log_level = info\ntoken_dir = plain/sub\n")
    rv, _, err = load()
    assert rv == lib.CKR_FUNCTION_FAILED
    assert err == f"{path}:2: token_dir '{tmp_path}/plain/sub': cannot create: Not a directory"


def test_small_error_buffer_is_never_overrun(conf) -> None:
    conf("bogus = 1\n")
    cfg = ffi.new("ks_config *")
    err = ffi.new("char[16]", b"\xff" * 16)
    assert lib.ks_config_load(cfg, err, 8) == lib.CKR_FUNCTION_FAILED
    assert ffi.buffer(err)[7:8] == b"\0" and ffi.buffer(err)[8:] == b"\xff" * 8


def test_empty_env_var_means_defaults(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KEYSTEAD_CONF", "")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    rv, cfg, _ = load()
    assert rv == lib.CKR_OK and s(cfg.source) == ""


def parse(text: bytes, name: str = "/etc/keystead/k.conf") -> tuple[int, object, str]:
    cfg = ffi.new("ks_config *")
    err = ffi.new("char[512]")
    rv = lib.ks_config_parse(cfg, name.encode(), text, len(text), err, len(err))
    return rv, cfg, ffi.string(err).decode()


def test_parse_from_memory() -> None:
    rv, cfg, err = parse(b"token_dir = tokens\nmax_pin_attempts = 4")  # no final newline
    assert (rv, err) == (lib.CKR_OK, "")
    assert s(cfg.token_dir) == "/etc/keystead/tokens" and cfg.max_pin_attempts == 4
    assert s(cfg.source) == "/etc/keystead/k.conf"
    assert parse(b"")[0] == lib.CKR_OK


def test_nul_byte_is_refused() -> None:
    rv, _, err = parse(b"log_level = info\nlog_level\0 = x\n")
    assert rv == lib.CKR_FUNCTION_FAILED
    assert err == "/etc/keystead/k.conf:2: NUL byte in line"


@pytest.mark.parametrize("seed", range(30))
def test_random_input_never_crashes(seed: int) -> None:
    import random

    rnd = random.Random(seed)
    alphabet = b"= #\n\t\r\0abcdefgiklmnoprstuwxy_:~/.-0123456789"
    text = bytes(rnd.choice(alphabet) for _ in range(rnd.randrange(0, 400)))
    rv, _, err = parse(text)
    assert rv == lib.CKR_OK or err.startswith("/etc/keystead/k.conf:")
