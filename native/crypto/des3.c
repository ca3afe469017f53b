/* des3.c - TDEA (three-key DES-EDE3) ECB and CBC over libcrypto's EVP (see des3.h).
 *
 * Both directions use the ECB cipher; CBC chains here, so that the chaining value lives in
 * the caller's state and multi-part calls continue exactly where the last one stopped. */
#include "crypto/des3.h"

#include <limits.h>
#include <string.h>

#include <openssl/evp.h>

#include "crypto/mem.h"

enum { BLK = KS_DES3_BLOCK, CHUNK_BLOCKS = 64 };

static EVP_CIPHER_CTX *make_ctx(const uint8_t *raw, int enc)
{
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
    if (ctx == NULL) {
        return NULL;
    }
    if (EVP_CipherInit_ex(ctx, EVP_des_ede3_ecb(), NULL, raw, NULL, enc) != 1 ||
        EVP_CIPHER_CTX_set_padding(ctx, 0) != 1) {
        EVP_CIPHER_CTX_free(ctx);
        return NULL;
    }
    return ctx;
}

ks_status ks_des3_init(ks_des3_key *key, const uint8_t *raw, size_t raw_len)
{
    if (key == NULL || raw == NULL) {
        return KS_ERR_ARGS;
    }
    key->enc = NULL;
    key->dec = NULL;
    if (raw_len != KS_DES3_KEY_LEN) {
        return KS_ERR_KEY_LEN;
    }
    if (EVP_des_ede3_ecb() == NULL) {
        return KS_ERR_UNSUPPORTED;
    }
    key->enc = make_ctx(raw, 1);
    key->dec = key->enc != NULL ? make_ctx(raw, 0) : NULL;
    if (key->dec == NULL) {
        ks_des3_clear(key);
        return KS_ERR_NOMEM;
    }
    return KS_OK;
}

void ks_des3_clear(ks_des3_key *key)
{
    if (key == NULL) {
        return;
    }
    EVP_CIPHER_CTX_free(key->enc); /* frees and cleanses the key schedule */
    EVP_CIPHER_CTX_free(key->dec);
    key->enc = NULL;
    key->dec = NULL;
}

static ks_status ecb(void *ctx, uint8_t *out, const uint8_t *in, size_t nblocks)
{
    if (ctx == NULL || (nblocks > 0 && (out == NULL || in == NULL))) {
        return KS_ERR_ARGS;
    }
    while (nblocks > 0) {
        size_t n = nblocks > (size_t)INT_MAX / BLK ? (size_t)INT_MAX / BLK : nblocks;
        int outl = 0;
        if (EVP_CipherUpdate(ctx, out, &outl, in, (int)(n * BLK)) != 1 ||
            (size_t)outl != n * BLK) {
            return KS_ERR_INTERNAL;
        }
        out += n * BLK;
        in += n * BLK;
        nblocks -= n;
    }
    return KS_OK;
}

ks_status ks_des3_ecb_encrypt(const ks_des3_key *key, uint8_t *out, const uint8_t *in,
                              size_t nblocks)
{
    return key == NULL ? KS_ERR_ARGS : ecb(key->enc, out, in, nblocks);
}

ks_status ks_des3_ecb_decrypt(const ks_des3_key *key, uint8_t *out, const uint8_t *in,
                              size_t nblocks)
{
    return key == NULL ? KS_ERR_ARGS : ecb(key->dec, out, in, nblocks);
}

ks_status ks_des3_cbc_encrypt(const ks_des3_key *key, uint8_t iv[KS_DES3_BLOCK], uint8_t *out,
                              const uint8_t *in, size_t nblocks)
{
    if (key == NULL || iv == NULL) {
        return KS_ERR_ARGS;
    }
    uint8_t x[BLK];
    ks_status s = KS_OK;
    for (size_t b = 0; b < nblocks && s == KS_OK; b++) {
        for (size_t i = 0; i < BLK; i++) {
            x[i] = in[b * BLK + i] ^ iv[i];
        }
        s = ecb(key->enc, iv, x, 1);
        if (s == KS_OK) {
            memcpy(out + b * BLK, iv, BLK);
        }
    }
    ks_wipe(x, sizeof(x));
    return s;
}

ks_status ks_des3_cbc_decrypt(const ks_des3_key *key, uint8_t iv[KS_DES3_BLOCK], uint8_t *out,
                              const uint8_t *in, size_t nblocks)
{
    if (key == NULL || iv == NULL) {
        return KS_ERR_ARGS;
    }
    /* The ciphertext of a chunk is copied first: out may be in. */
    uint8_t ct[CHUNK_BLOCKS * BLK];
    ks_status s = KS_OK;
    while (nblocks > 0 && s == KS_OK) {
        size_t n = nblocks < CHUNK_BLOCKS ? nblocks : CHUNK_BLOCKS;
        memcpy(ct, in, n * BLK);
        s = ecb(key->dec, out, ct, n);
        for (size_t b = 0; b < n && s == KS_OK; b++) {
            const uint8_t *prev = b == 0 ? iv : ct + (b - 1) * BLK;
            for (size_t i = 0; i < BLK; i++) {
                out[b * BLK + i] ^= prev[i];
            }
        }
        if (s == KS_OK) {
            memcpy(iv, ct + (n - 1) * BLK, BLK);
        }
        in += n * BLK;
        out += n * BLK;
        nblocks -= n;
    }
    ks_wipe(ct, sizeof(ct));
    return s;
}

/* The xor of the upper seven bits of b, in the low bit. */
static uint8_t upper_parity(uint8_t b)
{
    uint8_t p = (uint8_t)(b >> 1);
    p ^= (uint8_t)(p >> 4);
    p ^= (uint8_t)(p >> 2);
    p ^= (uint8_t)(p >> 1);
    return p & 1u;
}

void ks_des3_set_parity(uint8_t *key, size_t len)
{
    for (size_t i = 0; key != NULL && i < len; i++) {
        /* odd parity: the low bit is 1 exactly when the upper seven bits have even parity */
        key[i] = (uint8_t)((key[i] & 0xFEu) | (upper_parity(key[i]) ^ 1u));
    }
}

int ks_des3_parity_ok(const uint8_t *key, size_t len)
{
    uint8_t bad = 0;
    for (size_t i = 0; key != NULL && i < len; i++) {
        bad |= (uint8_t)((upper_parity(key[i]) ^ (key[i] & 1u)) ^ 1u);
    }
    return key != NULL && bad == 0;
}
