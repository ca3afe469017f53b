/* aes_internal.h - what aes.c, aes_ni.c, ctr.c, kw.c and cmac.c share; not a public API.
 *
 * The AES-NI kernels take raw round keys (ks_aes_key.enc / .dec) and trust their caller for
 * arguments. ks_aes_ecb_ctx lets a mode that calls AES one block at a time (KW, CMAC, the
 * tail of CTR) keep one libcrypto context across those calls instead of one per block. */
#ifndef KS_CRYPTO_AES_INTERNAL_H
#define KS_CRYPTO_AES_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "crypto/aes.h"
#include "crypto/status.h"

/* aes_ni.c: call only when ks_aes_impl_supported(KS_AES_IMPL_AESNI). */
void ks_aesni_expand(uint8_t enc[15 * 16], uint8_t dec[15 * 16], const uint8_t *raw,
                     size_t raw_len);
void ks_aesni_ecb_encrypt(const uint8_t *rk, unsigned rounds, uint8_t *out, const uint8_t *in,
                          size_t nblocks);
void ks_aesni_ecb_decrypt(const uint8_t *dk, unsigned rounds, uint8_t *out, const uint8_t *in,
                          size_t nblocks);
void ks_aesni_cbc_encrypt(const uint8_t *rk, unsigned rounds, uint8_t iv[16], uint8_t *out,
                          const uint8_t *in, size_t nblocks);
void ks_aesni_cbc_decrypt(const uint8_t *dk, unsigned rounds, uint8_t iv[16], uint8_t *out,
                          const uint8_t *in, size_t nblocks);
/* CTR over nblocks with the low 32 bits of ctr (big-endian) incremented per block; the
 * caller guarantees they do not wrap within the call. */
void ks_aesni_ctr32(const uint8_t *rk, unsigned rounds, const uint8_t ctr[16], uint8_t *out,
                    const uint8_t *in, size_t nblocks);

/* CBC-MAC chaining (the body of CMAC, SP 800-38B 6.2 step 6): x = E(x ^ block) over
 * nblocks, nothing stored but x. */
void ks_aesni_cbc_mac(const uint8_t *rk, unsigned rounds, uint8_t x[16], const uint8_t *in,
                      size_t nblocks);
/* The wrapping function W and its inverse (SP 800-38F 6.1) with A and the block in
 * registers; a is the initial value in and C[0] out (W), or the reverse (W^-1). */
void ks_aesni_kw_w(const uint8_t *rk, unsigned rounds, uint8_t a[8], uint8_t *r, size_t n);
void ks_aesni_kw_w_inv(const uint8_t *dk, unsigned rounds, uint8_t a[8], uint8_t *r,
                       size_t n);

/* aes.c: the CTR step and CBC-MAC chaining, dispatched on key->impl. */
ks_status ks_aes_ctr32_xor(const ks_aes_key *key, const uint8_t ctr[16], uint8_t *out,
                           const uint8_t *in, size_t nblocks);
ks_status ks_aes_cbc_mac(const ks_aes_key *key, uint8_t x[16], const uint8_t *in,
                         size_t nblocks);

/* A block-at-a-time handle: begin, run any number of times, end (always, even on error). */
typedef struct ks_aes_ecb_ctx {
    const ks_aes_key *key;
    void *evp;   /* EVP_CIPHER_CTX on the libcrypto path, else NULL */
    int decrypt;
} ks_aes_ecb_ctx;

ks_status ks_aes_ecb_begin(ks_aes_ecb_ctx *ctx, const ks_aes_key *key, int decrypt);
ks_status ks_aes_ecb_run(ks_aes_ecb_ctx *ctx, uint8_t *out, const uint8_t *in,
                         size_t nblocks);
void ks_aes_ecb_end(ks_aes_ecb_ctx *ctx);

#endif
