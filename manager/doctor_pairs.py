"""The doctor's view of key pairs: a pair version's keys on the token against the catalogue.

A version of a pair is one public key and one private key with its CKA_ID; once a signature
pair was deactivated, its private key is gone (:func:`.keypair_token.private_key_ends`). On
keystead's token both keys carry the version's lifecycle state; elsewhere the state shows in
their flags (CKA_SIGN on the private key while the version may sign, CKA_VERIFY on the public
key while it may verify).
"""

from __future__ import annotations

from .keypair_token import private_keys_expected
from .lifecycle import TOKEN_STATE_CODES, State, can_process, can_protect
from .models import KeyRecord, VersionRecord
from .policy import KeyType
from .token_inventory import TokenObject

_STATE_BY_CODE = {code: state for state, code in TOKEN_STATE_CODES.items()}


def _state_difference(key: KeyRecord, ver: VersionRecord, publics: list[TokenObject],
                      privates: list[TokenObject], keystead: bool) -> str | None:
    if keystead:
        want = TOKEN_STATE_CODES[ver.state]
        for role, obj in [("public", o) for o in publics] + [("private", o) for o in privates]:
            if obj.state_code != want:
                seen = _STATE_BY_CODE.get(obj.state_code) if obj.state_code is not None else None
                return (f"{role} key state {seen.value if seen else obj.state_code}, "
                        f"catalogue state {ver.state.value}")
        return None
    if key.key_type is not KeyType.PRIVATE_SIGNATURE:
        return None  # CKA_DERIVE is not read back yet
    checks = [("public", o, "verify", can_process(ver.state)) for o in publics]
    checks += [("private", o, "sign", can_protect(ver.state)) for o in privates]
    for role, obj, flag, want_on in checks:
        if obj.flags.get(flag, False) != want_on:
            return (f"{role} key {flag}={'on' if obj.flags.get(flag) else 'off'} does not "
                    f"match catalogue state {ver.state.value}")
    return None


def pair_problem(port, key: KeyRecord, ver: VersionRecord) -> str | None:
    """What is wrong with a pair version's keys on the token (None: they agree): how many
    there are, then their state."""
    lookup = getattr(port, "pair_inventory", None)
    if lookup is None:  # a token port that cannot list objects: nothing to compare
        return None
    publics, privates = lookup(bytes.fromhex(ver.object_id))
    want = private_keys_expected(key.key_type, ver.deactivated_at is not None)
    if len(publics) != 1 or len(privates) != want:
        return (f"{len(publics)} public and {len(privates)} private keys carry its CKA_ID, "
                f"not 1 and {want}")
    return _state_difference(key, ver, publics, privates, port.enforces_lifecycle)


def compare_pair(port, key: KeyRecord, ver: VersionRecord) -> list[tuple[str, str, str]]:
    """A key pair version's findings as (kind, detail, repair): leftover, missing or
    duplicated keys, or keys in another state than the catalogue's (their dates are not
    compared yet)."""
    label = f"{key.name} v{ver.version}"
    publics, privates = port.pair_inventory(bytes.fromhex(ver.object_id))

    def mk(kind: str, detail: str, repair: str) -> tuple[str, str, str]:
        return kind, detail, repair

    if ver.state is State.DESTROYED:
        return [mk("leftover", f"{label} is destroyed but its keys are still on the token",
                   "`keystead doctor --repair` destroys them")] if publics or privates else []
    problem = pair_problem(port, key, ver)
    if problem is None:
        return []
    want = private_keys_expected(key.key_type, ver.deactivated_at is not None)
    if len(publics) == 1 and len(privates) == want:
        return [mk("state", f"{label}: {problem}",
                   "`keystead doctor --repair` applies the catalogue's state")]
    kind = "duplicate" if len(publics) > 1 or len(privates) > 1 else "missing"
    return [mk(kind, f"{label}: {problem}", "restore the token from the backup that holds "
               "the pair, or remove the copies with your token's tools")]
