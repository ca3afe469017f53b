"""Which PIN each command logs in with: data commands with the user PIN, governing commands
with the manager PIN (keystead's token), and the table of docs/manager.md says the same."""

from __future__ import annotations

import base64
import re
from pathlib import Path

from click.testing import CliRunner
from keystead.manager.cli import cli
from keystead.manager.cli.pins import PINS, leaf_commands

DOCS = Path(__file__).resolve().parents[2] / "docs" / "manager.md"
NO_MANAGER_PIN = {"KEYSTEAD_MANAGER_PIN": ""}
WRONG_USER_PIN = {"KEYSTEAD_PIN": "not-the-user-pin"}


def test_every_command_names_its_pin_in_its_help():
    commands = leaf_commands(cli)
    assert set(commands) == set(PINS), "a command without a PIN entry, or a stale entry"
    for path in commands:
        result = CliRunner().invoke(cli, [*path.split(), "--help"])
        assert result.exit_code == 0, result.output
        assert f"PIN: {PINS[path]}." in " ".join(result.output.split()), path


def test_docs_table_matches_the_cli():
    text = DOCS.read_text(encoding="utf-8")
    table = text[text.index("| command | PIN |"):]
    table = table[: table.index("\n\n")]
    rows = dict(re.findall(r"^\| `([^`]+)` \| (.+) \|$", table, re.MULTILINE))
    assert rows == PINS


def _key(run, name: str, key_type: str = "data-encryption") -> None:
    created = run("key", "create", name, "--type", key_type)
    assert created.exit_code == 0, created.output


def test_data_commands_need_no_manager_pin(run, tmp_path):
    _key(run, "pins/dek")
    _key(run, "pins/kek", "key-wrapping")
    plain, sealed, opened = tmp_path / "p", tmp_path / "s", tmp_path / "o"
    plain.write_bytes(b"payroll")
    enc = run("encrypt", "pins/dek", "--in", str(plain), "--out", str(sealed),
              env=NO_MANAGER_PIN)
    assert enc.exit_code == 0, enc.output
    dec = run("decrypt", "--in", str(sealed), "--out", str(opened), env=NO_MANAGER_PIN)
    assert dec.exit_code == 0, dec.output
    assert opened.read_bytes() == b"payroll"
    dk = run("datakey", "pins/kek", "--out", str(tmp_path / "dk"), env=NO_MANAGER_PIN)
    assert dk.exit_code == 0, dk.output
    rewrap = run("rewrap", "--in", str(sealed), "--out", str(sealed), env=NO_MANAGER_PIN)
    assert rewrap.exit_code == 0, rewrap.output
    shown = run("key", "show", "pins/dek", "--usage", env=NO_MANAGER_PIN)
    assert shown.exit_code == 0, shown.output


def test_data_commands_log_in_with_the_user_pin(run, tmp_path):
    """A wrong user PIN fails a data command even with the right manager PIN: the command
    logged in as the user, not as the manager."""
    _key(run, "pins/dek")
    enc = run("encrypt", "pins/dek", "--json", input="x", env=WRONG_USER_PIN)
    assert enc.exit_code == 1, enc.output
    assert "wrong PIN" in enc.output or "PIN_INCORRECT" in enc.output
    blob = run("encrypt", "pins/dek", "--json", input="x")
    assert blob.exit_code == 0, blob.output
    token_blob = base64.b64decode(__import__("json").loads(blob.output)["blob"])
    (tmp_path / "b").write_bytes(token_blob)
    dec = run("decrypt", "--in", str(tmp_path / "b"), env=WRONG_USER_PIN)
    assert dec.exit_code == 1, dec.output


def test_governing_commands_need_the_manager_pin(module, run):
    _key(run, "pins/dek")
    if module.info.kind != "keystead":
        rotated = run("key", "rotate", "pins/dek", env=NO_MANAGER_PIN)
        assert rotated.exit_code == 0, rotated.output  # one PIN serves both elsewhere
        return
    for args in (["key", "create", "pins/other"], ["key", "rotate", "pins/dek"],
                 ["key", "suspend", "pins/dek"]):
        result = run(*args, env=NO_MANAGER_PIN)
        assert result.exit_code == 4, result.output
        assert "manager PIN" in result.output


def test_an_override_is_governing(module, run, tmp_path):
    _key(run, "pins/dek")
    blob = run("encrypt", "pins/dek", "--json", input="x")
    (tmp_path / "b").write_bytes(base64.b64decode(__import__("json").loads(blob.output)["blob"]))
    assert run("key", "suspend", "pins/dek").exit_code == 0
    args = ("decrypt", "--in", str(tmp_path / "b"), "--override", "--reason", "incident 7")
    if module.info.kind == "keystead":
        refused = run(*args, env=NO_MANAGER_PIN)
        assert refused.exit_code == 4, refused.output
        assert "manager PIN" in refused.output
    opened = run(*args)
    assert opened.exit_code == 0, opened.output
    assert opened.stdout_bytes == b"x"
