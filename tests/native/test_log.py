"""The JSON call log (token/log.h) and ks_rv_name."""

from __future__ import annotations

import json
import re
import threading
from pathlib import Path

import pytest
from keystead.core import ffi, lib

NA = 2**64 - 1  # (CK_ULONG)-1: not applicable
HEADER = Path(__file__).resolve().parents[2] / "native" / "include" / "pkcs11.h"


@pytest.fixture
def log_to(tmp_path: Path):
    path = tmp_path / "calls.log"

    def open_(level: int) -> Path:
        cfg = ffi.new("ks_config *")
        cfg.log_file = str(path).encode()
        cfg.log_level = level
        assert lib.ks_log_open(cfg) == lib.CKR_OK
        return path

    yield open_
    lib.ks_log_close()


def lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_error_level_logs_only_refusals(log_to) -> None:
    path = log_to(lib.KS_LOG_ERROR)
    lib.ks_log_call(b"C_Encrypt", 5, 0x1087, lib.CKR_OK, NA, ffi.NULL)
    lib.ks_log_call(b"C_CreateObject", 7, NA, lib.CKR_ATTRIBUTE_VALUE_INVALID, 0x161,
                    b'value "len" must be\n16, 24 or 32')
    lib.ks_log_message(lib.KS_LOG_INFO, b"not at this level")
    lib.ks_log_message(lib.KS_LOG_ERROR, b"conf: bad")
    got = lines(path)
    assert len(got) == 2
    call, msg = got
    assert call["fn"] == "C_CreateObject" and call["session"] == 7
    assert call["rv"] == "CKR_ATTRIBUTE_VALUE_INVALID" and call["attr"] == "0x00000161"
    assert call["why"] == 'value "len" must be\n16, 24 or 32'
    assert "mechanism" not in call
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", call["time"])
    assert isinstance(call["pid"], int)
    assert msg["level"] == "error" and msg["msg"] == "conf: bad"
    assert path.stat().st_mode & 0o777 == 0o600


def test_info_level_logs_every_call(log_to) -> None:
    path = log_to(lib.KS_LOG_INFO)
    lib.ks_log_call(b"C_Encrypt", 5, 0x1087, lib.CKR_OK, NA, ffi.NULL)
    (call,) = lines(path)
    assert call == {"time": call["time"], "pid": call["pid"], "fn": "C_Encrypt",
                    "session": 5, "mechanism": "0x00001087", "rv": "CKR_OK"}


def test_off_and_closed_write_nothing(log_to) -> None:
    path = log_to(lib.KS_LOG_OFF)
    lib.ks_log_call(b"C_Login", 1, NA, lib.CKR_PIN_INCORRECT, NA, ffi.NULL)
    assert not path.exists() or path.read_text() == ""
    lib.ks_log_close()
    lib.ks_log_call(b"C_Login", 1, NA, lib.CKR_PIN_INCORRECT, NA, ffi.NULL)


def test_threads_never_interleave_lines(log_to) -> None:
    path = log_to(lib.KS_LOG_DEBUG)
    why = b"x" * 300

    def work(n: int) -> None:
        for i in range(300):
            lib.ks_log_call(b"C_Sign", n, i, lib.CKR_DATA_LEN_RANGE, NA, why)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    got = lines(path)
    assert len(got) == 8 * 300
    assert all(line["why"] == "x" * 300 for line in got)


def test_rv_name_covers_every_code_of_the_header() -> None:
    codes = re.findall(r"#define (CKR_\w+) (0x[0-9A-Fa-f]+)UL", HEADER.read_text())
    assert len(codes) > 90
    for name, value in codes:
        if name != "CKR_VENDOR_DEFINED":
            assert ffi.string(lib.ks_rv_name(int(value, 16))).decode() == name
    assert ffi.string(lib.ks_rv_name(0x80000005)) == b"CKR_VENDOR_DEFINED+0x5"
    assert ffi.string(lib.ks_rv_name(0x7777)) == b"unknown"
