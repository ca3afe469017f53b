/* ops.c - an operation's lifetime and the dispatch of every call to its mechanism family.
 *
 * ks_op_start is the only allocation of an operation (one aligned block, wiped on free);
 * every later call works in the caller's buffers (zero-copy data path). The mechanism's
 * registry row (token/mech.h) says which functions and keys it takes and which family runs
 * it: the dispatch reads the row, there is no other table. */
#include "token/ops.h"

#include <stdlib.h>
#include <string.h>

#include "crypto/mem.h"
#include "token/mech.h"
#include "token/ops_internal.h"

static CK_RV digest_init(ks_op *op, const CK_MECHANISM *mech, const ks_key_ref *key)
{
    (void)key;
    return ks_op_digest_init(op, mech);
}

const ks_mech_family ks_fam_block = {"aes-block", ks_op_aes_block_init};
const ks_mech_family ks_fam_gcm = {"aes-gcm", ks_op_gcm_init};
const ks_mech_family ks_fam_kw = {"aes-kw", ks_op_kw_init};
const ks_mech_family ks_fam_mac = {"mac", ks_op_mac_init};
const ks_mech_family ks_fam_digest = {"digest", digest_init};
const ks_mech_family ks_fam_rsa_enc = {"rsa-enc", ks_op_rsa_enc_init};

/* CKM_RSA_PKCS is one mechanism served by two families: encryption, decryption and key
 * transport (ops_rsa_enc.c) and signatures over prepared keys (ops_pkey_sign.c). Its one
 * registry row names this family, which picks by the operation. */
static CK_RV rsa_pkcs_init(ks_op *op, const CK_MECHANISM *mech, const ks_key_ref *key)
{
    return op->kind == KS_OP_SIGN || op->kind == KS_OP_VERIFY
               ? ks_op_pkey_sign_init(op, mech, key)
               : ks_op_rsa_enc_init(op, mech, key);
}

const ks_mech_family ks_fam_rsa_pkcs = {"rsa-pkcs", rsa_pkcs_init};

CK_FLAGS ks_op_kind_flag(ks_op_kind kind)
{
    switch (kind) {
    case KS_OP_ENCRYPT:
        return CKF_ENCRYPT;
    case KS_OP_DECRYPT:
        return CKF_DECRYPT;
    case KS_OP_SIGN:
        return CKF_SIGN;
    case KS_OP_VERIFY:
        return CKF_VERIFY;
    case KS_OP_DIGEST:
        return CKF_DIGEST;
    }
    return 0;
}

CK_RV ks_op_status_rv(ks_status st, CK_RV len_rv, CK_RV auth_rv)
{
    switch (st) {
    case KS_OK:
        return CKR_OK;
    case KS_ERR_LEN:
        return len_rv;
    case KS_ERR_AUTH:
        return auth_rv;
    case KS_ERR_NOMEM:
        return CKR_HOST_MEMORY;
    case KS_ERR_KEY_LEN:
        return CKR_KEY_SIZE_RANGE;
    case KS_ERR_ARGS:
        return CKR_ARGUMENTS_BAD;
    case KS_ERR_UNSUPPORTED:
    case KS_ERR_INTERNAL:
        break;
    }
    return CKR_FUNCTION_FAILED;
}

CK_RV ks_op_len_rv(const ks_op *op)
{
    return op->kind == KS_OP_DECRYPT ? CKR_ENCRYPTED_DATA_LEN_RANGE : CKR_DATA_LEN_RANGE;
}

/* The registry's verdict on the key (PKCS#11 3.0 5.10 C_EncryptInit and friends). */
static CK_RV check_key(const ks_mech_desc *desc, const ks_key_ref *key)
{
    if (key == NULL || (key->value == NULL && key->len != 0)) {
        return CKR_ARGUMENTS_BAD;
    }
    if (!ks_mech_key_type_ok(desc, key->type)) {
        return CKR_KEY_TYPE_INCONSISTENT;
    }
    if (!ks_mech_key_len_ok(desc, key->len)) {
        return CKR_KEY_SIZE_RANGE;
    }
    return CKR_OK;
}

CK_RV ks_op_start(ks_op **out, ks_op_kind kind, const ks_mech_desc *desc,
                  const CK_MECHANISM *mech, const ks_key_ref *key)
{
    return ks_op_start_as(out, kind, ks_op_kind_flag(kind), desc, mech, key);
}

CK_RV ks_op_start_as(ks_op **out, ks_op_kind kind, CK_FLAGS flag, const ks_mech_desc *desc,
                     const CK_MECHANISM *mech, const ks_key_ref *key)
{
    if (out == NULL || mech == NULL) {
        return CKR_ARGUMENTS_BAD;
    }
    *out = NULL;
    if (desc == NULL || desc->type != mech->mechanism || desc->family == NULL ||
        (desc->flags & flag) == 0) {
        return CKR_MECHANISM_INVALID;
    }
    if (desc->params != NULL) {
        CK_RV rv = desc->params(mech);
        if (rv != CKR_OK) {
            return rv;
        }
    }
    if (desc->key_class != CK_UNAVAILABLE_INFORMATION) {
        CK_RV rv = check_key(desc, key);
        if (rv != CKR_OK) {
            return rv;
        }
    } else {
        key = NULL;
    }
    /* Locked, undumped and 64-byte aligned (the GCM key's H table): the op holds key copies. */
    ks_op *op = ks_secure_alloc(sizeof(*op));
    if (op == NULL) {
        return CKR_HOST_MEMORY;
    }
    op->kind = kind;
    op->mech = mech->mechanism;
    CK_RV rv = desc->family->init(op, mech, key);
    if (rv != CKR_OK) {
        ks_secure_free(op, sizeof(*op));
        return rv;
    }
    *out = op;
    return CKR_OK;
}

CK_RV ks_op_new(ks_op **out, ks_op_kind kind, const CK_MECHANISM *mech, const ks_key_ref *key)
{
    if (out == NULL || mech == NULL) {
        return CKR_ARGUMENTS_BAD;
    }
    return ks_op_start(out, kind, ks_mech_find(mech->mechanism, 1), mech, key);
}

void ks_op_free(ks_op *op)
{
    if (op == NULL) {
        return;
    }
    if (op->fam != NULL && op->fam->clear != NULL) {
        op->fam->clear(op);
    }
    ks_secure_free(op, sizeof(*op));
}

ks_op_kind ks_op_kind_of(const ks_op *op)
{
    return op->kind;
}

CK_MECHANISM_TYPE ks_op_mechanism(const ks_op *op)
{
    return op->mech;
}

int ks_op_started(const ks_op *op)
{
    return op != NULL && op->started;
}

static int is_cipher(const ks_op *op)
{
    return op->kind == KS_OP_ENCRYPT || op->kind == KS_OP_DECRYPT;
}

CK_RV ks_op_oneshot(ks_op *op, uint8_t *out, CK_ULONG *out_len, const uint8_t *in,
                    CK_ULONG in_len)
{
    if (op == NULL || out_len == NULL || (in == NULL && in_len != 0)) {
        return CKR_ARGUMENTS_BAD;
    }
    if (op->kind == KS_OP_VERIFY) {
        return CKR_OPERATION_NOT_INITIALIZED;
    }
    return op->fam->oneshot(op, out, out_len, in, in_len);
}

CK_RV ks_op_update(ks_op *op, uint8_t *out, CK_ULONG *out_len, const uint8_t *in,
                   CK_ULONG in_len)
{
    if (op == NULL || (in == NULL && in_len != 0)) {
        return CKR_ARGUMENTS_BAD;
    }
    if (is_cipher(op) && out_len == NULL) {
        return CKR_ARGUMENTS_BAD;
    }
    if (!is_cipher(op)) {
        out = NULL;
        out_len = NULL;
    }
    CK_RV rv = op->fam->update(op, out, out_len, in, in_len);
    /* A length query (cipher with out == NULL) and a short buffer change nothing. */
    if (rv == CKR_OK && (!is_cipher(op) || out != NULL)) {
        op->started = 1;
    }
    return rv;
}

CK_RV ks_op_final(ks_op *op, uint8_t *out, CK_ULONG *out_len)
{
    if (op == NULL || out_len == NULL) {
        return CKR_ARGUMENTS_BAD;
    }
    if (op->kind == KS_OP_VERIFY) {
        return CKR_OPERATION_NOT_INITIALIZED;
    }
    return op->fam->final(op, out, out_len);
}

CK_RV ks_op_verify(ks_op *op, const uint8_t *data, CK_ULONG data_len, const uint8_t *sig,
                   CK_ULONG sig_len)
{
    if (op == NULL || (data == NULL && data_len != 0) || (sig == NULL && sig_len != 0)) {
        return CKR_ARGUMENTS_BAD;
    }
    if (op->kind != KS_OP_VERIFY || op->fam->verify == NULL) {
        return CKR_OPERATION_NOT_INITIALIZED;
    }
    return op->fam->verify(op, data, data_len, sig, sig_len);
}

CK_RV ks_op_verify_final(ks_op *op, const uint8_t *sig, CK_ULONG sig_len)
{
    if (op == NULL || (sig == NULL && sig_len != 0)) {
        return CKR_ARGUMENTS_BAD;
    }
    if (op->kind != KS_OP_VERIFY || op->fam->verify_final == NULL) {
        return CKR_OPERATION_NOT_INITIALIZED;
    }
    return op->fam->verify_final(op, sig, sig_len);
}

CK_RV ks_op_digest_key(ks_op *op, const ks_key_ref *key)
{
    if (op == NULL || key == NULL || (key->value == NULL && key->len != 0)) {
        return CKR_ARGUMENTS_BAD;
    }
    if (op->kind != KS_OP_DIGEST || op->fam->digest_key == NULL) {
        return CKR_OPERATION_NOT_INITIALIZED;
    }
    CK_RV rv = op->fam->digest_key(op, key);
    if (rv == CKR_OK) {
        op->started = 1;
    }
    return rv;
}
