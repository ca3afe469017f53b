"""python-pkcs11 sessions on a provisioned token, without leaking logins or handles.

python-pkcs11 keeps one initialised ``pkcs11.lib`` per path for the whole process, and its
``Token.open(user_pin=...)`` leaks the session handle when C_Login fails, while
``Session.close()`` logs the whole application out. PKCS#11 login state belongs to the
application, not the session (3.0 section 5.6), so here sessions are opened without a
PIN and logged in through the raw layer, where CKR_USER_ALREADY_LOGGED_IN means "already
in the state asked for"; closing never logs out (closing the token's last session does,
as the spec says).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from .ck import CKU_KS_MANAGER, CKU_SO, CKU_USER
from .errors import CKR_OK, PKCS11Error, SessionHandleInvalid, UserAlreadyLoggedIn, check, rv_of
from .modules import ModuleInfo
from .provision import Token, find_slot, load

USER = "user"
SO = "so"
MANAGER = "manager"  # keystead's CKU_KS_MANAGER (docs/authority.md); its PIN is passed in


def pkcs11_lib(module: ModuleInfo) -> Any:
    """python-pkcs11's ``lib`` for ``module`` (loaded and initialised once per process).

    Loads through :func:`.provision.load` first so the configuration in force is recorded.
    """
    import pkcs11  # here: the manager's token port logs in through the raw layer only

    load(module, python_pkcs11=True)
    return pkcs11.lib(module.path)


def pkcs11_token(token: Token) -> Any:
    """python-pkcs11's ``Token`` object for a provisioned token (found by serial)."""
    lib = pkcs11_lib(token.module)
    slot_id = find_slot(token.module, token.serial)
    for slot in lib.get_slots(token_present=True):
        if slot.slot_id == slot_id:
            return slot.get_token()
    raise PKCS11Error(f"slot {slot_id} vanished", rv=0x3)


def login(token: Token, handle: int, who: str = USER, pin: str | None = None) -> None:
    """Log the application in as ``who`` ("user", "so", or "manager" on keystead's token,
    whose PIN ``pin`` gives) through session ``handle``.

    Already being logged in as ``who`` is success. Raises the mapped PKCS11Error otherwise
    (e.g. CKR_USER_ANOTHER_ALREADY_LOGGED_IN when the other role is logged in).
    """
    r = load(token.module)
    if who == MANAGER:
        if pin is None:
            raise ValueError("the manager's PIN is not part of a Token: pass it")
        user_type = CKU_KS_MANAGER
    else:
        user_type, pin = (CKU_SO, token.so_pin) if who == SO else (CKU_USER, token.user_pin)
    rv = r.login(handle, user_type, pin)
    if rv not in (CKR_OK, UserAlreadyLoggedIn.rv):
        check(rv, f"C_Login({who})")


def open_session(token: Token, rw: bool = True, login_as: str | None = USER) -> Any:
    """A python-pkcs11 ``Session`` on ``token``, RW unless ``rw`` is False, logged in as
    ``login_as`` ("user", "so" or None).

    The session is closed again if the login fails (then the error is raised). Close it
    with :func:`close_session` or ``session.close()``.
    """
    session = pkcs11_token(token).open(rw=rw)
    if login_as is not None:
        try:
            login(token, session.handle, login_as)
        except BaseException:
            close_session(session)
            raise
    return session


def close_session(session: Any) -> None:
    """Close a python-pkcs11 session; a session the module already closed is fine."""
    try:
        session.close()
    except Exception as exc:  # python-pkcs11 raises its own classes; map to the code
        if rv_of(exc) != SessionHandleInvalid.rv:
            raise


@contextmanager
def session_scope(token: Token, rw: bool = True, login_as: str | None = USER) -> Iterator[Any]:
    """``with session_scope(token) as s:`` - :func:`open_session`, closed on exit."""
    session = open_session(token, rw=rw, login_as=login_as)
    try:
        yield session
    finally:
        close_session(session)


def close_all(token: Token) -> None:
    """C_CloseAllSessions on the token's slot: every session of this process on it closes
    and the application is logged out (3.0 section 5.6)."""
    r = load(token.module)
    r.close_all_sessions(find_slot(token.module, token.serial))

