"""Every command of the CLI runs against each token (keystead and SoftHSMv2, by the `module`
fixture behind `run`), in one walk through a key's life; the walk fails when a command is
added without a step here."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta

from keystead.manager.cli import cli
from keystead.manager.cli.pins import leaf_commands

#: Commands not walked here, and where they run against each token instead.
ELSEWHERE = {
    "init": "the `setup` fixture runs it for every test, on each token",
    "bench": "tests/cli/test_bench.py runs it over keystead, SoftHSMv2 and OpenSSL",
}


def test_every_command_on_each_token(module, run, tmp_path):
    keystead = module.info.kind == "keystead"
    ran: set[str] = set()

    def ok(path: str, *args: str, input: str | None = None,
           code: int | tuple[int, ...] = 0) -> str:
        result = run(*path.split(), *args, input=input)
        assert result.exit_code in (code if isinstance(code, tuple) else (code,)), (
            path, args, result.output)
        ran.add(path)
        return result.output

    def js(path: str, *args: str, input: str | None = None) -> object:
        return json.loads(ok(path, *args, "--json", input=input))

    assert any(t["label"] == "cli" for t in js("token list"))
    label = f"walk-{module.info.kind}"
    ok("token init", "--label", label)
    if keystead:
        ok("token manager-pin")  # the SO sets it again on the CLI's token
    else:
        refused = ok("token manager-pin", code=1)  # a keystead vendor function
        assert len(refused.strip().splitlines()) == 1, refused
    later = (datetime.now(UTC) + timedelta(days=2)).strftime("%Y-%m-%dT%H:%M:%S")
    ok("key create", "walk/dek", "--owner", "walk")
    ok("key create", "walk/kek", "--type", "key-wrapping")
    ok("key create", "walk/pre", "--activate-at", later)
    assert {k["name"] for k in js("key list")} >= {"walk/dek", "walk/kek", "walk/pre"}
    js("key show", "walk/dek", "--usage")
    ok("key activate", "walk/pre")
    js("key policy table")
    js("key policy show", "walk/dek")
    ok("key policy set", "walk/dek", "--usage-limit", "1000", "--yes")

    plain, sealed, opened = tmp_path / "p", tmp_path / "s", tmp_path / "o"
    plain.write_bytes(b"walk " * 3000)
    ok("encrypt", "walk/dek", "--in", str(plain), "--out", str(sealed), "--subject", "walk")
    ok("decrypt", "--in", str(sealed), "--out", str(opened))
    assert opened.read_bytes() == plain.read_bytes()
    wrapped = base64.b64decode(js("datakey", "walk/kek")["wrapped"])
    (tmp_path / "dk").write_bytes(wrapped)
    ok("key rotate", "walk/dek")
    ok("rewrap", "--in", str(sealed), "--out", str(sealed))
    ok("rewrap", "--in", str(tmp_path / "dk"), "--out", str(tmp_path / "dk"))

    # A signing key pair: sign in the token, export the public key, verify.
    ok("key create", "walk/signer", "--type", "private-signature", "--algorithm", "EC",
       "--length", "256")
    sig, pub = tmp_path / "walk.sig", tmp_path / "walk.pem"
    ok("sign", "walk/signer", "--in", str(plain), "--out", str(sig))
    ok("key export-public", "walk/signer", "--out", str(pub))
    assert pub.read_bytes().startswith(b"-----BEGIN PUBLIC KEY-----")
    assert "signature valid" in ok("verify", "walk/signer", "--signature", str(sig),
                                   "--in", str(plain))

    ok("key suspend", "walk/dek")
    ok("key resume", "walk/dek")
    ok("key deactivate", "walk/pre")
    ok("key compromise", "walk/dek", "--version", "1", "--reason", "walk", "--yes")
    assert "walk" in json.dumps(js("key affected", "walk/dek", "--version", "1"))
    ok("key destroy", "walk/kek", "--yes")
    ok("key cancel-destroy", "walk/kek")
    ok("rotate", "--due")
    ok("doctor", code=(0, 3))  # 3: objects of other tests' catalogues share the CLI token
    assert js("audit show", "--key", "walk/dek")
    assert js("audit verify")["ok"]
    ok("module-path")
    assert set(leaf_commands(cli)) - ran == set(ELSEWHERE)
