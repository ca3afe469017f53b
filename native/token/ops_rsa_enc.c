/* ops_rsa_enc.c - RSA encryption and key transport (PKCS#11 3.0 mechanisms 2.1.6
 * CKM_RSA_PKCS, 2.1.8 CKM_RSA_PKCS_OAEP, 2.1.9 CKM_RSA_X_509, 2.1.21 CKM_RSA_AES_KEY_WRAP):
 * C_Encrypt/C_Decrypt and, through ks_wrap/ks_unwrap, C_WrapKey/C_UnwrapKey; and the raw
 * signatures of CKM_RSA_PKCS (a DigestInfo the caller made, EMSA-PKCS1-v1_5 type 1) and
 * CKM_RSA_X_509 with C_Sign/C_Verify, the same rows' other functions.
 *
 * Single-part only, as the mechanisms say: the update and final calls answer
 * CKR_FUNCTION_NOT_SUPPORTED (as ops_kw.c does). Encryption takes the public key (its
 * SubjectPublicKeyInfo), decryption the private key (its PKCS#8). libcrypto computes the
 * modular exponentiation only (crypto/rsa.c, blinded); the paddings are keystead's own,
 * constant time (crypto/rsa_pad.c).
 *
 * Lengths (mechanisms 3.0 tables 2.1.6 to 2.1.9): an input longer than the scheme carries
 * (k - 11, k - 2hLen - 2, k) is CKR_DATA_LEN_RANGE; a raw input whose value is not below the
 * modulus CKR_DATA_INVALID; a ciphertext of another length than the modulus
 * CKR_ENCRYPTED_DATA_LEN_RANGE; a ciphertext not below the modulus and every padding failure
 * CKR_ENCRYPTED_DATA_INVALID (one code). A length query on decryption answers the scheme's
 * largest message; a buffer below the exact length gets CKR_BUFFER_TOO_SMALL and that length.
 *
 * CKM_RSA_PKCS decryption rejects implicitly unless rsa_implicit_rejection = off
 * (draft-irtf-cfrg-rsa-guidance): a padding failure returns a synthetic message that only the
 * private key determines, never an error. For C_UnwrapKey the synthetic message would give
 * itself away by its length, so an unwrap under implicit rejection decodes a key of one of
 * the lengths the template allows: CKA_VALUE_LEN, or any AES length for an AES key
 * (ks_rsa_pkcs1_decode_key, README "RSA encryption"). */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/copyout.h"
#include "crypto/kw.h"
#include "crypto/mem.h"
#include "crypto/pkey.h"
#include "crypto/rand.h"
#include "crypto/rsa.h"
#include "token/mech.h"
#include "token/ops_internal.h"

#define MAX_LABEL 65536 /* OAEP source data keystead accepts (RFC 8017 allows 2^61 - 1) */

static atomic_int implicit_rejection = 1;

void ks_op_rsa_implicit_rejection(int on)
{
    atomic_store(&implicit_rejection, on ? 1 : 0);
}

/* ---- parameters ------------------------------------------------------------------------ */

static int oaep_hash(CK_MECHANISM_TYPE h, ks_md *md)
{
    switch (h) {
    case CKM_SHA_1:
        *md = KS_MD_SHA1;
        return 1;
    case CKM_SHA224:
        *md = KS_MD_SHA224;
        return 1;
    case CKM_SHA256:
        *md = KS_MD_SHA256;
        return 1;
    case CKM_SHA384:
        *md = KS_MD_SHA384;
        return 1;
    case CKM_SHA512:
        *md = KS_MD_SHA512;
        return 1;
    default:
        return 0;
    }
}

static int mgf_hash(CK_RSA_PKCS_MGF_TYPE g, ks_md *md)
{
    switch (g) {
    case CKG_MGF1_SHA1:
        *md = KS_MD_SHA1;
        return 1;
    case CKG_MGF1_SHA224:
        *md = KS_MD_SHA224;
        return 1;
    case CKG_MGF1_SHA256:
        *md = KS_MD_SHA256;
        return 1;
    case CKG_MGF1_SHA384:
        *md = KS_MD_SHA384;
        return 1;
    case CKG_MGF1_SHA512:
        *md = KS_MD_SHA512;
        return 1;
    default:
        return 0;
    }
}

/* CK_RSA_PKCS_OAEP_PARAMS (mechanisms 3.0 2.1.8): a SHA-1 or SHA-2 hash, MGF1 with one of
 * them, source CKZ_DATA_SPECIFIED (the only source there is), and pSourceData NULL exactly
 * when ulSourceDataLen is 0 ("If the parameter is empty, pSourceData must be NULL and
 * ulSourceDataLen must be zero"). Without a label, source 0 is taken too: OpenSC's
 * pkcs11-tool sends it, and it names no other source of an empty parameter. */
static CK_RV oaep_parse(const CK_RSA_PKCS_OAEP_PARAMS *p, ks_md *md, ks_md *mgf)
{
    int no_label = p != NULL && p->pSourceData == NULL && p->ulSourceDataLen == 0;
    if (p == NULL || !oaep_hash(p->hashAlg, md) || !mgf_hash(p->mgf, mgf) ||
        (p->source != CKZ_DATA_SPECIFIED && !(p->source == 0 && no_label)) ||
        (p->pSourceData == NULL) != (p->ulSourceDataLen == 0) ||
        p->ulSourceDataLen > MAX_LABEL) {
        return CKR_MECHANISM_PARAM_INVALID;
    }
    return CKR_OK;
}

CK_RV ks_rsa_oaep_params(const CK_MECHANISM *mech)
{
    ks_md md, mgf;
    if (mech->pParameter == NULL || mech->ulParameterLen != sizeof(CK_RSA_PKCS_OAEP_PARAMS)) {
        return CKR_MECHANISM_PARAM_INVALID;
    }
    return oaep_parse(mech->pParameter, &md, &mgf);
}

/* CK_RSA_AES_KEY_WRAP_PARAMS (2.1.21): an AES key of 128, 192 or 256 bits, and OAEP's. */
CK_RV ks_rsa_aes_wrap_params(const CK_MECHANISM *mech)
{
    ks_md md, mgf;
    if (mech->pParameter == NULL ||
        mech->ulParameterLen != sizeof(CK_RSA_AES_KEY_WRAP_PARAMS)) {
        return CKR_MECHANISM_PARAM_INVALID;
    }
    const CK_RSA_AES_KEY_WRAP_PARAMS *p = mech->pParameter;
    if (p->ulAESKeyBits != 128 && p->ulAESKeyBits != 192 && p->ulAESKeyBits != 256) {
        return CKR_MECHANISM_PARAM_INVALID;
    }
    return oaep_parse(p->pOAEPParams, &md, &mgf);
}

/* ---- encryption -------------------------------------------------------------------------- */

/* The largest input of an encryption (wrap: the key value); SIZE_MAX for RSA-AES (KWP's
 * own limit applies). */
static size_t max_plain(const ks_op *op)
{
    const ks_rsa_enc_state *st = &op->u.rsa;
    switch (op->mech) {
    case CKM_RSA_PKCS:
        return ks_rsa_pkcs1_max_msg(st->k);
    case CKM_RSA_X_509:
        return st->k;
    case CKM_RSA_PKCS_OAEP:
        return ks_rsa_oaep_max_msg(st->k, st->md);
    default:
        return SIZE_MAX;
    }
}

/* encode_block writes the k-byte block for msg (OAEP for RSA-AES's temporary key). */
static ks_status encode_block(const ks_op *op, uint8_t *em, const uint8_t *msg, size_t len)
{
    const ks_rsa_enc_state *st = &op->u.rsa;
    switch (op->mech) {
    case CKM_RSA_PKCS:
        return ks_rsa_pkcs1_encode(em, st->k, msg, len);
    case CKM_RSA_X_509: /* the input as a big-endian integer, left-padded with zeros */
        memset(em, 0, st->k - len);
        memcpy(em + st->k - len, msg, len);
        return KS_OK;
    default:
        return ks_rsa_oaep_encode(em, st->k, msg, len, st->md, st->mgf, st->label,
                                  st->label_len);
    }
}

static CK_RV rsa_encrypt(ks_op *op, uint8_t *out, CK_ULONG *out_len, const uint8_t *in,
                         size_t in_len)
{
    ks_rsa_enc_state *st = &op->u.rsa;
    int hybrid = op->mech == CKM_RSA_AES_KEY_WRAP;
    size_t tail = hybrid ? ks_kwp_wrapped_len(in_len) : 0;
    CK_RV rv = CKR_OK;
    if (in_len > max_plain(op) || (hybrid && tail == 0)) {
        return CKR_DATA_LEN_RANGE;
    }
    if (!ks_out_ready(out, out_len, st->k + tail, &rv)) {
        return rv;
    }
    /* em, c (the RSA part), the temporary AES key, the KWP part: all module memory */
    size_t work_len = 2 * st->k + 32 + tail;
    uint8_t *work = ks_secure_alloc(work_len);
    if (work == NULL) {
        return CKR_HOST_MEMORY;
    }
    uint8_t *em = work, *c = work + st->k, *tmp = c + st->k, *wrapped = tmp + 32;
    ks_status s = KS_OK;
    if (hybrid) {
        s = ks_random(tmp, st->aes_len);
        if (s == KS_OK) {
            s = encode_block(op, em, tmp, st->aes_len);
        }
    } else {
        s = encode_block(op, em, in, in_len);
    }
    if (s == KS_OK) {
        s = ks_rsa_public_raw(st->pkey, c, em, st->k);
    }
    if (s == KS_OK && hybrid) { /* 2.1.21: the target key under the temporary key, KWP */
        ks_aes_key aes;
        size_t n = 0;
        s = ks_aes_init(&aes, tmp, st->aes_len);
        if (s == KS_OK) {
            s = ks_kwp_wrap(&aes, wrapped, &n, tail, NULL, in, in_len);
        }
        ks_aes_clear(&aes);
    }
    if (s == KS_OK) {
        ks_copy_out(out, c, st->k);
        ks_copy_out(out + st->k, wrapped, tail);
        *out_len = st->k + tail;
    }
    ks_secure_free(work, work_len);
    /* KS_ERR_LEN here: a raw input not below the modulus (its length was checked above) */
    return ks_op_status_rv(s, CKR_DATA_INVALID, CKR_FUNCTION_FAILED);
}

/* ---- decryption -------------------------------------------------------------------------- */

/* decode_block decodes the k-byte block em into msg (room for k bytes) under the op's
 * scheme; *n the message length. */
static ks_status decode_block(ks_op *op, uint8_t *msg, size_t *n, const uint8_t *em,
                              const uint8_t *c)
{
    ks_rsa_enc_state *st = &op->u.rsa;
    if (op->mech == CKM_RSA_X_509) {
        memcpy(msg, em, st->k);
        *n = st->k;
        return KS_OK;
    }
    if (op->mech != CKM_RSA_PKCS) {
        return ks_rsa_oaep_decode(msg, n, st->k, em, st->k, st->md, st->mgf, st->label,
                                  st->label_len);
    }
    if (!st->implicit) {
        return ks_rsa_pkcs1_decode(msg, n, st->k, em, st->k, NULL);
    }
    uint8_t kdk[KS_RSA_KDK_LEN];
    ks_status s = ks_rsa_ir_kdk(st->pkey, kdk, c, st->k);
    if (s == KS_OK && st->unwrap) {
        static const size_t AES_LENS[] = {16, 24, 32};
        int aes = st->unwrap_len == KS_UNWRAP_LEN_AES;
        s = ks_rsa_pkcs1_decode_key(msg, n, st->k, aes ? AES_LENS : &st->unwrap_len,
                                    aes ? 3 : 1, em, st->k, kdk);
    } else if (s == KS_OK) {
        s = ks_rsa_pkcs1_decode(msg, n, st->k, em, st->k, kdk);
    }
    ks_wipe(kdk, sizeof(kdk));
    return s;
}

/* The RSA-AES unwrap's second half: the target key under the temporary key (KWP). */
static ks_status unwrap_tail(const uint8_t *tmp, size_t tmp_len, uint8_t *out, size_t *n,
                             size_t max_out, const uint8_t *in, size_t in_len)
{
    ks_aes_key aes;
    ks_status s = ks_aes_init(&aes, tmp, tmp_len);
    if (s == KS_OK) {
        s = ks_kwp_unwrap(&aes, out, n, max_out, NULL, in, in_len);
    }
    ks_aes_clear(&aes);
    return s;
}

static CK_RV rsa_decrypt(ks_op *op, uint8_t *out, CK_ULONG *out_len, const uint8_t *in,
                         size_t in_len)
{
    ks_rsa_enc_state *st = &op->u.rsa;
    int hybrid = op->mech == CKM_RSA_AES_KEY_WRAP;
    size_t tail = hybrid && in_len > st->k ? in_len - st->k : 0;
    if (hybrid ? tail < 16 || tail % 8 != 0 : in_len != st->k) {
        return CKR_ENCRYPTED_DATA_LEN_RANGE;
    }
    size_t bound = hybrid ? tail - 8 : op->mech == CKM_RSA_X_509 ? st->k : max_plain(op);
    if (st->unwrap && op->mech == CKM_RSA_PKCS && st->implicit) {
        /* A synthetic key would give itself away by its length: the template fixes it. */
        if (st->unwrap_len == 0) {
            return CKR_TEMPLATE_INCOMPLETE;
        }
        bound = st->unwrap_len == KS_UNWRAP_LEN_AES ? 32 : st->unwrap_len;
    }
    if (out == NULL) {
        *out_len = bound;
        return CKR_OK;
    }
    size_t work_len = 2 * st->k + tail;
    uint8_t *work = ks_secure_alloc(work_len);
    if (work == NULL) {
        return CKR_HOST_MEMORY;
    }
    uint8_t *em = work, *msg = work + st->k, *key = msg + st->k;
    size_t n = 0;
    ks_status s = ks_rsa_private_raw(st->pkey, em, in, st->k);
    if (s == KS_ERR_LEN) {
        s = KS_ERR_AUTH; /* not below the modulus: not a ciphertext of this key */
    }
    if (s == KS_OK) {
        s = decode_block(op, msg, &n, em, in);
    }
    if (s == KS_OK && hybrid) {
        /* the temporary key: an AES key of the parameter's length, or nothing */
        s = n == st->aes_len ? unwrap_tail(msg, n, key, &n, tail, in + st->k, tail)
                             : KS_ERR_AUTH;
        msg = key;
    }
    CK_RV rv = ks_op_status_rv(s, CKR_ENCRYPTED_DATA_LEN_RANGE, CKR_ENCRYPTED_DATA_INVALID);
    if (rv == CKR_OK && *out_len < n) {
        rv = CKR_BUFFER_TOO_SMALL; /* the length is the answer's: told on success anyway */
    } else if (rv == CKR_OK) {
        ks_copy_out(out, msg, n);
    }
    if (rv == CKR_OK || rv == CKR_BUFFER_TOO_SMALL) {
        *out_len = n;
    }
    ks_secure_free(work, work_len);
    return rv;
}

/* ---- raw signatures (CKM_RSA_PKCS over a caller's DigestInfo, CKM_RSA_X_509) ------------ */

/* sig_block writes the k-byte block a signature of data signs: PKCS#1 v1.5 EMSA type 1
 * (0x00 0x01 FF..FF 0x00 data, at least 8 bytes of FF: RFC 8017 9.2 steps 2-5 with the
 * caller's T) or, for raw RSA, the data as a big-endian integer. CKR_DATA_LEN_RANGE when data
 * is longer than the block carries. */
static CK_RV sig_block(const ks_op *op, uint8_t *em, const uint8_t *data, size_t len)
{
    size_t k = op->u.rsa.k;
    if (op->mech == CKM_RSA_PKCS) {
        if (len > ks_rsa_pkcs1_max_msg(k)) {
            return CKR_DATA_LEN_RANGE;
        }
        em[0] = 0x00;
        em[1] = 0x01;
        memset(em + 2, 0xff, k - 3 - len);
        em[k - 1 - len] = 0x00;
    } else {
        if (len > k) {
            return CKR_DATA_LEN_RANGE;
        }
        memset(em, 0, k - len);
    }
    if (len > 0) {
        memcpy(em + k - len, data, len);
    }
    return CKR_OK;
}

static CK_RV rsa_sign(ks_op *op, uint8_t *out, CK_ULONG *out_len, const uint8_t *in,
                      size_t in_len)
{
    ks_rsa_enc_state *st = &op->u.rsa;
    CK_RV rv = CKR_OK;
    if (in_len > (op->mech == CKM_RSA_PKCS ? ks_rsa_pkcs1_max_msg(st->k) : st->k)) {
        return CKR_DATA_LEN_RANGE;
    }
    if (!ks_out_ready(out, out_len, st->k, &rv)) {
        return rv;
    }
    uint8_t *work = ks_secure_alloc(2 * st->k);
    if (work == NULL) {
        return CKR_HOST_MEMORY;
    }
    rv = sig_block(op, work, in, in_len);
    if (rv == CKR_OK) {
        ks_status s = ks_rsa_private_raw(st->pkey, work + st->k, work, st->k);
        rv = ks_op_status_rv(s, CKR_DATA_INVALID, CKR_FUNCTION_FAILED);
    }
    if (rv == CKR_OK) {
        ks_copy_out(out, work + st->k, st->k);
        *out_len = st->k;
    }
    ks_secure_free(work, 2 * st->k);
    return rv;
}

static CK_RV rsa_verify(ks_op *op, const uint8_t *data, size_t data_len, const uint8_t *sig,
                        size_t sig_len)
{
    ks_rsa_enc_state *st = &op->u.rsa;
    if (sig_len != st->k) {
        return CKR_SIGNATURE_LEN_RANGE;
    }
    uint8_t *work = ks_secure_alloc(2 * st->k);
    if (work == NULL) {
        return CKR_HOST_MEMORY;
    }
    CK_RV rv = sig_block(op, work, data, data_len);
    if (rv == CKR_OK) {
        ks_status s = ks_rsa_public_raw(st->pkey, work + st->k, sig, st->k);
        rv = s == KS_OK && ks_memeq(work, work + st->k, st->k) ? CKR_OK
             : s == KS_OK || s == KS_ERR_LEN                  ? CKR_SIGNATURE_INVALID
                                                              : CKR_FUNCTION_FAILED;
    }
    ks_secure_free(work, 2 * st->k);
    return rv;
}

/* ---- the family ------------------------------------------------------------------------ */

static CK_RV rsa_oneshot(ks_op *op, uint8_t *out, CK_ULONG *out_len, const uint8_t *in,
                         size_t in_len)
{
    switch (op->kind) {
    case KS_OP_ENCRYPT:
        return rsa_encrypt(op, out, out_len, in, in_len);
    case KS_OP_SIGN:
        return rsa_sign(op, out, out_len, in, in_len);
    default:
        return rsa_decrypt(op, out, out_len, in, in_len);
    }
}

static CK_RV rsa_update(ks_op *op, uint8_t *out, CK_ULONG *out_len, const uint8_t *in,
                        size_t in_len)
{
    (void)op;
    (void)out;
    (void)out_len;
    (void)in;
    (void)in_len;
    return CKR_FUNCTION_NOT_SUPPORTED;
}

static CK_RV rsa_final(ks_op *op, uint8_t *out, CK_ULONG *out_len)
{
    (void)op;
    (void)out;
    (void)out_len;
    return CKR_FUNCTION_NOT_SUPPORTED;
}

static void rsa_clear(ks_op *op)
{
    ks_rsa_enc_state *st = &op->u.rsa;
    ks_rsa_free(st->pkey);
    if (st->label != NULL) {
        ks_wipe(st->label, st->label_len);
        free(st->label);
    }
    ks_wipe(st, sizeof(*st));
}

static const ks_op_family RSA_ENC_FAMILY = {
    .oneshot = rsa_oneshot,
    .update = rsa_update,
    .final = rsa_final,
    .verify = rsa_verify,
    .clear = rsa_clear,
};

void ks_op_rsa_unwrap_len(ks_op *op, size_t len)
{
    if (op != NULL && op->fam == &RSA_ENC_FAMILY) {
        op->u.rsa.unwrap = 1;
        op->u.rsa.unwrap_len = len;
    }
}

/* The OAEP parameter of the mechanism (OAEP itself or inside RSA-AES's), already checked by
 * the row's parameter check; the label is copied. */
static CK_RV take_oaep(ks_rsa_enc_state *st, const CK_MECHANISM *mech)
{
    const CK_RSA_PKCS_OAEP_PARAMS *p = mech->pParameter;
    if (mech->mechanism == CKM_RSA_AES_KEY_WRAP) {
        const CK_RSA_AES_KEY_WRAP_PARAMS *w = mech->pParameter;
        p = w->pOAEPParams;
        st->aes_len = w->ulAESKeyBits / 8;
    }
    CK_RV rv = oaep_parse(p, &st->md, &st->mgf);
    if (rv != CKR_OK) {
        return rv;
    }
    if (p->ulSourceDataLen > 0) {
        st->label = malloc(p->ulSourceDataLen);
        if (st->label == NULL) {
            return CKR_HOST_MEMORY;
        }
        memcpy(st->label, p->pSourceData, p->ulSourceDataLen);
        st->label_len = p->ulSourceDataLen;
    }
    return CKR_OK;
}

CK_RV ks_op_rsa_enc_init(ks_op *op, const CK_MECHANISM *mech, const ks_key_ref *key)
{
    ks_rsa_enc_state *st = &op->u.rsa;
    memset(st, 0, sizeof(*st));
    CK_RV rv = CKR_OK;
    if (mech->mechanism == CKM_RSA_PKCS_OAEP || mech->mechanism == CKM_RSA_AES_KEY_WRAP) {
        rv = take_oaep(st, mech);
    } else {
        rv = ks_mech_params_none(mech);
    }
    if (rv == CKR_OK) {
        /* decryption, unwrap and signing take the private key; encryption, wrap and
         * verification the public key */
        /* the object's prepared key when the guard hands one over (parsed once per
         * object), else the DER parsed here */
        st->pkey = key->pkey != NULL ? ks_rsa_ref(key->pkey) : NULL;
        if (st->pkey == NULL) {
            st->pkey = ks_rsa_from_der(key->value, key->len,
                                       op->kind == KS_OP_DECRYPT || op->kind == KS_OP_SIGN);
        }
        st->k = ks_rsa_size(st->pkey);
        rv = st->pkey == NULL || st->k < KS_RSA_MIN_BYTES || st->k > KS_RSA_MAX_BYTES
                 ? CKR_KEY_TYPE_INCONSISTENT
                 : CKR_OK;
    }
    /* the row's bounds are modulus bits (KS_MECH_KEY_PAIR: the family checks them) */
    if (rv == CKR_OK &&
        !ks_mech_key_bits_ok(ks_mech_find(mech->mechanism, 0), ks_pkey_bits(st->pkey))) {
        rv = CKR_KEY_SIZE_RANGE;
    }
    /* OAEP with this hash needs k >= 2 hLen + 2 (RFC 8017 7.1.1): RSA-1024 takes no SHA-512 */
    if (rv == CKR_OK && st->md != KS_MD_NONE && st->k < 2 * ks_md_size(st->md) + 2) {
        rv = CKR_KEY_SIZE_RANGE;
    }
    if (rv != CKR_OK) {
        op->fam = &RSA_ENC_FAMILY;
        rsa_clear(op);
        op->fam = NULL;
        return rv;
    }
    st->implicit = atomic_load(&implicit_rejection);
    op->fam = &RSA_ENC_FAMILY;
    return CKR_OK;
}
