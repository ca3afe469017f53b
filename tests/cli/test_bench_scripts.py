"""The start-up and streaming benchmarks of docs/manager.md (scripts/bench_cli.py,
scripts/bench_stream.py) run, at a tiny size, and cover every command of the click group.
They print timings; nothing here asserts one (the machine may be loaded)."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest
from keystead.manager.cli import cli
from keystead.manager.cli.pins import leaf_commands

ROOT = Path(__file__).resolve().parents[2]
SCRIPTS = ROOT / "scripts"


def _load(name: str):
    spec = importlib.util.spec_from_file_location(name, SCRIPTS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    assert spec.loader is not None
    sys.modules[name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def bench_cli():
    return _load("bench_cli")


def test_every_command_of_the_group_is_timed_or_says_why(bench_cli):
    assert bench_cli.check_coverage() == []
    named = set(bench_cli.ROWS) | set(bench_cli.NOT_TIMED)
    assert set(leaf_commands(cli)) <= named


def test_a_command_added_without_a_row_stops_the_benchmark(bench_cli, monkeypatch):
    real = bench_cli.commands()
    monkeypatch.setattr(bench_cli, "commands", lambda: {**real, "key frobnicate": object()})
    problems = bench_cli.check_coverage()
    assert len(problems) == 1 and "keystead key frobnicate" in problems[0]
    with pytest.raises(SystemExit, match="key frobnicate"):
        bench_cli.main(["--keys", "12", "--runs", "1"])


def test_a_row_for_a_command_that_is_gone_is_reported(bench_cli, monkeypatch):
    monkeypatch.setitem(bench_cli.ROWS, "key vanish", [])
    assert any("key vanish" in p and "no command" in p for p in bench_cli.check_coverage())


def test_bench_cli_times_every_row_at_a_tiny_size(bench_cli):
    done = subprocess.run([sys.executable, str(SCRIPTS / "bench_cli.py"), "--keys", "12",
                           "--audit", "3", "--runs", "1", "--json"],
                          capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads(done.stdout)
    labels = [s.label for specs in bench_cli.ROWS.values() for s in specs]
    assert [r["command"] for r in report["rows"]] == labels
    for row in report["rows"]:
        assert len(row["runs_ms"]) == len(row["cpu_ms"]) == 1
        assert row["runs_ms"][0] > 0 and row["cpu_ms"][0] >= 0
        assert (row["goal_ms"] is None) is (row["pin_kdfs"] == bench_cli.EXCLUDED)
    assert report["kdf_ms"] > 0 and len(report["loadavg"]) == 3
    assert "| key list --json |" in bench_cli.render(report)


def test_bench_stream_round_trips_a_tiny_file(tmp_path):
    done = subprocess.run([sys.executable, str(SCRIPTS / "bench_stream.py"), "--mib", "3",
                           "--dir", str(tmp_path), "--json"],
                          capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["identical"] is True and report["bytes"] == 3 << 20
    figures = report["figures"]
    for phase in ("keystead encrypt", "keystead decrypt"):
        assert figures[phase]["seconds"] > 0 and figures[phase]["peak_rss_bytes"] > 0
        assert figures[phase]["cpu_seconds"] > 0
    assert list(tmp_path.iterdir()) == []  # the work directory is removed
