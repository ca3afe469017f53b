"""The keystead CLI through click's CliRunner, against keystead's token and SoftHSMv2."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime

import pytest
from click.testing import CliRunner
from keystead.manager.cli import COMMANDS, cli

from tests.manager.helpers import MANAGER_GOV_PIN, MANAGER_PIN


def one_line_error(result, fragment: str, code: int = 1) -> None:
    assert result.exit_code == code, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: ") and fragment in lines[0], lines


def test_help_lists_every_command():
    out = CliRunner().invoke(cli, ["--help"]).output
    for name in ("token", "key", "rotate", "audit", "module-path"):
        assert name in out
    key_help = CliRunner().invoke(cli, ["key", "--help"]).output
    for sub in ("create", "list", "show", "activate", "suspend", "resume", "deactivate",
                "compromise", "destroy", "cancel-destroy", "rotate", "policy", "affected"):
        assert sub in key_help
    assert all(len(entry) == 3 for entry in COMMANDS)


def test_no_pin_option_on_the_command_line():
    result = CliRunner().invoke(cli, ["--pin", "1234", "key", "list"])
    assert result.exit_code == 2 and "No such option" in result.output


def test_module_path(monkeypatch, tmp_path):
    fake = tmp_path / "libkeystead-pkcs11.so"
    fake.write_bytes(b"")
    monkeypatch.setenv("KEYSTEAD_MODULE", str(fake))
    result = CliRunner().invoke(cli, ["module-path"])
    assert result.exit_code == 0 and result.output.strip() == str(fake)
    result = CliRunner().invoke(cli, ["module-path", "--json"])
    assert json.loads(result.output) == {"module_path": str(fake)}
    monkeypatch.setenv("KEYSTEAD_MODULE", str(tmp_path / "missing.so"))
    one_line_error(CliRunner().invoke(cli, ["module-path"]), "missing.so", code=4)


def test_token_list(run_json, setup):
    tokens = run_json("token", "list")
    assert setup.label in [t["label"] for t in tokens if t["initialized"]]
    assert any(not t["initialized"] for t in tokens)  # the always-free slot


def test_token_init_with_pin_files(run, run_json, tmp_path, setup):
    so = tmp_path / "so.pin"
    so.write_text("so-secret-99\n")
    user = tmp_path / "user.pin"
    user.write_text("user-secret-99\n")
    mgr = tmp_path / "manager.pin"
    mgr.write_text("manager-secret-99\n")
    label = f"init-{setup.module.name}"
    result = run("--pin-file", str(user), "--manager-pin-file", str(mgr), "token", "init",
                 "--label", label, "--so-pin-file", str(so), pin=False)
    assert result.exit_code == 0, result.output
    assert "initialised token" in result.output
    assert label in [t["label"] for t in run_json("token", "list")]


def test_key_life_through_the_cli(run, run_json):
    created = run_json("key", "create", "shop/dek", "--oup", "1y")
    assert created["versions"][0]["state"] == "active" and created["policy"]["oup"] == "1y"
    assert [k["name"] for k in run_json("key", "list")] == ["shop/dek"]
    assert run_json("key", "suspend", "shop/dek", "--reason", "audit")["versions"][0][
        "state"] == "suspended"
    assert run_json("key", "resume", "shop/dek")["versions"][0]["state"] == "active"
    rotated = run_json("key", "rotate", "shop/dek")
    assert rotated["versions"][0]["version"] == 2
    occurred = datetime.now(UTC).replace(microsecond=0).isoformat()
    comp = run_json("key", "compromise", "shop/dek", "--version", "1", "--reason", "leak",
                    "--occurred", occurred, "--yes")
    assert comp["compromised"]["state"] == "compromised" and comp["new_version"] is None
    assert comp["compromised"]["compromise_occurred_at"] == occurred
    run_json("key", "policy", "set", "shop/dek", "--short-destroy-wait", "--yes",
             "--reason", "test environment")
    sched = run_json("key", "destroy", "shop/dek", "--version", "1", "--after", "0", "--yes")
    assert sched["versions"][0]["destroy_due"]
    due = run_json("rotate", "--due")
    assert [(d["action"], d["version"], d["result"]) for d in due] == [("destroy", 1, "ok")]
    show = run_json("key", "show", "shop/dek")
    assert [v["state"] for v in show["versions"]] == ["destroyed", "active"]
    assert show["capability_note"]
    assert [h["to"] for h in show["versions"][0]["history"]] == [
        "pre-activation", "active", "suspended", "active", "deactivated", "compromised",
        "destroyed"]
    verify = run_json("audit", "verify")
    assert verify["ok"] and verify["records"] > 10
    assert verify["token"]["message"].startswith("token audit:")
    mine = run_json("audit", "show", "--key", "shop/dek", "--action", "transition:compromised")
    assert len(mine) == 1 and mine[0]["actor"] == "cli-tester"


def test_human_output_is_tables(run):
    assert run("key", "create", "t/dek").exit_code == 0
    out = run("key", "list").output.splitlines()
    assert out[0].split()[:3] == ["NAME", "TYPE", "ALG"] and set(out[1]) <= {"-", " "}
    show = run("key", "show", "t/dek").output
    assert "capability:" in show and "VERSION" in show and "history" in show


def test_encrypt_decrypt_and_affected(run, run_json, tmp_path):
    run("key", "create", "files/dek")
    plain = tmp_path / "p.txt"
    plain.write_bytes(b"payroll")
    blob = tmp_path / "p.kse"
    r = run("encrypt", "files/dek", "--in", str(plain), "--out", str(blob), "--aad", "hr",
            "--subject", "payroll.csv")
    assert r.exit_code == 0, r.output
    out = tmp_path / "back.txt"
    assert run("decrypt", "--in", str(blob), "--out", str(out), "--aad", "hr").exit_code == 0
    assert out.read_bytes() == b"payroll"
    affected = run_json("key", "affected", "files/dek", "--version", "1")
    assert [a["reason"] for a in affected] == ["payroll.csv"]
    one_line_error(run("decrypt", "--in", str(blob), "--aad", "other"), "does not authenticate")


@pytest.mark.parametrize("args, fragment", [
    (("key", "suspend", "nope/key"), "no key named 'nope/key'"),
    (("key", "create", "x/dek", "--oup", "3y"), "exceeds the policy maximum 2y"),
    (("key", "cancel-destroy", "x/dek"), "no key named"),
    (("key", "affected", "nope", "--version", "1"), "no key named"),
])
def test_errors_are_one_line(run, args, fragment):
    one_line_error(run(*args), fragment)


def test_illegal_transition_is_one_line(run):
    run("key", "create", "a/dek")
    run("key", "deactivate", "a/dek")
    one_line_error(run("key", "suspend", "a/dek"), "cannot move a deactivated key to suspended")


def test_bad_option_values_are_usage_errors(run):
    result = run("key", "create", "a/dek", "--oup", "soon")
    assert result.exit_code == 2 and "is not a duration" in result.output


def test_pin_from_prompt_and_wrong_pin(run, setup, monkeypatch):
    monkeypatch.setattr("keystead.manager.cli.context.has_terminal", lambda: True)
    # on keystead's token the manager logs in with its own credential (docs/authority.md)
    keystead = setup.module.info.kind == "keystead"
    pin, prompt = (MANAGER_GOV_PIN, "Manager PIN") if keystead else (MANAGER_PIN, "User PIN")
    result = run("key", "create", "p/dek", pin=False, input=f"{pin}\n")
    assert result.exit_code == 0 and prompt in result.output
    assert pin not in result.output  # hidden input is not echoed
    wrong = run("key", "rotate", "p/dek", pin=False, input="wrong-pin\n")
    assert wrong.exit_code == 1 and "wrong PIN (CKR_PIN_INCORRECT)" in wrong.output
    assert "Traceback" not in wrong.output


def test_destructive_commands_ask(run, run_json):
    run("key", "create", "c/dek")
    result = run("key", "compromise", "c/dek", "--reason", "maybe", input="n\n")
    assert result.exit_code == 1 and "not confirmed: nothing was changed" in result.output
    result = run("key", "destroy", "c/dek", input="n\n")
    assert result.exit_code == 1
    assert run_json("key", "show", "c/dek")["versions"][0]["state"] == "active"


def test_policy_command(run, run_json):
    table = run_json("key", "policy")
    dek = next(r for r in table if r["type"] == "data-encryption")
    assert (dek["oup_max"], dek["rup_extra_max"]) == ("2y", "3y")
    run("key", "create", "pol/dek")
    assert run_json("key", "policy", "table") == table
    changed = run_json("key", "policy", "set", "pol/dek", "--oup", "180d", "--usage-limit",
                       "1000")
    assert changed["policy"]["oup"] == "180d" and changed["policy"]["usage_limit"] == 1000
    assert run_json("key", "policy", "show", "pol/dek") == changed
    assert run_json("key", "policy", "pol/dek") == changed  # `show` is the default
    run("key", "rotate", "pol/dek")
    assert run_json("key", "policy", "set", "pol/dek", "--min-decrypt-version", "2", "--yes")[
        "min_decrypt_version"] == 2


def test_rotate_due_dry_run_and_idempotence(run, run_json):
    run("key", "create", "d/dek", "--usage-limit", "2", "--activate-at", "2000-01-01")
    for _ in range(2):
        run("encrypt", "d/dek", input="x")
    dry = run("rotate", "--due", "--dry-run", "--json")
    assert dry.exit_code == 3  # steps are due
    assert [d["action"] for d in json.loads(dry.output)] == ["rotate"]
    assert [d["new_version"] for d in run_json("rotate", "--due")] == [2]
    assert run_json("rotate", "--due") == []
    result = run("rotate")
    assert result.exit_code == 2 and "say --due" in result.output


def test_every_command_speaks_json(run, run_json):
    run("key", "create", "j/dek")
    for args in (("token", "list"), ("key", "list"), ("key", "show", "j/dek"),
                 ("key", "policy"), ("key", "policy", "j/dek"),
                 ("key", "affected", "j/dek", "--version", "1"), ("audit", "show"),
                 ("audit", "verify"), ("rotate", "--due", "--dry-run")):
        run_json(*args)
    sealed = run_json("encrypt", "j/dek", input="hello")
    assert (sealed["key"], sealed["version"]) == ("j/dek", 1)
    opened = run_json("decrypt", input=json.dumps(sealed))
    assert base64.b64decode(opened["plaintext"]) == b"hello"


def test_policy_file_tightens_creation(run, tmp_path):
    policy = tmp_path / "policy.toml"
    policy.write_text('[data-encryption]\noup = "90d"\n')
    result = run("--policy", str(policy), "key", "create", "p/dek", "--oup", "1y")
    assert result.exit_code == 1 and "exceeds the policy maximum 90d" in result.output
    assert run("--policy", str(policy), "key", "create", "p/dek", "--oup", "30d").exit_code == 0
    bad = tmp_path / "bad.toml"
    bad.write_text('[nonsense]\noup = "1d"\n')
    result = run("--policy", str(bad), "key", "list")
    assert result.exit_code == 1 and f"{bad}: [nonsense] is not a key type" in result.output


@pytest.mark.parametrize("module_arg, fragment", [
    ("bogus", "unknown module 'bogus'"),
    ("/nonexistent/libpkcs11.so", "/nonexistent/libpkcs11.so: no such file"),
])
def test_bad_module_is_one_line(setup, module_arg, fragment):
    result = CliRunner().invoke(cli, ["--module", module_arg, "--catalogue",
                                      str(setup.catalogue), "token", "list"])
    one_line_error(result, fragment, code=4)


def test_unknown_token_is_one_line(run, setup):
    result = CliRunner().invoke(
        cli, [*setup.args()[:2], "--token", "no-such-token", "--catalogue",
              str(setup.catalogue), "key", "create", "x/dek"], env={"KEYSTEAD_PIN": "1"})
    one_line_error(result, "no initialised token labelled 'no-such-token'")


def test_token_init_prompts_twice_for_new_pins(run, run_json, setup, monkeypatch):
    monkeypatch.setattr("keystead.manager.cli.context.has_terminal", lambda: True)
    label = f"prompted-{setup.module.name}"
    answers = "so-pin-4242\nso-pin-4242\nuser-pin-4242\nuser-pin-4242\n"
    prompts = 2
    if setup.module.info.kind == "keystead":  # and the manager's PIN
        answers += "mgr-pin-4242\nmgr-pin-4242\n"
        prompts = 3
    result = run("token", "init", "--label", label, pin=False, input=answers,
                 env={"KEYSTEAD_SO_PIN": ""})
    assert result.exit_code == 0, result.output
    assert result.output.count("Repeat for confirmation") == prompts
    assert "4242" not in result.output
    assert label in [t["label"] for t in run_json("token", "list")]
