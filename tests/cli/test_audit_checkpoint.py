"""``keystead audit verify --token-checkpoint SEQ:HASH``: the checkpoint of the token's own
trail that an earlier verify printed pins the trail's history; a trail that no longer
reaches it, or differs there, fails (the store's side of the attack is in
tests/native/test_token_audit.py)."""

from __future__ import annotations

import json

import pytest


def test_a_token_checkpoint_is_printed_and_checked(module, run, run_json):
    if module.info.kind != "keystead":
        pytest.skip("only keystead's token keeps its own trail")
    first = run_json("audit", "verify")
    assert first["ok"], first
    checkpoint = first["token"]["message"].rsplit("checkpoint ", 1)[1]
    seq, digest = checkpoint.split(":")
    assert int(seq) > 0 and len(digest) == 64
    again = run_json("audit", "verify", "--token-checkpoint", checkpoint)
    assert again["ok"] and f"against checkpoint {seq}" in again["token"]["message"]
    for other in (f"{seq}:{'0' * 64}", f"{int(seq) + 1000}:{digest}"):
        result = run("audit", "verify", "--token-checkpoint", other, "--json")
        assert result.exit_code == 1, result.output
        assert not json.loads(result.output)["token"]["ok"]


def test_a_malformed_token_checkpoint_is_a_usage_error(run):
    result = run("audit", "verify", "--token-checkpoint", "12:not-hex")
    assert result.exit_code == 2 and "not a checkpoint SEQ:HASH" in result.output
