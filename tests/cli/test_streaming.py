"""Streaming encryption (KSS1), data keys and rewrap through the CLI, on keystead and
SoftHSMv2: every way of cutting, reordering, splicing or flipping a stream fails and leaves no
output file."""

from __future__ import annotations

import base64
import json
import os
import stat
import struct
import subprocess
import sys

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from keystead.manager.stream_format import RECORD, read_header

from tests.manager.helpers import MANAGER_GOV_PIN, MANAGER_PIN, raw_key

from .test_cli import one_line_error

CHUNK = 4096


def chunks_of(data: bytes) -> tuple[bytes, list[bytes]]:
    """(header, [record + ciphertext, ...]) of a stream."""
    import io

    src = io.BytesIO(data)
    _, packed = read_header(src)
    out = []
    while True:
        rec = src.read(RECORD.size)
        if not rec:
            return packed, out
        _, n, _, _ = RECORD.unpack(rec)
        out.append(rec + src.read(n))


@pytest.fixture
def stream_key(run):
    assert run("key", "create", "s/dek").exit_code == 0
    return "s/dek"


def seal(run, tmp_path, name: str, data: bytes, key: str = "s/dek", aad: str = "a") -> bytes:
    plain, sealed = tmp_path / f"{name}.in", tmp_path / f"{name}.kss"
    plain.write_bytes(data)
    r = run("encrypt", key, "--in", str(plain), "--out", str(sealed), "--aad", aad,
            "--chunk-size", str(CHUNK))
    assert r.exit_code == 0, r.output
    return sealed.read_bytes()


def open_(run, tmp_path, blob: bytes, aad: str = "a"):
    src, out = tmp_path / "x.kss", tmp_path / "x.out"
    src.write_bytes(blob)
    if out.exists():
        out.unlink()
    return run("decrypt", "--in", str(src), "--out", str(out), "--aad", aad), out


@pytest.mark.parametrize("size", [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 3 * CHUNK])
def test_round_trip_sizes(run, tmp_path, stream_key, size):
    data = os.urandom(size)
    blob = seal(run, tmp_path, "f", data)
    assert blob[:4] == b"KSS1"
    _, chunks = chunks_of(blob)
    assert len(chunks) == max(1, -(-size // CHUNK)) + (1 if size and size % CHUNK == 0 else 0) \
        or len(chunks) == max(1, -(-size // CHUNK))
    r, out = open_(run, tmp_path, blob)
    assert r.exit_code == 0, r.output
    assert out.read_bytes() == data


def test_exact_multiple_has_one_final_chunk(run, tmp_path, stream_key):
    _, chunks = chunks_of(seal(run, tmp_path, "f", os.urandom(2 * CHUNK)))
    flags = [RECORD.unpack(c[:RECORD.size])[0] for c in chunks]
    assert flags == [0, 1]


def _refused(run, tmp_path, blob: bytes, fragment: str) -> None:
    r, out = open_(run, tmp_path, blob)
    one_line_error(r, fragment)
    assert not out.exists()
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".partial")]


def test_truncation_is_detected(run, tmp_path, stream_key):
    header, chunks = chunks_of(seal(run, tmp_path, "f", os.urandom(3 * CHUNK + 5)))
    _refused(run, tmp_path, header + b"".join(chunks[:-1]), "truncated")
    _refused(run, tmp_path, header + b"".join(chunks)[:-1], "cut short")


def test_reordering_is_detected(run, tmp_path, stream_key):
    header, chunks = chunks_of(seal(run, tmp_path, "f", os.urandom(3 * CHUNK + 5)))
    swapped = [chunks[1], chunks[0], *chunks[2:]]
    _refused(run, tmp_path, header + b"".join(swapped), "does not authenticate")


def test_splicing_two_files_is_detected(run, tmp_path, stream_key):
    h1, c1 = chunks_of(seal(run, tmp_path, "one", os.urandom(2 * CHUNK + 1)))
    _, c2 = chunks_of(seal(run, tmp_path, "two", os.urandom(2 * CHUNK + 1)))
    _refused(run, tmp_path, h1 + c1[0] + c2[1] + c1[2], "does not authenticate")


def test_final_chunk_moved_or_data_appended(run, tmp_path, stream_key):
    header, chunks = chunks_of(seal(run, tmp_path, "f", os.urandom(2 * CHUNK + 1)))
    _refused(run, tmp_path, header + b"".join(chunks) + chunks[-1], "follows")
    # A non-final chunk relabelled final: the flag is authenticated.
    first = bytearray(chunks[0])
    first[0] = 1
    _refused(run, tmp_path, header + bytes(first), "does not authenticate")


@pytest.mark.parametrize("where", ["header", "record", "ciphertext", "tag"])
def test_flipped_bytes_are_detected(run, tmp_path, stream_key, where):
    blob = bytearray(seal(run, tmp_path, "f", os.urandom(CHUNK + 7)))
    header, _ = chunks_of(bytes(blob))
    at = {"header": len(header) - 1, "record": len(header) + 1 + 4 + 2,
          "tag": len(header) + 1 + 4 + 12 + 3, "ciphertext": len(header) + RECORD.size + 9}
    blob[at[where]] ^= 0x40
    r, out = open_(run, tmp_path, bytes(blob))
    assert r.exit_code == 1 and not out.exists()


def test_wrong_aad_is_refused(run, tmp_path, stream_key):
    r, out = open_(run, tmp_path, seal(run, tmp_path, "f", b"x" * 10), aad="b")
    one_line_error(r, "does not authenticate")


def test_old_envelopes_still_decrypt(run, run_json, tmp_path, stream_key):
    sealed = run_json("encrypt", stream_key, "--aad", "a", input="hello")
    blob = tmp_path / "old.kse"
    blob.write_bytes(base64.b64decode(sealed["blob"]))
    assert blob.read_bytes()[:4] == b"KSE1"
    r, out = open_(run, tmp_path, blob.read_bytes())
    assert r.exit_code == 0 and out.read_bytes() == b"hello"


def test_rewrap_moves_a_stream_to_the_current_version(run, run_json, tmp_path, stream_key):
    data = os.urandom(2 * CHUNK + 3)
    blob = seal(run, tmp_path, "f", data)
    assert run("key", "rotate", stream_key).exit_code == 0
    src = tmp_path / "f.kss"
    moved = run_json("rewrap", "--in", str(src), "--out", str(src), "--aad", "a")
    assert (moved["from_version"], moved["to_version"]) == (1, 2)
    new = src.read_bytes()
    assert read_header(__import__("io").BytesIO(new))[0].version == 2 and new != blob
    r, out = open_(run, tmp_path, new)
    assert r.exit_code == 0 and out.read_bytes() == data
    # Rewrap is authenticated too: a truncated source is refused and src stays as it was.
    header, chunks = chunks_of(new)
    src.write_bytes(header + chunks[0])
    one_line_error(run("rewrap", "--in", str(src), "--out", str(tmp_path / "r.kss"),
                       "--aad", "a"), "truncated")
    assert not (tmp_path / "r.kss").exists()
    records = run_json("audit", "show", "--key", stream_key, "--action", "rewrap")
    assert [r["result"].split(":")[0] for r in records] == ["ok", "failed"]


def _gcm_in_token(module, token, object_id: str, wrapped: bytes) -> bytes:
    """Unwrap ``wrapped`` under the KEK object and encrypt zeros with it in the token
    (AES-GCM, fixed IV): what the data key inside does, without reading it."""
    raw = module.raw
    session, kek = raw_key(module, token, object_id)
    try:
        key = raw.unwrap_key(session, 0x2109, kek, wrapped, {
            0x0: 0x4, 0x100: 0x1F, 0x1: False, 0x103: True,
            0x104: True, 0x105: True})
        return raw.encrypt(session, 0x1087, key, bytes(16), raw.gcm(bytes(12), b"", 128))
    finally:
        raw.close_session(session)


def test_datakey_and_rewrap_of_the_wrapped_key(run, run_json, tmp_path, module, setup):
    from tests.manager.helpers import manager_token

    token = manager_token(module, label="cli")
    assert run("key", "create", "app/kek", "--type", "key-wrapping").exit_code == 0
    made = run_json("datakey", "app/kek", "--plaintext")
    plain, wrapped_blob = base64.b64decode(made["plaintext"]), base64.b64decode(made["wrapped"])
    assert len(plain) == 32 and made["version"] == 1
    without = run_json("datakey", "app/kek")
    assert "plaintext" not in without
    blob_file = tmp_path / "dk.bin"
    blob_file.write_bytes(wrapped_blob)
    assert run("key", "rotate", "app/kek").exit_code == 0
    moved = run_json("rewrap", "--in", str(blob_file), "--out", str(blob_file))
    assert (moved["from_version"], moved["to_version"]) == (1, 2)
    new = blob_file.read_bytes()
    name_len = struct.unpack(">H", new[4:6])[0]
    assert struct.unpack(">I", new[6 + name_len:10 + name_len])[0] == 2
    v2 = run_json("key", "show", "app/kek")["versions"][1]["object_id"]
    expected = AESGCM(plain).encrypt(bytes(12), bytes(16), b"")
    assert _gcm_in_token(module, token, v2, new[10 + name_len:]) == expected


def test_datakey_refuses_a_data_key(run, stream_key):
    one_line_error(run("datakey", stream_key), "cannot wrap")


def test_usage_count_is_exact_across_processes(module, setup):
    """One encryption in one process, the count read in another: 1, not a lease of 4096."""
    exe = [sys.executable, "-c", "from keystead.manager.cli import main; main()"]
    env = module.token_env.env() if module.token_env else dict(os.environ)
    env.update(KEYSTEAD_PIN=MANAGER_PIN, KEYSTEAD_MANAGER_PIN=MANAGER_GOV_PIN,
               KEYSTEAD_ACTOR="usage")

    def keystead(*args: str, data: bytes = b"") -> subprocess.CompletedProcess:
        return subprocess.run([*exe, *setup.args(), *args], env=env, input=data,
                              capture_output=True, timeout=120, check=False)

    assert keystead("key", "create", "u/dek").returncode == 0
    enc = keystead("encrypt", "u/dek", data=b"hello")
    assert enc.returncode == 0, enc.stderr
    shown = keystead("key", "show", "u/dek", "--usage", "--json")
    assert shown.returncode == 0, shown.stderr
    usage = json.loads(shown.stdout)["versions"][0]["token_usage"]
    if module.info.kind == "keystead":
        assert usage["token_usage_count"] == 1
    else:
        assert usage == {}


def test_doctor_through_the_cli(run, module, setup):
    from tests.manager.helpers import manager_token

    assert run("key", "create", "doc/dek").exit_code == 0
    r = run("doctor", "--json")
    mine = [f for f in json.loads(r.output)["findings"] if f["key"] == "doc/dek"]
    assert mine == []
    shown = json.loads(run("key", "show", "doc/dek", "--json").output)
    token = manager_token(module, label="cli")
    session, handle = raw_key(module, token, shown["versions"][0]["object_id"], as_manager=True)
    module.raw.destroy_object(session, handle)
    module.raw.close_session(session)
    r = run("doctor", "--json")
    assert r.exit_code == 3
    mine = [f for f in json.loads(r.output)["findings"] if f["key"] == "doc/dek"]
    assert [(f["kind"], f["version"]) for f in mine] == [("missing", 1)]
    one_line_error(run("encrypt", "doc/dek", input="x"), "run `keystead doctor`")
    assert "--destroy-orphans needs --repair" in run("doctor", "--destroy-orphans").output


def test_failed_stream_authentication_is_audited(run, run_json, tmp_path, stream_key):
    header, chunks = chunks_of(seal(run, tmp_path, "f", os.urandom(CHUNK + 1)))
    _refused(run, tmp_path, header + chunks[0], "truncated")
    records = run_json("audit", "show", "--key", stream_key)
    assert any(r["action"] == "decrypt" and r["result"].startswith("failed: the stream is "
                                                                   "truncated") for r in records)


def test_out_to_a_fifo_is_written_not_replaced(run, tmp_path, stream_key):
    """--out naming something that is not a regular file (/dev/null, a FIFO) is written to,
    never replaced by a renamed temporary file."""
    import threading

    data = os.urandom(CHUNK + 9)
    blob = seal(run, tmp_path, "f", data)
    src, fifo = tmp_path / "x.kss", tmp_path / "pipe"
    src.write_bytes(blob)
    os.mkfifo(fifo)
    got = []
    reader = threading.Thread(target=lambda: got.append(fifo.read_bytes()), daemon=True)
    reader.start()
    r = run("decrypt", "--in", str(src), "--out", str(fifo), "--aad", "a")
    reader.join(timeout=120)  # only a failure waits this long (the FIFO got no writer)
    assert not reader.is_alive() and r.exit_code == 0, r.output
    assert got == [data] and stat.S_ISFIFO(os.stat(fifo).st_mode)
