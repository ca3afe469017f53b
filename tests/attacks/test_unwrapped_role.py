"""The data role an unwrap gives a value binds every object of that value, in every process
that shares the token, from the moment the unwrap returns (docs/policy.md, "Where roles are
kept").

C_UnwrapKey under a key that guards a secret makes the unwrapped value a data key. When the
unwrapped object is a session object, only this process can see it; but the *role* belongs to
the value, and other objects of the same value exist or can be made: a token object imported
with C_CreateObject, a token copy of the session object, the same object seen from a second
process on the same token. None of them may act as a wrapping key once the session copy is a
data key, or one side wraps and the other decrypts the blob with
``C_Decrypt(CKM_AES_KEY_WRAP)``. These tests fail if the role is kept only in the memory of
the process that unwrapped (or written after the session object is first used or copied).
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import keystead
import pytest
from pkcs11 import Attribute, Mechanism

from .actor import Actor, Refused, random_key
from .instances import Instance

A = Attribute
KW = int(Mechanism.AES_KEY_WRAP)

# A second application on the same token: log in, find the key by label, and wrap a key under
# it (a known one it imports, or a secret one it generates); print the CK_RV.
_OTHER_PROCESS = textwrap.dedent("""
    import os, sys
    from keystead.softhsm_bridge.ck import CKU_USER
    from keystead.softhsm_bridge.errors import PKCS11Error, rv_name
    from keystead.softhsm_bridge.raw import open_raw
    from pkcs11 import Attribute as A, KeyType, Mechanism, ObjectClass
    module, serial, pin, label, what = sys.argv[1:6]
    r = open_raw(module)
    slot = next(s for s in r.slot_list(True) if r.token_info(s)["serial"] == serial)
    h = r.open_session(slot, rw=True)
    r.login(h, CKU_USER, pin)
    kek = r.find_objects(h, {A.LABEL: label})[0]
    base = {A.CLASS: ObjectClass.SECRET_KEY, A.KEY_TYPE: KeyType.AES, A.TOKEN: False,
            A.EXTRACTABLE: True, A.SENSITIVE: True}
    if what == "wrap-known":
        key = r.create_object(h, {**base, A.VALUE: os.urandom(32)})
    else:
        key = r.generate_key(h, Mechanism.AES_KEY_GEN, {**base, A.VALUE_LEN: 32})
    try:
        r.wrap_key(h, Mechanism.AES_KEY_WRAP, kek, key)
        print("CKR_OK")
    except PKCS11Error as exc:
        print(rv_name(exc.rv))
""")


def _other_process(inst: Instance, label: str, what: str) -> str:
    """Run ``what`` with the token key labelled ``label`` in a fresh process (this one keeps
    its session objects meanwhile); its CK_RV's name."""
    assert inst.env is not None
    env = inst.env.env(dict(os.environ))
    proc = subprocess.run([sys.executable, "-c", _OTHER_PROCESS, keystead.module_path(),
                           inst.token.serial, inst.token.user_pin, label, what],
                          env=env, capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout.strip()


def _caps() -> dict[str, bool]:
    return dict(ENCRYPT=True, DECRYPT=True, WRAP=True, UNWRAP=True)


def _roleless_blob(a: Actor, value: bytes) -> tuple[int, bytes]:
    """A session KEK generated here (it guards a secret) and ``value`` wrapped under it. The
    value is imported, so wrapping it fixes no role for it: the unwrap is what fixes one."""
    kek = a.generate(WRAP=True, UNWRAP=True, ENCRYPT=False, DECRYPT=False,
                     SENSITIVE=True, EXTRACTABLE=False)
    known = a.create(value, EXTRACTABLE=True, SENSITIVE=False)
    return kek, a.wrap(KW, kek, known)


@pytest.fixture
def actor(strict_keystead: Instance):
    a = Actor(strict_keystead.raw, strict_keystead.token, strict_keystead.kind)
    a.login_user()
    yield a
    a.close()


def test_token_object_of_the_value_stops_wrapping_in_every_process(
        strict_keystead: Instance, actor: Actor) -> None:
    """A token object imported with the value wraps (it is known and has no role) until a
    session object of the value is unwrapped under a secret KEK; from then on it wraps
    nothing, here and in a second process, while the session object still decrypts."""
    a, value = actor, random_key()
    label = f"same-value-{os.urandom(4).hex()}"
    a.create(value, TOKEN=True, LABEL=label, PRIVATE=True, SENSITIVE=True, EXTRACTABLE=False,
             **_caps())
    kek, blob = _roleless_blob(a, value)
    # Before the unwrap the value has no role: another process wraps a known key under it.
    assert _other_process(strict_keystead, label, "wrap-known") == "CKR_OK"

    session_copy = a.unwrap(KW, kek, blob, **_caps())
    assert a.check_value(session_copy) == a.check_value(a.find_token_object(label))

    # The session copy is a data key; its value's role binds the token object everywhere.
    assert _other_process(strict_keystead, label, "wrap-known") == \
        "CKR_KEY_FUNCTION_NOT_PERMITTED"
    with pytest.raises(Refused, match="CKR_KEY_FUNCTION_NOT_PERMITTED"):
        a.wrap(KW, a.find_token_object(label), a.create(random_key(), EXTRACTABLE=True))
    a.encrypt(Mechanism.AES_ECB, session_copy, bytes(16))  # a data key: it may


def test_token_object_unwrapped_by_another_process_is_a_data_key(
        strict_keystead: Instance, actor: Actor) -> None:
    """Two unwraps of one blob, a session object here and a token object: the token object
    never wraps, whichever process asks, while the session object exists."""
    a = actor
    kek, blob = _roleless_blob(a, random_key())
    session_copy = a.unwrap(KW, kek, blob, **_caps())
    label = f"unwrapped-{os.urandom(4).hex()}"
    a.unwrap(KW, kek, blob, TOKEN=True, LABEL=label, **_caps())
    a.token_objects.append(label)
    assert _other_process(strict_keystead, label, "wrap-secret") == \
        "CKR_KEY_FUNCTION_NOT_PERMITTED"
    a.decrypt(Mechanism.AES_ECB, session_copy, bytes(16))


def test_token_copy_of_unwrapped_session_object_carries_the_role(
        strict_keystead: Instance, actor: Actor) -> None:
    """C_CopyObject of the unwrapped session object to a token object: the copy is a data
    key in every process. Otherwise a second process wraps a secret key under the copy and
    this one decrypts the blob with the session object (C_Decrypt(CKM_AES_KEY_WRAP))."""
    a = actor
    kek, blob = _roleless_blob(a, random_key())
    session_copy = a.unwrap(KW, kek, blob, **_caps())
    label = f"copied-{os.urandom(4).hex()}"
    a.copy(session_copy, TOKEN=True, LABEL=label)
    a.token_objects.append(label)
    assert _other_process(strict_keystead, label, "wrap-secret") == \
        "CKR_KEY_FUNCTION_NOT_PERMITTED"
    assert _other_process(strict_keystead, label, "wrap-known") == \
        "CKR_KEY_FUNCTION_NOT_PERMITTED"
    with pytest.raises(Refused, match="CKR_KEY_FUNCTION_NOT_PERMITTED"):
        a.wrap(KW, a.find_token_object(label), a.target().handle)


def test_unwrap_destroy_unwrap_keeps_the_role(strict_keystead: Instance, actor: Actor) -> None:
    """The role outlives the session object: unwrap, destroy, and a token object of the value
    made afterwards (in another process) still does not wrap."""
    a, value = actor, random_key()
    kek, blob = _roleless_blob(a, value)
    for _ in range(3):
        a.raw.destroy_object(a.h, a.unwrap(KW, kek, blob, **_caps()))
    label = f"after-destroy-{os.urandom(4).hex()}"
    a.create(value, TOKEN=True, LABEL=label, PRIVATE=True, SENSITIVE=True, EXTRACTABLE=False,
             **_caps())
    assert _other_process(strict_keystead, label, "wrap-known") == \
        "CKR_KEY_FUNCTION_NOT_PERMITTED"


def test_unwrap_refused_where_the_value_wraps(strict_keystead: Instance, actor: Actor) -> None:
    """The other order: the value took the wrapping role first (another process wrapped a
    known key under a token object of it); then every unwrap of it is refused, into a session
    object too, however often it is asked (the role is read, never assumed)."""
    a, value = actor, random_key()
    kek_label = f"kek-{os.urandom(4).hex()}"
    kek = a.generate(WRAP=True, UNWRAP=True, ENCRYPT=False, DECRYPT=False, SENSITIVE=True,
                     EXTRACTABLE=False, TOKEN=True, LABEL=kek_label)
    blob = a.wrap(KW, kek, a.create(value, EXTRACTABLE=True, SENSITIVE=False))
    # A generated key cannot share a value, so the wrapping role comes from a known key the
    # SO imported and trusts: a trusted value wraps, in every token.
    trusted = a.so_import_trusted(value)
    assert _other_process(strict_keystead, trusted, "wrap-secret") == "CKR_OK"
    kek = a.find_token_object(kek_label)
    for _ in range(2):
        with pytest.raises(Refused, match="CKR_KEY_FUNCTION_NOT_PERMITTED"):
            a.unwrap(KW, kek, blob, **_caps())
