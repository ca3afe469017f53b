/* digest.h - message digests (FIPS 180-4 SHA-1 and SHA-2) through libcrypto.
 *
 * A thin wrapper: the EVP_MD of each algorithm is fetched once per process, and a context
 * allocates its libcrypto state once, in ks_digest_init; update and final never allocate.
 * Release a context with ks_digest_clear() on every exit path.
 * For SHA-256 hashed by the module itself on a hot path, see the rule in sha256.h. */
#ifndef KS_CRYPTO_DIGEST_H
#define KS_CRYPTO_DIGEST_H

#include <stddef.h>
#include <stdint.h>

#include "crypto/status.h"

typedef enum ks_md {
    KS_MD_NONE = 0,
    KS_MD_SHA1,
    KS_MD_SHA224,
    KS_MD_SHA256,
    KS_MD_SHA384,
    KS_MD_SHA512,
    KS_MD_MD5, /* RFC 1321: the legacy CKM_MD5 digest only (no HMAC, no signature) */
} ks_md;

#define KS_MD_MAX_SIZE 64

/* ks_md_size returns the output length of md in bytes, 0 for an unknown md. */
size_t ks_md_size(ks_md md);

/* ks_md_name returns the libcrypto name of md ("SHA256"), NULL for an unknown md. */
const char *ks_md_name(ks_md md);

/* ks_md_block_size returns the input block length of md in bytes, 0 for an unknown md. */
size_t ks_md_block_size(ks_md md);

typedef struct ks_digest_ctx {
    void *evp; /* EVP_MD_CTX, NULL when cleared */
    ks_md md;
} ks_digest_ctx;

/* ks_digest_init allocates and starts a digest. KS_ERR_ARGS for an unknown md,
 * KS_ERR_NOMEM, KS_ERR_UNSUPPORTED when libcrypto lacks the algorithm. On failure the
 * context is left cleared. */
ks_status ks_digest_init(ks_digest_ctx *ctx, ks_md md);

/* ks_digest_update absorbs in_len bytes (in may be NULL when in_len is 0). */
ks_status ks_digest_update(ks_digest_ctx *ctx, const uint8_t *in, size_t in_len);

/* ks_digest_final writes ks_md_size(md) bytes to out; KS_ERR_LEN when max_out is smaller
 * (nothing written, state unchanged). The context must be cleared (or re-initialised) after. */
ks_status ks_digest_final(ks_digest_ctx *ctx, uint8_t *out, size_t max_out);

/* ks_digest_copy makes dst an independent copy of src's state (dst must be cleared). */
ks_status ks_digest_copy(ks_digest_ctx *dst, const ks_digest_ctx *src);

/* ks_digest_clear frees the libcrypto state; safe on a cleared context. */
void ks_digest_clear(ks_digest_ctx *ctx);

/* ks_digest hashes in one call: out gets ks_md_size(md) bytes (max_out at least that). */
ks_status ks_digest(ks_md md, uint8_t *out, size_t max_out, const uint8_t *in, size_t in_len);

#endif
