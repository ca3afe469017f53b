/* gcm_out.c - see gcm_out.h. */
#include "token/gcm_out.h"

#include <string.h>

#include "crypto/copyout.h"
#include "crypto/mem.h"

typedef struct gcm_part {
    ks_gcm_ctx *ctx;
    const uint8_t *a;
    size_t a_len;
    const uint8_t *b;   /* open: the second part of the ciphertext */
    ks_gcm_src src;     /* open: who holds the ciphertext */
    int changed;        /* open: the input changed between the two passes */
} gcm_part;

static ks_status encrypt_into(void *arg, uint8_t *dst, size_t len)
{
    gcm_part *p = arg;
    return ks_gcm_encrypt(p->ctx, dst, p->a, len);
}

/* The second pass of a tag-first decryption: its tag has verified. Input the caller holds
 * is hashed again as it is decrypted, and a change since the first pass is an error (the
 * output written so far is then taken back by ks_gcm_out_open). */
static ks_status release_into(void *arg, uint8_t *dst, size_t len)
{
    gcm_part *p = arg;
    ks_status (*step)(ks_gcm_ctx *, uint8_t *, const uint8_t *, size_t) =
        p->src == KS_GCM_SRC_HELD ? ks_gcm_decrypt_held : ks_gcm_decrypt_verified;
    ks_status st = step(p->ctx, dst, p->a, p->a_len);
    if (st == KS_OK && len > p->a_len) {
        st = step(p->ctx, dst + p->a_len, p->b, len - p->a_len);
    }
    if (st == KS_OK && p->src == KS_GCM_SRC_CALLER) {
        st = ks_gcm_recheck(p->ctx);
        p->changed = st == KS_ERR_AUTH;
    }
    return st;
}

ks_status ks_gcm_out_encrypt(ks_gcm_ctx *ctx, uint8_t *out, const uint8_t *in, size_t len)
{
    gcm_part p = {.ctx = ctx, .a = in};
    if (len == 0) {
        return ks_gcm_encrypt(ctx, NULL, NULL, 0); /* the phase checks, nothing written */
    }
    return ks_copy_out_produce(out, len, encrypt_into, &p);
}

ks_status ks_gcm_out_open(ks_gcm_ctx *ctx, uint8_t *out, const uint8_t *a, size_t a_len,
                          const uint8_t *b, size_t b_len, const uint8_t *tag, size_t tag_len,
                          ks_gcm_src src)
{
    if (a_len > SIZE_MAX - b_len) {
        return KS_ERR_LEN;
    }
    ks_status st = ks_gcm_absorb(ctx, a, a_len);
    if (st == KS_OK) {
        st = ks_gcm_absorb(ctx, b, b_len);
    }
    if (st == KS_OK) {
        st = ks_gcm_check(ctx, tag, tag_len);
    }
    if (st == KS_OK) {
        gcm_part p = {.ctx = ctx, .a = a, .a_len = a_len, .b = b, .src = src};
        st = ks_copy_out_produce(out, a_len + b_len, release_into, &p);
        if (p.changed) {
            ks_copy_out_retract(out, a_len + b_len); /* not the plaintext the tag verified */
        }
    }
    return st;
}

static ks_status start(ks_gcm_ctx *ctx, const ks_gcm_key *key, const uint8_t *iv,
                       size_t iv_len, const uint8_t *aad, size_t aad_len)
{
    memset(ctx, 0, sizeof(*ctx));
    ks_status st = ks_gcm_start(ctx, key, iv, iv_len);
    return st == KS_OK ? ks_gcm_aad(ctx, aad, aad_len) : st;
}

ks_status ks_gcm_out_verify(const ks_gcm_key *key, const uint8_t *iv, size_t iv_len,
                            const uint8_t *aad, size_t aad_len, const uint8_t *in, size_t in_len,
                            const uint8_t *tag, size_t tag_len)
{
    ks_gcm_ctx ctx;
    ks_status st = start(&ctx, key, iv, iv_len, aad, aad_len);
    if (st == KS_OK) {
        st = ks_gcm_absorb(&ctx, in, in_len);
    }
    if (st == KS_OK) {
        st = ks_gcm_check(&ctx, tag, tag_len);
    }
    ks_gcm_ctx_clear(&ctx);
    return st;
}

ks_status ks_gcm_out_seal(const ks_gcm_key *key, uint8_t *out, uint8_t *tag, size_t tag_len,
                          const uint8_t *iv, size_t iv_len, const uint8_t *aad, size_t aad_len,
                          const uint8_t *in, size_t in_len)
{
    if (tag == NULL || tag_len < 4 || tag_len > 16) {
        return KS_ERR_ARGS;
    }
    ks_gcm_ctx ctx;
    uint8_t full[16];
    ks_status st = start(&ctx, key, iv, iv_len, aad, aad_len);
    if (st == KS_OK) {
        st = ks_gcm_out_encrypt(&ctx, out, in, in_len);
    }
    if (st == KS_OK) {
        st = ks_gcm_finish(&ctx, full);
    }
    if (st == KS_OK) {
        ks_copy_out(tag, full, tag_len);
    }
    ks_wipe(full, sizeof(full));
    ks_gcm_ctx_clear(&ctx);
    return st;
}

ks_status ks_gcm_out_open1(const ks_gcm_key *key, uint8_t *out, const uint8_t *iv,
                           size_t iv_len, const uint8_t *aad, size_t aad_len, const uint8_t *in,
                           size_t in_len, const uint8_t *tag, size_t tag_len)
{
    if (tag == NULL || tag_len < 4 || tag_len > 16 || (out == NULL && in_len != 0)) {
        return KS_ERR_ARGS;
    }
    ks_gcm_ctx ctx;
    ks_status st = start(&ctx, key, iv, iv_len, aad, aad_len);
    if (st == KS_OK) {
        st = ks_gcm_out_open(&ctx, out, in, in_len, NULL, 0, tag, tag_len,
                             KS_GCM_SRC_CALLER);
    }
    ks_gcm_ctx_clear(&ctx);
    return st;
}
