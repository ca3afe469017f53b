"""The scale benchmark: per-call C_CreateObject and C_FindObjects (by label, by id, by
class) with 100, 10,000 and 100,000 token objects in one token.

Each module runs in its own process (:mod:`.worker`), on a token provisioned in a fresh
temporary directory. Objects are AES-256 token keys with a unique label and id, plus one
data object that the by-class lookup finds. Growth stops at the time budget; the last level
is then measured at the count reached and marked partial.
"""

from __future__ import annotations

import random
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

LEVELS = (100, 10_000, 100_000)
QUICK_LEVELS = (20, 60)
PROBES = 50
QUICK_PROBES = 5


def _key_template(i: int) -> dict[int, Any]:
    from keystead.softhsm_bridge.ck import Attribute, KeyType, ObjectClass

    return {Attribute.CLASS: ObjectClass.SECRET_KEY, Attribute.KEY_TYPE: KeyType.AES,
            Attribute.TOKEN: True, Attribute.LABEL: f"obj-{i:07d}",
            Attribute.ID: i.to_bytes(4, "big"), Attribute.VALUE: i.to_bytes(32, "big"),
            Attribute.ENCRYPT: True, Attribute.DECRYPT: True}


def _per_call_us(fn: Callable[[int], object], args: list[int], max_s: float) -> float:
    """Median microseconds of fn(a) over args; stops after max_s once 3 calls are in (a
    SoftHSMv2 lookup at 100,000 objects takes seconds)."""
    times = []
    start = time.perf_counter()
    for a in args:
        t0 = time.perf_counter()
        fn(a)
        times.append(time.perf_counter() - t0)
        if len(times) >= 3 and time.perf_counter() - start > max_s:
            break
    return statistics.median(times) * 1e6


class ScaleRun:
    """One module's scale run: grow the token, measure at each level."""

    def __init__(self, name: str, base: Path, budget_s: float, quick: bool) -> None:
        self.name, self.base, self.budget_s = name, base, budget_s
        self.levels = QUICK_LEVELS if quick else LEVELS
        self.probes = QUICK_PROBES if quick else PROBES
        self.count = 0

    def _open(self) -> None:
        from keystead.softhsm_bridge import load, open_session, prepare
        from keystead.softhsm_bridge.ck import Attribute, ObjectClass
        from keystead.softhsm_bridge.provision import provision

        info, _ = prepare(self.name, self.base / f"scale-{self.name}" / "tokens")
        token = provision(info, None, label="scale")
        self.session = open_session(token)
        self.raw = load(info)
        self.h = self.session.handle
        self.raw.create_object(self.h, {Attribute.CLASS: ObjectClass.DATA, Attribute.TOKEN: True,
                                        Attribute.LABEL: "scale-data", Attribute.VALUE: b"x"})
        self.count = 1

    def _create(self, i: int) -> None:
        self.raw.create_object(self.h, _key_template(i))
        self.count += 1

    def _measure(self) -> dict[str, Any]:
        from keystead.softhsm_bridge.ck import Attribute, ObjectClass

        raw, h, cap = self.raw, self.h, max(1.0, self.budget_s / 20)
        keys = self.count - 1
        picks = [random.randrange(keys) for _ in range(self.probes)] if keys else []
        found = raw.find_objects(h, {Attribute.CLASS: ObjectClass.DATA})
        if len(found) != 1:
            raise RuntimeError(f"{self.name}: the data object was found {len(found)} times")
        row = {
            "objects": self.count,
            "find_label_us": _per_call_us(
                lambda i: raw.find_objects(h, {Attribute.LABEL: f"obj-{i:07d}"}), picks, cap),
            "find_id_us": _per_call_us(
                lambda i: raw.find_objects(h, {Attribute.ID: i.to_bytes(4, "big")}), picks, cap),
            "find_class_us": _per_call_us(
                lambda _: raw.find_objects(h, {Attribute.CLASS: ObjectClass.DATA}),
                list(range(self.probes)), cap),
        }
        start = self.count - 1
        row["create_us"] = _per_call_us(self._create, list(range(start, start + self.probes)),
                                        cap)
        return row

    def run(self) -> dict[str, Any]:
        """Grow through every level within the budget; return the figures.

        Raises the bridge's errors when the module refuses an object.
        """
        self._open()
        t0 = time.monotonic()
        rows: list[dict[str, Any]] = []
        last_note = t0
        complete = True
        for level in self.levels:
            while self.count < level:
                now = time.monotonic()
                if now - t0 > self.budget_s:
                    complete = False
                    break
                if now - last_note > 10:
                    print(f"bench: scale {self.name}: {self.count} objects, {now - t0:.0f} s",
                          file=sys.stderr, flush=True)
                    last_note = now
                self._create(self.count - 1)
            row = self._measure()
            row["level"] = level
            row["partial"] = row["objects"] < level
            rows.append(row)
            print(f"bench: scale {self.name}: measured at {row['objects']} objects",
                  file=sys.stderr, flush=True)
            if not complete:
                break
        return {"levels": rows, "reached": self.count, "complete": complete,
                "budget_s": self.budget_s, "elapsed_s": time.monotonic() - t0}


__all__ = ["LEVELS", "ScaleRun"]
