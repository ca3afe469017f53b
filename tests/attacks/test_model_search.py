"""The bounded search over the model of the token's rules (tests/attacks/model/).

Under ``compat`` it rediscovers every modelled attack of the catalogue, exactly where the
module leaks (test_compat.py's expectations); under today's ``strict`` it finds the
cross-token role split and nothing but the holes recipes.EXPECTED_HOLES names; under the
rules that close them it finds nothing. docs/policy.md states the invariants and what the
search covers.
"""

from __future__ import annotations

import pytest
from keystead.softhsm_bridge import quirks

from .catalog import ATTACKS
from .model import rules as R
from .model.recipes import (
    EXPECTED_HOLES,
    FOUND_AS_HOLES,
    NOT_MODELLED,
    RECIPES,
    Recipe,
    cross_token_split,
    holes,
)
from .model.search import FULL, MOVE, STRICT, TRANSPORT, Alphabet, describe, search
from .test_compat import COMPAT_ALSO

STRICT_SETS = [R.STRICT_TODAY, R.STRICT_FIXED, R.STRICT_TRUSTED_KEK]
TRUSTED_KEK_HOLE = (
    "without the trusted-KEK rule a user may set CKA_DECRYPT (or copy with it) on the SO's "
    "trusted KEK shared by two tokens, use it for data in one and wrap a sensitive key under "
    "it in the other; the unwrap rule does not close this (docs/policy.md, invariant 4)")


def _compat_leaks(attack: str) -> bool:
    return quirks.has("softhsm2", f"leaks: {attack}") or attack in COMPAT_ALSO


def _shown(recipe: Recipe, rules: R.Rules) -> list:
    res = search(rules, recipe.depth, recipe.alphabet, start=recipe.start())
    return [f for f in res.findings
            if recipe.shows(f.path) and "TA" in f.leaked | f.weakened]


def _unexplained(rules: R.Rules, depth: int, alphabet: Alphabet,
                 start: R.State | None = None) -> list[str]:
    """Every finding that is not one of the holes the rule set is known to have."""
    res = search(rules, depth, alphabet, start=start)
    allowed = EXPECTED_HOLES[rules.name]
    return [describe(rules, f.path, start) for f in res.findings
            if not holes(f.path, start or R.initial()) or
            not holes(f.path, start or R.initial()) <= allowed]


def test_every_catalogue_attack_has_a_recipe() -> None:
    assert {a.name for a in ATTACKS} == ({r.attack for r in RECIPES} | set(NOT_MODELLED)
                                         | set(FOUND_AS_HOLES))
    assert len({r.attack for r in RECIPES}) == len(RECIPES)


def test_attacks_found_as_holes_are_found() -> None:
    """The catalogue attacks without a recipe of their own: the search finds each as its
    hole family under the strict profile before its fixes, and nothing under the fixes."""
    found = search(R.STRICT_TODAY, 4, TRANSPORT).findings
    assert any(cross_token_split(f.path) for f in found)
    assert any("trusted-kek-for-data" in holes(f.path) for f in found)
    assert not search(R.STRICT_RULES, 4, TRANSPORT).findings


@pytest.mark.parametrize("recipe", RECIPES, ids=[r.attack for r in RECIPES])
def test_compat_rediscovers_the_attack(recipe: Recipe) -> None:
    shown = _shown(recipe, R.COMPAT)
    got = [describe(R.COMPAT, f.path, recipe.start()) for f in shown[:1]]
    assert bool(shown) == _compat_leaks(recipe.attack), got


@pytest.mark.parametrize("rules", STRICT_SETS, ids=[r.name for r in STRICT_SETS])
@pytest.mark.parametrize("recipe", RECIPES, ids=[r.attack for r in RECIPES])
def test_strict_refuses_the_attack(recipe: Recipe, rules: R.Rules) -> None:
    assert _unexplained(rules, recipe.depth, recipe.alphabet, recipe.start()) == []


def test_today_strict_has_the_cross_token_split() -> None:
    """The hole the unwrap rule closes: token A wraps a key under the SO's shared KEK (the
    key gets the data role in A), B unwraps it (no role there) and wraps its own sensitive
    key under it, A decrypts that blob with C_Decrypt(CKM_AES_KEY_WRAP)."""
    res = search(R.STRICT_TODAY, 4, TRANSPORT)
    split = [f for f in res.findings if cross_token_split(f.path)]
    assert split, "the search no longer finds the cross-token split under today's rules"
    assert _unexplained(R.STRICT_TODAY, 4, TRANSPORT) == []
    assert not [f for f in search(R.STRICT_FIXED, 4, TRANSPORT).findings
                if cross_token_split(f.path)]


@pytest.mark.parametrize("rules", STRICT_SETS, ids=[r.name for r in STRICT_SETS])
def test_strict_search_finds_only_known_holes(rules: R.Rules) -> None:
    assert _unexplained(rules, 3, STRICT) == []


def test_strict_finds_nothing() -> None:
    """The module's strict rules (STRICT_RULES: the role-split fix and the trusted-KEK rule)."""
    res = search(R.STRICT_RULES, 3, STRICT)
    assert [describe(R.STRICT_RULES, f.path) for f in res.findings] == []


@pytest.mark.xfail(reason=TRUSTED_KEK_HOLE, strict=True)
def test_the_role_split_fix_alone_leaves_the_trusted_kek_hole() -> None:
    """Why the trusted-KEK rule exists: the role-split fix alone (STRICT_FIXED) still leaks."""
    res = search(R.STRICT_FIXED, 3, STRICT)
    assert [describe(R.STRICT_FIXED, f.path) for f in res.findings] == []


def test_closing_both_holes_leaves_nothing() -> None:
    res = search(R.STRICT_TRUSTED_KEK, 3, STRICT)
    assert res.findings == [] and res.states > 10_000


@pytest.mark.slow
@pytest.mark.parametrize("alphabet, depth", [(STRICT, 4), (FULL, 3)],
                         ids=["strict-4", "full-3"])
def test_closing_both_holes_leaves_nothing_deeper(alphabet: Alphabet, depth: int) -> None:
    res = search(R.STRICT_TRUSTED_KEK, depth, alphabet)
    assert [describe(R.STRICT_TRUSTED_KEK, f.path) for f in res.findings] == []


def test_fixed_rules_move_keys_safely() -> None:
    """Keys moved between the three tokens (generate, wrap, unwrap, decrypt) under the
    role-split fix: nothing in four calls (today's rules leak in four)."""
    assert search(R.STRICT_FIXED, 4, MOVE).findings == []
    assert search(R.STRICT_TODAY, 4, MOVE).findings != []


@pytest.mark.slow
def test_fixed_rules_move_keys_safely_in_six_calls() -> None:
    res = search(R.STRICT_FIXED, 6, MOVE)
    assert [describe(R.STRICT_FIXED, f.path) for f in res.findings] == []
    assert res.states > 100_000
