"""The model and the module agree call by call (tests/attacks/model/replay.py).

Each recipe's attack as the search found it under compat, and a seeded sample of the other
sequences it tried, run against keystead with ``wrap_policy = compat`` and with ``strict``
(three tokens in one module instance each): every call answers as the model says (compat
rules, and rules.STRICT_RULES), and every value the model says leaks is the key's value (its
check value matches).
"""

from __future__ import annotations

import pytest

from .model import rules as R
from .model.recipes import RECIPES, Recipe, cross_token_split, holes
from .model.replay import Module, replay, three_tokens
from .model.search import STRICT, TRANSPORT, describe, search

Path = tuple


@pytest.fixture(scope="module")
def compat_module(tmp_path_factory: pytest.TempPathFactory) -> Module:
    return three_tokens(tmp_path_factory.mktemp("model-compat"), "compat")


@pytest.fixture(scope="module")
def strict_module(tmp_path_factory: pytest.TempPathFactory) -> Module:
    return three_tokens(tmp_path_factory.mktemp("model-strict"), "strict")


def _agree(mod: Module, rules: R.Rules, paths: list[Path], start: R.State | None = None,
           leaks: bool = False) -> None:
    for path in paths:
        got = replay(mod, rules, path, start)
        where = f"{mod.policy}: {describe(rules, path, start)}"
        assert got.agree, f"{where}\n model {got.model}\n module {got.module}"
        if leaks:
            assert got.leaked and all(got.leaked.values()), f"{where}: {got.leaked}"


def _recipe_paths(recipe: Recipe) -> tuple[list[Path], list[Path]]:
    """The attack as found under compat (if the module leaks), and five other sequences."""
    res = search(R.COMPAT, recipe.depth, recipe.alphabet, start=recipe.start(), sample=5,
                 seed=7)
    shown = [f.path for f in res.findings
             if recipe.shows(f.path) and "TA" in f.leaked]
    return shown[:1], res.sample


@pytest.mark.parametrize("recipe", RECIPES, ids=[r.attack for r in RECIPES])
def test_recipe_replays(compat_module: Module, strict_module: Module, recipe: Recipe) -> None:
    attack, others = _recipe_paths(recipe)
    _agree(compat_module, R.COMPAT, attack, recipe.start(), leaks=True)
    _agree(compat_module, R.COMPAT, others, recipe.start())
    _agree(strict_module, R.STRICT_RULES, attack + others, recipe.start())


def test_strict_holes_replay(strict_module: Module) -> None:
    """The sequences that leaked under the strict profile before its fixes (the cross-token
    split, a known key laundered into an unwrapped KEK, the SO's trusted KEK used for data)
    are refused by the module call by call as its rules say, and leak nothing."""
    found = search(R.STRICT_TODAY, 4, TRANSPORT).findings
    paths = [f.path for f in found if cross_token_split(f.path)][:4]
    for hole in ("unwrapped-kek", "trusted-kek-for-data"):
        paths += [f.path for f in found if hole in holes(f.path)][:2]
    assert len(paths) >= 5, "the search no longer finds the old holes"
    for path in paths:
        got = replay(strict_module, R.STRICT_RULES, path)
        assert got.agree, f"{describe(R.STRICT_RULES, path)}\n {got.model}\n {got.module}"
        assert not any(got.leaked.values()), describe(R.STRICT_RULES, path)


@pytest.mark.parametrize("rules", [R.COMPAT, R.STRICT_RULES], ids=["compat", "strict"])
def test_sample_replays(compat_module: Module, strict_module: Module, rules: R.Rules) -> None:
    mod = compat_module if rules is R.COMPAT else strict_module
    res = search(rules, 3 if rules.strict else 2, STRICT, sample=40, seed=2026)
    _agree(mod, rules, res.sample)


@pytest.mark.slow
def test_every_flagged_sequence_and_a_sample_replay(strict_module: Module) -> None:
    res = search(R.STRICT_RULES, 3, STRICT, sample=200, seed=11)
    _agree(strict_module, R.STRICT_RULES, [f.path for f in res.findings], leaks=True)
    _agree(strict_module, R.STRICT_RULES, res.sample)
