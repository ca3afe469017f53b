/* gcm_internal.h - the kernels behind gcm.c (not part of the public interface).
 *
 * Representation shared by every kernel, so that gcm.c never needs to know which one runs:
 *
 * - ctr is the next counter block in SP 800-38D byte order; the kernels advance it with
 *   inc32 (the low 32 bits wrap without carrying into the IV part, SP 800-38D 6.2).
 * - ghash is the running GHASH value Y in GCM byte order.
 * - htable holds K_k = H^k * x (in the bit-reflected domain, see gcm_aesni.c) for k = 16..1,
 *   highest power first: K_k sits at htable + 16 * (16 - k). A run of n blocks therefore
 *   reads its powers K_n..K_1 from one contiguous slice, in block order.
 *
 * Every kernel processes whole 16-byte blocks only; gcm.c carries partial blocks. */
#ifndef KS_CRYPTO_GCM_INTERNAL_H
#define KS_CRYPTO_GCM_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "crypto/gcm.h"

#define KS_GCM_HPOWERS 16

/* ghash: Y <- (...((Y ^ X_1) * H ^ X_2) * H ...) * H over nblocks blocks at in. */
typedef void (*ks_gcm_ghash_fn)(const uint8_t *htable, uint8_t ghash[16], const uint8_t *in,
                                size_t nblocks);
/* crypt: CTR over nblocks blocks and GHASH of the ciphertext (the output when encrypting,
 * the input when decrypting). out may equal in. */
typedef void (*ks_gcm_crypt_fn)(const ks_gcm_key *key, uint8_t ctr[16], uint8_t ghash[16],
                                uint8_t *out, const uint8_t *in, size_t nblocks);

/* ctr: CTR alone over nblocks blocks (GCTR of SP 800-38D 6.5, no GHASH): the second pass of
 * a decryption whose tag was verified over the ciphertext first. out may equal in; each
 * output block is stored once. */
typedef void (*ks_gcm_ctr_fn)(const ks_gcm_key *key, uint8_t ctr[16], uint8_t *out,
                              const uint8_t *in, size_t nblocks);

typedef struct ks_gcm_kernel {
    ks_gcm_ghash_fn ghash;
    ks_gcm_crypt_fn encrypt;
    ks_gcm_crypt_fn decrypt;
    ks_gcm_ctr_fn ctr;
} ks_gcm_kernel;

/* gcm_aesni.c: AES-NI + PCLMULQDQ, and the helpers every hardware path shares. */
extern const ks_gcm_kernel ks_gcm_kernel_aesni;
/* The same kernel's functions, for the wide kernels' short tails and AAD. */
void ks_gcm_aesni_ghash(const uint8_t *htable, uint8_t ghash[16], const uint8_t *in,
                        size_t nblocks);
void ks_gcm_aesni_encrypt(const ks_gcm_key *key, uint8_t ctr[16], uint8_t ghash[16],
                          uint8_t *out, const uint8_t *in, size_t nblocks);
void ks_gcm_aesni_decrypt(const ks_gcm_key *key, uint8_t ctr[16], uint8_t ghash[16],
                          uint8_t *out, const uint8_t *in, size_t nblocks);
void ks_gcm_aesni_ctr(const ks_gcm_key *key, uint8_t ctr[16], uint8_t *out, const uint8_t *in,
                      size_t nblocks);
/* ks_gcm_aesni_block encrypts one block with the round keys of key. */
void ks_gcm_aesni_block(const ks_aes_key *key, uint8_t out[16], const uint8_t in[16]);
/* ks_gcm_aesni_htable derives H = E_K(0^128) and fills htable with K_16..K_1. */
void ks_gcm_aesni_htable(const ks_aes_key *key, uint8_t htable[16 * KS_GCM_HPOWERS]);

/* gcm_vaes256.c and gcm_vaes512.c. */
extern const ks_gcm_kernel ks_gcm_kernel_vaes256;
extern const ks_gcm_kernel ks_gcm_kernel_vaes512;

/* gcm_libcrypto.c: the same streaming steps through EVP_aes_*_gcm (ctx->lc). The phase and
 * length bookkeeping stays in gcm.c. */
ks_status ks_gcm_lc_start(ks_gcm_ctx *ctx, const uint8_t *iv, size_t iv_len);
ks_status ks_gcm_lc_aad(ks_gcm_ctx *ctx, const uint8_t *aad, size_t aad_len);
ks_status ks_gcm_lc_crypt(ks_gcm_ctx *ctx, uint8_t *out, const uint8_t *in, size_t len,
                          int encrypt);
ks_status ks_gcm_lc_finish(ks_gcm_ctx *ctx, uint8_t tag[16]);
/* Tag first on this path: ks_gcm_lc_absorb keeps a copy of the context as it stands after
 * the AAD (ctx->lc_ctr, on the first call) and runs the ciphertext through ctx->lc into a
 * small stack buffer that is wiped, for its GHASH; once the tag verified, ks_gcm_lc_release
 * decrypts with the copy straight into out (hashing that input again, as EVP does). */
ks_status ks_gcm_lc_absorb(ks_gcm_ctx *ctx, const uint8_t *in, size_t len);
ks_status ks_gcm_lc_release(ks_gcm_ctx *ctx, uint8_t *out, const uint8_t *in, size_t len);
/* ks_gcm_lc_refinish: the tag the copy computed over what it decrypted (ks_gcm_recheck). */
ks_status ks_gcm_lc_refinish(ks_gcm_ctx *ctx, uint8_t tag[16]);
void ks_gcm_lc_free(ks_gcm_ctx *ctx);

#endif
