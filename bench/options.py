"""What one ``keystead bench`` run measures (shared by the CLI, the runner and the worker)."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from .workloads import CLIENTS


@dataclass(frozen=True)
class BenchOptions:
    """What to measure.

    ``modules``: clients to run (keystead, softhsm2, openssl); ``threads``: the N of the
    threads rows; ``repeat``: windows per figure; ``runs``: whole worker runs, each cell
    keeping its best median; ``window``: seconds per window; ``scale``: also the object-count
    benchmark, ``scale_budget`` seconds of growth per module; ``c``: also the pure-C core
    benchmark (needs the source tree at ``source``); ``tmpdir``: where the temporary token
    directories go (None: the system's); ``tune_malloc``: run the worker with glibc's malloc
    trimming off (see :data:`.runner.MALLOC_ENV`; off by default: the figures are what a
    user's plain process gets); ``tuned_beside``: measure the large-message rows a second
    time with the tuning and show that figure beside the untuned one; ``only``: row-name
    prefixes to keep (empty: every row); ``keygen_samples``: single key generations per client of
    a key generation row, within ``keygen_budget`` seconds per row (at least 5 each).
    """

    modules: tuple[str, ...] = CLIENTS
    threads: int = 2
    quick: bool = False
    repeat: int = 7
    runs: int = 1
    window: float = 0.1
    scale: bool = False
    scale_budget: float = 600.0
    c: bool = False
    c_seconds: float = 0.5
    source: str | None = None
    tmpdir: str | None = None
    tune_malloc: bool = False
    tuned_beside: bool = True
    only: tuple[str, ...] = ()
    keygen_samples: int = 200
    keygen_budget: float = 120.0

    @classmethod
    def make(cls, quick: bool = False, **kw: object) -> BenchOptions:
        """Options with the --quick defaults (2 windows of 3 ms, tiny scale levels) when
        ``quick``; explicit values in ``kw`` (not None) win."""
        base: dict[str, object] = {"quick": quick}
        if quick:
            base.update(repeat=2, window=0.003, scale_budget=60.0, c_seconds=0.05,
                        keygen_samples=8, keygen_budget=10.0)
        base.update({k: v for k, v in kw.items() if v is not None})
        return cls(**base)  # type: ignore[arg-type]

    def to_json(self) -> dict[str, object]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, object]) -> BenchOptions:
        data = dict(data)
        data["modules"] = tuple(data["modules"])  # type: ignore[arg-type]
        data["only"] = tuple(data.get("only", ()))  # type: ignore[arg-type]
        data.setdefault("tuned_beside", False)
        return cls(**data)  # type: ignore[arg-type]


__all__ = ["BenchOptions"]
