"""Helpers of the token-store tests: a thin Python face over token/store.h through cffi.

Every wrapper returns the exact CK_RV (or raises AssertionError through ``ok``) so that the
tests assert the precise code the store promises, never just "it failed".
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from keystead.core import ffi, lib

SO_PIN = b"so-pin-1234"
USER_PIN = b"user-pin-5678"
LABEL = b"test token".ljust(32)


def ok(rv: int) -> None:
    """Raise AssertionError naming the code when rv is not CKR_OK."""
    assert rv == lib.CKR_OK, ffi.string(lib.ks_rv_name(rv)).decode()


def rv_name(rv: int) -> str:
    return ffi.string(lib.ks_rv_name(rv)).decode()


def make_config(max_attempts: int = 3, fast: bool = True, pbkdf2: bool = False) -> Any:
    """A ks_config for the store (only the fields the store reads are set)."""
    cfg = ffi.new("ks_config *")
    cfg.max_pin_attempts = max_attempts
    cfg.pin_kdf_cost = lib.KS_KDF_COST_FAST if fast else lib.KS_KDF_COST_DEFAULT
    cfg.pin_kdf = lib.KS_PIN_KDF_PBKDF2 if pbkdf2 else lib.KS_PIN_KDF_SCRYPT
    return cfg


def ulong(value: int) -> bytes:
    return int(value).to_bytes(ffi.sizeof("CK_ULONG"), "little")


def bbool(value: bool) -> bytes:
    return b"\x01" if value else b"\x00"


@contextmanager
def attrs(items: Iterable[tuple[int, bytes]] = ()) -> Iterator[Any]:
    """A ks_attrs holding items, freed (wiped) on exit."""
    set_ = ffi.new("ks_attrs *")
    lib.ks_attrs_init(set_)
    try:
        for type_, value in items:
            ok(lib.ks_attrs_set(set_, type_, value, len(value)))
        yield set_
    finally:
        lib.ks_attrs_free(set_)


def as_dict(set_: Any) -> dict[int, bytes]:
    return {
        set_.items[i].type: bytes(ffi.buffer(set_.items[i].value, set_.items[i].len))
        if set_.items[i].len
        else b""
        for i in range(set_.count)
    }


def secret_key(value: bytes, label: bytes = b"k", id_: bytes = b"\x01",
               private: bool = True) -> list[tuple[int, bytes]]:
    return [
        (lib.CKA_CLASS, ulong(lib.CKO_SECRET_KEY)),
        (lib.CKA_KEY_TYPE, ulong(lib.CKK_AES)),
        (lib.CKA_TOKEN, bbool(True)),
        (lib.CKA_PRIVATE, bbool(private)),
        (lib.CKA_SENSITIVE, bbool(True)),
        (lib.CKA_LABEL, label),
        (lib.CKA_ID, id_),
        (lib.CKA_VALUE, value),
        (lib.CKA_VALUE_LEN, ulong(len(value))),
    ]


def data_object(value: bytes, label: bytes = b"d", private: bool = False) -> list:
    return [
        (lib.CKA_CLASS, ulong(lib.CKO_DATA)),
        (lib.CKA_TOKEN, bbool(True)),
        (lib.CKA_PRIVATE, bbool(private)),
        (lib.CKA_LABEL, label),
        (lib.CKA_VALUE, value),
    ]


class Store:
    """One ks_store handle (one SQLite connection)."""

    def __init__(self, path: str | Path, create: bool = True, cfg: Any = None) -> None:
        self.cfg = cfg if cfg is not None else make_config()
        out = ffi.new("ks_store **")
        self.open_rv = lib.ks_store_open(out, str(path).encode(), int(create), self.cfg)
        self.ptr = out[0] if self.open_rv == lib.CKR_OK else ffi.NULL

    def close(self) -> None:
        if self.ptr != ffi.NULL:
            lib.ks_store_close(self.ptr)
            self.ptr = ffi.NULL

    def __enter__(self) -> Store:
        ok(self.open_rv)
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def meta(self) -> Any:
        m = ffi.new("ks_token_meta *")
        ok(lib.ks_store_meta(self.ptr, m))
        return m

    def init_token(self, so_pin: bytes = SO_PIN, label: bytes = LABEL) -> int:
        return lib.ks_store_init_token(self.ptr, so_pin, len(so_pin), label)

    def login(self, user_type: int, pin: bytes) -> tuple[int, bytes]:
        key = ffi.new("uint8_t[32]")
        rv = lib.ks_store_login(self.ptr, user_type, pin, len(pin), key)
        return rv, bytes(key)

    def init_pin(self, token_key: bytes, pin: bytes = USER_PIN) -> int:
        return lib.ks_store_init_pin(self.ptr, token_key, pin, len(pin))

    def set_pin(self, user_type: int, old: bytes, new: bytes) -> int:
        return lib.ks_store_set_pin(self.ptr, user_type, old, len(old), new, len(new))

    def provision(self) -> bytes:
        """Initialise the token and the user PIN; return the token key."""
        ok(self.init_token())
        rv, key = self.login(lib.CKU_SO, SO_PIN)
        ok(rv)
        ok(self.init_pin(key))
        return key

    def put(self, items: Iterable[tuple[int, bytes]], key: bytes | None) -> tuple[int, int]:
        handle = ffi.new("CK_OBJECT_HANDLE *")
        with attrs(items) as set_:
            rv = lib.ks_store_put_object(self.ptr, key if key else ffi.NULL, set_, handle)
        return rv, handle[0]

    def update(self, handle: int, items: Iterable[tuple[int, bytes]], key: bytes | None) -> int:
        with attrs(items) as set_:
            return lib.ks_store_update_object(self.ptr, key if key else ffi.NULL, handle, set_)

    def delete(self, handle: int) -> int:
        return lib.ks_store_delete_object(self.ptr, handle)

    def load(self, handle: int, key: bytes | None) -> tuple[int, dict[int, bytes], bool]:
        missing = ffi.new("int *")
        with attrs() as set_:
            rv = lib.ks_store_load_object(self.ptr, key if key else ffi.NULL, handle, set_,
                                          missing)
            return rv, as_dict(set_), bool(missing[0])

    def find(self, items: Iterable[tuple[int, bytes]] = ()) -> tuple[int, list[int]]:
        items = list(items)
        tmpl = ffi.new("CK_ATTRIBUTE[]", max(len(items), 1))
        keep = []
        for i, (type_, value) in enumerate(items):
            buf = ffi.new("char[]", value) if value else ffi.NULL
            keep.append(buf)
            tmpl[i].type = type_
            tmpl[i].pValue = buf
            tmpl[i].ulValueLen = len(value)
        out = ffi.new("CK_OBJECT_HANDLE **")
        count = ffi.new("size_t *")
        rv = lib.ks_store_find(self.ptr, tmpl, len(items), out, count)
        if rv != lib.CKR_OK:
            return rv, []
        handles = [out[0][i] for i in range(count[0])]
        lib.ks_store_free_handles(out[0])
        return rv, handles

    def counter_add(self, handle: int, name: bytes, delta: int,
                    limit: int = 0, synced: bool = True) -> tuple[int, int]:
        before = ffi.new("uint64_t *")
        add = lib.ks_store_counter_add if synced else lib.ks_store_counter_add_unsynced
        rv = add(self.ptr, handle, name, delta, limit, before)
        return rv, before[0]

    def counter_get(self, handle: int, name: bytes) -> tuple[int, int]:
        value = ffi.new("uint64_t *")
        rv = lib.ks_store_counter_get(self.ptr, handle, name, value)
        return rv, value[0]

    def changed(self) -> bool:
        return bool(lib.ks_store_changed(self.ptr))


def files_of(db: Path) -> list[Path]:
    """The database file and its WAL/shared-memory companions, where present."""
    return [p for p in (db, Path(f"{db}-wal"), Path(f"{db}-shm")) if p.exists()]


def bytes_on_disk(db: Path) -> bytes:
    return b"".join(p.read_bytes() for p in files_of(db))
