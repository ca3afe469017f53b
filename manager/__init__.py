"""keystead.manager: named keys, their versions and the NIST SP 800-57 lifecycle over any
PKCS#11 token, with cryptoperiod policy, rotation, a hash-chained audit and envelope
encryption for applications.

Typical use::

    from keystead.manager import KeyManager, SQLiteCatalogue, open_token

    km = KeyManager(SQLiteCatalogue("catalogue.db", create=True),
                    open_token("keystead", "demo", pin))
    km.create_key("payments/dek")
    blob = km.encrypt("payments/dek", b"card data", aad=b"order 42", subject="order 42")
    km.decrypt(blob, aad=b"order 42")
"""

from .audit import ChainReport, verify_chain
from .clock import Clock, ManualClock, SystemClock
from .errors import (
    AlreadyExists,
    Conflict,
    IllegalTransition,
    IntegrityError,
    ManagerError,
    NotFound,
    OperationRefused,
    PolicyViolation,
    SetupError,
    TokenFailure,
)
from .lifecycle import (
    State,
    can_process,
    can_protect,
    transition,
)
from .models import AuditRecord, KeyRecord, TransitionRecord, VersionRecord
from .policy import TABLE_1, Cryptoperiod, KeyPolicy, KeyType, PolicyTable, load_policy_file
from .rotation import DueAction
from .service import AuditVerification, KeyManager, KeyView
from .sqlite_store import SQLiteCatalogue
from .store import AuditFilter, Catalogue, CatalogueTx
from .tokenport import TokenAuditReport, TokenPort, Windows


def __getattr__(name: str) -> object:
    """``TRANSITIONS`` and ``TRANSITIONS_BY_TYPE`` (:mod:`.lifecycle`), built on first use."""
    if name in ("TRANSITIONS", "TRANSITIONS_BY_TYPE"):
        from . import lifecycle

        return getattr(lifecycle, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def open_token(module: object, label: str, pin: object,
               manager_pin: object | None = None) -> TokenPort:
    """A token port on token ``label`` of ``module`` ("keystead", "softhsm2" or a path);
    ``pin`` is the user PIN or a callable returning it (asked for on first use). On keystead's
    token ``manager_pin`` (the same) makes the port log in as the manager, CKU_KS_MANAGER,
    instead of the user: the keys it makes and changes are then manager-governed
    (docs/authority.md)."""
    from keystead.softhsm_bridge import ModuleInfo, resolve

    from .pkcs11_token import Pkcs11Token

    info = module if isinstance(module, ModuleInfo) else resolve(module)
    return Pkcs11Token(info, label, pin, manager_pin)


__all__ = [
    "TABLE_1", "TRANSITIONS", "TRANSITIONS_BY_TYPE", "AlreadyExists", "AuditFilter",
    "Conflict", "AuditRecord",
    "AuditVerification", "Catalogue", "CatalogueTx", "ChainReport", "Clock", "Cryptoperiod",
    "DueAction", "IllegalTransition", "IntegrityError", "KeyManager", "KeyPolicy",
    "KeyRecord", "KeyType", "KeyView", "ManagerError", "ManualClock", "NotFound",
    "OperationRefused", "PolicyTable", "PolicyViolation", "SQLiteCatalogue", "SetupError",
    "State",
    "SystemClock", "TokenAuditReport", "TokenFailure", "TokenPort", "TransitionRecord",
    "VersionRecord", "Windows", "can_process", "can_protect", "load_policy_file",
    "open_token", "transition", "verify_chain",
]
