"""``keystead token init`` is all or nothing and never makes a second token with a label in
use, on keystead and SoftHSMv2."""

from __future__ import annotations

from .test_cli import one_line_error


def _labels(run_json) -> list[str]:
    return [t["label"] for t in run_json("token", "list") if t["initialized"]]


def test_duplicate_label_is_refused(run, run_json, setup):
    label = f"dup-{setup.module.name}"
    env = {"KEYSTEAD_SO_PIN": "so-pin-1111", "KEYSTEAD_PIN": "user-pin-1111"}
    assert run("token", "init", "--label", label, env=env).exit_code == 0
    for so_pin in ("so-pin-1111", "wrong-so-pin"):
        again = run("token", "init", "--label", label,
                    env={**env, "KEYSTEAD_SO_PIN": so_pin})
        one_line_error(again, f"a token labelled {label!r} already exists")
    assert _labels(run_json).count(label) == 1


def test_refused_user_pin_leaves_no_token(run, run_json, setup):
    label = f"half-{setup.module.name}"
    before = run_json("token", "list")
    result = run("token", "init", "--label", label,
                 env={"KEYSTEAD_SO_PIN": "so-pin-2222", "KEYSTEAD_PIN": "1"})
    one_line_error(result, "user PIN must be")
    assert label not in _labels(run_json)
    assert run_json("token", "list") == before


def test_refused_so_pin_leaves_no_token(run, run_json, setup):
    label = f"noso-{setup.module.name}"
    before = run_json("token", "list")
    result = run("token", "init", "--label", label,
                 env={"KEYSTEAD_SO_PIN": "x" * 300, "KEYSTEAD_PIN": "user-pin-3333"})
    one_line_error(result, "SO PIN must be")
    assert run_json("token", "list") == before
