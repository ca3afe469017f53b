"""PINs in the store (token/store.h): C_InitToken, C_InitPIN, C_SetPIN and C_Login semantics.

The store's failure counters are persisted: each test that counts reopens the database to
prove the count survived. KDF costs are stored per wrap, so a token made under one cost opens
under any configuration.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from keystead.core import ffi, lib

from tests.native.store_support import (
    LABEL,
    SO_PIN,
    USER_PIN,
    Store,
    bytes_on_disk,
    make_config,
    ok,
    secret_key,
)

KEY_VALUE = b"K" * 16 + b"known-key-value!"


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "token-0.sqlite"


def test_login_before_initialisation(db: Path) -> None:
    with Store(db) as s:
        assert s.login(lib.CKU_SO, SO_PIN)[0] == lib.CKR_USER_PIN_NOT_INITIALIZED
        ok(s.init_token())
        assert s.login(lib.CKU_USER, USER_PIN)[0] == lib.CKR_USER_PIN_NOT_INITIALIZED
        assert s.login(lib.CKU_CONTEXT_SPECIFIC, SO_PIN)[0] == lib.CKR_USER_TYPE_INVALID
        assert s.login(7, SO_PIN)[0] == lib.CKR_USER_TYPE_INVALID


def test_init_token_sets_label_and_state(db: Path) -> None:
    with Store(db) as s:
        ok(s.init_token(label=b"my label".ljust(32)))
        m = s.meta()
        assert (m.initialized, m.user_pin_set) == (1, 0)
        assert ffi.buffer(m.label)[:] == b"my label".ljust(32)


def test_so_and_user_get_the_same_token_key(db: Path) -> None:
    with Store(db) as s:
        key = s.provision()
        assert s.meta().user_pin_set == 1
        assert s.login(lib.CKU_USER, USER_PIN) == (lib.CKR_OK, key)
        assert s.login(lib.CKU_SO, SO_PIN) == (lib.CKR_OK, key)
        # The SO's PIN is not the user's and the reverse.
        assert s.login(lib.CKU_USER, SO_PIN)[0] == lib.CKR_PIN_INCORRECT
        assert s.login(lib.CKU_SO, USER_PIN)[0] == lib.CKR_PIN_INCORRECT


def test_wrong_pin_counts_persist_and_reset(db: Path) -> None:
    with Store(db, cfg=make_config(max_attempts=5)) as s:
        s.provision()
        for _ in range(2):
            assert s.login(lib.CKU_USER, b"wrong")[0] == lib.CKR_PIN_INCORRECT
        assert s.login(lib.CKU_SO, b"wrong")[0] == lib.CKR_PIN_INCORRECT
    with Store(db, create=False, cfg=make_config(max_attempts=5)) as s:
        m = s.meta()
        assert (m.user_failures, m.so_failures, m.max_attempts) == (2, 1, 5)
        ok(s.login(lib.CKU_USER, USER_PIN)[0])
        assert (s.meta().user_failures, s.meta().so_failures) == (0, 1)


def test_lockout_at_max_attempts_survives_reopen(db: Path) -> None:
    with Store(db, cfg=make_config(max_attempts=3)) as s:
        s.provision()
        for _ in range(3):
            rv, key = s.login(lib.CKU_USER, b"0000")
            assert rv == lib.CKR_PIN_INCORRECT and key == bytes(32)
        rv, key = s.login(lib.CKU_USER, USER_PIN)
        assert rv == lib.CKR_PIN_LOCKED and key == bytes(32)
    with Store(db, create=False, cfg=make_config(max_attempts=3)) as s:
        assert s.login(lib.CKU_USER, USER_PIN)[0] == lib.CKR_PIN_LOCKED
        assert s.meta().user_failures == 3
        # The SO unlocks the user by setting a new PIN (C_InitPIN).
        rv, key = s.login(lib.CKU_SO, SO_PIN)
        ok(rv)
        ok(s.init_pin(key, b"new user pin"))
        assert s.login(lib.CKU_USER, b"new user pin") == (lib.CKR_OK, key)


def test_so_lockout(db: Path) -> None:
    with Store(db, cfg=make_config(max_attempts=2)) as s:
        s.provision()
        for _ in range(2):
            assert s.login(lib.CKU_SO, b"bad")[0] == lib.CKR_PIN_INCORRECT
        assert s.login(lib.CKU_SO, SO_PIN)[0] == lib.CKR_PIN_LOCKED
        assert s.init_token() == lib.CKR_PIN_LOCKED
        ok(s.login(lib.CKU_USER, USER_PIN)[0])  # the user is not affected


def test_set_pin_rewraps_only_the_token_key(db: Path) -> None:
    with Store(db) as s:
        key = s.provision()
        handle = s.put(secret_key(KEY_VALUE), key)[1]
        assert s.set_pin(lib.CKU_USER, b"wrong", b"x") == lib.CKR_PIN_INCORRECT
        assert s.meta().user_failures == 1
        ok(s.set_pin(lib.CKU_USER, USER_PIN, b"changed"))
        assert s.meta().user_failures == 0
        assert s.login(lib.CKU_USER, USER_PIN)[0] == lib.CKR_PIN_INCORRECT
        assert s.login(lib.CKU_USER, b"changed") == (lib.CKR_OK, key)
        ok(s.set_pin(lib.CKU_SO, SO_PIN, b"new so"))
        assert s.login(lib.CKU_SO, b"new so") == (lib.CKR_OK, key)
        assert s.load(handle, key)[1][lib.CKA_VALUE] == KEY_VALUE
        assert s.set_pin(9, SO_PIN, b"x") == lib.CKR_USER_TYPE_INVALID
    disk = bytes_on_disk(db)
    assert key not in disk and KEY_VALUE not in disk


def test_old_wraps_are_gone_after_set_pin(db: Path) -> None:
    with Store(db) as s:
        s.provision()
        con = sqlite3.connect(db)
        old = con.execute("SELECT wrapped FROM pin_wraps WHERE who = 1").fetchone()[0]
        con.close()
        assert old in bytes_on_disk(db)
        ok(s.set_pin(lib.CKU_USER, USER_PIN, b"changed"))
        assert old not in bytes_on_disk(db)


def test_reinit_needs_the_so_pin_and_erases_everything(db: Path) -> None:
    with Store(db) as s:
        key = s.provision()
        handle = s.put(secret_key(KEY_VALUE), key)[1]
        ok(s.counter_add(handle, b"usage", 5)[0])
        assert s.init_token(b"not the so pin") == lib.CKR_PIN_INCORRECT
        assert s.meta().so_failures == 1
        assert s.load(handle, key)[0] == lib.CKR_OK  # nothing erased by a refused init
        ok(s.init_token(SO_PIN, b"second life".ljust(32)))
        m = s.meta()
        assert (m.initialized, m.user_pin_set, m.so_failures, m.user_failures) == (1, 0, 0, 0)
        assert ffi.buffer(m.label)[:] == b"second life".ljust(32)
        assert s.find() == (lib.CKR_OK, [])
        assert s.load(handle, None)[0] == lib.CKR_OBJECT_HANDLE_INVALID
        # The old token key is no key of this token any more.
        assert s.load(handle, key)[0] == lib.CKR_USER_NOT_LOGGED_IN
        rv, new_key = s.login(lib.CKU_SO, SO_PIN)
        ok(rv)
        assert new_key != key
        # The old token key no longer passes the key check: C_InitPIN with it is refused.
        assert s.init_pin(key) == lib.CKR_USER_NOT_LOGGED_IN
        ok(s.init_pin(new_key))
    assert KEY_VALUE not in bytes_on_disk(db)


@pytest.mark.parametrize("pbkdf2", [False, True], ids=["scrypt", "pbkdf2"])
def test_kdf_cost_is_stored_per_wrap(db: Path, pbkdf2: bool) -> None:
    with Store(db, cfg=make_config(fast=True, pbkdf2=pbkdf2)) as s:
        key = s.provision()
    con = sqlite3.connect(db)
    row = con.execute("SELECT kdf, n, r, p, iterations FROM pin_wraps WHERE who = 1").fetchone()
    con.close()
    assert row == ((1, 0, 0, 0, 1000) if pbkdf2 else (0, 16, 1, 1, 0))
    # Opened under the default (slow) cost and the other KDF: the stored parameters rule.
    with Store(db, create=False, cfg=make_config(fast=False, pbkdf2=not pbkdf2)) as s:
        assert s.login(lib.CKU_USER, USER_PIN) == (lib.CKR_OK, key)


def test_default_costs_are_the_documented_ones(db: Path) -> None:
    with Store(db, cfg=make_config(fast=False)) as s:
        ok(s.init_token())
    con = sqlite3.connect(db)
    row = con.execute("SELECT kdf, n, r, p FROM pin_wraps WHERE who = 0").fetchone()
    con.close()
    assert row == (0, 2**15, 8, 1)


def test_damaged_kdf_parameters_are_refused(db: Path) -> None:
    with Store(db) as s:
        s.provision()
        con = sqlite3.connect(db)
        con.execute("UPDATE pin_wraps SET n = ? WHERE who = 1", (2**40,))
        con.commit()
        con.close()
        assert s.login(lib.CKU_USER, USER_PIN)[0] == lib.CKR_DEVICE_ERROR


def test_empty_pin_is_a_pin(db: Path) -> None:
    with Store(db) as s:
        ok(s.init_token(b""))
        assert s.login(lib.CKU_SO, b"x")[0] == lib.CKR_PIN_INCORRECT
        ok(s.login(lib.CKU_SO, b"")[0])


def test_label_is_stored_verbatim(db: Path) -> None:
    with Store(db) as s:
        ok(s.init_token(label=LABEL))
    with Store(db, create=False) as s:
        m = s.meta()
        assert ffi.buffer(m.label)[:] == LABEL
