/* hmac.c - HMAC (FIPS 198-1) through libcrypto's EVP_MAC.
 *
 * The EVP_MAC is fetched once (pthread_once, read-only afterwards). Each context owns one
 * EVP_MAC_CTX, allocated in ks_hmac_init; libcrypto keeps the key in its own (secure-heap)
 * copy and cleanses it when the context is freed. */
#include "crypto/hmac.h"

#include <pthread.h>

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/params.h>

static EVP_MAC *g_hmac;
static pthread_once_t g_hmac_once = PTHREAD_ONCE_INIT;

static void hmac_fetch(void)
{
    g_hmac = EVP_MAC_fetch(NULL, "HMAC", NULL);
}

ks_status ks_hmac_init(ks_hmac_ctx *ctx, ks_md md, const uint8_t *key, size_t key_len)
{
    if (ctx == NULL || (key == NULL && key_len != 0)) {
        return KS_ERR_ARGS;
    }
    ctx->evp = NULL;
    ctx->md = KS_MD_NONE;
    const char *name = ks_md_name(md);
    if (name == NULL) {
        return KS_ERR_ARGS;
    }
    pthread_once(&g_hmac_once, hmac_fetch);
    if (g_hmac == NULL) {
        return KS_ERR_UNSUPPORTED;
    }
    EVP_MAC_CTX *c = EVP_MAC_CTX_new(g_hmac);
    if (c == NULL) {
        return KS_ERR_NOMEM;
    }
    OSSL_PARAM params[2] = {
        OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)name, 0),
        OSSL_PARAM_construct_end(),
    };
    /* A NULL key means "keep the previous key" to EVP_MAC_init: an empty key (RFC 2104
     * allows it) is passed as a non-NULL pointer with length 0. */
    static const uint8_t empty[1];
    if (EVP_MAC_init(c, key_len ? key : empty, key_len, params) != 1) {
        EVP_MAC_CTX_free(c);
        return KS_ERR_UNSUPPORTED;
    }
    ctx->evp = c;
    ctx->md = md;
    return KS_OK;
}

ks_status ks_hmac_update(ks_hmac_ctx *ctx, const uint8_t *in, size_t in_len)
{
    if (ctx == NULL || ctx->evp == NULL || (in == NULL && in_len != 0)) {
        return KS_ERR_ARGS;
    }
    if (in_len == 0) {
        return KS_OK;
    }
    return EVP_MAC_update(ctx->evp, in, in_len) == 1 ? KS_OK : KS_ERR_INTERNAL;
}

ks_status ks_hmac_final(ks_hmac_ctx *ctx, uint8_t *out, size_t max_out)
{
    if (ctx == NULL || ctx->evp == NULL || out == NULL) {
        return KS_ERR_ARGS;
    }
    size_t want = ks_md_size(ctx->md);
    if (max_out < want) {
        return KS_ERR_LEN;
    }
    size_t n = 0;
    if (EVP_MAC_final(ctx->evp, out, &n, max_out) != 1 || n != want) {
        return KS_ERR_INTERNAL;
    }
    return KS_OK;
}

void ks_hmac_clear(ks_hmac_ctx *ctx)
{
    if (ctx == NULL) {
        return;
    }
    EVP_MAC_CTX_free(ctx->evp);
    ctx->evp = NULL;
    ctx->md = KS_MD_NONE;
}

ks_status ks_hmac(ks_md md, uint8_t *out, size_t max_out, const uint8_t *key, size_t key_len,
                  const uint8_t *in, size_t in_len)
{
    ks_hmac_ctx ctx;
    ks_status st = ks_hmac_init(&ctx, md, key, key_len);
    if (st != KS_OK) {
        return st;
    }
    st = ks_hmac_update(&ctx, in, in_len);
    if (st == KS_OK) {
        st = ks_hmac_final(&ctx, out, max_out);
    }
    ks_hmac_clear(&ctx);
    return st;
}
