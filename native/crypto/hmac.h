/* hmac.h - HMAC (FIPS 198-1, RFC 2104) over the digests of digest.h, through libcrypto's
 * EVP_MAC.
 *
 * The EVP_MAC is fetched once per process; a context allocates its libcrypto state once, in
 * ks_hmac_init (which also takes the key: libcrypto keeps its own copy, wiped when the context
 * is cleared). Update and final never allocate. Release a context with ks_hmac_clear() on
 * every exit path. Comparing a MAC is the caller's job, with ks_memeq().
 * For SHA-256 hashed by the module itself on a hot path, see the rule in sha256.h. */
#ifndef KS_CRYPTO_HMAC_H
#define KS_CRYPTO_HMAC_H

#include <stddef.h>
#include <stdint.h>

#include "crypto/digest.h"
#include "crypto/status.h"

typedef struct ks_hmac_ctx {
    void *evp; /* EVP_MAC_CTX, NULL when cleared */
    ks_md md;
} ks_hmac_ctx;

/* ks_hmac_init allocates the state and keys it (any key_len, 0 included). KS_ERR_ARGS for
 * an unknown md, KS_ERR_NOMEM, KS_ERR_UNSUPPORTED when libcrypto lacks the algorithm. On
 * failure the context is left cleared. */
ks_status ks_hmac_init(ks_hmac_ctx *ctx, ks_md md, const uint8_t *key, size_t key_len);

/* ks_hmac_update absorbs in_len bytes (in may be NULL when in_len is 0). */
ks_status ks_hmac_update(ks_hmac_ctx *ctx, const uint8_t *in, size_t in_len);

/* ks_hmac_final writes the full ks_md_size(md)-byte MAC; KS_ERR_LEN when max_out is smaller
 * (nothing written). The context must be cleared after. */
ks_status ks_hmac_final(ks_hmac_ctx *ctx, uint8_t *out, size_t max_out);

/* ks_hmac_clear frees the state and the key copy; safe on a cleared context. */
void ks_hmac_clear(ks_hmac_ctx *ctx);

/* ks_hmac computes a MAC in one call. */
ks_status ks_hmac(ks_md md, uint8_t *out, size_t max_out, const uint8_t *key, size_t key_len,
                  const uint8_t *in, size_t in_len);

#endif
