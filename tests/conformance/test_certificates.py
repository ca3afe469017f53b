"""PKCS#11 3.0 base 4.6.2 (common certificate attributes) and 4.6.3 (X.509 public key
certificate objects) through C_CreateObject, C_GetAttributeValue, C_SetAttributeValue and
C_FindObjects, with certificates made by the ``cryptography`` package."""

from __future__ import annotations

import datetime
import hashlib

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from keystead.softhsm_bridge.ck import CKU_SO, ObjectClass
from keystead.softhsm_bridge.ck import Attribute as A

from .pair_support import CKA_PUBLIC_KEY_INFO
from .support import assert_rv, bbool, ulong

CKC_X_509 = 0
CKC_X_509_ATTR_CERT = 1
CKA_CERTIFICATE_CATEGORY = 0x87


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def make_cert(subject: str = "leaf", issuer: str = "test ca", serial: int = 0x1234_5678_9A):
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)
    return (x509.CertificateBuilder().subject_name(_name(subject)).issuer_name(_name(issuer))
            .public_key(key.public_key()).serial_number(serial)
            .not_valid_before(now).not_valid_after(now + datetime.timedelta(days=30))
            .sign(key, hashes.SHA256()))


def der(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.DER)


def serial_der(n: int) -> bytes:
    body = n.to_bytes((n.bit_length() + 8) // 8, "big")
    return bytes([0x02, len(body)]) + body


def cert_template(cert: x509.Certificate, more: dict | None = None, **extra) -> dict:
    t = {A.CLASS: ObjectClass.CERTIFICATE, A.CERTIFICATE_TYPE: CKC_X_509, A.TOKEN: False,
         A.SUBJECT: cert.subject.public_bytes(), A.VALUE: der(cert), A.ID: b"\x42",
         A.LABEL: "cert"}
    t.update({A[k]: v for k, v in extra.items()})
    t.update(more or {})
    return t


def create_rv(raw, h, attrs) -> int:
    t = raw.template(attrs)
    out = raw.ffi.new("CK_OBJECT_HANDLE *")
    return raw.call("C_CreateObject", h, t.ptr, t.count, out)


@pytest.fixture
def keystead_only(module):
    if module.name != "keystead":
        pytest.skip("a check keystead makes where the specification leaves it to the token")
    return module


def test_create_x509_certificate(raw, rsession):
    cert = make_cert()
    h = raw.create_object(rsession, cert_template(cert))
    assert ulong(raw.get_attribute(rsession, h, A.CLASS)) == ObjectClass.CERTIFICATE
    assert ulong(raw.get_attribute(rsession, h, A.CERTIFICATE_TYPE)) == CKC_X_509
    assert raw.get_attribute(rsession, h, A.VALUE) == der(cert)
    assert raw.get_attribute(rsession, h, A.SUBJECT) == cert.subject.public_bytes()
    assert bbool(raw.get_attribute(rsession, h, A.TRUSTED)) is False
    assert ulong(raw.get_attribute(rsession, h, CKA_CERTIFICATE_CATEGORY)) == 0
    check = raw.get_attribute(rsession, h, A.CHECK_VALUE)
    assert check == hashlib.sha1(der(cert)).digest()[:3]


def test_issuer_serial_and_key_info_default_empty(raw, rsession):
    """4.6.2 and 4.6.3: CKA_ISSUER, CKA_SERIAL_NUMBER and CKA_PUBLIC_KEY_INFO default empty."""
    h = raw.create_object(rsession, cert_template(make_cert()))
    for attr in (A.ISSUER, A.SERIAL_NUMBER, CKA_PUBLIC_KEY_INFO):
        assert raw.get_attribute(rsession, h, attr) == b""


def test_given_issuer_serial_and_key_info_are_kept(raw, rsession):
    cert = make_cert(serial=0x80_00_01)  # a leading zero byte in the DER INTEGER
    spki = cert.public_key().public_bytes(serialization.Encoding.DER,
                                          serialization.PublicFormat.SubjectPublicKeyInfo)
    h = raw.create_object(rsession, cert_template(
        cert, {CKA_PUBLIC_KEY_INFO: spki}, ISSUER=cert.issuer.public_bytes(),
        SERIAL_NUMBER=serial_der(cert.serial_number)))
    assert raw.get_attribute(rsession, h, A.ISSUER) == cert.issuer.public_bytes()
    assert raw.get_attribute(rsession, h, A.SERIAL_NUMBER) == serial_der(0x80_00_01)
    assert raw.get_attribute(rsession, h, CKA_PUBLIC_KEY_INFO) == spki


def test_subject_is_required(raw, rsession):
    t = cert_template(make_cert())
    del t[A.SUBJECT]
    assert_rv(create_rv(raw, rsession, t), "CKR_TEMPLATE_INCOMPLETE")


def test_certificate_type_is_required(raw, rsession):
    t = cert_template(make_cert())
    del t[A.CERTIFICATE_TYPE]
    assert_rv(create_rv(raw, rsession, t), "CKR_TEMPLATE_INCOMPLETE")


@pytest.mark.parametrize("value", [b"\x30\x03\x02\x01\x01", b"not a certificate", b"\x30"],
                         ids=["sequence", "text", "truncated"])
def test_garbage_der_is_invalid(raw, rsession, module, xfail_quirk, value):
    xfail_quirk(module, "certificate-value-not-parsed")
    assert_rv(create_rv(raw, rsession, cert_template(make_cert(), VALUE=value)),
              "CKR_ATTRIBUTE_VALUE_INVALID")


def test_trailing_bytes_after_the_certificate_are_invalid(raw, rsession, module, xfail_quirk):
    xfail_quirk(module, "certificate-value-not-parsed")
    cert = make_cert()
    assert_rv(create_rv(raw, rsession, cert_template(cert, VALUE=der(cert) + b"\x00")),
              "CKR_ATTRIBUTE_VALUE_INVALID")


def test_serial_number_as_content_octets_is_kept(raw, rsession, module):
    """Java's SunPKCS11 (KeyStore.setKeyEntry, keytool) writes CKA_SERIAL_NUMBER as the
    INTEGER's content octets, not its DER: the same serial, accepted and kept as given; any
    other value is still CKR_ATTRIBUTE_VALUE_INVALID (keystead checks; SoftHSMv2 does not)."""
    cert = make_cert(serial=0x80_00_01)
    content = serial_der(cert.serial_number)[2:]
    h = raw.create_object(rsession, cert_template(cert, SERIAL_NUMBER=content))
    assert raw.get_attribute(rsession, h, A.SERIAL_NUMBER) == content
    if module.kind == "keystead":
        assert_rv(create_rv(raw, rsession, cert_template(cert, SERIAL_NUMBER=content[1:])),
                  "CKR_ATTRIBUTE_VALUE_INVALID")


@pytest.mark.parametrize("attr", ["SUBJECT", "ISSUER", "SERIAL_NUMBER", "CHECK_VALUE",
                                  "PUBLIC_KEY_INFO"])
def test_field_that_contradicts_the_certificate(keystead_only, raw, rsession, attr):
    other = make_cert(subject="other", issuer="other ca", serial=7)
    spki = other.public_key().public_bytes(serialization.Encoding.DER,
                                           serialization.PublicFormat.SubjectPublicKeyInfo)
    wrong = {A.SUBJECT: other.subject.public_bytes(), A.ISSUER: other.issuer.public_bytes(),
             A.SERIAL_NUMBER: serial_der(7), A.CHECK_VALUE: b"\x00\x00\x00",
             CKA_PUBLIC_KEY_INFO: spki}
    key = CKA_PUBLIC_KEY_INFO if attr == "PUBLIC_KEY_INFO" else A[attr]
    assert_rv(create_rv(raw, rsession, cert_template(make_cert(), {key: wrong[key]})),
              "CKR_ATTRIBUTE_VALUE_INVALID")


def test_empty_check_value_suppresses_it(raw, rsession, module):
    h = raw.create_object(rsession, cert_template(make_cert(), CHECK_VALUE=b""))
    assert raw.get_attribute(rsession, h, A.CHECK_VALUE) == b""


def test_other_certificate_type_is_invalid(raw, rsession):
    assert_rv(create_rv(raw, rsession, cert_template(make_cert(),
                                                     CERTIFICATE_TYPE=CKC_X_509_ATTR_CERT)),
              "CKR_ATTRIBUTE_VALUE_INVALID")


def test_category_out_of_range_is_invalid(raw, rsession, module, xfail_quirk):
    xfail_quirk(module, "certificate-category-unchecked")
    assert_rv(create_rv(raw, rsession, cert_template(make_cert(),
                                                     {CKA_CERTIFICATE_CATEGORY: 9})),
              "CKR_ATTRIBUTE_VALUE_INVALID")


def test_category_authority(raw, rsession):
    h = raw.create_object(rsession, cert_template(make_cert(), {CKA_CERTIFICATE_CATEGORY: 2}))
    assert ulong(raw.get_attribute(rsession, h, CKA_CERTIFICATE_CATEGORY)) == 2


def test_trusted_only_by_the_so(raw, module, public_session):
    """4.6.2: CKA_TRUSTED can only be set to true by the SO (table 10 [10])."""
    r = raw
    t = cert_template(make_cert(), TRUSTED=True)
    assert r.login(public_session, CKU_SO, module.token.so_pin) == 0
    h = r.create_object(public_session, t)
    assert bbool(r.get_attribute(public_session, h, A.TRUSTED)) is True
    r.logout(public_session)


def test_trusted_refused_to_the_user(raw, rsession):
    assert_rv(create_rv(raw, rsession, cert_template(make_cert(), TRUSTED=True)),
              "CKR_ATTRIBUTE_READ_ONLY")


def test_id_issuer_serial_and_label_may_change(raw, rsession):
    cert = make_cert()
    h = raw.create_object(rsession, cert_template(cert))
    raw.set_attributes(rsession, h, {A.ID: b"\x01\x02", A.LABEL: "renamed",
                                     A.ISSUER: b"\x30\x00", A.SERIAL_NUMBER: b"\x02\x01\x05"})
    assert raw.get_attribute(rsession, h, A.ID) == b"\x01\x02"
    assert raw.get_attribute(rsession, h, A.SERIAL_NUMBER) == b"\x02\x01\x05"


@pytest.mark.parametrize("attr,value", [(A.SUBJECT, b"\x30\x00"), (A.VALUE, b"\x30\x00"),
                                        (A.CERTIFICATE_TYPE, CKC_X_509)])
def test_other_attributes_are_fixed(raw, rsession, attr, value):
    h = raw.create_object(rsession, cert_template(make_cert()))
    t = raw.template({attr: value})
    assert_rv(raw.call("C_SetAttributeValue", rsession, h, t.ptr, t.count),
              "CKR_ATTRIBUTE_READ_ONLY")


def test_found_by_class_and_id(raw, rsession):
    cert = make_cert()
    h = raw.create_object(rsession, cert_template(cert, ID=b"cert-find"))
    assert raw.find_objects(rsession, {A.CLASS: ObjectClass.CERTIFICATE,
                                       A.ID: b"cert-find"}) == [h]


def test_public_certificate_without_login(raw, public_session):
    cert = make_cert()
    h = raw.create_object(public_session, cert_template(cert, PRIVATE=False))
    assert raw.get_attribute(public_session, h, A.VALUE) == der(cert)


def test_token_certificate_survives_a_new_session(raw, rsession, module):
    cert = make_cert(subject="persist")
    h = raw.create_object(rsession, cert_template(cert, TOKEN=True, ID=b"persist"))
    try:
        h2 = raw.open_session(module.slot, rw=False)
        assert raw.find_objects(h2, {A.CLASS: ObjectClass.CERTIFICATE, A.ID: b"persist"}) == [h]
        assert raw.get_attribute(h2, h, A.VALUE) == der(cert)
    finally:
        raw.destroy_object(rsession, h)
