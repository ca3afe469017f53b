"""Each module's known deviations from PKCS#11 3.0, as data.

Tests and the manager ask ``has(module, "quirk-name")`` instead of testing which module
they run against. keystead has no entries: where it deviates, that is a bug to fix, not a
quirk to record. Every SoftHSMv2 entry was measured on SoftHSMv2 2.6.1 (Debian 12) by the
conformance test named in ``evidence``.
"""

from __future__ import annotations

from dataclasses import dataclass

from .modules import KEYSTEAD, SOFTHSM2, ModuleInfo

CKM_AES_KEY_WRAP_KWP = 0x210B  # PKCS#11 3.0 current mechanisms 2.14 (RFC 5649)
CKM_AES_KEY_WRAP_PAD = 0x210A  # the 2.40 "pad" name SoftHSMv2 gives RFC 5649


@dataclass(frozen=True)
class Quirk:
    """A deviation: what the spec asks (``spec``), what the module does (``observed``),
    and the test that shows it (``evidence``)."""

    name: str
    spec: str
    observed: str
    evidence: str

    @property
    def reason(self) -> str:
        """One line for an xfail reason or a log message."""
        return f"{self.name}: PKCS#11 3.0: {self.spec}; observed: {self.observed}"


def _table(*quirks: Quirk) -> dict[str, Quirk]:
    table = {q.name: q for q in quirks}
    if len(table) != len(quirks):
        raise ValueError("a quirk name is recorded twice")
    return table


def _leak(attack: str, observed: str) -> Quirk:
    """An attack of tests/attacks/ (Clulow 2003; Bortolozzo et al. 2010) that reveals a
    sensitive key: ``leaks: <attack>`` (keystead's strict wrap policy refuses each)."""
    return Quirk(
        f"leaks: {attack}",
        "a CKA_SENSITIVE key's value is never revealed outside the token (4.10); keystead's "
        "strict wrap policy holds this against the attack",
        observed,
        f"tests/attacks/test_attacks.py::test_attack[softhsm2-{attack}]",
    )


_LEAKS = (
    _leak("wrap-decrypt", "wraps the key (KW) under a key that may also decrypt; ECB "
          "decryption then unwraps it by hand"),
    _leak("raw-block-oracle-ecb", "an RFC 3394 blob of a chosen key computed with ECB under "
          "an encrypt+unwrap key unwraps as a wrapping key of known value"),
    _leak("raw-block-oracle-cbc", "the same with single-block CBC encryptions (zero IV)"),
    _leak("raw-block-oracle-ctr", "the same with CTR encryptions of chosen counter blocks"),
    _leak("reimport-weaker", "unwraps a wrapped sensitive key with CKA_SENSITIVE false; "
          "CKA_VALUE is then readable"),
    _leak("reimport-conflicting-roles", "unwraps two copies of a wrapped key, one to wrap and "
          "one to decrypt"),
    _leak("known-wrapping-key", "wraps a sensitive key under a key imported by value"),
    _leak("trojan-wrapped-key", "unwraps a chosen key under an imported unwrapping key and "
          "wraps the sensitive key under it"),
    _leak("weak-wrapping-key", "wraps an AES-256 key under an AES-128 key"),
    _leak("set-flip-role", "lets a key that wrapped be switched to decrypt by "
          "C_SetAttributeValue"),
    _leak("copy-change-role", "lets C_CopyObject turn a wrap-only key into a decrypt-only copy"),
    _leak("wrap-under-itself", "wraps a key under itself; the key then decrypts the blob"),
    _leak("sensitive-later", "wraps a sensitive key under a key generated non-sensitive, read, "
          "then made sensitive"),
    _leak("role-split-across-tokens", "a wrapping key carried to a second token under a "
          "shared KEK unwraps there as a decryption key"),
    _leak("data-key-wraps-across-tokens", "a data key carried to a second token under a "
          "shared KEK wraps a sensitive key there; the first token decrypts the blob"),
    _leak("trusted-kek-for-data", "the user gives the KEK shared by two tokens CKA_DECRYPT "
          "in one and decrypts there what the other wrapped under it"),
)


_BAD_INPUT = (
    Quirk(
        "logout-keeps-operations",
        "C_Logout ends the operations that used a private key (5.6 leaves "
        "it to the token)",
        "an encryption begun with a private key carries on after C_Logout",
        "test_bad_input.py::test_logout_ends_operations_needing_login",
    ),
    Quirk(
        "ecb-param-ignored",
        "CKM_AES_ECB takes no parameter; one supplied is CKR_MECHANISM_PARAM_INVALID (5.8)",
        "C_EncryptInit/C_DecryptInit accept and ignore a 16-byte parameter",
        "test_bad_input_values.py::test_bad_mechanism_parameter[*-ecb-with-param]",
    ),
    Quirk(
        "keygen-param-ignored",
        "CKM_AES_KEY_GEN takes no parameter; one supplied is CKR_MECHANISM_PARAM_INVALID "
        "(5.14 C_GenerateKey)",
        "C_GenerateKey accepts and ignores an 8-byte parameter",
        "test_bad_input_values.py::test_key_gen_with_parameter",
    ),
    Quirk(
        "close-all-sessions-race",
        "C_CloseAllSessions is safe while other threads use the slot's sessions (5.6; "
        "CKF_OS_LOCKING_OK, 5.4): their calls fail with CKR_SESSION_HANDLE_INVALID",
        "the process dies (SIGSEGV, once SIGABRT) in 4 of 4 runs of 3 s with six threads "
        "working on their own sessions and one calling C_CloseAllSessions every 2 ms; the "
        "case is not run",
        "test_threads.py::test_close_all_sessions_under_running_threads",
    ),
    Quirk(
        "fork-child-already-initialized",
        "a forked child is another application and calls C_Initialize for itself (2.40 "
        "6.7.7, kept by 3.0); that call succeeds and the child works on its own sessions",
        "the child's C_Initialize returns CKR_CRYPTOKI_ALREADY_INITIALIZED (SoftHSMv2's "
        "default library.reset_on_fork = false)",
        "test_threads.py::test_forked_child_initializes_afresh",
    ),
    Quirk(
        "wait-null-slot-accepted",
        "C_WaitForSlotEvent with pSlot NULL is CKR_ARGUMENTS_BAD (5.5)",
        "answers CKR_NO_EVENT (with CKF_DONT_BLOCK)",
        "test_bad_input.py::test_wait_for_slot_event_null_slot",
    ),
    Quirk(
        "argument-error-keeps-operation",
        "a call that returns an error other than CKR_BUFFER_TOO_SMALL ends the operation "
        "(5.2), CKR_ARGUMENTS_BAD included",
        "C_Encrypt/C_Sign/C_DigestFinal with a NULL length pointer and C_*Update or "
        "C_Verify/C_VerifyFinal with a NULL buffer and a nonzero length return "
        "CKR_ARGUMENTS_BAD and leave the operation active",
        "test_bad_input.py::test_error_ends_operation",
    ),
    Quirk(
        "date-not-validated",
        "a CK_DATE is eight digits YYYYMMDD; another value is CKR_ATTRIBUTE_VALUE_INVALID "
        "(3.0 3.x CK_DATE, 4.7 CKA_START_DATE/CKA_END_DATE)",
        "accepts CKA_END_DATE \"2026ab01\"",
        "test_bad_input_values.py::test_malformed_template[*-date-not-digits]",
    ),
    Quirk(
        "huge-count-read",
        "a template count that does not fit (2^40) is refused before the array is read "
        "(CKR_ARGUMENTS_BAD)",
        "reads ulCount attributes from the caller's array (a crash); the case is not run",
        "test_bad_input_values.py::test_count_that_does_not_fit",
    ),
    Quirk(
        "huge-length-exits",
        "a length no buffer can have (2^63) is refused unread: CKR_PIN_INCORRECT for "
        "C_Login and C_SetPIN's old PIN (5.6, 5.5), CKR_WRAPPED_KEY_LEN_RANGE for "
        "C_UnwrapKey (5.18), CKR_DATA_LEN_RANGE for C_DigestUpdate, C_SignUpdate, "
        "C_VerifyUpdate and C_Verify (5.10-5.13), CKR_ARGUMENTS_BAD for C_GenerateRandom",
        "the process exits (status 5: an allocation of that size fails) inside each of "
        "these calls; the cases are not run",
        "test_bad_input_values.py::test_login_pin_too_long, test_set_pin_old_pin_too_long, "
        "test_unwrap_huge_length, test_huge_input_length",
    ),
    Quirk(
        "gcm-param-pointers-unchecked",
        "a CK_GCM_PARAMS whose pIv or pAAD is NULL with a nonzero length, or whose ulIvLen "
        "is 2^40, is CKR_MECHANISM_PARAM_INVALID (5.8)",
        "C_EncryptInit dereferences the NULL pointer (SIGSEGV) or exits (status 5) on the "
        "huge IV length; the cases are not run",
        "test_bad_input_values.py::test_bad_mechanism_parameter[*-gcm-iv-null/huge, gcm-aad-null]",
    ),
    Quirk(
        "gcm-length-unchecked",
        "GCM plaintext longer than 2^39 - 256 bits (SP 800-38D 5.2.1.1) is "
        "CKR_DATA_LEN_RANGE (5.8)",
        "a length query for 2^63 bytes answers CKR_OK with 2^63 + 16; C_DecryptUpdate "
        "of 2^63 bytes answers CKR_OK",
        "test_bad_input_values.py::test_huge_length[*-gcm-encrypt, gcm-update], "
        "test_huge_input_length[*-gcm-decrypt-update]",
    ),
    Quirk(
        "cbc-pad-length-wraps",
        "a CBC-PAD length query for 2^64 - 1 bytes is CKR_DATA_LEN_RANGE (the output "
        "length does not fit a CK_ULONG; 5.8)",
        "answers CKR_OK with an output length of 0 (the padded length wrapped round)",
        "test_bad_input_values.py::test_huge_length[*-cbc-pad-max]",
    ),
)


def _rsa(name: str, spec: str, observed: str, test: str) -> Quirk:
    return Quirk(name, spec, observed, f"tests/conformance/test_rsa_enc.py::{test}")


_RSA_ENC = (
    _rsa("rsa-general-error",
         "an input longer than the scheme carries is CKR_DATA_LEN_RANGE, a ciphertext of "
         "another length than the modulus CKR_ENCRYPTED_DATA_LEN_RANGE, a padding failure "
         "CKR_ENCRYPTED_DATA_INVALID (mechanisms 3.0 2.1.6-2.1.9, base 5.2 return codes)",
         "CKR_GENERAL_ERROR for each (a signature's input too, and a value not below the "
         "modulus)",
         "test_pkcs1_input_too_long"),
    _rsa("rsa-x509-long-input-exits",
         "a CKM_RSA_X_509 input longer than the modulus is CKR_DATA_LEN_RANGE",
         "C_Encrypt ends the calling process (exit status 5); the case is not run",
         "test_x509_input_too_long"),
    _rsa("rsa-oaep-sha1-only",
         "CK_RSA_PKCS_OAEP_PARAMS takes SHA-1, SHA-224, SHA-256, SHA-384 and SHA-512 with "
         "MGF1 over any of them (mechanisms 3.0 2.1.8)",
         "CKR_ARGUMENTS_BAD at C_EncryptInit/C_WrapKey for any hash or MGF1 hash but SHA-1",
         "test_oaep_every_hash_and_mgf_both_ways"),
    _rsa("rsa-oaep-no-label",
         "CKZ_DATA_SPECIFIED with pSourceData is the OAEP label (2.1.8)",
         "CKR_ARGUMENTS_BAD for a non-empty label; a ciphertext under another label is "
         "CKR_GENERAL_ERROR",
         "test_oaep_wrong_label_one_code"),
    _rsa("rsa-oaep-param-codes",
         "a malformed CK_RSA_PKCS_OAEP_PARAMS is CKR_MECHANISM_PARAM_INVALID",
         "CKR_ARGUMENTS_BAD at C_EncryptInit; C_DecryptInit accepts source 0 or 2 and "
         "pSourceData/ulSourceDataLen that disagree (CKR_OK)",
         "test_oaep_params_checked_to_the_letter"),
    _rsa("pair-other-key-function-not-permitted",
         "the other key of a pair (a private key to encrypt, a public key to decrypt) is not "
         "the type of key the mechanism takes: CKR_KEY_TYPE_INCONSISTENT (5.8, 5.9)",
         "CKR_KEY_FUNCTION_NOT_PERMITTED", "test_each_operation_takes_its_key_class"),
    Quirk("unwrap-private-key-garbage",
          "an unwrapped value that is not a PKCS#8 private key of the template's key type is "
          "CKR_WRAPPED_KEY_INVALID (5.18.6)",
          "CKR_FUNCTION_FAILED for random bytes and for an EC key under an RSA template",
          "tests/conformance/test_private_key_wrap.py::"
          "test_garbage_and_the_wrong_key_type_are_wrapped_key_invalid"),
    Quirk("private-key-wrap-padded",
          "a wrapped private key is its PKCS#8 PrivateKeyInfo (5.18.5; RFC 5649 pads by itself)",
          "the unwrapped bytes are the DER followed by bytes up to a multiple of 8 (1224 for a "
          "1217-byte PKCS#8), which a DER parser refuses",
          "tests/conformance/test_private_key_wrap.py::test_private_key_wraps_as_its_pkcs8"),
    _rsa("rsa-aes-key-wrap-missing",
         "CKM_RSA_AES_KEY_WRAP wraps and unwraps with OAEP and KWP (2.1.21)",
         "CKR_MECHANISM_INVALID", "test_rsa_aes_key_wrap_cross_checked"),
)
_IN_RULES = {"test_public_key_info_is_read_only", "test_public_key_is_not_wrapped",
             "test_private_key_is_indigestible"}


def _pair(name: str, spec: str, observed: str, test: str) -> Quirk:
    """A key pair deviation, shown by a test of tests/conformance/test_keypair_*.py."""
    where = "rules" if test in _IN_RULES else "objects"
    return Quirk(name, spec, observed, f"test_keypair_{where}.py::{test}")


_PAIR_OBJECTS = (
    _pair("public-key-info-empty",
          "CKA_PUBLIC_KEY_INFO is the key's SubjectPublicKeyInfo DER (4.8, 4.9)",
          "an empty value on generated RSA, EC and EdDSA keys", "test_rsa_public_key_info"),
    _pair("ec-params-no-curve-name",
          "CKA_EC_PARAMS may name the curve by a PrintableString (mechanisms 2.3.3)",
          "C_GenerateKeyPair returns CKR_GENERAL_ERROR for \"prime256v1\"",
          "test_ec_params_by_curve_name"),
    _pair("curve-not-supported-general-error",
          "a curve the token does not offer is CKR_CURVE_NOT_SUPPORTED (5.18)",
          "CKR_GENERAL_ERROR", "test_unknown_curve_is_not_supported"),
    _pair("ec-params-malformed-general-error",
          "CKA_EC_PARAMS that is not DER parameters is CKR_ATTRIBUTE_VALUE_INVALID (5.18)",
          "CKR_GENERAL_ERROR, and CKR_TEMPLATE_INCOMPLETE for an empty value",
          "test_malformed_ec_params_are_invalid"),
    _pair("ec-params-trailing-bytes-accepted",
          "CKA_EC_PARAMS is one DER value; bytes after it make it invalid "
          "(CKR_ATTRIBUTE_VALUE_INVALID)", "generates a key",
          "test_malformed_ec_params_are_invalid"),
    _pair("rsa-bad-exponent-general-error",
          "an even, empty or sub-3 CKA_PUBLIC_EXPONENT is CKR_ATTRIBUTE_VALUE_INVALID (5.18)",
          "CKR_GENERAL_ERROR", "test_rsa_bad_public_exponent"),
    _pair("pair-class-mismatch-value-invalid",
          "a class or key type inconsistent with the mechanism is CKR_TEMPLATE_INCONSISTENT "
          "(5.18)", "CKR_ATTRIBUTE_VALUE_INVALID", "test_class_or_key_type_against_the_mechanism"),
    _pair("pair-template-foreign-attribute-type-invalid",
          "a Cryptoki attribute the object does not carry is CKR_TEMPLATE_INCONSISTENT "
          "(4.1.1 item 5)", "CKR_ATTRIBUTE_TYPE_INVALID",
          "test_attribute_of_the_other_key_is_inconsistent"),
    Quirk("rsa-import-unchecked",
          "RSA private key components that do not make one key are CKR_ATTRIBUTE_VALUE_INVALID "
          "(5.7 C_CreateObject)", "C_CreateObject stores them",
          "test_keypair_import.py::test_inconsistent_rsa_components"),
    Quirk("ec-import-unchecked",
          "CKA_EC_POINT is the DER OCTET STRING of a point on the curve, CKA_VALUE a private "
          "value of it, CKA_EC_PARAMS a curve the token offers (mechanisms 2.3.3, 2.3.4): "
          "anything else is CKR_ATTRIBUTE_VALUE_INVALID or CKR_CURVE_NOT_SUPPORTED",
          "C_CreateObject keeps the bytes as given: points off the curve, raw points, zero "
          "or over-long private values, unknown curves",
          "test_keypair_import.py::test_bad_ec_point"),
    _pair("public-key-info-modifiable",
          "CKA_PUBLIC_KEY_INFO has no footnote 8 (4.8, 4.9): C_SetAttributeValue gives "
          "CKR_ATTRIBUTE_READ_ONLY", "CKR_OK", "test_public_key_info_is_read_only"),
    _pair("public-key-wrap-unextractable",
          "C_WrapKey wraps private and secret keys (5.18); a public key cannot be wrapped: "
          "CKR_KEY_NOT_WRAPPABLE", "CKR_KEY_UNEXTRACTABLE", "test_public_key_is_not_wrapped"),
    _pair("digest-key-private",
          "C_DigestKey digests a secret key's value (5.12); another key is "
          "CKR_KEY_INDIGESTIBLE", "CKR_OK for a private key", "test_private_key_is_indigestible"),
    Quirk("certificate-value-not-parsed",
          "an X.509 certificate's CKA_VALUE is the certificate's DER (4.6.3): bytes that are "
          "not one are CKR_ATTRIBUTE_VALUE_INVALID",
          "C_CreateObject accepts any bytes", "test_certificates.py::test_garbage_der_is_invalid"),
    Quirk("certificate-category-unchecked",
          "CKA_CERTIFICATE_CATEGORY is 0 to 3 (4.6.2); another value is "
          "CKR_ATTRIBUTE_VALUE_INVALID", "accepts 9",
          "test_certificates.py::test_category_out_of_range_is_invalid"),
)


_ECDH = (
    Quirk(
        "ecdh-null-kdf-only",
        "CKD_SHA1_KDF ... CKD_SHA512_KDF derive with the ANSI X9.63 KDF (current mechanisms, "
        "CK_EC_KDF_TYPE)",
        "CKR_MECHANISM_PARAM_INVALID for every KDF but CKD_NULL",
        "test_derive.py::test_x963_kdfs",
    ),
    Quirk(
        "no-montgomery-ecdh",
        "CKM_ECDH1_DERIVE takes CKK_EC_MONTGOMERY keys (X25519, X448)",
        "C_CreateObject of a CKK_EC_MONTGOMERY private key is CKR_ATTRIBUTE_VALUE_INVALID",
        "test_derive.py::test_ckd_null_whole_secret",
    ),
    Quirk(
        "derived-value-len-zero",
        "CKA_VALUE_LEN is the length in bytes of the key value (4.10, generic secret keys)",
        "a generic secret derived by CKM_ECDH1_DERIVE without CKA_VALUE_LEN in the template "
        "has the whole shared secret as its value but reads CKA_VALUE_LEN 0",
        "test_derive.py::test_ckd_null_whole_secret",
    ),
    Quirk(
        "ecdh-bad-point-general-error",
        "a public value that is no point of the base key's curve is a bad mechanism "
        "parameter (CKR_MECHANISM_PARAM_INVALID)",
        "CKR_GENERAL_ERROR for a point off the curve, a point of another curve and all-zero "
        "bytes",
        "test_derive.py::test_bad_public_values",
    ),
)


QUIRKS: dict[str, dict[str, Quirk]] = {
    KEYSTEAD: {},
    SOFTHSM2: _table(
        Quirk(
            "kwp-under-0x210a",
            "RFC 5649 wrapping is CKM_AES_KEY_WRAP_KWP (0x210B)",
            "registers RFC 5649 as CKM_AES_KEY_WRAP_PAD (0x210A) and lacks 0x210B",
            "test_keys.py::test_kwp_mechanism_listed",
        ),
        Quirk(
            "no-v3-interface",
            "a 3.0 module exports C_GetInterfaceList/C_GetInterface (3.0 section 5.4)",
            "is a 2.40 module: C_GetInfo reports 2.40 and no C_GetInterface is exported",
            "test_general.py::test_interface_list",
        ),
        Quirk(
            "cryptoki-2-40",
            "a PKCS#11 3.0 module reports cryptokiVersion 3.0 in C_GetInfo",
            "reports 2.40",
            "test_general.py::test_get_info_reports_cryptoki_3_0",
        ),
        Quirk(
            "no-pin-lockout",
            "a failed-PIN counter with CKF_USER_PIN_COUNT_LOW/FINAL_TRY/LOCKED and "
            "CKR_PIN_LOCKED after the limit (5.5 CK_TOKEN_INFO flags, 5.6 C_Login)",
            "sets CKF_USER_PIN_COUNT_LOW after a wrong PIN but never FINAL_TRY or LOCKED: "
            "after 64 wrong PINs the right one still logs in",
            "test_slots_tokens.py::test_pin_lockout_final_try_then_locked",
        ),
        Quirk(
            "logout-when-public-ok",
            "C_Logout with nobody logged in returns CKR_USER_NOT_LOGGED_IN (5.6)",
            "returns CKR_OK",
            "test_sessions.py::test_logout_when_not_logged_in",
        ),
        Quirk(
            "no-unique-id",
            "every object has a token-assigned, read-only CKA_UNIQUE_ID (3.0 4.4)",
            "CKA_UNIQUE_ID is CKR_ATTRIBUTE_TYPE_INVALID on every object",
            "test_objects.py::test_unique_id_assigned_and_read_only",
        ),
        Quirk(
            "aes-key-any-length",
            "an AES key's CKA_VALUE is 16, 24 or 32 bytes; another length is "
            "CKR_ATTRIBUTE_VALUE_INVALID (4.1.2)",
            "C_CreateObject accepts a 17-byte AES key",
            "test_objects.py::test_create_aes_key_bad_length",
        ),
        Quirk(
            "check-value-set-value-invalid",
            "setting the read-only CKA_CHECK_VALUE is CKR_ATTRIBUTE_READ_ONLY (4.1.2, 5.7)",
            "returns CKR_ATTRIBUTE_VALUE_INVALID",
            "test_objects.py::test_set_read_only_attribute[CHECK_VALUE]",
        ),
        Quirk(
            "set-attribute-not-atomic",
            "a failed call leaves the token as it was (5.1): C_SetAttributeValue is all or "
            "nothing",
            "applies CKA_LABEL from the template, then fails on CKA_CLASS, keeping the new label",
            "test_objects.py::test_set_attribute_value_all_or_nothing",
        ),
        Quirk(
            "wrap-with-trusted-fixed",
            "CKA_WRAP_WITH_TRUSTED may change from CK_FALSE to CK_TRUE, never back (4.10)",
            "refuses any change with CKR_ATTRIBUTE_READ_ONLY",
            "test_objects.py::test_wrap_with_trusted_is_sticky",
        ),
        Quirk(
            "trusted-not-settable",
            "the SO may set CKA_TRUSTED to CK_TRUE on a secret key (4.10, footnote 11)",
            "refuses the SO with CKR_ATTRIBUTE_READ_ONLY",
            "test_objects.py::test_trusted_set_by_so_only",
        ),
        Quirk(
            "kwp-wrong-for-unaligned",
            "RFC 5649 wrapping matches the RFC's examples for every key length",
            "C_WrapKey gives the RFC 5649 section 6 20-byte key as cf1e4853...e367 and the "
            "7-byte key as 0e13c781...14d5 instead of 138bdeaa...3b6a and afbeb0f0...b24f "
            "(its C_UnwrapKey accepts the RFC's blobs; the fault is in wrapping)",
            "test_keys.py::test_aes_key_wrap_kwp_known_answer",
        ),
        Quirk(
            "no-kw-encrypt",
            "CKM_AES_KEY_WRAP also serves C_Encrypt/C_Decrypt (current mechanisms, AES key "
            "wrap: encrypt, decrypt, wrap, unwrap)",
            "C_EncryptInit with CKM_AES_KEY_WRAP returns CKR_MECHANISM_INVALID; so do "
            "C_EncryptInit/C_DecryptInit with its RFC 5649 mechanism (0x210A)",
            "test_keys.py::test_aes_key_wrap_via_encrypt, "
            "test_vectors_p11.py::test_encrypt_decrypt_kw, "
            "test_crosscheck_p11.py::test_kw_encrypt_lengths",
        ),
        Quirk(
            "unwrap-failure-general-error",
            "an unwrap whose integrity check fails returns CKR_WRAPPED_KEY_INVALID (5.14)",
            "returns CKR_GENERAL_ERROR for a corrupted RFC 3394 or RFC 5649 blob",
            "test_keys.py::test_unwrap_corrupted_kw",
        ),
        Quirk(
            "unwrap-template-not-merged",
            "CKA_UNWRAP_TEMPLATE is applied to every key unwrapped with the key, the caller's "
            "template on top of it (4.10)",
            "refuses with CKR_TEMPLATE_INCONSISTENT unless the caller's template repeats "
            "every attribute of the unwrap template",
            "test_keys.py::test_unwrap_template_is_applied",
        ),
        Quirk(
            "generate-class-value-invalid",
            "C_GenerateKey with a CKA_CLASS inconsistent with the mechanism returns "
            "CKR_TEMPLATE_INCONSISTENT (5.14: 'The CKA_CLASS attribute is treated similarly')",
            "returns CKR_ATTRIBUTE_VALUE_INVALID",
            "test_keys.py::test_generate_inconsistent_class",
        ),
        Quirk(
            "gcm-bad-tag-general-error",
            "a GCM tag that does not verify is CKR_ENCRYPTED_DATA_INVALID (5.9 C_Decrypt)",
            "returns CKR_GENERAL_ERROR for a flipped tag bit, changed AAD, or input shorter "
            "than the tag",
            "test_encrypt.py::test_gcm_bad_tag",
        ),
        Quirk(
            "bad-padding-general-error",
            "CBC-PAD ciphertext with invalid padding is CKR_ENCRYPTED_DATA_INVALID (5.9)",
            "returns CKR_GENERAL_ERROR",
            "test_encrypt.py::test_cbc_pad_bad_padding",
        ),
        Quirk(
            "bad-mechanism-param-code",
            "a malformed mechanism parameter is CKR_MECHANISM_PARAM_INVALID (5.8 C_EncryptInit)",
            "returns CKR_MECHANISM_INVALID for a CBC IV of 8 or 17 bytes and "
            "CKR_ARGUMENTS_BAD for a missing IV or a GCM tag of 136 bits",
            "test_encrypt.py::test_cbc_bad_iv, test_gcm_bad_tag_bits",
        ),
        Quirk(
            "pss-param-code",
            "a missing, short or mismatched CK_RSA_PKCS_PSS_PARAMS (hashAlg not the "
            "mechanism's hash, an unknown MGF, a salt too long for the key) is "
            "CKR_MECHANISM_PARAM_INVALID (5.11 C_SignInit; mechanisms 2.1.3)",
            "returns CKR_ARGUMENTS_BAD for the malformed parameters and CKR_MECHANISM_INVALID "
            "for a salt the modulus cannot hold",
            "test_sign_keypairs.py::test_rsa_pss_parameter_invalid",
        ),
        Quirk(
            "sign-data-len-general-error",
            "raw signing input the mechanism cannot take (CKM_RSA_PKCS over k - 11 bytes, "
            "CKM_RSA_PKCS_PSS not the hash length) is CKR_DATA_LEN_RANGE (5.11 C_Sign)",
            "returns CKR_GENERAL_ERROR",
            "test_sign_keypairs.py::test_raw_input_too_long",
        ),
        Quirk(
            "single-part-update-not-initialized",
            "C_SignUpdate on an active operation whose mechanism is single-part only "
            "(CKM_RSA_PKCS, CKM_ECDSA, CKM_EDDSA) fails without claiming there is no "
            "operation (CKR_OPERATION_NOT_INITIALIZED means none is active, 5.11)",
            "returns CKR_OPERATION_NOT_INITIALIZED",
            "test_sign_keypairs.py::test_single_part_mechanisms_refuse_update",
        ),
        Quirk(
            "sign-key-type-unchecked",
            "C_SignInit with a key whose type the mechanism does not take (an RSA key for "
            "CKM_ECDSA) is CKR_KEY_TYPE_INCONSISTENT (5.11)",
            "C_SignInit answers CKR_OK",
            "test_sign_keypairs.py::test_key_of_another_algorithm",
        ),
        Quirk(
            "gcm-empty-iv-accepted",
            "a GCM IV of zero bits is CKR_MECHANISM_PARAM_INVALID (SP 800-38D 5.2.1.1: "
            "1 <= len(IV))",
            "C_EncryptInit accepts an empty IV",
            "test_encrypt.py::test_gcm_empty_iv",
        ),
        Quirk(
            "key-handle-object-handle-invalid",
            "an invalid key handle in C_EncryptInit is CKR_KEY_HANDLE_INVALID (5.8)",
            "returns CKR_OBJECT_HANDLE_INVALID",
            "test_encrypt.py::test_key_handle_invalid",
        ),
        Quirk(
            "hmac-min-key-size",
            "HMAC takes keys of any length (RFC 2104; RFC 4231 test cases 1-2 use 20- and "
            "4-byte keys); a token may only narrow this through ulMinKeySize",
            "declares ulMinKeySize 32/48/64 bytes for SHA256/384/512_HMAC (20 and 28 for "
            "SHA_1/SHA224_HMAC) and refuses shorter keys with CKR_KEY_SIZE_RANGE (a declared "
            "limitation, not a wrong code)",
            "test_sign.py::test_hmac_rfc4231, test_vectors_p11.py::test_hmac",
        ),
        Quirk(
            "digest-param-ignored",
            "CKM_SHA256 takes no parameter; one supplied is CKR_MECHANISM_PARAM_INVALID "
            "(5.10 C_DigestInit, current mechanisms SHA-2: 'no parameter')",
            "C_DigestInit accepts and ignores an 8-byte parameter",
            "test_digest.py::test_digest_with_unexpected_parameter",
        ),
        Quirk(
            "no-message-api",
            "CKM_AES_GCM serves message-based encryption and decryption with "
            "CK_GCM_MESSAGE_PARAMS (5.13, 5.14; CKF_MESSAGE_ENCRYPT/DECRYPT in its info)",
            "no 3.0 function list, so no C_MessageEncryptInit etc. can be called (no such "
            "symbol either); C_GetMechanismInfo(CKM_AES_GCM) flags are 0x300 "
            "(CKF_ENCRYPT|CKF_DECRYPT only)",
            "test_message_api.py::test_gcm_lists_message_flags",
        ),
        Quirk(
            "cbc-pad-empty-decrypt-update",
            "a zero-length C_DecryptUpdate is a valid call that outputs nothing: CKR_OK "
            "with *pulPartLen 0 (5.9, 5.2)",
            "with CKM_AES_CBC_PAD and no ciphertext buffered yet (a first, empty update) it "
            "returns CKR_BUFFER_TOO_SMALL and sets *pulPartLen to 2^64 - 16 (the length it "
            "needs went below zero); CBC, CTR, ECB and GCM and CBC_PAD encryption are fine",
            "test_crosscheck_p11.py::test_cipher_empty_updates[softhsm2-cbc_pad-Decrypt]",
        ),
        Quirk(
            "gcm-decrypt-update-overstates",
            "a buffer large enough for the output gets the output and CKR_OK (5.2); "
            "CKM_AES_GCM's C_DecryptUpdate releases no plaintext, so any buffer fits",
            "C_DecryptUpdate outputs nothing yet demands a buffer as long as all the "
            "ciphertext fed so far: after a 16-byte part, a 49-byte part with a 49-byte "
            "buffer is CKR_BUFFER_TOO_SMALL asking for 65 (a length query answers 65 too, "
            "so callers of the two-call form are not hurt)",
            "test_crosscheck_p11.py::test_gcm_decrypt_update_takes_a_buffer_that_fits",
        ),
        Quirk(
            "gcm-long-iv-truncated",
            "CK_GCM_PARAMS.ulIvLen is any length from 1 to 2^32 - 1 bytes and the whole IV "
            "enters J0 (current mechanisms, CK_GCM_PARAMS; SP 800-38D 7.1 step 2)",
            "an IV longer than 128 bytes answers CKR_OK but only its first 12 bytes are used: "
            "for IVs of 129, 200, 256, 1000 and 4096 bytes the output equals GCM under "
            "IV[:12] (1..128 bytes are right); two long IVs sharing 12 leading bytes reuse "
            "the keystream",
            "test_crosscheck_p11.py::test_gcm_every_iv_length",
        ),
        *_BAD_INPUT,
        *_LEAKS,
        *_RSA_ENC,
        *_PAIR_OBJECTS,
        *_ECDH,
    ),
}


def _kind(module: ModuleInfo | str) -> str:
    return module.kind if isinstance(module, ModuleInfo) else module


def get(module: ModuleInfo | str, name: str) -> Quirk | None:
    """The quirk ``name`` of ``module`` (a ModuleInfo or a kind), or None."""
    return QUIRKS.get(_kind(module), {}).get(name)


def has(module: ModuleInfo | str, name: str) -> bool:
    """True if ``module`` is known to show quirk ``name``."""
    return get(module, name) is not None


def all_for(module: ModuleInfo | str) -> list[Quirk]:
    """Every recorded quirk of ``module``."""
    return list(QUIRKS.get(_kind(module), {}).values())


def wrap_pad_mechanism(module: ModuleInfo | str) -> int:
    """The mechanism number under which ``module`` offers RFC 5649 key wrap."""
    return CKM_AES_KEY_WRAP_PAD if has(module, "kwp-under-0x210a") else CKM_AES_KEY_WRAP_KWP
