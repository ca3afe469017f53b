"""``keystead doctor``: does the token hold what the catalogue says, and nothing else?

For every version of every key on this manager's token the doctor compares the catalogue
with the token object that has the version's CKA_ID, and lists:

- ``missing``: a version not destroyed whose object is not on the token;
- ``duplicate``: more than one object with the version's CKA_ID, or an object labelled like a
  version (``NAME/vN``) that the catalogue does not know while it knows that version under
  another object (what a catalogue restored from an older copy leaves behind);
- ``orphan``: an object labelled like a manager version that no catalogue version names;
- ``leftover``: a destroyed version whose object is still there;
- ``state``: the token's lifecycle state (keystead's token) or usage flags (other tokens)
  differ from the catalogue's state;
- ``flags``: usage flags beyond the key's purpose (a data key that may wrap, ...);
- ``dates``: CKA_START_DATE/END_DATE (and keystead's process dates) differ.

Each finding says how to repair it. ``--repair`` fixes what can be fixed without losing
anything (states, flags and dates from the catalogue; leftovers of destroyed versions);
``--destroy-orphans`` also destroys orphans and duplicates, which only an operator can know
to be unused. Every operation refuses a version whose object is missing, duplicated or in
another state (:func:`require_agreement`), naming the version and ``keystead doctor``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .base import ManagerBase, windows_of
from .errors import ManagerError, OperationRefused
from .lifecycle import TOKEN_STATE_CODES, State
from .models import KeyRecord, VersionRecord
from .specs import SPECS, KeySpec
from .token_inventory import TokenObject

_VERSION_LABEL = re.compile(r"^(?P<name>.+)/v(?P<version>[0-9]+)$")
_STATE_BY_CODE = {code: state for state, code in TOKEN_STATE_CODES.items()}


@dataclass
class Finding:
    kind: str
    key: str | None
    version: int | None
    object_id: str
    detail: str
    repair: str
    repaired: str = ""

    def as_dict(self) -> dict[str, object]:
        return {"kind": self.kind, "key": self.key, "version": self.version,
                "object_id": self.object_id, "detail": self.detail, "repair": self.repair,
                "repaired": self.repaired}


def _expected_flags(spec: KeySpec, state: State, keystead: bool) -> dict[str, bool]:
    from .pkcs11_token import usage_flags
    from .token_inventory import FLAG_ATTRS

    by_attr = usage_flags(spec, state, enforces_lifecycle=keystead)
    return {name: by_attr[attr] for name, attr in FLAG_ATTRS.items()}


def _expected_dates(ver: VersionRecord, keystead: bool) -> dict[str, bytes]:
    from .pkcs11_token import ck_date

    w = windows_of(ver)
    out = {"protect_start": ck_date(w.protect_start), "protect_end": ck_date(w.protect_end)}
    if keystead:
        out["process_start"] = ck_date(w.process_start)
        out["process_end"] = ck_date(w.process_end)
    return out


def state_difference(spec: KeySpec, ver: VersionRecord, obj: TokenObject,
                     keystead: bool) -> str | None:
    """How the object's state differs from the catalogue's (None when it agrees)."""
    if keystead:
        if obj.state_code != TOKEN_STATE_CODES[ver.state]:
            seen = _STATE_BY_CODE.get(obj.state_code) if obj.state_code is not None else None
            return (f"token state {seen.value if seen else obj.state_code}, "
                    f"catalogue state {ver.state.value}")
        return None
    want = _expected_flags(spec, ver.state, False)
    purpose = set(spec.operations)
    wrong = sorted(op for op in purpose if obj.flags.get(op) != want[op])
    if wrong:
        shown = ", ".join(f"{op}={'on' if obj.flags.get(op) else 'off'}" for op in wrong)
        return f"token flags {shown} do not match catalogue state {ver.state.value}"
    return None


def compare(spec: KeySpec, key: KeyRecord, ver: VersionRecord, objs: list[TokenObject],
            keystead: bool) -> list[Finding]:
    """The findings for one version and the objects carrying its CKA_ID."""
    label = f"{key.name} v{ver.version}"
    mk = lambda kind, detail, repair, oid=ver.object_id: Finding(  # noqa: E731
        kind, key.name, ver.version, oid, detail, repair)
    if ver.state is State.DESTROYED:
        return [mk("leftover", f"{label} is destroyed but its object is still on the token",
                   "`keystead doctor --repair` destroys it") for _ in objs]
    if not objs:
        return [mk("missing", f"{label} ({ver.state.value}) has no object on the token",
                   "restore the token from the backup that holds it; if it is lost for "
                   f"good, `keystead key compromise {key.name} --version {ver.version}` and "
                   "destroy it")]
    if len(objs) > 1:
        return [mk("duplicate", f"{label}: {len(objs)} objects carry its CKA_ID",
                   "keep one: `keystead doctor --repair --destroy-orphans` is not enough "
                   "here; remove the copies with your token's tools")]
    obj, out = objs[0], []
    diff = state_difference(spec, ver, obj, keystead)
    if diff:
        out.append(mk("state", f"{label}: {diff}",
                      "`keystead doctor --repair` applies the catalogue's state (if the "
                      "token is ahead, restore the newer catalogue instead)"))
    want = _expected_flags(spec, ver.state, keystead)
    extra = sorted(op for op, on in obj.flags.items() if on and op not in spec.operations)
    if extra:
        out.append(mk("flags", f"{label}: usage flags beyond its purpose: {', '.join(extra)}",
                      "`keystead doctor --repair` clears them"))
    elif not diff and keystead and any(obj.flags.get(op) != want[op] for op in spec.operations):
        out.append(mk("flags", f"{label}: purpose flags cleared on the token",
                      "`keystead doctor --repair` sets them"))
    dates = _expected_dates(ver, keystead)
    wrong = sorted(k for k, v in dates.items() if k in obj.dates and obj.dates[k] != v)
    if wrong:
        shown = ", ".join(f"{k} token {obj.dates.get(k, b'').decode() or '-'} catalogue "
                          f"{dates[k].decode() or '-'}" for k in wrong)
        out.append(mk("dates", f"{label}: {shown}", "`keystead doctor --repair` rewrites them"))
    return out


def require_agreement(km: ManagerBase, key: KeyRecord, ver: VersionRecord) -> None:
    """Refuse (OperationRefused, one line) to use a version whose token object is missing,
    duplicated or in another state than the catalogue says."""
    port = km.token
    lookup = getattr(port, "objects_with_id", None)
    if lookup is None:  # a token port that cannot list objects: nothing to compare
        return
    objs = [] if SPECS[key.key_type].pair else lookup(bytes.fromhex(ver.object_id))
    label = f"{key.name} v{ver.version}"
    problem = None
    if SPECS[key.key_type].pair:
        from .doctor_pairs import pair_problem

        problem = pair_problem(port, key, ver)
    elif not objs:
        problem = "its token object is missing"
    elif len(objs) > 1:
        problem = f"{len(objs)} token objects carry its CKA_ID"
    else:
        problem = state_difference(SPECS[key.key_type], ver, objs[0], port.enforces_lifecycle)
    if problem:
        raise OperationRefused(f"{label}: the token disagrees with the catalogue ({problem}); "
                               "run `keystead doctor`")


class DoctorMixin(ManagerBase):
    """doctor(): compare the catalogue with the token; repair what is safe to repair."""

    def doctor(self, *, repair: bool = False, destroy_orphans: bool = False) -> list[Finding]:
        port = self.token
        keystead = port.enforces_lifecycle
        objects: list[TokenObject] = port.inventory()  # type: ignore[attr-defined]
        by_id: dict[str, list[TokenObject]] = {}
        for obj in objects:
            by_id.setdefault(obj.object_id, []).append(obj)
        with self.reading() as tx:
            pairs = [(key, ver) for key in tx.all_keys()
                     if key.module == self.module_name and key.token_label == self.token_label
                     for ver in tx.versions(key.id)]
        findings: list[Finding] = []
        known_ids, labels = set(), {}
        for key, ver in pairs:
            known_ids.add(ver.object_id)
            labels[(key.name, ver.version)] = ver
            if SPECS[key.key_type].pair:
                from .doctor_pairs import compare_pair

                findings += [Finding(kind, key.name, ver.version, ver.object_id, detail, fix)
                             for kind, detail, fix in compare_pair(port, key, ver)]
                continue
            findings += compare(SPECS[key.key_type], key, ver, by_id.get(ver.object_id, []),
                                keystead)
        for obj in objects:
            match = _VERSION_LABEL.match(obj.label)
            if obj.object_id in known_ids or match is None:
                continue  # known, or not a manager object (another application's key)
            name, number = match["name"], int(match["version"])
            if (name, number) in labels:
                findings.append(Finding(
                    "duplicate", name, number, obj.object_id,
                    f"a second object labelled {obj.label!r} that the catalogue does not know "
                    f"(it knows {name} v{number} as object {labels[(name, number)].object_id}):"
                    " left when the catalogue was restored from an older copy",
                    "if data encrypted after that copy matters, restore the newer catalogue; "
                    "else `keystead doctor --repair --destroy-orphans` destroys it"))
            else:
                findings.append(Finding(
                    "orphan", name, number, obj.object_id,
                    f"object {obj.label!r} has no catalogue version",
                    "restore the catalogue that knows it; if nothing it protected is needed, "
                    "`keystead doctor --repair --destroy-orphans` destroys it"))
        if repair:
            for f in findings:
                f.repaired = self._repair(f, dict(pairs_by_oid(pairs)), destroy_orphans)
        return findings

    def _repair(self, f: Finding, versions: dict[str, tuple[KeyRecord, VersionRecord]],
                destroy_orphans: bool) -> str:
        port = self.token
        oid = bytes.fromhex(f.object_id)
        try:
            if f.kind == "leftover" or (f.kind in ("orphan", "duplicate") and destroy_orphans
                                        and f.object_id not in versions):
                port.destroy(oid)
                with self.catalogue.transaction() as tx:
                    self.audit(tx, "doctor:destroy", f.key, f.version, f.detail,
                               object_id=f.object_id)
                return "destroyed"
            if f.kind in ("state", "flags", "dates"):
                key, ver = versions[f.object_id]
                spec = self.spec(key)
                if f.kind == "state":
                    port.apply_state(oid, spec, ver.state, windows_of(ver), "doctor repair")
                elif f.kind == "dates":
                    port.set_dates(oid, windows_of(ver))  # type: ignore[attr-defined]
                port.set_usage_flags(oid, spec, ver.state)  # type: ignore[attr-defined]
                with self.catalogue.transaction() as tx:
                    self.audit(tx, f"doctor:{f.kind}", key.name, ver.version, f.detail)
                return "repaired"
        except ManagerError as exc:
            return f"not repaired: {exc}"
        return ""


def pairs_by_oid(pairs):
    for key, ver in pairs:
        yield ver.object_id, (key, ver)
