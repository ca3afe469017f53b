/* msg_gcm.c - message-based AES-GCM (PKCS#11 3.0 base spec 5.13 and 5.14, current
 * mechanisms 2.12 "AES-GCM": CK_GCM_MESSAGE_PARAMS; NIST SP 800-38D). See msg_gcm.h. */
#include "token/msg_gcm.h"

#include <stdlib.h>
#include <string.h>

#include "crypto/copyout.h"
#include "crypto/gcm.h"
#include "crypto/mem.h"
#include "token/gcm_iv.h"
#include "token/gcm_out.h"
#include "token/ops_internal.h"

#define GCM_MAX_IV UINT64_C(0xFFFFFFFF)

struct ks_msg_gcm {
    ks_gcm_key key;  /* secret: wiped by ks_msg_gcm_free */
    ks_gcm_ctx ctx;  /* the multi-part message in progress */
    int decrypt;
    int active;      /* between Begin and the end of its message */
    size_t tag_len;  /* of the multi-part encryption, fixed at Begin */
    ks_gcm_hold held; /* multi-part decryption: ciphertext held until the last part */
};

CK_RV ks_msg_gcm_new(ks_msg_gcm **out, int decrypt, const uint8_t *key, size_t key_len)
{
    ks_msg_gcm *m = ks_secure_alloc(sizeof(*m));
    if (m == NULL) {
        return CKR_HOST_MEMORY;
    }
    ks_status s = ks_gcm_init(&m->key, key, key_len);
    if (s != KS_OK) {
        ks_secure_free(m, sizeof(*m));
        return s == KS_ERR_KEY_LEN ? CKR_KEY_SIZE_RANGE : ks_op_status_rv(s, 0, 0);
    }
    m->decrypt = decrypt;
    *out = m;
    return CKR_OK;
}

void ks_msg_gcm_abort(ks_msg_gcm *m)
{
    ks_gcm_ctx_clear(&m->ctx);
    ks_gcm_hold_reset(&m->held); /* ciphertext: nothing to wipe; the buffer is kept */
    m->active = 0;
}

void ks_msg_gcm_free(ks_msg_gcm *m)
{
    if (m == NULL) {
        return;
    }
    ks_msg_gcm_abort(m);
    ks_gcm_clear(&m->key);
    ks_gcm_hold_free(&m->held);
    ks_secure_free(m, sizeof(*m));
}

int ks_msg_gcm_active(const ks_msg_gcm *m)
{
    return m->active;
}

/* Mechanisms 2.12: for encryption ivGenerator says who makes the IV. The token keeps room
 * for every invocation number (SP 800-38D 8.2.1) or for a 96-bit random field (8.2.2); the
 * spec lets a module refuse ulIvFixedBits values that are too large. */
static CK_RV generator_kind(const CK_GCM_MESSAGE_PARAMS *p, ks_msg_iv_kind *kind)
{
    uint64_t bits = (uint64_t)p->ulIvLen * 8;
    if (p->ivGenerator == CKG_NO_GENERATE) {
        *kind = KS_MSG_IV_CALLER;
        return CKR_OK;
    }
    if (p->ulIvFixedBits > bits) {
        return CKR_MECHANISM_PARAM_INVALID;
    }
    uint64_t free_bits = bits - p->ulIvFixedBits;
    switch (p->ivGenerator) {
    case CKG_GENERATE:
    case CKG_GENERATE_COUNTER:
        *kind = KS_MSG_IV_COUNTER;
        return free_bits >= KS_GCM_IV_COUNTER_BITS ? CKR_OK : CKR_MECHANISM_PARAM_INVALID;
    case CKG_GENERATE_RANDOM:
        *kind = KS_MSG_IV_RANDOM;
        return free_bits >= KS_GCM_IV_RANDOM_BITS ? CKR_OK : CKR_MECHANISM_PARAM_INVALID;
    default: /* CKG_GENERATE_COUNTER_XOR is PKCS#11 3.1; anything else is unknown */
        return CKR_MECHANISM_PARAM_INVALID;
    }
}

CK_RV ks_msg_gcm_params(const void *param, CK_ULONG param_len, int decrypt, int need_tag,
                        const CK_GCM_MESSAGE_PARAMS **out, ks_msg_iv_kind *kind)
{
    const CK_GCM_MESSAGE_PARAMS *p = param;
    if (p == NULL || param_len != sizeof(*p)) {
        return CKR_MECHANISM_PARAM_INVALID;
    }
    if (p->pIv == NULL || p->ulIvLen == 0 || (uint64_t)p->ulIvLen > GCM_MAX_IV) {
        return CKR_MECHANISM_PARAM_INVALID;
    }
    /* SP 800-38D 5.2.1.2 tag lengths, whole bytes (as C_EncryptInit's CK_GCM_PARAMS). */
    if (p->ulTagBits < 32 || p->ulTagBits > 128 || p->ulTagBits % 8 != 0) {
        return CKR_MECHANISM_PARAM_INVALID;
    }
    if (need_tag && p->pTag == NULL) {
        return CKR_MECHANISM_PARAM_INVALID;
    }
    *kind = KS_MSG_IV_CALLER; /* decryption: "ulIvFixedBits and ivGenerator are ignored" */
    CK_RV rv = decrypt ? CKR_OK : generator_kind(p, kind);
    if (rv == CKR_OK) {
        *out = p;
    }
    return rv;
}

CK_RV ks_msg_gcm_make_iv(const CK_GCM_MESSAGE_PARAMS *p, ks_msg_iv_kind kind,
                         uint64_t invocation)
{
    if (kind == KS_MSG_IV_CALLER) {
        return CKR_OK;
    }
    /* Made in module memory (the fixed field read first) and copied to the caller's pIv once
     * (crypto/copyout.h). */
    uint8_t small[64];
    uint8_t *iv = p->ulIvLen <= sizeof(small) ? small : malloc(p->ulIvLen);
    if (iv == NULL) {
        return CKR_HOST_MEMORY;
    }
    memcpy(iv, p->pIv, p->ulIvLen);
    CK_RV rv = CKR_OK;
    if (kind == KS_MSG_IV_COUNTER) {
        ks_gcm_iv_counter(iv, p->ulIvLen, p->ulIvFixedBits, invocation);
    } else {
        rv = ks_gcm_iv_random(iv, p->ulIvLen, p->ulIvFixedBits);
    }
    if (rv == CKR_OK) {
        ks_copy_out(p->pIv, iv, p->ulIvLen);
    }
    if (iv != small) {
        free(iv);
    }
    return rv;
}

int ks_msg_gcm_out_ready(CK_BYTE_PTR out, CK_ULONG_PTR out_len, CK_ULONG need, CK_RV *rv)
{
    return ks_out_ready(out, out_len, need, rv);
}

static CK_RV gcm_rv(ks_status s, CK_RV len_rv)
{
    return ks_op_status_rv(s, len_rv, CKR_ENCRYPTED_DATA_INVALID);
}

CK_RV ks_msg_gcm_seal(ks_msg_gcm *m, const CK_GCM_MESSAGE_PARAMS *p, const uint8_t *aad,
                      size_t aad_len, const uint8_t *in, size_t in_len, uint8_t *out)
{
    if ((uint64_t)in_len > KS_GCM_MAX_MSG) {
        return CKR_DATA_LEN_RANGE;
    }
    return gcm_rv(ks_gcm_out_seal(&m->key, out, p->pTag, p->ulTagBits / 8, p->pIv, p->ulIvLen, aad,
                              aad_len, in, in_len),
                  CKR_DATA_LEN_RANGE);
}

CK_RV ks_msg_gcm_open(ks_msg_gcm *m, const CK_GCM_MESSAGE_PARAMS *p, const uint8_t *aad,
                      size_t aad_len, const uint8_t *in, size_t in_len, uint8_t *out,
                      CK_ULONG_PTR out_len)
{
    CK_RV rv = CKR_OK;
    if ((uint64_t)in_len > KS_GCM_MAX_MSG) {
        return CKR_ENCRYPTED_DATA_LEN_RANGE;
    }
    if (!ks_out_ready(out, out_len, in_len, &rv)) {
        return rv;
    }
    /* Tag first: the plaintext reaches the caller only once the tag has verified, and is
     * decrypted straight into its buffer then (token/gcm_out.h). */
    rv = gcm_rv(ks_gcm_out_open1(&m->key, out, p->pIv, p->ulIvLen, aad, aad_len, in, in_len,
                                 p->pTag, p->ulTagBits / 8),
                CKR_ENCRYPTED_DATA_LEN_RANGE);
    if (rv == CKR_OK) {
        *out_len = in_len;
    }
    return rv;
}

CK_RV ks_msg_gcm_begin(ks_msg_gcm *m, const CK_GCM_MESSAGE_PARAMS *p, const uint8_t *aad,
                       size_t aad_len)
{
    ks_status s = ks_gcm_start(&m->ctx, &m->key, p->pIv, p->ulIvLen);
    if (s == KS_OK) {
        s = ks_gcm_aad(&m->ctx, aad, aad_len);
    }
    if (s != KS_OK) {
        ks_gcm_ctx_clear(&m->ctx);
        return s == KS_ERR_LEN ? CKR_MECHANISM_PARAM_INVALID : gcm_rv(s, CKR_DATA_LEN_RANGE);
    }
    m->tag_len = p->ulTagBits / 8;
    ks_gcm_hold_reset(&m->held);
    m->active = 1;
    return CKR_OK;
}

static CK_RV encrypt_next(ks_msg_gcm *m, const CK_GCM_MESSAGE_PARAMS *p, const uint8_t *in,
                          size_t in_len, uint8_t *out, int last)
{
    if ((uint64_t)in_len > KS_GCM_MAX_MSG - m->ctx.msg_len) {
        return CKR_DATA_LEN_RANGE;
    }
    ks_status s = ks_gcm_out_encrypt(&m->ctx, out, in, in_len);
    if (s == KS_OK && last) {
        uint8_t tag[16];
        s = ks_gcm_finish(&m->ctx, tag);
        if (s == KS_OK) {
            ks_copy_out(p->pTag, tag, m->tag_len);
        }
        ks_wipe(tag, sizeof(tag));
    }
    return gcm_rv(s, CKR_DATA_LEN_RANGE);
}

/* The last part of a decryption: the tag is checked over the held bytes then this part, and
 * only then are they decrypted straight into the caller's buffer (token/gcm_out.h). */
static CK_RV decrypt_last(ks_msg_gcm *m, const CK_GCM_MESSAGE_PARAMS *p, const uint8_t *in,
                          size_t in_len, uint8_t *out)
{
    /* The last part is the caller's: the whole message is hashed again as it is decrypted. */
    return gcm_rv(ks_gcm_out_open(&m->ctx, out, m->held.buf, m->held.len, in, in_len, p->pTag,
                                  p->ulTagBits / 8, KS_GCM_SRC_CALLER),
                  CKR_ENCRYPTED_DATA_LEN_RANGE);
}

CK_RV ks_msg_gcm_next(ks_msg_gcm *m, const CK_GCM_MESSAGE_PARAMS *p, const uint8_t *in,
                      size_t in_len, uint8_t *out, CK_ULONG_PTR out_len, int last, int *ended)
{
    CK_RV rv = CKR_OK;
    *ended = 0;
    /* Decryption releases nothing before the tag: a part that is not the last outputs 0. */
    size_t need = !m->decrypt ? in_len : last ? m->held.len + in_len : 0;
    if (m->decrypt && last && (uint64_t)in_len > KS_GCM_MAX_MSG - m->held.len) {
        rv = CKR_ENCRYPTED_DATA_LEN_RANGE;
    } else if (!m->decrypt && last && p->ulTagBits / 8 != m->tag_len) {
        rv = CKR_MECHANISM_PARAM_INVALID; /* the tag length was fixed at Begin */
    } else if (!ks_out_ready(out, out_len, need, &rv)) {
        return rv; /* 5.2: a length query or CKR_BUFFER_TOO_SMALL leaves the message as is */
    } else if (!m->decrypt) {
        rv = encrypt_next(m, p, in, in_len, out, last);
    } else {
        rv = last ? decrypt_last(m, p, in, in_len, out)
                  : ks_gcm_hold_add(&m->held, in, in_len, KS_GCM_MAX_MSG);
    }
    if (rv == CKR_OK) {
        *out_len = need;
    }
    if (rv != CKR_OK || last) {
        ks_msg_gcm_abort(m);
        *ended = 1;
    }
    return rv;
}
