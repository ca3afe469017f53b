"""The manager's exceptions: one base class, one subclass per kind of expected failure.

Expected failures (a refused transition, an unknown key, a policy violation) are
:class:`ManagerError` subclasses and carry a one-line message fit for the CLI. Anything else
escaping the manager is a bug.
"""

from __future__ import annotations


class ManagerError(Exception):
    """Base of every expected failure the manager reports."""


class NotFound(ManagerError):
    """A named key, or a version of it, is not in the catalogue."""


class AlreadyExists(ManagerError):
    """A key with that name is already in the catalogue."""


class IllegalTransition(ManagerError):
    """The lifecycle table has no edge from the current state to the requested one."""


class PolicyViolation(ManagerError):
    """A request exceeds the cryptoperiod policy, or a policy file is invalid."""


class OperationRefused(ManagerError):
    """The key's state, dates, usage or minimum versions forbid the operation."""


class TokenFailure(ManagerError):
    """The PKCS#11 token refused or failed an operation the manager asked for."""


class IntegrityError(ManagerError):
    """Stored data failed a check (audit chain, envelope format)."""


class Conflict(ManagerError):
    """A concurrent writer changed the catalogue first, or held it too long."""


class SetupError(ManagerError):
    """Something the manager needs is missing or malformed: the catalogue (run
    ``keystead init``), the token directory, a configuration file, the clock override."""
