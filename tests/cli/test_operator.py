"""The operator's side of the CLI: nothing silent, one line and a documented exit code for
every failure, escaped output, private files, drill mode and the conveniences."""

from __future__ import annotations

import json
import os

import pytest
from click.testing import CliRunner
from keystead.manager.cli import cli

from tests.manager.helpers import MANAGER_GOV_PIN, MANAGER_PIN

SETUP = 4

#: The PINs a command may need: the user PIN, and on keystead's token the manager's.
PINS = {"KEYSTEAD_PIN": MANAGER_PIN, "KEYSTEAD_MANAGER_PIN": MANAGER_GOV_PIN}


def error_line(result, code: int) -> str:
    assert result.exit_code == code, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), lines
    return lines[0]


def test_missing_catalogue_is_refused_not_created(setup, tmp_path):
    """From cron without KEYSTEAD_CATALOGUE, `rotate --due` used to report 0 due steps."""
    missing = tmp_path / "nowhere" / "catalogue.db"
    for args in (("rotate", "--due"), ("key", "list"), ("audit", "verify"),
                 ("key", "create", "a/dek")):
        result = CliRunner().invoke(cli, ["--catalogue", str(missing), *args],
                                    env={"KEYSTEAD_PIN": MANAGER_PIN})
        assert str(missing) in error_line(result, SETUP)
    assert not missing.parent.exists()
    cron = CliRunner().invoke(cli, ["rotate", "--due"], env={
        "XDG_DATA_HOME": str(tmp_path / "xdg"), "KEYSTEAD_CATALOGUE": None})
    assert "no catalogue at" in error_line(cron, SETUP)


def test_init_records_the_token_and_refuses_twice(setup, run, run_json, tmp_path):
    again = run("init")
    assert "already exists" in error_line(again, 1)
    fresh = tmp_path / "made" / "here" / "catalogue.db"
    result = CliRunner().invoke(cli, [*setup.args()[:4], "--catalogue", str(fresh), "--json",
                                      "init"])
    assert result.exit_code == 0, result.output
    made = json.loads(result.output)
    assert (made["module"], made["token"]) == (setup.args()[1], setup.label)
    assert made["token_dir"] and os.path.isdir(made["token_dir"])
    assert fresh.stat().st_mode & 0o777 == 0o600
    assert (tmp_path / "made").stat().st_mode & 0o777 == 0o700
    # the other commands find module and token in the catalogue, without --module/--token
    listed = CliRunner().invoke(cli, ["--catalogue", str(fresh), "key", "create", "r/dek",
                                      "--json"], env=PINS)
    assert listed.exit_code == 0, listed.output
    assert json.loads(listed.output)["token"] == setup.label


def test_missing_token_directory_is_refused_before_the_module_loads(run, setup, tmp_path):
    var = setup.module.token_env.env_var
    missing = tmp_path / "typo-tokens"
    conf = tmp_path / "typo.conf"
    line = ("token_dir = {}\n" if var == "KEYSTEAD_CONF" else "directories.tokendir = {}\n")
    conf.write_text(line.format(missing))
    result = run("key", "create", "t/dek", env={var: str(conf)})
    assert f"token directory {missing}" in error_line(result, SETUP)
    assert not missing.exists()  # the module did not get to create it


def test_malformed_keystead_conf_is_one_line(run, setup, tmp_path):
    if setup.module.name != "keystead":
        pytest.skip("KEYSTEAD_CONF is keystead's")
    conf = tmp_path / "bad.conf"
    conf.write_text("token_dir\nnonsense = 1\n")
    line = error_line(run("key", "create", "t/dek", env={"KEYSTEAD_CONF": str(conf)}), SETUP)
    assert "malformed keystead configuration" in line and str(conf) in line


@pytest.mark.parametrize("env, args, code, fragment", [
    ({"KEYSTEAD_NOW": "garbage"}, ("--drill", "key", "list"), SETUP, "not an ISO 8601 time"),
    ({"KEYSTEAD_NOW": "2030-01-01"}, ("key", "list"), SETUP, "only in drill mode"),
    ({}, ("key", "create", "f/dek", "--activate-at", "9999-12-31"), 1,
     "too far in the future"),
    ({}, ("key", "create", "bad\nname"), 1, "invalid key name 'bad\\nname'"),
    ({}, ("key", "create", "f/dek", "--oup", "18m"), 2, "ambiguous"),
])
def test_bad_input_is_one_line(run, env, args, code, fragment):
    result = run(*args, env=env)
    assert result.exit_code == code, result.output
    assert fragment in result.output and "Traceback" not in result.output
    if code != 2:
        error_line(result, code)


def test_corrupted_catalogue_is_one_line(run, setup):
    setup.catalogue.write_bytes(b"\0garbage" * 512)
    for suffix in ("-wal", "-shm"):
        setup.catalogue.with_name(setup.catalogue.name + suffix).unlink(missing_ok=True)
    assert "not a readable keystead catalogue" in error_line(run("key", "list"), SETUP)


def test_errors_are_json_with_json(run):
    for args in (("--json", "key", "show", "no/such"), ("key", "show", "no/such", "--json")):
        result = run(*args)
        assert result.exit_code == 1
        assert json.loads(result.output) == {"error": "no key named 'no/such'", "code": 1}


def test_json_before_or_after_the_subcommand(run, run_json):
    run("key", "create", "j/dek")
    before = run("--json", "key", "list")
    assert before.exit_code == 0 and json.loads(before.output) == run_json("key", "list")


def test_control_characters_cannot_forge_audit_lines(run):
    forged = "eve\n9999 2026-01-01 00:00:00Z  root  key:create"
    created = run("key", "create", "a/dek", "--reason", "ok\x1b[2J\rreason",
                  env={"KEYSTEAD_ACTOR": forged})
    assert created.exit_code == 0, created.output
    out = run("audit", "show").output
    assert "root" not in out.splitlines()[-1].split("eve")[0]
    assert not any(line.startswith("9999") for line in out.splitlines())
    assert "eve\\x0a9999" in out and "\\x1b[2J\\x0dreason" in out and "\x1b" not in out


def test_version_option():
    result = CliRunner().invoke(cli, ["--version"])
    assert result.exit_code == 0 and result.output.startswith("keystead ")


def test_audit_show_matches_action_families(run, run_json, tmp_path):
    run("key", "create", "o/dek")
    blob = tmp_path / "b.kse"
    run("encrypt", "o/dek", "--out", str(blob), input="x")
    run("key", "suspend", "o/dek")
    assert run("decrypt", "--in", str(blob), "--out", str(tmp_path / "p"), "--override",
               "--reason", "incident").exit_code == 0
    assert [r["action"] for r in run_json("audit", "show", "--action", "override")] == [
        "decrypt:override"]
    assert "decrypt:override" in [r["action"] for r in
                                  run_json("audit", "show", "--action", "decrypt")]
    assert {r["action"].split(":")[0] for r in
            run_json("audit", "show", "--action", "transition")} == {"transition"}


def test_refused_and_failed_decryptions_are_in_the_audit(run, run_json, tmp_path):
    run("key", "create", "r/dek")
    blob = tmp_path / "b.kse"
    run("encrypt", "r/dek", "--out", str(blob), "--aad", "a", input="x")
    assert run("decrypt", "--in", str(blob), "--aad", "b").exit_code == 1
    last = run_json("audit", "show", "--action", "decrypt")[-1]
    assert last["result"].startswith("failed") and last["version"] == 1
    assert last["details"]["host"] and last["details"]["os_user"]


def test_encrypt_ok_only_after_the_output_is_written(run, run_json, tmp_path):
    run("key", "create", "w/dek")
    result = run("encrypt", "w/dek", "--out", str(tmp_path / "no" / "dir" / "x.kse"),
                 input="x")
    assert result.exit_code == 1 and "No such file or directory" in result.output
    records = run_json("audit", "show", "--action", "encrypt")
    assert [r["result"] for r in records] == ["failed: No such file or directory"]


def test_outputs_are_private(run, tmp_path):
    run("key", "create", "p/dek")
    blob, out = tmp_path / "b.kse", tmp_path / "plain.txt"
    out.write_text("old")
    out.chmod(0o644)
    assert run("encrypt", "p/dek", "--out", str(blob), input="secret").exit_code == 0
    assert run("decrypt", "--in", str(blob), "--out", str(out)).exit_code == 0
    assert out.read_text() == "secret"
    assert blob.stat().st_mode & 0o777 == 0o600 and out.stat().st_mode & 0o777 == 0o600


def test_decrypt_finds_the_token_in_the_catalogue(run, setup, tmp_path):
    run("key", "create", "home/dek")
    blob = tmp_path / "b.kse"
    run("encrypt", "home/dek", "--out", str(blob), input="found")
    result = CliRunner().invoke(cli, ["--catalogue", str(setup.catalogue), "decrypt", "--in",
                                      str(blob)], env={**PINS, "KEYSTEAD_TOKEN": None,
                                                       "KEYSTEAD_MODULE_NAME": None})
    assert result.exit_code == 0 and result.output == "found", result.output


def test_no_pin_and_no_terminal_is_an_error_not_a_prompt(run, setup):
    result = run("key", "create", "n/dek", pin=False)
    line = error_line(result, SETUP)
    # on keystead's token the manager logs in with its own credential (docs/authority.md)
    keystead = setup.module.info.kind == "keystead"
    option, var = (("--manager-pin-file", "KEYSTEAD_MANAGER_PIN") if keystead
                   else ("--pin-file", "KEYSTEAD_PIN"))
    assert "no terminal" in line and f"keystead {option} FILE COMMAND" in line and var in line, line
    assert "PIN:" not in result.output


def test_drill_mode_writes_nothing(run, run_json, setup):
    run("key", "create", "d/dek", "--oup", "30d")
    records = len(run_json("audit", "show"))
    before = setup.catalogue.read_bytes()
    drill = run("--drill", "rotate", "--due", "--json", env={"KEYSTEAD_NOW": "2099-01-01"})
    assert drill.exit_code == 3  # listed as due, not done
    assert [d["action"] for d in json.loads(drill.stdout)] == ["rotate"]
    assert "drill mode" in drill.stderr
    assert len(run_json("audit", "show")) == records
    assert setup.catalogue.read_bytes() == before
    refused = run("--drill", "key", "rotate", "d/dek", env={"KEYSTEAD_NOW": "2099-01-01"})
    assert "drill mode writes nothing real" in refused.output and refused.exit_code == SETUP


def test_dry_run_exit_codes(run):
    assert run("rotate", "--due", "--dry-run").exit_code == 0  # nothing due
    run("key", "create", "due/dek", "--activate-at", "2000-01-01T00:00:00", "--usage-limit",
        "1")
    run("encrypt", "due/dek", input="x")
    assert run("rotate", "--due", "--dry-run").exit_code == 3


def test_min_decrypt_version_is_confirmed_and_lowerable(run, run_json):
    run("key", "create", "m/dek")
    run("key", "rotate", "m/dek")
    no = run("key", "policy", "set", "m/dek", "--min-decrypt-version", "2", input="n\n")
    assert no.exit_code == 1 and "Raise the minimum decryption version" in no.output
    assert run_json("key", "policy", "show", "m/dek")["min_decrypt_version"] == 1
    run("key", "policy", "set", "m/dek", "--min-decrypt-version", "2", input="y\n")
    lower = run("key", "policy", "set", "m/dek", "--min-decrypt-version", "1", input="y\n")
    assert lower.exit_code == 0 and "Lower the minimum decryption version" in lower.output
    changes = [r for r in run_json("audit", "show", "--action", "key:policy")]
    assert [r["details"]["changed"]["min_decrypt_version"] for r in changes] == [[1, 2], [2, 1]]


def test_destroy_waits_30_days_and_refuses_after_0(run, run_json):
    run("key", "create", "w/dek")
    result = run("key", "destroy", "w/dek", "--after", "0", "--yes")
    assert "short-destroy-wait" in error_line(result, 1)
    sched = run_json("key", "destroy", "w/dek", "--yes")["versions"][0]
    assert sched["state"] == "deactivated"
    show = run("key", "show", "w/dek").output
    assert "destruction scheduled for" in show and "it protects nothing" in show


def test_shell_completion_completes_key_names(run, setup):
    run("key", "create", "payments/dek")
    run("key", "create", "payroll/dek")
    run("key", "create", "reports/dek")
    env = {"_KEYSTEAD_COMPLETE": "bash_complete",
           "COMP_WORDS": f"keystead --catalogue {setup.catalogue} key show pay",
           "COMP_CWORD": "5"}
    result = CliRunner().invoke(cli, [], env=env, prog_name="keystead")
    names = [line.split(",", 1)[1] for line in result.output.splitlines() if "," in line]
    assert names == ["payments/dek", "payroll/dek"], result.output
