/* sha256.h - FIPS 180-4 SHA-256 and FIPS 198-1 (RFC 2104) HMAC-SHA-256, in tree.
 *
 * No allocation and no libcrypto: a context is a plain struct on the caller's stack. The
 * compression function is chosen at run time: the SHA extensions (SHA256RNDS2, SHA256MSG1,
 * SHA256MSG2; sha256_ni.c) when the processor has them, portable C otherwise. Both run in
 * time independent of the data hashed (no secret-dependent branch or table index).
 *
 * Which SHA-256 to use (one rule for the tree): this one wherever the module itself hashes
 * per operation, on a path whose cost every call pays (the audit trail's chain and seals, the
 * store's record authentication); digest.h/hmac.h (libcrypto EVP) for the mechanisms a caller
 * asks for (CKM_SHA256, CKM_SHA256_HMAC ...), where every algorithm and the FIPS provider
 * matter more than the call overhead, and for the PIN KDFs and the DRBG.
 *
 * Length limit: FIPS 180-4 5.1.1 allows messages shorter than 2^64 bits; the byte counter
 * wraps past 2^61 bytes, which no caller can reach. */
#ifndef KS_CRYPTO_SHA256_H
#define KS_CRYPTO_SHA256_H

#include <stddef.h>
#include <stdint.h>

#include "crypto/status.h"

#define KS_SHA256_LEN 32
#define KS_SHA256_BLOCK 64

typedef struct ks_sha256_ctx {
    uint32_t h[8];     /* H(i), FIPS 180-4 6.2.2 */
    uint64_t bytes;    /* message bytes absorbed so far */
    uint8_t buf[64];   /* the pending partial block */
    size_t used;       /* bytes of buf in use, always < 64 between calls */
} ks_sha256_ctx;

/* ks_sha256_init sets ctx to the initial hash value H(0) (FIPS 180-4 5.3.3). */
void ks_sha256_init(ks_sha256_ctx *ctx);

/* ks_sha256_update absorbs in_len bytes; in may be NULL when in_len is 0. Any split of a
 * message into updates gives the same digest. */
void ks_sha256_update(ks_sha256_ctx *ctx, const uint8_t *in, size_t in_len);

/* ks_sha256_final pads (FIPS 180-4 5.1.1), writes the 32-byte digest to out and wipes ctx
 * with ks_wipe: the context must be initialised again before reuse. */
void ks_sha256_final(ks_sha256_ctx *ctx, uint8_t out[KS_SHA256_LEN]);

/* ks_sha256 hashes in_len bytes of in (NULL allowed when in_len is 0) in one call. */
void ks_sha256(uint8_t out[KS_SHA256_LEN], const uint8_t *in, size_t in_len);

/* ks_hmac_sha256 writes HMAC-SHA-256(key, in) (RFC 2104, FIPS 198-1) to out. Keys longer
 * than the 64-byte block are hashed first (FIPS 198-1 4, step 2); key and in may be NULL
 * when their length is 0. The padded key, the inner hash and both hash states are wiped
 * before return. Comparing a MAC is the caller's job, with ks_memeq(). */
void ks_hmac_sha256(uint8_t out[KS_SHA256_LEN], const uint8_t *key, size_t key_len,
                    const uint8_t *in, size_t in_len);

/* Streaming HMAC-SHA-256 (RFC 2104), for a message in parts: ks_hmac_sha256_init with the
 * key (hashed first when longer than the block), any number of updates, then final, which
 * writes the MAC and wipes ctx (the padded key and both hash states). ks_hmac_sha256 is the
 * one-shot form. */
typedef struct ks_hmac_sha256_ctx {
    ks_sha256_ctx inner;
    uint8_t opad[KS_SHA256_BLOCK]; /* K0 ^ opad: secret */
} ks_hmac_sha256_ctx;

void ks_hmac_sha256_init(ks_hmac_sha256_ctx *ctx, const uint8_t *key, size_t key_len);
void ks_hmac_sha256_update(ks_hmac_sha256_ctx *ctx, const uint8_t *in, size_t in_len);
void ks_hmac_sha256_final(ks_hmac_sha256_ctx *ctx, uint8_t out[KS_SHA256_LEN]);

/* Implementation control, for tests and benchmarks. */
typedef enum ks_sha256_impl {
    KS_SHA256_AUTO = 0, /* the best the processor supports */
    KS_SHA256_SHANI,    /* Intel SHA extensions (CPUID.7.0:EBX.SHA[bit 29]), SSSE3, SSE4.1 */
    KS_SHA256_PORTABLE, /* FIPS 180-4 6.2.2 in C, runs everywhere */
} ks_sha256_impl;

/* ks_sha256_impl_supported returns 1 when impl can run on this processor, 0 otherwise
 * (AUTO counts as supported, an unknown value does not). */
int ks_sha256_impl_supported(ks_sha256_impl impl);

/* ks_sha256_impl_default returns the implementation AUTO selects (never AUTO itself). */
ks_sha256_impl ks_sha256_impl_default(void);

/* ks_sha256_set_impl forces impl for every later compression in the process (AUTO restores
 * the automatic choice). KS_ERR_ARGS for an unknown value, KS_ERR_UNSUPPORTED when the
 * processor lacks impl; the setting is unchanged on failure. Thread-safe (an atomic), and a
 * change in the middle of a message is harmless: all implementations compute the same
 * function. */
ks_status ks_sha256_set_impl(ks_sha256_impl impl);

/* ---- internal: the compression kernels (sha256.c, sha256_ni.c) ---------------------- */

/* FIPS 180-4 4.2.2: the 64 round constants K, 16-byte aligned for vector loads. */
extern const uint32_t ks_sha256_k[64];

/* Each applies the compression function (FIPS 180-4 6.2.2 steps 1-4) to nblocks consecutive
 * 64-byte blocks of in, updating h. The SHA-NI one must only run where it is supported. */
void ks_sha256_blocks_portable(uint32_t h[8], const uint8_t *in, size_t nblocks);
void ks_sha256_blocks_shani(uint32_t h[8], const uint8_t *in, size_t nblocks);

#endif
