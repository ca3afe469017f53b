"""Envelope encryption with data keys, round trip: `keystead datakey` -> a stream sealed
locally with the plaintext data key, or `keystead encrypt` with a key-wrapping key -> opened
by `keystead decrypt`, which unwraps the data key inside the token (keystead and SoftHSMv2).
And the catalogue counts what a stream used."""

from __future__ import annotations

import base64
import io
import json

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from keystead.manager.local_stream import open_stream, seal
from keystead.manager.stream_format import FORMAT_DATAKEY, IV_RANDOM, RECORD, read_header

from .test_cli import one_line_error
from .test_streaming import CHUNK, chunks_of, open_

DATA = bytes(range(256)) * 50 + b"tail"  # 12,804 bytes: four chunks of 4096


@pytest.fixture
def kek(run):
    assert run("key", "create", "app/kek", "--type", "key-wrapping").exit_code == 0
    return "app/kek"


def cli_seal(run, tmp_path, data: bytes, key: str, aad: str = "a") -> bytes:
    plain, sealed = tmp_path / "p", tmp_path / "s.kss"
    plain.write_bytes(data)
    made = run("encrypt", key, "--in", str(plain), "--out", str(sealed), "--aad", aad,
               "--chunk-size", str(CHUNK))
    assert made.exit_code == 0, made.output
    return sealed.read_bytes()


def test_encrypt_with_a_key_wrapping_key_makes_an_envelope_stream(run, tmp_path, kek):
    blob = cli_seal(run, tmp_path, DATA, kek)
    header, _ = read_header(io.BytesIO(blob))
    assert header.format == FORMAT_DATAKEY and header.key_name == kek and header.version == 1
    assert len(header.wrapped) == 40  # AES-256 under RFC 3394
    assert len(chunks_of(blob)[1]) == 4
    opened, out = open_(run, tmp_path, blob)
    assert opened.exit_code == 0, opened.output
    assert out.read_bytes() == DATA
    again = cli_seal(run, tmp_path, DATA, kek)
    assert read_header(io.BytesIO(again))[0].wrapped != header.wrapped  # a key per stream


def test_a_locally_sealed_stream_opens_in_the_token(run_json, run, tmp_path, kek):
    made = run_json("datakey", kek, "--plaintext")
    data_key = base64.b64decode(made["plaintext"])
    wrapped = base64.b64decode(made["wrapped"])
    sealed = io.BytesIO()
    assert seal(data_key, wrapped, io.BytesIO(DATA), sealed, b"a", chunk_size=CHUNK) == len(DATA)
    blob = sealed.getvalue()
    header, packed = read_header(io.BytesIO(blob))
    assert header.iv_mode == IV_RANDOM
    # the first chunk is plain AES-GCM under the data key (cross-check with cryptography)
    rec = blob[len(packed):len(packed) + RECORD.size]
    _, n, iv, tag = RECORD.unpack(rec)
    from keystead.manager.stream_format import chunk_aad

    ct = blob[len(packed) + RECORD.size:len(packed) + RECORD.size + n]
    aad = chunk_aad(header.digest(packed), 0, False, b"a")
    assert AESGCM(data_key).decrypt(iv, ct + tag, aad) == DATA[:CHUNK]
    opened, out = open_(run, tmp_path, blob)
    assert opened.exit_code == 0, opened.output
    assert out.read_bytes() == DATA
    local = io.BytesIO()
    assert open_stream(data_key, io.BytesIO(blob), local, b"a") == len(DATA)
    assert local.getvalue() == DATA
    wrong_aad, _ = open_(run, tmp_path, blob, aad="b")
    one_line_error(wrong_aad, "does not authenticate")


def test_a_data_key_stream_is_cut_or_tampered(run, tmp_path, kek):
    blob = cli_seal(run, tmp_path, DATA, kek)
    packed, chunks = chunks_of(blob)
    truncated, _ = open_(run, tmp_path, packed + b"".join(chunks[:-1]))
    one_line_error(truncated, "truncated")
    swapped, _ = open_(run, tmp_path, packed + chunks[1] + chunks[0] + b"".join(chunks[2:]))
    one_line_error(swapped, "does not authenticate")
    bad_key = bytearray(packed)
    bad_key[-1] ^= 1  # the last byte of the wrapped data key
    refused, out = open_(run, tmp_path, bytes(bad_key) + b"".join(chunks))
    one_line_error(refused, "does not unwrap")
    assert not out.exists()
    other = cli_seal(run, tmp_path, DATA, kek)  # another stream's data key
    spliced, _ = open_(run, tmp_path, chunks_of(other)[0] + b"".join(chunks))
    one_line_error(spliced, "does not authenticate")


def test_rewrap_moves_only_the_data_key(run, run_json, tmp_path, kek):
    blob = cli_seal(run, tmp_path, DATA, kek)
    path = tmp_path / "r.kss"
    path.write_bytes(blob)
    assert run("key", "rotate", kek).exit_code == 0
    moved = run_json("rewrap", "--in", str(path), "--out", str(path))
    assert (moved["from_version"], moved["to_version"]) == (1, 2)
    new = path.read_bytes()
    header = read_header(io.BytesIO(new))[0]
    assert header.version == 2
    assert chunks_of(new)[1] == chunks_of(blob)[1]  # the chunks as they were
    opened, out = open_(run, tmp_path, new)
    assert opened.exit_code == 0, opened.output
    assert out.read_bytes() == DATA


def test_a_bare_wrapped_key_is_not_decrypted(run_json, run, tmp_path, kek):
    path = tmp_path / "dk"
    path.write_bytes(base64.b64decode(run_json("datakey", kek)["wrapped"]))
    refused = run("decrypt", "--in", str(path))
    one_line_error(refused, "stream")


@pytest.mark.parametrize("size", [1, CHUNK, 3 * CHUNK + 1])
def test_a_stream_counts_the_chunks_it_sealed(run, run_json, tmp_path, size):
    """The catalogue's usage count of a version is its chunks, not a reserved block."""
    assert run("key", "create", "u/dek").exit_code == 0
    cli_seal(run, tmp_path, b"x" * size, "u/dek")
    version = run_json("key", "show", "u/dek")["versions"][0]
    assert version["usage_count"] == -(-size // CHUNK) if size else 1
    cli_seal(run, tmp_path, b"x" * size, "u/dek")
    assert run_json("key", "show", "u/dek")["versions"][0]["usage_count"] == 2 * -(-size // CHUNK)


def test_a_stream_may_use_what_the_usage_limit_leaves(run, run_json, tmp_path):
    """A block is reserved only up to the limit: a limit of 3 seals a 3-chunk stream."""
    assert run("key", "create", "u/dek", "--usage-limit", "3").exit_code == 0
    cli_seal(run, tmp_path, b"x" * (2 * CHUNK + 1), "u/dek")
    assert run_json("key", "show", "u/dek")["versions"][0]["usage_count"] == 3
    plain = tmp_path / "more"
    plain.write_bytes(b"y")
    refused = run("encrypt", "u/dek", "--in", str(plain), "--out", str(tmp_path / "more.kss"))
    one_line_error(refused, "usage limit")


def test_a_data_key_seals_through_the_cli_and_opens_both_ways(run, run_json, tmp_path, kek):
    """datakey -> encrypt --datakey (the token unwraps it and seals) -> decrypt in the token,
    and open_stream with the plaintext key opens the same stream (cryptography)."""
    made = run_json("datakey", kek, "--plaintext")
    data_key = base64.b64decode(made["plaintext"])
    wrapped = base64.b64decode(made["wrapped"])
    (tmp_path / "dk.json").write_text(json.dumps(made))
    (tmp_path / "dk.bin").write_bytes(wrapped)
    plain, sealed = tmp_path / "p", tmp_path / "s.kss"
    plain.write_bytes(DATA)
    for form in ("dk.bin", "dk.json"):
        enc = run("encrypt", "--datakey", str(tmp_path / form), "--in", str(plain), "--out",
                  str(sealed), "--aad", "a", "--chunk-size", str(CHUNK))
        assert enc.exit_code == 0, enc.output
        blob = sealed.read_bytes()
        header = read_header(io.BytesIO(blob))[0]
        assert header.iv_mode == IV_RANDOM and header.key_name == kek
        assert header.wrapped == wrapped[-len(header.wrapped):]
        ivs = {RECORD.unpack(c[:RECORD.size])[2] for c in chunks_of(blob)[1]}
        assert len(ivs) == 4
        opened, out = open_(run, tmp_path, blob)
        assert opened.exit_code == 0, opened.output
        assert out.read_bytes() == DATA
        local = io.BytesIO()
        assert open_stream(data_key, io.BytesIO(blob), local, b"a") == len(DATA)
        assert local.getvalue() == DATA


def test_encrypt_takes_a_key_or_a_data_key(run, run_json, tmp_path, kek):
    (tmp_path / "dk").write_bytes(base64.b64decode(run_json("datakey", kek)["wrapped"]))
    neither = run("encrypt", "--in", "-")
    assert neither.exit_code == 2 and "KEY_NAME or --datakey" in neither.output
    both = run("encrypt", kek, "--datakey", str(tmp_path / "dk"))
    assert both.exit_code == 2
    assert run("key", "rotate", kek).exit_code == 0
    old = run("encrypt", "--datakey", str(tmp_path / "dk"), "--out", str(tmp_path / "o"),
              input="x")
    one_line_error(old, "rewrap")
    assert not (tmp_path / "o").exists()
