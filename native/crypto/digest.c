/* digest.c - SHA-1 and SHA-2 (FIPS 180-4), and MD5 (RFC 1321) for the legacy CKM_MD5,
 * through libcrypto's EVP_MD.
 *
 * The EVP_MD objects are fetched once (explicit fetch: an implicit fetch would look the
 * algorithm up again on every EVP_DigestInit_ex2). The table is written only inside
 * pthread_once and read-only afterwards. */
#include "crypto/digest.h"

#include <pthread.h>

#include <openssl/evp.h>

typedef struct md_row {
    const char *name; /* libcrypto algorithm name */
    size_t size;
    size_t block;
} md_row;

static const md_row MD_ROWS[] = {
    [KS_MD_SHA1] = {"SHA1", 20, 64},
    [KS_MD_SHA224] = {"SHA224", 28, 64},
    [KS_MD_SHA256] = {"SHA256", 32, 64},
    [KS_MD_SHA384] = {"SHA384", 48, 128},
    [KS_MD_SHA512] = {"SHA512", 64, 128},
    [KS_MD_MD5] = {"MD5", 16, 64},
};

#define MD_COUNT (sizeof(MD_ROWS) / sizeof(MD_ROWS[0]))

static EVP_MD *g_md[MD_COUNT];
static pthread_once_t g_md_once = PTHREAD_ONCE_INIT;

static void md_fetch_all(void)
{
    for (size_t i = 1; i < MD_COUNT; i++) {
        g_md[i] = EVP_MD_fetch(NULL, MD_ROWS[i].name, NULL);
    }
}

static int md_known(ks_md md)
{
    return md > KS_MD_NONE && (size_t)md < MD_COUNT;
}

const char *ks_md_name(ks_md md)
{
    return md_known(md) ? MD_ROWS[md].name : NULL;
}

size_t ks_md_size(ks_md md)
{
    return md_known(md) ? MD_ROWS[md].size : 0;
}

size_t ks_md_block_size(ks_md md)
{
    return md_known(md) ? MD_ROWS[md].block : 0;
}

static const EVP_MD *md_get(ks_md md)
{
    if (!md_known(md)) {
        return NULL;
    }
    pthread_once(&g_md_once, md_fetch_all);
    return g_md[md];
}

ks_status ks_digest_init(ks_digest_ctx *ctx, ks_md md)
{
    if (ctx == NULL) {
        return KS_ERR_ARGS;
    }
    ctx->evp = NULL;
    ctx->md = KS_MD_NONE;
    if (!md_known(md)) {
        return KS_ERR_ARGS;
    }
    const EVP_MD *evp_md = md_get(md);
    if (evp_md == NULL) {
        return KS_ERR_UNSUPPORTED;
    }
    EVP_MD_CTX *c = EVP_MD_CTX_new();
    if (c == NULL) {
        return KS_ERR_NOMEM;
    }
    if (EVP_DigestInit_ex2(c, evp_md, NULL) != 1) {
        EVP_MD_CTX_free(c);
        return KS_ERR_INTERNAL;
    }
    ctx->evp = c;
    ctx->md = md;
    return KS_OK;
}

ks_status ks_digest_update(ks_digest_ctx *ctx, const uint8_t *in, size_t in_len)
{
    if (ctx == NULL || ctx->evp == NULL || (in == NULL && in_len != 0)) {
        return KS_ERR_ARGS;
    }
    if (in_len == 0) {
        return KS_OK;
    }
    return EVP_DigestUpdate(ctx->evp, in, in_len) == 1 ? KS_OK : KS_ERR_INTERNAL;
}

ks_status ks_digest_final(ks_digest_ctx *ctx, uint8_t *out, size_t max_out)
{
    if (ctx == NULL || ctx->evp == NULL || out == NULL) {
        return KS_ERR_ARGS;
    }
    if (max_out < ks_md_size(ctx->md)) {
        return KS_ERR_LEN;
    }
    unsigned int n = 0;
    if (EVP_DigestFinal_ex(ctx->evp, out, &n) != 1 || n != ks_md_size(ctx->md)) {
        return KS_ERR_INTERNAL;
    }
    return KS_OK;
}

ks_status ks_digest_copy(ks_digest_ctx *dst, const ks_digest_ctx *src)
{
    if (dst == NULL || src == NULL || src->evp == NULL) {
        return KS_ERR_ARGS;
    }
    dst->evp = NULL;
    dst->md = KS_MD_NONE;
    EVP_MD_CTX *c = EVP_MD_CTX_new();
    if (c == NULL) {
        return KS_ERR_NOMEM;
    }
    if (EVP_MD_CTX_copy_ex(c, src->evp) != 1) {
        EVP_MD_CTX_free(c);
        return KS_ERR_INTERNAL;
    }
    dst->evp = c;
    dst->md = src->md;
    return KS_OK;
}

void ks_digest_clear(ks_digest_ctx *ctx)
{
    if (ctx == NULL) {
        return;
    }
    /* EVP_MD_CTX_free cleanses the digest state before freeing it. */
    EVP_MD_CTX_free(ctx->evp);
    ctx->evp = NULL;
    ctx->md = KS_MD_NONE;
}

ks_status ks_digest(ks_md md, uint8_t *out, size_t max_out, const uint8_t *in, size_t in_len)
{
    if (out == NULL || (in == NULL && in_len != 0) || !md_known(md)) {
        return KS_ERR_ARGS;
    }
    if (max_out < ks_md_size(md)) {
        return KS_ERR_LEN;
    }
    const EVP_MD *evp_md = md_get(md);
    if (evp_md == NULL) {
        return KS_ERR_UNSUPPORTED;
    }
    static const uint8_t empty[1];
    unsigned int n = 0;
    if (EVP_Digest(in_len ? in : empty, in_len, out, &n, evp_md, NULL) != 1) {
        return KS_ERR_INTERNAL;
    }
    return KS_OK;
}
