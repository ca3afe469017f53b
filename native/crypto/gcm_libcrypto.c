/* gcm_libcrypto.c - AES-GCM through libcrypto's EVP_aes_*_gcm, for processors without AES-NI
 * (and as a forced path in tests). gcm.c keeps the phases and the length limits; this file
 * only drives the EVP context held in ctx->lc.
 *
 * The EVP context starts in the encrypt direction (AAD is direction-free). Decrypt calls
 * switch it to decrypt, which GHASHes the input; finish switches back to encrypt, the only
 * direction in which libcrypto releases the computed tag, so that ks_gcm_check compares the
 * tag itself with ks_memeq like every other path. */
#include <pthread.h>

#include <openssl/evp.h>

#include "crypto/gcm_internal.h"
#include "crypto/mem.h"

/* libcrypto keeps at most 1024 bits of IV (GCM_IV_MAX_SIZE); SP 800-38D allows more, the
 * hardware paths take any length. */
#define LC_MAX_IV 128

/* EVP takes int lengths: feed larger inputs in chunks. */
#define LC_CHUNK ((size_t)1 << 30)

/* The ciphers are fetched once: an implicit fetch on every EVP_EncryptInit_ex costs more
 * than sealing a short message. Kept for the life of the process, like aes.c's. */
static pthread_once_t g_once = PTHREAD_ONCE_INIT;
static EVP_CIPHER *g_gcm[3];

static void fetch_once(void)
{
    static const char *const names[3] = {"AES-128-GCM", "AES-192-GCM", "AES-256-GCM"};
    for (int i = 0; i < 3; i++) {
        g_gcm[i] = EVP_CIPHER_fetch(NULL, names[i], NULL);
    }
}

static const EVP_CIPHER *lc_cipher(unsigned key_len)
{
    pthread_once(&g_once, fetch_once);
    switch (key_len) {
    case 16:
        return g_gcm[0] != NULL ? g_gcm[0] : EVP_aes_128_gcm();
    case 24:
        return g_gcm[1] != NULL ? g_gcm[1] : EVP_aes_192_gcm();
    case 32:
        return g_gcm[2] != NULL ? g_gcm[2] : EVP_aes_256_gcm();
    default:
        return NULL;
    }
}

ks_status ks_gcm_lc_start(ks_gcm_ctx *ctx, const uint8_t *iv, size_t iv_len)
{
    const EVP_CIPHER *cipher = lc_cipher(ctx->key->aes.key_len);
    if (cipher == NULL) {
        return KS_ERR_KEY_LEN;
    }
    if (iv_len > LC_MAX_IV) {
        return KS_ERR_UNSUPPORTED;
    }
    EVP_CIPHER_CTX *lc = EVP_CIPHER_CTX_new();
    if (lc == NULL) {
        return KS_ERR_NOMEM;
    }
    if (EVP_EncryptInit_ex(lc, cipher, NULL, NULL, NULL) != 1 ||
        EVP_CIPHER_CTX_ctrl(lc, EVP_CTRL_GCM_SET_IVLEN, (int)iv_len, NULL) != 1 ||
        EVP_EncryptInit_ex(lc, NULL, NULL, ctx->key->aes.raw, iv) != 1) {
        EVP_CIPHER_CTX_free(lc);
        return KS_ERR_INTERNAL;
    }
    ctx->lc = lc;
    return KS_OK;
}

ks_status ks_gcm_lc_aad(ks_gcm_ctx *ctx, const uint8_t *aad, size_t aad_len)
{
    while (aad_len != 0) {
        size_t n = aad_len < LC_CHUNK ? aad_len : LC_CHUNK;
        int outl = 0;
        if (EVP_EncryptUpdate(ctx->lc, NULL, &outl, aad, (int)n) != 1) {
            return KS_ERR_INTERNAL;
        }
        aad += n;
        aad_len -= n;
    }
    return KS_OK;
}

ks_status ks_gcm_lc_crypt(ks_gcm_ctx *ctx, uint8_t *out, const uint8_t *in, size_t len,
                          int encrypt)
{
    if (!encrypt && EVP_CipherInit_ex(ctx->lc, NULL, NULL, NULL, NULL, 0) != 1) {
        return KS_ERR_INTERNAL;
    }
    while (len != 0) {
        size_t n = len < LC_CHUNK ? len : LC_CHUNK;
        int outl = 0;
        if (EVP_CipherUpdate(ctx->lc, out, &outl, in, (int)n) != 1 || (size_t)outl != n) {
            return KS_ERR_INTERNAL;
        }
        in += n;
        out += n;
        len -= n;
    }
    return KS_OK;
}

ks_status ks_gcm_lc_finish(ks_gcm_ctx *ctx, uint8_t tag[16])
{
    uint8_t none[16];
    int outl = 0;
    if (EVP_CipherInit_ex(ctx->lc, NULL, NULL, NULL, NULL, 1) != 1 ||
        EVP_EncryptFinal_ex(ctx->lc, none, &outl) != 1 ||
        EVP_CIPHER_CTX_ctrl(ctx->lc, EVP_CTRL_GCM_GET_TAG, 16, tag) != 1) {
        return KS_ERR_INTERNAL;
    }
    return KS_OK;
}

/* The scratch a tag-first absorb decrypts into, on the stack and wiped: libcrypto offers
 * no GHASH alone, so on this path the first pass is a decryption whose output is dropped. */
#define LC_SCRATCH 1024

ks_status ks_gcm_lc_absorb(ks_gcm_ctx *ctx, const uint8_t *in, size_t len)
{
    if (ctx->lc_ctr == NULL) {
        /* The first part: keep the context as it stands after the AAD for the second pass. */
        EVP_CIPHER_CTX *copy = EVP_CIPHER_CTX_new();
        if (copy == NULL) {
            return KS_ERR_NOMEM;
        }
        if (EVP_CIPHER_CTX_copy(copy, ctx->lc) != 1) {
            EVP_CIPHER_CTX_free(copy);
            return KS_ERR_INTERNAL;
        }
        ctx->lc_ctr = copy;
    }
    uint8_t scratch[LC_SCRATCH];
    ks_status st = KS_OK;
    while (len != 0 && st == KS_OK) {
        size_t n = len < sizeof(scratch) ? len : sizeof(scratch);
        st = ks_gcm_lc_crypt(ctx, scratch, in, n, 0);
        in += n;
        len -= n;
    }
    ks_wipe(scratch, sizeof(scratch));
    return st;
}

ks_status ks_gcm_lc_release(ks_gcm_ctx *ctx, uint8_t *out, const uint8_t *in, size_t len)
{
    if (ctx->lc_ctr == NULL) {
        return KS_ERR_ARGS;
    }
    EVP_CIPHER_CTX *saved = ctx->lc;
    ctx->lc = ctx->lc_ctr; /* its own GHASH is computed and never used */
    ks_status st = ks_gcm_lc_crypt(ctx, out, in, len, 0);
    ctx->lc = saved;
    return st;
}

ks_status ks_gcm_lc_refinish(ks_gcm_ctx *ctx, uint8_t tag[16])
{
    if (ctx->lc_ctr == NULL) {
        return KS_ERR_ARGS;
    }
    EVP_CIPHER_CTX *saved = ctx->lc;
    ctx->lc = ctx->lc_ctr;
    ks_status st = ks_gcm_lc_finish(ctx, tag);
    ctx->lc = saved;
    return st;
}

void ks_gcm_lc_free(ks_gcm_ctx *ctx)
{
    if (ctx->lc != NULL) {
        EVP_CIPHER_CTX_free(ctx->lc); /* cleans the key schedule and GHASH state */
        ctx->lc = NULL;
    }
    if (ctx->lc_ctr != NULL) {
        EVP_CIPHER_CTX_free(ctx->lc_ctr);
        ctx->lc_ctr = NULL;
    }
}
