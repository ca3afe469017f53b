"""What the operator reads: completion for every command, usage errors on one line, a
confirmation without an answer that says what to do, and token init naming each PIN."""

from __future__ import annotations

import json

import click
import pytest
from click.testing import CliRunner
from keystead.manager.cli import cli
from keystead.manager.cli.options import complete_key_names
from keystead.manager.cli.pins import leaf_commands


def _complete(setup, words: str) -> list[str]:
    line = f"keystead --catalogue {setup.catalogue} {words}"
    env = {"_KEYSTEAD_COMPLETE": "bash_complete", "COMP_WORDS": line,
           "COMP_CWORD": str(len(line.split()) - 1)}
    result = CliRunner().invoke(cli, [], env=env, prog_name="keystead")
    return [row.split(",", 1)[1] for row in result.output.splitlines() if "," in row]


def test_every_argument_completes():
    """Every positional argument of every command completes (key names)."""
    for path, command in leaf_commands(cli).items():
        for param in command.params:
            if isinstance(param, click.Argument):
                assert param._custom_shell_complete is complete_key_names, (path, param.name)


@pytest.mark.parametrize("command", ["encrypt", "datakey", "key show"])
def test_key_names_complete_for_data_commands(run, setup, command):
    for name in ("payments/dek", "payroll/kek", "reports/dek"):
        assert run("key", "create", name, "--type",
                   "key-wrapping" if name.endswith("kek") else "data-encryption").exit_code == 0
    assert _complete(setup, f"{command} pay") == ["payments/dek", "payroll/kek"]


def test_file_options_complete_paths(setup, tmp_path, monkeypatch):
    (tmp_path / "backup.tar").write_bytes(b"x")
    monkeypatch.chdir(tmp_path)
    line = f"keystead --catalogue {setup.catalogue} encrypt k --in back"
    env = {"_KEYSTEAD_COMPLETE": "bash_complete", "COMP_WORDS": line, "COMP_CWORD": "6"}
    result = CliRunner().invoke(cli, [], env=env, prog_name="keystead")
    assert result.output.splitlines()[0].startswith("file"), result.output


@pytest.mark.parametrize("args, fragment", [
    (("key", "show"), "Missing argument 'NAME'"),
    (("key", "create", "a/dek", "--bogus"), "No such option '--bogus'"),
    (("keyy",), "No such command 'keyy'"),
])
def test_usage_errors_are_one_line(run, args, fragment):
    result = run(*args)
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith("Error: ") and fragment in lines[0]
    assert "(usage: " in lines[0] and " --help)" in lines[0]


def test_a_confirmation_without_an_answer_says_what_to_do(run, run_json):
    assert run("key", "create", "c/dek").exit_code == 0
    result = run("key", "destroy", "c/dek")  # no input: no terminal, end of input
    assert result.exit_code == 1, result.output
    assert "Aborted" not in result.output
    assert "nothing was changed; add --yes" in result.output
    result = run("key", "compromise", "c/dek", "--reason", "maybe", input="n\n")
    assert result.exit_code == 1 and "not confirmed: nothing was changed" in result.output
    assert "add --yes" in result.output
    assert run_json("key", "show", "c/dek")["versions"][0]["state"] == "active"


def test_token_init_names_the_manager_pin(module, run, run_json):
    if module.info.kind != "keystead":
        pytest.skip("the manager PIN is keystead's")
    result = run("token", "init", "--label", "short-manager", env={"KEYSTEAD_MANAGER_PIN": "x"})
    assert result.exit_code == 1, result.output
    assert "the manager PIN must be" in result.output and "user PIN" not in result.output
    assert "short-manager" not in [t["label"] for t in run_json("token", "list")]


def test_a_json_list_is_one_element_per_line(run, run_json):
    for name in ("j/a", "j/b"):
        assert run("key", "create", name).exit_code == 0
    result = run("key", "list", "--json")
    assert result.exit_code == 0, result.output
    lines = result.output.strip().splitlines()
    assert lines[0] == "[" and lines[-1] == "]" and len(lines) == 4
    assert [json.loads(line.strip().rstrip(","))["name"] for line in lines[1:-1]] == ["j/a", "j/b"]
    assert json.loads(result.output) == run_json("key", "list")


def test_a_token_without_a_manager_pin_says_how_to_set_one(module, run):
    """A token made by another tool (pkcs11-tool --init-token, --init-pin) has a user PIN but
    no manager PIN: the refusal names the manager PIN and the command that sets it."""
    if module.info.kind != "keystead":
        pytest.skip("the manager PIN is keystead's")
    from keystead.softhsm_bridge import provision

    provision.provision(module.info, label="no-manager", so_pin="so-pin-1234",
                        user_pin="user-pin-1234")
    result = run("--token", "no-manager", "key", "create", "m/dek")
    assert result.exit_code == 1, result.output
    assert "the token has no manager PIN yet (set one with `keystead token manager-pin`)" \
        in result.output, result.output
    assert "user PIN" not in result.output
