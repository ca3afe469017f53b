/* ops.h - one cryptographic operation in progress (encrypt, decrypt, sign, verify, digest),
 * with the PKCS#11 3.0 calling conventions of section 5.2 already applied:
 *
 * - out == NULL is a length query: *out_len gets the length needed, CKR_OK, no cryptography,
 *   the state does not change;
 * - *out_len too small: CKR_BUFFER_TOO_SMALL, *out_len gets the length needed, state unchanged;
 * - otherwise the output is written and *out_len set.
 *
 * The front (p11/) decides when an operation ends (spec 5.2: on success of the final or
 * single-part call, and on any error other than CKR_BUFFER_TOO_SMALL and a length query) and
 * then calls ks_op_free. No heap allocation happens after ks_op_new on the hot path.
 *
 * Where the exact output length needs the cryptography, a length query answers a bound
 * (section 5.2 allows "somewhat" more): CBC_PAD decryption (input - 1, or 15 at the final
 * call) and KWP decryption (input - 8); the call itself then sets the exact length, and a
 * buffer below the exact length gets CKR_BUFFER_TOO_SMALL with it. Multi-part GCM decryption
 * returns no data before C_DecryptFinal verifies the tag (mechanisms 3.0, AES-GCM): it holds
 * the ciphertext in a buffer grown geometrically, the one allocation after ks_op_new.
 * CKM_AES_KEY_WRAP(_KWP) are single-part only: update and final answer
 * CKR_FUNCTION_NOT_SUPPORTED. out may equal in; other overlaps are not supported. */
#ifndef KS_TOKEN_OPS_H
#define KS_TOKEN_OPS_H

#include <stddef.h>
#include <stdint.h>

#include "pkcs11.h"

typedef enum ks_op_kind {
    KS_OP_ENCRYPT,
    KS_OP_DECRYPT,
    KS_OP_SIGN,
    KS_OP_VERIFY,
    KS_OP_DIGEST,
} ks_op_kind;

/* The key an operation uses: its type and value (borrowed; ks_op_new copies what it needs).
 * For a key pair, value is the PKCS#8 (private) or SubjectPublicKeyInfo (public) DER, and pkey
 * may carry the object's prepared key (crypto/pkey_sign.h; borrowed: a family that keeps it
 * takes a reference), so that the family does not parse the DER again; NULL is always
 * allowed (the family parses value). */
typedef struct ks_key_ref {
    CK_KEY_TYPE type;
    const uint8_t *value;
    size_t len;
    void *pkey;
} ks_key_ref;

typedef struct ks_op ks_op;

/* ks_op_new checks the mechanism against the operation kind (CKR_MECHANISM_INVALID), its
 * parameter (CKR_MECHANISM_PARAM_INVALID: shape, IV length, tag bits, counter bits...), the
 * key type (CKR_KEY_TYPE_INCONSISTENT) and size (CKR_KEY_SIZE_RANGE); key is NULL for digests.
 * CKR_HOST_MEMORY on allocation failure. */
CK_RV ks_op_new(ks_op **out, ks_op_kind kind, const CK_MECHANISM *mech, const ks_key_ref *key);

/* ks_op_start is ks_op_new for a caller that has resolved the mechanism's registry row already
 * (the front, under its configuration's alias setting: one lookup per call); ks_op_new
 * looks the row up with the SoftHSMv2 alias allowed. desc NULL is CKR_MECHANISM_INVALID. */
struct ks_mech_desc;
CK_RV ks_op_start(ks_op **out, ks_op_kind kind, const struct ks_mech_desc *desc,
                  const CK_MECHANISM *mech, const ks_key_ref *key);

/* ks_op_kind_flag: the CK_MECHANISM_INFO flag a mechanism needs for an operation kind
 * (CKF_ENCRYPT for KS_OP_ENCRYPT, ...). */
CK_FLAGS ks_op_kind_flag(ks_op_kind kind);
void ks_op_free(ks_op *op);

ks_op_kind ks_op_kind_of(const ks_op *op);
CK_MECHANISM_TYPE ks_op_mechanism(const ks_op *op);
/* ks_op_started returns 1 once an update call consumed data (single-part calls then fail with
 * CKR_OPERATION_ACTIVE in the front). */
int ks_op_started(const ks_op *op);

/* Single-part: C_Encrypt, C_Decrypt, C_Digest, C_Sign. Errors: CKR_DATA_LEN_RANGE,
 * CKR_ENCRYPTED_DATA_LEN_RANGE, CKR_ENCRYPTED_DATA_INVALID (bad padding or GCM tag; output
 * wiped). */
CK_RV ks_op_oneshot(ks_op *op, uint8_t *out, CK_ULONG *out_len, const uint8_t *in,
                    CK_ULONG in_len);

/* Multi-part. For sign, verify and digest pass out = NULL, out_len = NULL to update. */
CK_RV ks_op_update(ks_op *op, uint8_t *out, CK_ULONG *out_len, const uint8_t *in,
                   CK_ULONG in_len);
CK_RV ks_op_final(ks_op *op, uint8_t *out, CK_ULONG *out_len);

/* Verify: CKR_SIGNATURE_INVALID or CKR_SIGNATURE_LEN_RANGE; comparison in constant time. */
CK_RV ks_op_verify(ks_op *op, const uint8_t *data, CK_ULONG data_len, const uint8_t *sig,
                   CK_ULONG sig_len);
CK_RV ks_op_verify_final(ks_op *op, const uint8_t *sig, CK_ULONG sig_len);

/* C_DigestKey: feed a secret key's value into a digest operation. */
CK_RV ks_op_digest_key(ks_op *op, const ks_key_ref *key);

/* Key wrapping by mechanism (C_WrapKey / C_UnwrapKey): CKM_AES_KEY_WRAP, CKM_AES_KEY_WRAP_KWP
 * (and the 0x210A alias when alias_softhsm), and the encryption mechanisms allowed to wrap
 * (CKM_AES_ECB, CKM_AES_CBC, CKM_AES_CBC_PAD, CKM_AES_GCM). Same length-query and
 * buffer rules as above. Unwrap failures: CKR_WRAPPED_KEY_INVALID (integrity),
 * CKR_WRAPPED_KEY_LEN_RANGE (length). *out_len on unwrap is the unwrapped key length. */
CK_RV ks_wrap(const CK_MECHANISM *mech, const ks_key_ref *kek, int alias_softhsm, uint8_t *out,
              CK_ULONG *out_len, const uint8_t *in, CK_ULONG in_len);
CK_RV ks_unwrap(const CK_MECHANISM *mech, const ks_key_ref *kek, int alias_softhsm,
                uint8_t *out, size_t *out_len, size_t max_out, const uint8_t *in,
                CK_ULONG in_len);

#endif
