/* gcm.h - AES-GCM (NIST SP 800-38D), streaming and one-shot.
 *
 * WARNING: never encrypt two messages with the same key and IV. With random 96-bit IVs a
 * key may encrypt at most 2^32 messages (SP 800-38D 8.3). Plaintext is limited to 2^36 - 32
 * bytes per message, IVs to 1..2^61-1 bytes, AAD to 2^61-1 bytes (KS_ERR_LEN beyond).
 * Decryption checks the tag first: ks_gcm_open (and the streaming absorb / check /
 * decrypt_verified steps) GHASH the ciphertext, compare the tag in constant time, and only
 * then run CTR into the output, each output byte written once with its final value. On a
 * failed tag check nothing at all is written to the output and KS_ERR_AUTH is returned.
 *
 * Implementations, chosen at run time: VAES + VPCLMULQDQ on 512-bit registers, the same on
 * 256-bit registers, AES-NI + PCLMULQDQ, libcrypto. All are constant time. The libcrypto
 * path (processors without AES-NI) takes IVs of at most 128 bytes: KS_ERR_UNSUPPORTED beyond.
 * A context points at its key: the key must outlive it. */
#ifndef KS_CRYPTO_GCM_H
#define KS_CRYPTO_GCM_H

#include <stddef.h>
#include <stdint.h>

/* KS_GCM_MAX_MSG: the most plaintext one message may have, 2^39 - 256 bits (SP 800-38D
 * 5.2.1.1). Every layer that checks a GCM message length uses this one constant. */
#define KS_GCM_MAX_MSG ((UINT64_C(1) << 36) - 32)

#include "crypto/aes.h"
#include "crypto/status.h"

typedef enum ks_gcm_impl {
    KS_GCM_IMPL_AUTO = 0,
    KS_GCM_IMPL_VAES512,
    KS_GCM_IMPL_VAES256,
    KS_GCM_IMPL_AESNI,
    KS_GCM_IMPL_LIBCRYPTO,
} ks_gcm_impl;

/* A key: the AES schedule and the precomputed powers of H. Secret: ks_gcm_clear() it.
 * Alignment stays at 16 (what malloc and cffi's ffi.new give); the kernels load unaligned. */
typedef struct ks_gcm_key {
    ks_aes_key aes;
    _Alignas(16) uint8_t htable[16 * 16]; /* H^16..H^1 in the kernels' layout, gcm_internal.h */
    ks_gcm_impl impl;                     /* resolved at init, never AUTO */
} ks_gcm_key;

/* Streaming state of one message. Secret: ks_gcm_ctx_clear() it. */
typedef struct ks_gcm_ctx {
    const ks_gcm_key *key;
    _Alignas(16) uint8_t j0[16];      /* pre-counter block J0, then E_K(J0) (the tag mask) */
    _Alignas(16) uint8_t counter[16]; /* next counter block */
    _Alignas(16) uint8_t ghash[16];   /* running GHASH */
    _Alignas(16) uint8_t partial[16]; /* pending bytes: AAD, or keystream for the data */
    unsigned partial_len;
    int phase;                        /* 0 = AAD, 1 = encrypting, 2 = finished, 3 = decrypting,
                                         4 = absorbing ciphertext, 5 = verified */
    uint64_t aad_len;
    uint64_t msg_len;
    uint64_t open_len;                /* verified: ciphertext bytes not yet decrypted */
    uint64_t rehashed;                /* verified: bytes decrypted and hashed again */
    _Alignas(16) uint8_t aad_ghash[16]; /* tag first: the GHASH after the AAD */
    _Alignas(16) uint8_t expect[16];  /* tag first: the full tag the first pass verified */
    void *lc;                         /* libcrypto context on that path, else NULL */
    void *lc_ctr;                     /* libcrypto, tag first: the context after the AAD */
} ks_gcm_ctx;

ks_status ks_gcm_init(ks_gcm_key *key, const uint8_t *raw, size_t raw_len);
void ks_gcm_clear(ks_gcm_key *key);

/* Force an implementation for this process (tests, benchmarks); KS_ERR_UNSUPPORTED when the
 * processor lacks it. Keys initialised afterwards use it. */
ks_status ks_gcm_set_impl(ks_gcm_impl impl);
int ks_gcm_impl_supported(ks_gcm_impl impl);
ks_gcm_impl ks_gcm_impl_default(void);

/* Streaming: start, aad* (all before any data), encrypt* or decrypt*, then finish or check.
 * Tag first (what the token uses): start, aad*, absorb* (the whole ciphertext), check, and
 * only if it verified, decrypt_verified* over the same ciphertext again, then recheck. */
ks_status ks_gcm_start(ks_gcm_ctx *ctx, const ks_gcm_key *key, const uint8_t *iv,
                       size_t iv_len);
ks_status ks_gcm_aad(ks_gcm_ctx *ctx, const uint8_t *aad, size_t aad_len);
ks_status ks_gcm_encrypt(ks_gcm_ctx *ctx, uint8_t *out, const uint8_t *in, size_t len);
ks_status ks_gcm_decrypt(ks_gcm_ctx *ctx, uint8_t *out, const uint8_t *in, size_t len);
/* ks_gcm_finish writes the full 16-byte tag. */
ks_status ks_gcm_finish(ks_gcm_ctx *ctx, uint8_t tag[16]);
/* ks_gcm_check compares the first tag_len (4..16) bytes of the tag in constant time:
 * KS_OK or KS_ERR_AUTH. */
ks_status ks_gcm_check(ks_gcm_ctx *ctx, const uint8_t *tag, size_t tag_len);
void ks_gcm_ctx_clear(ks_gcm_ctx *ctx);
/* ks_gcm_absorb takes len bytes of ciphertext into the GHASH and writes nothing. */
ks_status ks_gcm_absorb(ks_gcm_ctx *ctx, const uint8_t *in, size_t len);
/* After ks_gcm_check verified the absorbed ciphertext (and only then: KS_ERR_ARGS
 * otherwise), ks_gcm_decrypt_verified writes the plaintext of its next len bytes to out, in
 * order and in any split; at most as many bytes as were absorbed (KS_ERR_LEN beyond). out
 * may equal in; each output byte is stored once. It hashes the ciphertext it reads again:
 * once all of it is decrypted, ks_gcm_recheck answers KS_ERR_AUTH when the bytes read by the
 * second pass are not those the tag verified (an input changed by someone else during the
 * call), and the caller must then take the output back. ks_gcm_decrypt_held is the same
 * without the second GHASH (CTR alone), for ciphertext held in module memory that cannot
 * change; held bytes come first, and ks_gcm_recheck is then not available. */
ks_status ks_gcm_decrypt_verified(ks_gcm_ctx *ctx, uint8_t *out, const uint8_t *in,
                                  size_t len);
ks_status ks_gcm_decrypt_held(ks_gcm_ctx *ctx, uint8_t *out, const uint8_t *in, size_t len);
ks_status ks_gcm_recheck(ks_gcm_ctx *ctx);

/* One-shot. out holds in_len bytes; tag_len is 4..16. ks_gcm_open verifies the tag before it
 * writes anything to out (see above). */
ks_status ks_gcm_seal(const ks_gcm_key *key, uint8_t *out, uint8_t *tag, size_t tag_len,
                      const uint8_t *iv, size_t iv_len, const uint8_t *aad, size_t aad_len,
                      const uint8_t *in, size_t in_len);
ks_status ks_gcm_open(const ks_gcm_key *key, uint8_t *out, const uint8_t *iv, size_t iv_len,
                      const uint8_t *aad, size_t aad_len, const uint8_t *in, size_t in_len,
                      const uint8_t *tag, size_t tag_len);

#endif
