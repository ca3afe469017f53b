"""`keystead init` records where the token is; later runs use that record even when their
environment differs (a cron job without the XDG_DATA_HOME of the shell that ran init)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from tests.manager.helpers import MANAGER_GOV_PIN, MANAGER_PIN, MANAGER_SO_PIN

EXE = [sys.executable, "-c", "from keystead.manager.cli import main; main()"]


def _env(tmp_path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if k not in ("KEYSTEAD_CONF", "XDG_DATA_HOME", "KEYSTEAD_CATALOGUE")}
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    env.update(HOME=str(home), KEYSTEAD_SO_PIN=MANAGER_SO_PIN, KEYSTEAD_PIN=MANAGER_PIN,
               KEYSTEAD_MANAGER_PIN=MANAGER_GOV_PIN, **extra)
    return env


def _keystead(env: dict[str, str], catalogue, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([*EXE, "--catalogue", str(catalogue), *args], env=env,
                          capture_output=True, text=True, timeout=120, check=False)


def test_a_token_directory_from_xdg_data_home_is_used_later(tmp_path):
    data = tmp_path / "data"
    catalogue = tmp_path / "catalogue.db"
    at_init = _env(tmp_path, XDG_DATA_HOME=str(data))
    made = _keystead(at_init, catalogue, "init", "--create-token-dir", "--json")
    assert made.returncode == 0, made.stderr
    assert json.loads(made.stdout)["token_dir"] == str(data / "keystead" / "tokens")
    token = _keystead(at_init, catalogue, "token", "init", "--label", "keystead")
    assert token.returncode == 0, token.stderr
    # cron: no XDG_DATA_HOME, so the module's own default would be ~/.local/share/...
    cron = _env(tmp_path)
    listed = _keystead(cron, catalogue, "token", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    assert [t["label"] for t in json.loads(listed.stdout) if t["initialized"]] == ["keystead"]
    created = _keystead(cron, catalogue, "key", "create", "cron/dek")
    assert created.returncode == 0, created.stderr
    # another XDG_DATA_HOME later does not move the token either
    moved = _keystead(_env(tmp_path, XDG_DATA_HOME=str(tmp_path / "elsewhere")), catalogue,
                      "key", "rotate", "cron/dek")
    assert moved.returncode == 0, moved.stderr
    assert not (tmp_path / "home" / ".local" / "share" / "keystead").exists()


def test_a_configuration_file_in_the_environment_wins(tmp_path):
    data = tmp_path / "data"
    catalogue = tmp_path / "catalogue.db"
    made = _keystead(_env(tmp_path, XDG_DATA_HOME=str(data)), catalogue, "init",
                     "--create-token-dir")
    assert made.returncode == 0, made.stderr
    conf = tmp_path / "other.conf"
    conf.write_text(f"token_dir = {tmp_path / 'missing'}\n")
    refused = _keystead(_env(tmp_path, KEYSTEAD_CONF=str(conf)), catalogue, "token", "list")
    assert refused.returncode == 4, refused.stderr
    assert str(tmp_path / "missing") in refused.stderr
