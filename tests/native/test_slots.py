"""Slots (token/slots.h): one slot per initialised token, one fresh slot always last, small
ids kept in the file names so they stay the same from run to run."""

from __future__ import annotations

from pathlib import Path

import pytest
from keystead.core import ffi, lib

from tests.native.store_support import Store, make_config, ok


def scan(cfg, max_: int = 64) -> tuple[int, list[tuple[int, str, int]]]:
    out = ffi.new("ks_slot_entry[]", max(max_, 1))
    count = ffi.new("size_t *")
    rv = lib.ks_slots_scan(cfg, out, max_, count)
    if rv != lib.CKR_OK:
        return rv, [count[0]]
    return rv, [(out[i].id, ffi.string(out[i].path).decode(), out[i].initialized)
                for i in range(count[0])]


@pytest.fixture
def cfg(tmp_path: Path):
    c = make_config()
    c.token_dir = str(tmp_path).encode()
    return c


def init(path: str | Path, cfg) -> None:
    with Store(path, cfg=cfg) as s:
        ok(s.init_token())


def test_empty_directory_has_fresh_slot_zero(cfg, tmp_path: Path) -> None:
    assert scan(cfg) == (lib.CKR_OK, [(0, f"{tmp_path}/token-0.sqlite", 0)])


def test_fresh_slot_follows_the_largest_initialised_id(cfg, tmp_path: Path) -> None:
    init(tmp_path / "token-0.sqlite", cfg)
    assert scan(cfg)[1] == [(0, f"{tmp_path}/token-0.sqlite", 1),
                            (1, f"{tmp_path}/token-1.sqlite", 0)]
    init(tmp_path / "token-7.sqlite", cfg)
    init(tmp_path / "token-3.sqlite", cfg)
    assert [(i, n) for i, _, n in scan(cfg)[1]] == [(0, 1), (3, 1), (7, 1), (8, 0)]


def test_other_files_and_uninitialised_tokens_are_ignored(cfg, tmp_path: Path) -> None:
    init(tmp_path / "token-2.sqlite", cfg)
    for name in ("token-01.sqlite", "token-x.sqlite", "token-.sqlite", "token-2.sqlite-wal2",
                 "notes.txt", "token-1234567.sqlite"):
        (tmp_path / name).write_bytes(b"")
    Store(tmp_path / "token-5.sqlite", cfg=cfg).close()  # created, never initialised
    assert [(i, n) for i, _, n in scan(cfg)[1]] == [(2, 1), (3, 0)]


def test_ids_are_stable_across_scans_and_reopen(cfg, tmp_path: Path) -> None:
    for i in (0, 1, 2):
        init(tmp_path / f"token-{i}.sqlite", cfg)
    first = scan(cfg)
    (tmp_path / "token-1.sqlite").unlink()
    assert [(i, n) for i, _, n in scan(cfg)[1]] == [(0, 1), (2, 1), (3, 0)]
    assert first[1][2][:2] == scan(cfg)[1][1][:2]


def test_too_small_a_list_says_how_many(cfg, tmp_path: Path) -> None:
    for i in (0, 1):
        init(tmp_path / f"token-{i}.sqlite", cfg)
    assert scan(cfg, 2) == (lib.CKR_BUFFER_TOO_SMALL, [3])
    assert len(scan(cfg, 3)[1]) == 3


def test_unreadable_directory(cfg, tmp_path: Path) -> None:
    cfg.token_dir = str(tmp_path / "missing").encode()
    assert scan(cfg)[0] == lib.CKR_DEVICE_ERROR


def test_memory_slots() -> None:
    lib.ks_store_memory_reset()
    try:
        c = make_config()
        c.in_memory = 1
        assert scan(c)[1] == [(0, ":memory:0", 0)]
        init(":memory:0", c)
        Store(":memory:1", cfg=c).close()  # the fresh one, opened but not initialised
        assert scan(c)[1] == [(0, ":memory:0", 1), (1, ":memory:1", 0)]
        init(":memory:1", c)
        assert [e[0] for e in scan(c)[1]] == [0, 1, 2]
    finally:
        lib.ks_store_memory_reset()
