/* aes.c - key setup and runtime dispatch of AES (FIPS 197) and its raw modes (SP 800-38A).
 *
 * Two implementations, both free of secret-dependent table lookups: the AES-NI kernels of
 * aes_ni.c, and libcrypto's EVP ciphers where the processor lacks AES-NI. A key records the
 * implementation it was expanded for; ks_aes_set_impl changes the one new keys get. */
#include <limits.h>
#include <pthread.h>
#include <string.h>

#include <openssl/evp.h>

#include "crypto/aes_internal.h"
#include "crypto/mem.h"

/* libcrypto ciphers, fetched once (EVP_CIPHER_fetch is costly per call). Index: key size
 * (0: 128, 1: 192, 2: 256); ECB and CBC. */
static pthread_once_t g_once = PTHREAD_ONCE_INIT;
static int g_have_aesni;
static EVP_CIPHER *g_ecb[3];
static EVP_CIPHER *g_cbc[3];
static int g_forced = KS_AES_IMPL_AUTO; /* read and written with __atomic builtins only */

static void init_once(void)
{
    static const char *const ecb_names[3] = {"AES-128-ECB", "AES-192-ECB", "AES-256-ECB"};
    static const char *const cbc_names[3] = {"AES-128-CBC", "AES-192-CBC", "AES-256-CBC"};

    __builtin_cpu_init();
    g_have_aesni = __builtin_cpu_supports("aes") && __builtin_cpu_supports("sse4.1");
    for (int i = 0; i < 3; i++) {
        g_ecb[i] = EVP_CIPHER_fetch(NULL, ecb_names[i], NULL);
        g_cbc[i] = EVP_CIPHER_fetch(NULL, cbc_names[i], NULL);
    }
}

static void ensure_init(void) { pthread_once(&g_once, init_once); }

int ks_aes_impl_supported(ks_aes_impl impl)
{
    ensure_init();
    switch (impl) {
    case KS_AES_IMPL_AUTO:
        return 1;
    case KS_AES_IMPL_AESNI:
        return g_have_aesni;
    case KS_AES_IMPL_LIBCRYPTO:
        return g_ecb[0] != NULL && g_ecb[1] != NULL && g_ecb[2] != NULL;
    }
    return 0;
}

ks_status ks_aes_set_impl(ks_aes_impl impl)
{
    if (impl != KS_AES_IMPL_AUTO && impl != KS_AES_IMPL_AESNI && impl != KS_AES_IMPL_LIBCRYPTO) {
        return KS_ERR_ARGS;
    }
    if (!ks_aes_impl_supported(impl)) {
        return KS_ERR_UNSUPPORTED;
    }
    __atomic_store_n(&g_forced, (int)impl, __ATOMIC_SEQ_CST);
    return KS_OK;
}

ks_aes_impl ks_aes_impl_default(void)
{
    ensure_init();
    int forced = __atomic_load_n(&g_forced, __ATOMIC_SEQ_CST);
    if (forced != KS_AES_IMPL_AUTO) {
        return (ks_aes_impl)forced;
    }
    return g_have_aesni ? KS_AES_IMPL_AESNI : KS_AES_IMPL_LIBCRYPTO;
}

ks_status ks_aes_init(ks_aes_key *key, const uint8_t *raw, size_t raw_len)
{
    if (key == NULL || raw == NULL) {
        return KS_ERR_ARGS;
    }
    if (raw_len != 16 && raw_len != 24 && raw_len != 32) {
        return KS_ERR_KEY_LEN;
    }
    ks_aes_impl impl = ks_aes_impl_default();
    ks_wipe(key, sizeof(*key));
    memcpy(key->raw, raw, raw_len);
    key->key_len = (unsigned)raw_len;
    key->rounds = (unsigned)(raw_len / 4 + 6);
    if (g_have_aesni) {
        ks_aesni_expand(key->enc, key->dec, raw, raw_len);
    }
    key->impl = impl;
    return KS_OK;
}

void ks_aes_clear(ks_aes_key *key)
{
    if (key != NULL) {
        ks_wipe(key, sizeof(*key));
    }
}

static int key_ok(const ks_aes_key *key)
{
    return key != NULL && (key->impl == KS_AES_IMPL_AESNI || key->impl == KS_AES_IMPL_LIBCRYPTO) &&
           (key->key_len == 16 || key->key_len == 24 || key->key_len == 32);
}

/* ---- libcrypto path ---------------------------------------------------------------- */

static EVP_CIPHER_CTX *evp_start(const ks_aes_key *key, EVP_CIPHER *const table[3],
                                 const uint8_t *iv, int encrypt)
{
    const EVP_CIPHER *cipher = table[(key->key_len - 16) / 8];
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();

    if (ctx == NULL || cipher == NULL) {
        EVP_CIPHER_CTX_free(ctx);
        return NULL;
    }
    if (EVP_CipherInit_ex2(ctx, cipher, key->raw, iv, encrypt, NULL) != 1 ||
        EVP_CIPHER_CTX_set_padding(ctx, 0) != 1) {
        EVP_CIPHER_CTX_free(ctx); /* wipes the schedule it holds */
        return NULL;
    }
    return ctx;
}

/* Feed len bytes (a multiple of 16) through ctx in chunks libcrypto's int lengths accept. */
static ks_status evp_feed(EVP_CIPHER_CTX *ctx, uint8_t *out, const uint8_t *in, size_t len)
{
    while (len > 0) {
        size_t chunk = len > (size_t)1 << 30 ? (size_t)1 << 30 : len;
        int outl = 0;
        if (EVP_CipherUpdate(ctx, out, &outl, in, (int)chunk) != 1 || (size_t)outl != chunk) {
            return KS_ERR_INTERNAL;
        }
        out += chunk;
        in += chunk;
        len -= chunk;
    }
    return KS_OK;
}

/* ---- block-at-a-time handle -------------------------------------------------------- */

ks_status ks_aes_ecb_begin(ks_aes_ecb_ctx *ctx, const ks_aes_key *key, int decrypt)
{
    ctx->key = key;
    ctx->evp = NULL;
    ctx->decrypt = decrypt;
    if (!key_ok(key)) {
        return KS_ERR_ARGS;
    }
    if (key->impl == KS_AES_IMPL_LIBCRYPTO) {
        ensure_init();
        ctx->evp = evp_start(key, g_ecb, NULL, !decrypt);
        if (ctx->evp == NULL) {
            return KS_ERR_INTERNAL;
        }
    }
    return KS_OK;
}

ks_status ks_aes_ecb_run(ks_aes_ecb_ctx *ctx, uint8_t *out, const uint8_t *in, size_t nblocks)
{
    const ks_aes_key *key = ctx->key;

    if (nblocks > SIZE_MAX / 16) {
        return KS_ERR_LEN;
    }
    if (ctx->evp != NULL) {
        return evp_feed(ctx->evp, out, in, nblocks * 16);
    }
    if (ctx->decrypt) {
        ks_aesni_ecb_decrypt(key->dec, key->rounds, out, in, nblocks);
    } else {
        ks_aesni_ecb_encrypt(key->enc, key->rounds, out, in, nblocks);
    }
    return KS_OK;
}

void ks_aes_ecb_end(ks_aes_ecb_ctx *ctx)
{
    EVP_CIPHER_CTX_free(ctx->evp);
    ctx->evp = NULL;
}

/* ---- public ECB / CBC -------------------------------------------------------------- */

static ks_status ecb(const ks_aes_key *key, uint8_t *out, const uint8_t *in, size_t nblocks,
                     int decrypt)
{
    ks_aes_ecb_ctx ctx;

    if (nblocks > 0 && (out == NULL || in == NULL)) {
        return KS_ERR_ARGS;
    }
    ks_status st = ks_aes_ecb_begin(&ctx, key, decrypt);
    if (st == KS_OK && nblocks > 0) {
        st = ks_aes_ecb_run(&ctx, out, in, nblocks);
    }
    ks_aes_ecb_end(&ctx);
    return st;
}

ks_status ks_aes_encrypt_blocks(const ks_aes_key *key, uint8_t *out, const uint8_t *in,
                                size_t nblocks)
{
    return ecb(key, out, in, nblocks, 0);
}

ks_status ks_aes_decrypt_blocks(const ks_aes_key *key, uint8_t *out, const uint8_t *in,
                                size_t nblocks)
{
    return ecb(key, out, in, nblocks, 1);
}

static ks_status cbc_libcrypto(const ks_aes_key *key, uint8_t iv[16], uint8_t *out,
                               const uint8_t *in, size_t nblocks, int encrypt)
{
    uint8_t next_iv[16];
    ensure_init();
    EVP_CIPHER_CTX *ctx = evp_start(key, g_cbc, iv, encrypt);

    if (ctx == NULL) {
        return KS_ERR_INTERNAL;
    }
    /* Decryption chains on the last ciphertext block: save it before out may overwrite it. */
    if (!encrypt) {
        memcpy(next_iv, in + 16 * (nblocks - 1), 16);
    }
    ks_status st = evp_feed(ctx, out, in, nblocks * 16);
    EVP_CIPHER_CTX_free(ctx);
    if (st == KS_OK) {
        memcpy(iv, encrypt ? out + 16 * (nblocks - 1) : next_iv, 16);
    }
    return st;
}

static ks_status cbc(const ks_aes_key *key, uint8_t iv[16], uint8_t *out, const uint8_t *in,
                     size_t nblocks, int encrypt)
{
    if (!key_ok(key) || iv == NULL || (nblocks > 0 && (out == NULL || in == NULL))) {
        return KS_ERR_ARGS;
    }
    if (nblocks > SIZE_MAX / 16) {
        return KS_ERR_LEN;
    }
    if (nblocks == 0) {
        return KS_OK;
    }
    if (key->impl == KS_AES_IMPL_LIBCRYPTO) {
        return cbc_libcrypto(key, iv, out, in, nblocks, encrypt);
    }
    if (encrypt) {
        ks_aesni_cbc_encrypt(key->enc, key->rounds, iv, out, in, nblocks);
    } else {
        ks_aesni_cbc_decrypt(key->dec, key->rounds, iv, out, in, nblocks);
    }
    return KS_OK;
}

ks_status ks_aes_cbc_encrypt(const ks_aes_key *key, uint8_t iv[16], uint8_t *out,
                             const uint8_t *in, size_t nblocks)
{
    return cbc(key, iv, out, in, nblocks, 1);
}

ks_status ks_aes_cbc_decrypt(const ks_aes_key *key, uint8_t iv[16], uint8_t *out,
                             const uint8_t *in, size_t nblocks)
{
    return cbc(key, iv, out, in, nblocks, 0);
}

/* ---- CTR step ---------------------------------------------------------------------- */

/* libcrypto has no CTR with a 32-bit wrap of our choosing: build counter blocks, encrypt
 * them as ECB, XOR. */
static ks_status ctr32_libcrypto(const ks_aes_key *key, const uint8_t ctr[16], uint8_t *out,
                                 const uint8_t *in, size_t nblocks)
{
    enum { BATCH = 32 };
    uint8_t ks[BATCH * 16];
    ks_aes_ecb_ctx ecb_ctx;
    uint32_t c = ((uint32_t)ctr[12] << 24) | ((uint32_t)ctr[13] << 16) |
                 ((uint32_t)ctr[14] << 8) | ctr[15];

    ks_status st = ks_aes_ecb_begin(&ecb_ctx, key, 0);
    while (st == KS_OK && nblocks > 0) {
        size_t n = nblocks < BATCH ? nblocks : BATCH;
        for (size_t i = 0; i < n; i++, c++) {
            memcpy(ks + 16 * i, ctr, 12);
            ks[16 * i + 12] = (uint8_t)(c >> 24);
            ks[16 * i + 13] = (uint8_t)(c >> 16);
            ks[16 * i + 14] = (uint8_t)(c >> 8);
            ks[16 * i + 15] = (uint8_t)c;
        }
        st = ks_aes_ecb_run(&ecb_ctx, ks, ks, n);
        for (size_t i = 0; st == KS_OK && i < 16 * n; i++) {
            out[i] = in[i] ^ ks[i];
        }
        out += 16 * n;
        in += 16 * n;
        nblocks -= n;
    }
    ks_aes_ecb_end(&ecb_ctx);
    ks_wipe(ks, sizeof(ks));
    return st;
}

ks_status ks_aes_ctr32_xor(const ks_aes_key *key, const uint8_t ctr[16], uint8_t *out,
                           const uint8_t *in, size_t nblocks)
{
    if (!key_ok(key)) {
        return KS_ERR_ARGS;
    }
    if (key->impl == KS_AES_IMPL_LIBCRYPTO) {
        return ctr32_libcrypto(key, ctr, out, in, nblocks);
    }
    ks_aesni_ctr32(key->enc, key->rounds, ctr, out, in, nblocks);
    return KS_OK;
}

/* ---- CBC-MAC chaining -------------------------------------------------------------- */

ks_status ks_aes_cbc_mac(const ks_aes_key *key, uint8_t x[16], const uint8_t *in,
                         size_t nblocks)
{
    enum { CHUNK = 64 };
    uint8_t scratch[CHUNK * 16];

    if (!key_ok(key)) {
        return KS_ERR_ARGS;
    }
    if (key->impl == KS_AES_IMPL_AESNI) {
        ks_aesni_cbc_mac(key->enc, key->rounds, x, in, nblocks);
        return KS_OK;
    }
    /* libcrypto: CBC-encrypt into scratch; the chaining value is the last block out. */
    ensure_init();
    EVP_CIPHER_CTX *ctx = evp_start(key, g_cbc, x, 1);
    if (ctx == NULL) {
        return KS_ERR_INTERNAL;
    }
    ks_status st = KS_OK;
    while (st == KS_OK && nblocks > 0) {
        size_t n = nblocks < CHUNK ? nblocks : CHUNK;
        st = evp_feed(ctx, scratch, in, 16 * n);
        if (st == KS_OK) {
            memcpy(x, scratch + 16 * (n - 1), 16);
        }
        in += 16 * n;
        nblocks -= n;
    }
    EVP_CIPHER_CTX_free(ctx);
    ks_wipe(scratch, sizeof(scratch));
    return st;
}
