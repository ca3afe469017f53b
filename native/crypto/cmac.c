/* cmac.c - AES-CMAC (SP 800-38B), streaming.
 *
 * The last block of the message gets special treatment (SP 800-38B 6.2 step 4), and a
 * stream cannot know which block is last until more data or final() arrives: update always
 * holds back the final 1..16 bytes in buf and only chains a block once data follows it. */
#include <string.h>

#include "crypto/aes_internal.h"
#include "crypto/cmac.h"
#include "crypto/mem.h"

/* Doubling in GF(2^128) (SP 800-38B 6.1 steps 2-3): shift left one bit, and when the bit
 * shifted out was one, XOR R_128 = 0x87 into the last byte, selected by a mask. */
static void dbl(uint8_t out[16], const uint8_t in[16])
{
    uint8_t msb_mask = (uint8_t)(0 - (in[0] >> 7));
    for (int i = 0; i < 15; i++) {
        out[i] = (uint8_t)((in[i] << 1) | (in[i + 1] >> 7));
    }
    out[15] = (uint8_t)((in[15] << 1) ^ (0x87 & msb_mask));
}

ks_status ks_cmac_init(ks_cmac_ctx *ctx, const uint8_t *key, size_t key_len)
{
    uint8_t l[16] = {0};

    if (ctx == NULL || key == NULL) {
        return KS_ERR_ARGS;
    }
    ks_wipe(ctx, sizeof(*ctx));
    ks_status st = ks_aes_init(&ctx->key, key, key_len);
    if (st != KS_OK) {
        return st;
    }
    /* SP 800-38B 6.1: L = CIPH_K(0^128), K1 = dbl(L), K2 = dbl(K1). */
    st = ks_aes_encrypt_blocks(&ctx->key, l, l, 1);
    if (st != KS_OK) {
        ks_cmac_clear(ctx);
        return st;
    }
    dbl(ctx->k1, l);
    dbl(ctx->k2, ctx->k1);
    ks_wipe(l, sizeof(l));
    return KS_OK;
}

static void xor16(uint8_t *x, const uint8_t *y)
{
    for (int i = 0; i < 16; i++) {
        x[i] ^= y[i];
    }
}

ks_status ks_cmac_update(ks_cmac_ctx *ctx, const uint8_t *in, size_t in_len)
{
    if (ctx == NULL || (in_len > 0 && in == NULL) || ctx->buf_len > 16) {
        return KS_ERR_ARGS;
    }
    if (in_len == 0) {
        return KS_OK;
    }
    size_t take = 16 - ctx->buf_len;
    if (take > in_len) {
        take = in_len;
    }
    memcpy(ctx->buf + ctx->buf_len, in, take);
    ctx->buf_len += (unsigned)take;
    in += take;
    in_len -= take;
    if (in_len == 0) {
        return KS_OK; /* the buffered block may still be the last */
    }

    /* More data follows the full buffer: chain it, then every block but the last. */
    size_t body = (in_len - 1) / 16;
    ks_status st = ks_aes_cbc_mac(&ctx->key, ctx->x, ctx->buf, 1);
    if (st == KS_OK && body > 0) {
        st = ks_aes_cbc_mac(&ctx->key, ctx->x, in, body);
    }
    if (st != KS_OK) {
        return st;
    }
    in += 16 * body;
    in_len -= 16 * body;
    memcpy(ctx->buf, in, in_len);
    ctx->buf_len = (unsigned)in_len;
    return KS_OK;
}

ks_status ks_cmac_final(ks_cmac_ctx *ctx, uint8_t mac[16])
{
    if (ctx == NULL || mac == NULL || ctx->buf_len > 16) {
        return KS_ERR_ARGS;
    }
    /* SP 800-38B 6.2 step 4: a complete last block takes K1; an incomplete (or empty)
     * one is padded with 10* and takes K2. The length is public, so this branch is too. */
    if (ctx->buf_len == 16) {
        xor16(ctx->buf, ctx->k1);
    } else {
        ctx->buf[ctx->buf_len] = 0x80;
        memset(ctx->buf + ctx->buf_len + 1, 0, 15 - ctx->buf_len);
        xor16(ctx->buf, ctx->k2);
    }
    xor16(ctx->x, ctx->buf);
    ks_status st = ks_aes_encrypt_blocks(&ctx->key, mac, ctx->x, 1);

    /* Restart for a new message under the same key and subkeys. */
    ks_wipe(ctx->x, sizeof(ctx->x));
    ks_wipe(ctx->buf, sizeof(ctx->buf));
    ctx->buf_len = 0;
    if (st != KS_OK) {
        ks_wipe(mac, 16);
    }
    return st;
}

void ks_cmac_clear(ks_cmac_ctx *ctx)
{
    if (ctx != NULL) {
        ks_wipe(ctx, sizeof(*ctx));
    }
}
