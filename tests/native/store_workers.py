"""Worker processes of the store's concurrency and crash tests.

``hammer`` runs inside a multiprocessing child; ``python -m tests.native.store_workers
write DB KEYHEX`` is the writer that the crash test kills with SIGKILL at a random moment.
It prints one line per write that returned CKR_OK, flushed before the next write starts, so
every printed line is a promise the store must keep after the kill.
"""

from __future__ import annotations

import sys

from keystead.core import lib

from tests.native.store_support import Store, ok, secret_key


def hammer(db: str, name: bytes, rounds: int) -> list[int]:
    """Add 1 to the token counter `name` rounds times; return the values seen before each."""
    seen = []
    with Store(db, create=False) as s:
        for _ in range(rounds):
            rv, before = s.counter_add(0, name, 1)
            ok(rv)
            seen.append(before)
    return seen


def create_many(db: str, key: bytes, tag: int, count: int) -> list[int]:
    """Create count keys labelled b"p<tag>-<i>"; return their handles."""
    handles = []
    with Store(db, create=False) as s:
        for i in range(count):
            rv, handle = s.put(secret_key(object_value(i), label=b"p%d-%d" % (tag, i)), key)
            ok(rv)
            handles.append(handle)
    return handles


def object_value(i: int) -> bytes:
    return i.to_bytes(4, "big") * 8


def write_forever(db: str, key: bytes) -> None:
    with Store(db, create=False) as s:
        i = 0
        while True:
            rv, handle = s.put(secret_key(object_value(i), label=b"obj-%d" % i), key)
            ok(rv)
            print(f"o {i} {handle}", flush=True)
            rv, before = s.counter_add(0, b"ops", 1)
            ok(rv)
            print(f"c {before}", flush=True)
            if i % 3 == 2:
                ok(s.update(handle, secret_key(object_value(i), label=b"upd-%d" % i), key))
                print(f"u {i} {handle}", flush=True)
            i += 1


def main(argv: list[str]) -> int:
    if len(argv) == 3 and argv[0] == "write":
        write_forever(argv[1], bytes.fromhex(argv[2]))
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    assert lib is not None
    sys.exit(main(sys.argv[1:]))
