"""``keystead key create --type private-signature``, ``keystead sign``, ``keystead verify``
and ``keystead key export-public`` through click's CliRunner, against keystead's token and
SoftHSMv2: the commands as docs/manager.md ("Signing") shows them. A case is skipped only
when the token's C_GetMechanismList lacks the key-pair generation mechanism it needs."""

from __future__ import annotations

import base64
import json

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding

from tests.cli.test_cli import one_line_error
from tests.manager.test_keypairs import b64url_decode, need_pairs

MESSAGE = b"artifact-1.0.tar.gz contents\n"


@pytest.fixture
def message(tmp_path):
    path = tmp_path / "artifact.tar.gz"
    path.write_bytes(MESSAGE)
    return path


def test_sign_export_verify_ecdsa(run, run_json, module, message, tmp_path):
    need_pairs(module, "EC")
    made = run("key", "create", "release/signer", "--type", "private-signature",
               "--algorithm", "EC", "--length", "384")
    assert made.exit_code == 0, made.output
    assert made.output == "created release/signer v1 (EC-P384, private-signature): active\n"
    sig, pub = tmp_path / "artifact.sig", tmp_path / "signer.pem"
    done = run("sign", "release/signer", "--in", str(message), "--out", str(sig),
               "--subject", "release 1.0")
    assert done.exit_code == 0 and done.output == "", done.output
    assert run("key", "export-public", "release/signer", "--out", str(pub)).exit_code == 0
    public = serialization.load_pem_public_key(pub.read_bytes())
    public.verify(sig.read_bytes(), MESSAGE, ec.ECDSA(hashes.SHA384()))  # raises if bad
    ok = run("verify", "release/signer", "--signature", str(sig), "--in", str(message))
    assert ok.exit_code == 0 and ok.output == "release/signer v1: signature valid\n"
    message.write_bytes(MESSAGE + b"tampered")
    bad = run("verify", "release/signer", "--signature", str(sig), "--in", str(message))
    one_line_error(bad, "the signature does not verify with release/signer (tried v1)")
    listed = run("key", "list")
    assert "EC-P384" in listed.output


def test_rsa_schemes_base64_and_stdin(run, run_json, module, tmp_path):
    need_pairs(module, "RSA")
    assert run("key", "create", "docs/rsa", "--type", "private-signature", "--algorithm",
               "rsa", "--length", "2048").exit_code == 0
    pem = run("key", "export-public", "docs/rsa").stdout_bytes
    public = serialization.load_pem_public_key(pem)
    for scheme, pad in (("pss", padding.PSS(padding.MGF1(hashes.SHA256()), 32)),
                        ("pkcs1v15", padding.PKCS1v15())):
        done = run("sign", "docs/rsa", "--scheme", scheme, "--format", "base64",
                   input=MESSAGE.decode())
        assert done.exit_code == 0, done.output
        signature = base64.b64decode(done.stdout_bytes.strip(), validate=True)
        public.verify(signature, MESSAGE, pad, hashes.SHA256())
        sig = tmp_path / f"{scheme}.b64"
        sig.write_bytes(done.stdout_bytes)
        ok = run("verify", "docs/rsa", "--signature", str(sig), "--scheme", scheme,
                 input=MESSAGE.decode())
        assert ok.exit_code == 0, ok.output
    wrong = run("verify", "docs/rsa", "--signature", str(tmp_path / "pss.b64"), "--scheme",
                "pkcs1v15", input=MESSAGE.decode())
    one_line_error(wrong, "does not verify")
    assert "needs --scheme" not in wrong.output  # the scheme was given
    unsaid = run("verify", "docs/rsa", "--signature", str(tmp_path / "pkcs1v15.b64"),
                 input=MESSAGE.decode())  # a PKCS#1 v1.5 signature checked as PSS
    one_line_error(unsaid, "(tried v1); a signature made with PKCS#1 v1.5 needs --scheme "
                           "pkcs1v15")
    signed = run_json("sign", "docs/rsa", input="x")
    assert signed["scheme"] == "pss" and signed["version"] == 1
    assert signed["digest"].startswith("sha256:")
    with pytest.raises(InvalidSignature):
        public.verify(base64.b64decode(signed["signature"]), b"y",
                      padding.PSS(padding.MGF1(hashes.SHA256()), 32), hashes.SHA256())


def test_verify_names_the_format_as_sign_does(run, module, tmp_path):
    """sign and verify both say --format; verify's earlier --signature-format still works
    (hidden from --help), and the two spellings may not disagree."""
    need_pairs(module, "EC")
    assert run("key", "create", "fmt/ec", "--type", "private-signature", "--algorithm", "EC",
               "--length", "256").exit_code == 0
    sig = tmp_path / "m.b64"
    assert run("sign", "fmt/ec", "--format", "base64", "--out", str(sig),
               input=MESSAGE.decode()).exit_code == 0
    for option in ("--format", "--signature-format"):
        ok = run("verify", "fmt/ec", "--signature", str(sig), option, "base64",
                 input=MESSAGE.decode())
        assert ok.exit_code == 0 and ok.output == "fmt/ec v1: signature valid\n", ok.output
    raw = run("verify", "fmt/ec", "--signature", str(sig), "--format", "raw",
              input=MESSAGE.decode())
    one_line_error(raw, "does not verify")
    both = run("verify", "fmt/ec", "--signature", str(sig), "--format", "raw",
               "--signature-format", "base64", input=MESSAGE.decode())
    assert both.exit_code == 2 and "disagree" in both.output
    shown = run("verify", "--help").output
    assert "--format [auto|raw|base64]" in shown and "--signature-format" not in shown


def test_export_public_formats(run, run_json, module, tmp_path):
    need_pairs(module, "Ed25519")
    assert run("key", "create", "jws/ed", "--type", "private-signature", "--algorithm",
               "Ed25519").exit_code == 0
    der = tmp_path / "ed.der"
    assert run("key", "export-public", "jws/ed", "--format", "der", "--out",
               str(der)).exit_code == 0
    public = serialization.load_der_public_key(der.read_bytes())
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    jwk = json.loads(run("key", "export-public", "jws/ed", "--format", "jwk").stdout)
    assert jwk["kty"] == "OKP" and jwk["crv"] == "Ed25519" and jwk["alg"] == "EdDSA"
    assert b64url_decode(jwk["x"]) == raw
    wrapped = run_json("key", "export-public", "jws/ed", "--format", "jwk")
    assert wrapped == {"key": "jws/ed", "version": 1, "format": "jwk", "public_key": jwk}
    as_der = run_json("key", "export-public", "jws/ed", "--format", "der")
    assert base64.b64decode(as_der["public_key"]) == der.read_bytes()


def test_bad_input_is_one_line_and_exit_1(run, module, message, tmp_path):
    need_pairs(module, "EC")
    assert run("key", "create", "bad/dek").exit_code == 0
    one_line_error(run("sign", "bad/dek", "--in", str(message), "--format", "base64"),
                   "bad/dek is a data-encryption key; it cannot sign")
    one_line_error(run("key", "export-public", "bad/dek"),
                   "bad/dek is a data-encryption key; it has no public key")
    assert run("key", "create", "bad/ec", "--type", "private-signature", "--algorithm",
               "EC").exit_code == 0
    one_line_error(run("sign", "bad/ec", "--scheme", "pkcs1v15", "--in", str(message),
                       "--format", "base64"), "EC keys sign with ecdsa, not pkcs1v15")
    one_line_error(run("key", "create", "bad/x", "--type", "private-signature",
                       "--algorithm", "X25519"), "private-signature keys are RSA, EC, Ed25519")
    sig = tmp_path / "sig"
    assert run("sign", "bad/ec", "--in", str(message), "--out", str(sig)).exit_code == 0
    assert run("key", "deactivate", "bad/ec").exit_code == 0  # now it only verifies
    one_line_error(run("sign", "bad/ec", "--in", str(message), "--format", "base64"),
                   "bad/ec v1 is deactivated; it cannot sign (`keystead key rotate bad/ec` "
                   "makes a new version)")
    assert run("verify", "bad/ec", "--signature", str(sig), "--in",
               str(message)).exit_code == 0
    usage = run("verify", "bad/ec", "--signature", "-", "--in", "-")
    assert usage.exit_code == 2
    assert "cannot both come from stdin" in usage.output


def test_destroyed_pair_is_refused(run, module, message, tmp_path):
    need_pairs(module, "EC")
    assert run("key", "create", "gone/ec", "--type", "private-signature", "--algorithm",
               "EC").exit_code == 0
    sig = tmp_path / "sig"
    assert run("sign", "gone/ec", "--in", str(message), "--out", str(sig)).exit_code == 0
    assert run("key", "policy", "set", "gone/ec", "--short-destroy-wait",
               "--yes").exit_code == 0
    assert run("key", "destroy", "gone/ec", "--after", "0", "--yes").exit_code == 0
    assert run("rotate", "--due").exit_code == 0
    one_line_error(run("sign", "gone/ec", "--in", str(message), "--format", "base64"),
                   "gone/ec v1 is destroyed; it cannot sign")
    one_line_error(run("verify", "gone/ec", "--signature", str(sig), "--in", str(message),
                       "--version", "1"), "gone/ec v1 is destroyed; it cannot process")
    one_line_error(run("key", "export-public", "gone/ec"),
                   "gone/ec v1 is destroyed; its public key is not exported")
    audit = run("audit", "show", "--key", "gone/ec", "--json")
    actions = [(r["action"], r["result"][:7]) for r in json.loads(audit.output)]
    assert ("sign", "ok") in actions and ("sign", "refused") in actions
    assert ("verify", "refused") in actions and ("export-public", "refused") in actions


@pytest.mark.parametrize(("algorithm", "crv"), [("X25519", "X25519"), ("EC", "P-256")])
def test_key_agreement_pair(run, module, algorithm, crv):
    need_pairs(module, algorithm)
    made = run("key", "create", "tls/agree", "--type", "private-static-key-agreement",
               "--algorithm", algorithm)
    shown = "EC-P256" if algorithm == "EC" else "X25519"
    assert made.output == (f"created tls/agree v1 ({shown}, private-static-key-agreement): "
                           "active\n")
    jwk = json.loads(run("key", "export-public", "tls/agree", "--format", "jwk").stdout)
    assert jwk["crv"] == crv and jwk["use"] == "enc"
    one_line_error(run("sign", "tls/agree", "--format", "base64", input="m"),
                   "tls/agree is a private-static-key-agreement key; it cannot sign")


def test_help_shows_the_key_pair_commands():
    from click.testing import CliRunner
    from keystead.manager.cli import cli

    top = CliRunner().invoke(cli, ["--help"]).output
    assert "sign" in top and "verify" in top
    assert "export-public" in CliRunner().invoke(cli, ["key", "--help"]).output
    create = CliRunner().invoke(cli, ["key", "create", "--help"]).output
    assert "private-signature" in create and "--algorithm" in create
    for name in ("RSA", "EC", "Ed25519", "X25519"):
        assert name in create


def test_json_keeps_the_out_file(run, module, message, tmp_path):
    """--json prints a summary and still writes --out (a script's next step reads the file)."""
    need_pairs(module, "EC")
    assert run("key", "create", "json/signer", "--type", "private-signature",
               "--algorithm", "EC", "--length", "256").exit_code == 0
    sig, pub = tmp_path / "json.sig", tmp_path / "json.pem"
    signed = run("sign", "json/signer", "--in", str(message), "--out", str(sig), "--json")
    assert signed.exit_code == 0, signed.output
    assert base64.b64decode(json.loads(signed.output)["signature"]) == sig.read_bytes()
    exported = run("key", "export-public", "json/signer", "--out", str(pub), "--json")
    assert exported.exit_code == 0, exported.output
    assert json.loads(exported.output)["public_key"].encode() == pub.read_bytes()
    public = serialization.load_pem_public_key(pub.read_bytes())
    public.verify(sig.read_bytes(), MESSAGE, ec.ECDSA(hashes.SHA256()))


def test_a_failed_verify_says_what_it_left_out(run, module, message, tmp_path):
    """A version held back (suspended, compromised) is named with the way to try it; an
    RSA-PSS attempt on a PKCS#1 v1.5 signature points at --scheme."""
    need_pairs(module, "EC")
    assert run("key", "create", "rel/ec", "--type", "private-signature", "--algorithm",
               "EC").exit_code == 0
    sig = tmp_path / "ec.sig"
    assert run("sign", "rel/ec", "--in", str(message), "--out", str(sig)).exit_code == 0
    assert run("key", "suspend", "rel/ec", "--reason", "inquiry").exit_code == 0
    one_line_error(run("verify", "rel/ec", "--signature", str(sig), "--in", str(message)),
                   "no version of rel/ec may verify now (v1 suspended)")
    assert run("key", "resume", "rel/ec").exit_code == 0
    assert run("key", "rotate", "rel/ec").exit_code == 0
    assert run("key", "compromise", "rel/ec", "--version", "1", "--reason", "leak",
               "--yes").exit_code == 0
    one_line_error(run("verify", "rel/ec", "--signature", str(sig), "--in", str(message)),
                   "(tried v2); not tried: v1 is compromised (to check one anyway: --version 1 "
                   "--override --reason TEXT)")
    need_pairs(module, "RSA")
    assert run("key", "create", "rel/rsa", "--type", "private-signature", "--algorithm",
               "rsa", "--length", "2048").exit_code == 0
    v15 = tmp_path / "v15.sig"
    assert run("sign", "rel/rsa", "--scheme", "pkcs1v15", "--in", str(message), "--out",
               str(v15)).exit_code == 0
    one_line_error(run("verify", "rel/rsa", "--signature", str(v15), "--in", str(message)),
                   "a signature made with PKCS#1 v1.5 needs --scheme pkcs1v15")


def test_show_says_a_rotated_signing_key_is_gone(run, run_json, module):
    need_pairs(module, "EC")
    assert run("key", "create", "r/ec", "--type", "private-signature", "--algorithm",
               "EC").exit_code == 0
    assert run("key", "rotate", "r/ec").exit_code == 0
    shown = run("key", "show", "r/ec").output
    assert shown.count("the private key was destroyed when this version was deactivated") == 1
    versions = run_json("key", "show", "r/ec")["versions"]
    assert [v["private_key_destroyed"] for v in versions] == [True, False]
