"""The parameters and states of the message-based encryption functions (PKCS#11 3.0 base
5.x "Message-based encryption functions"; mechanisms 3.0, AES-GCM with
CK_GCM_MESSAGE_PARAMS) beyond test_message_api.py: a message in progress excludes a
single-part message and a second C_EncryptMessageBegin, a begun message needs its parameter,
and the AAD pointer and length agree."""

from __future__ import annotations

import os

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from .message_support import Messages, params
from .support import aes_key, assert_rv


@pytest.fixture
def msg(module, raw, rsession, xfail_quirk):
    xfail_quirk(module, "no-message-api")
    return Messages(raw, rsession)


@pytest.fixture
def key_value():
    return os.urandom(16)


@pytest.fixture
def key(raw, rsession, key_value):
    return raw.create_object(rsession, aes_key(key_value))


def test_a_begun_message_excludes_single_part_and_a_second_begin(msg, key, key_value):
    raw = msg.raw
    assert_rv(msg.init("Encrypt", key), "CKR_OK")
    iv = os.urandom(12)
    p = params(raw, iv)
    assert_rv(msg.begin("Encrypt", p, b"aad"), "CKR_OK")
    assert_rv(msg.one("Encrypt", params(raw, os.urandom(12)), b"", b"x")[0],
              "CKR_OPERATION_ACTIVE")
    assert_rv(msg.begin("Encrypt", params(raw, os.urandom(12)), b""), "CKR_OPERATION_ACTIVE")
    # the begun message is intact: it finishes and matches
    rv, first, n1 = msg.next("Encrypt", None, b"hello ", last=False)
    assert_rv(rv, "CKR_OK")
    rv, last, n2 = msg.next("Encrypt", p, b"world", last=True)
    assert_rv(rv, "CKR_OK")
    full = AESGCM(key_value).encrypt(iv, b"hello world", b"aad")
    assert first[:n1] + last[:n2] + p.tag() == full


def test_begin_needs_its_parameter(msg, key):
    assert_rv(msg.init("Encrypt", key), "CKR_OK")
    assert_rv(msg.begin("Encrypt", None, b""), "CKR_MECHANISM_PARAM_INVALID")
    assert_rv(msg.final("Encrypt"), "CKR_OK")


def test_begin_aad_pointer_and_length_agree(msg, key):
    raw = msg.raw
    assert_rv(msg.init("Encrypt", key), "CKR_OK")
    p = params(raw, os.urandom(12))
    assert_rv(raw.call("C_EncryptMessageBegin", msg.h, p.ptr, p.size, raw.ffi.NULL, 5),
              "CKR_ARGUMENTS_BAD")
    assert_rv(msg.begin("Encrypt", p, b""), "CKR_OK")  # the operation survived


def test_decrypt_needs_a_tag(msg, key):
    assert_rv(msg.init("Decrypt", key), "CKR_OK")
    p = params(msg.raw, os.urandom(12), tag_bits=0)
    assert_rv(msg.one("Decrypt", p, b"", bytes(16))[0], "CKR_MECHANISM_PARAM_INVALID")
