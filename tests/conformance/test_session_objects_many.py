"""Thousands of session objects at once (PKCS#11 3.0 4.4, 5.7): every one found, resolved
and destroyed by its handle, the destroyed ones invalid, and each session's objects gone when
it closes (5.6 C_CloseSession) while the other session's stay."""

from __future__ import annotations

from keystead.softhsm_bridge.ck import CKU_USER
from keystead.softhsm_bridge.ck import Attribute as A

from .support import aes_key, assert_rv, data_object

COUNT = 3000
LABEL = "many-session-objects"


def _template(i: int) -> dict[int, object]:
    # Every third object is an AES key, so that secret values (locked memory) come and go
    # with the objects too.
    if i % 3 == 0:
        return aes_key(bytes([i & 255]) * 32, LABEL=LABEL, ID=i.to_bytes(4, "big"))
    return data_object(i.to_bytes(4, "big"), LABEL=LABEL)


def _ident(raw, h: int, obj: int, i: int) -> int:
    # which attribute carries the number: ID for the keys, the value for data objects
    return int.from_bytes(raw.get_attribute(h, obj, A.ID if i % 3 == 0 else A.VALUE), "big")


def test_thousands_of_session_objects(module, raw):
    try:
        creator = raw.open_session(module.slot, rw=True)
        raw.login(creator, CKU_USER, module.token.user_pin)
        other = raw.open_session(module.slot, rw=True)
        made = [raw.create_object(creator, _template(i)) for i in range(COUNT)]
        assert len(set(made)) == COUNT

        # Visible to the application's other session too, each exactly once.
        found = raw.find_objects(other, {A.LABEL: LABEL}, batch=500)
        assert sorted(found) == sorted(made)

        gone, kept = made[::2], made[1::2]
        for obj in gone:
            raw.destroy_object(creator, obj)
        for i, obj in enumerate(made):
            if i % 2:
                assert _ident(raw, other, obj, i) == i
            else:
                rv = raw.get_attributes(other, obj, [A.LABEL]).rv
                assert_rv(rv, "CKR_OBJECT_HANDLE_INVALID")
        assert sorted(raw.find_objects(other, {A.LABEL: LABEL}, batch=500)) == sorted(kept)
        for obj in gone[:50]:
            rv = raw.get_attributes(creator, obj, [A.LABEL]).rv
            assert_rv(rv, "CKR_OBJECT_HANDLE_INVALID")

        # The other session's own objects survive the creator's close; the creator's go.
        own = [raw.create_object(other, _template(COUNT + i)) for i in range(100)]
        raw.close_session(creator)
        assert sorted(raw.find_objects(other, {A.LABEL: LABEL}, batch=500)) == sorted(own)
        for obj in kept[:200]:
            assert_rv(raw.get_attributes(other, obj, [A.LABEL]).rv, "CKR_OBJECT_HANDLE_INVALID")
        for i, obj in enumerate(own):
            assert _ident(raw, other, obj, COUNT + i) == COUNT + i
    finally:
        raw.close_all_sessions(module.slot)


def test_logout_drops_private_session_objects_among_many(module, raw):
    try:
        h = raw.open_session(module.slot, rw=True)
        raw.login(h, CKU_USER, module.token.user_pin)
        public = [raw.create_object(h, data_object(LABEL=LABEL, PRIVATE=False))
                  for _ in range(500)]
        private = [raw.create_object(h, data_object(LABEL=LABEL, PRIVATE=True))
                   for _ in range(500)]
        found = raw.find_objects(h, {A.LABEL: LABEL}, batch=500)
        assert sorted(found) == sorted(public + private)
        raw.logout(h)
        raw.login(h, CKU_USER, module.token.user_pin)
        assert sorted(raw.find_objects(h, {A.LABEL: LABEL}, batch=500)) == sorted(public)
        for obj in private[::25]:
            assert_rv(raw.get_attributes(h, obj, [A.LABEL]).rv, "CKR_OBJECT_HANDLE_INVALID")
    finally:
        raw.close_all_sessions(module.slot)
