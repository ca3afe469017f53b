/* gcm_out.h - AES-GCM output into a caller's buffer (crypto/copyout.h).
 *
 * The token's GCM calls write the caller's memory only through these: ciphertext is produced
 * in place by the kernel through ks_copy_out_produce; a decryption checks its tag first
 * (GHASH over the AAD and the whole ciphertext, a constant-time comparison) and only then
 * runs CTR straight into the caller's buffer, so that no plaintext is written before the tag
 * has verified, none at all when it does not, and no module memory proportional to the
 * message is used. Tags go out with ks_copy_out. Each function returns the ks_status of the
 * crypto layer (KS_ERR_AUTH: the tag did not verify, nothing written). */
#ifndef KS_TOKEN_GCM_OUT_H
#define KS_TOKEN_GCM_OUT_H

#include <stddef.h>
#include <stdint.h>

#include "crypto/gcm.h"

/* Who holds a decryption's ciphertext: the caller (it is hashed again while it is decrypted,
 * and a change between the two passes answers KS_ERR_AUTH with the output zeroed), or the
 * module (held back by C_DecryptUpdate: CTR alone). */
typedef enum ks_gcm_src { KS_GCM_SRC_CALLER = 0, KS_GCM_SRC_HELD = 1 } ks_gcm_src;

/* ks_gcm_out_encrypt encrypts len bytes of in into out (ks_gcm_encrypt on a started ctx). */
ks_status ks_gcm_out_encrypt(ks_gcm_ctx *ctx, uint8_t *out, const uint8_t *in, size_t len);

/* ks_gcm_out_open finishes the decryption begun on ctx (started, AAD absorbed): the
 * ciphertext is a (a_len bytes) followed by b (b_len bytes), either may be empty; the tag is
 * checked, then out receives a_len + b_len bytes of plaintext. ctx ends finished. */
ks_status ks_gcm_out_open(ks_gcm_ctx *ctx, uint8_t *out, const uint8_t *a, size_t a_len,
                          const uint8_t *b, size_t b_len, const uint8_t *tag, size_t tag_len,
                          ks_gcm_src src);

/* ks_gcm_out_verify checks the tag of a message without writing anything. */
ks_status ks_gcm_out_verify(const ks_gcm_key *key, const uint8_t *iv, size_t iv_len,
                            const uint8_t *aad, size_t aad_len, const uint8_t *in, size_t in_len,
                            const uint8_t *tag, size_t tag_len);

/* One-shot, as ks_gcm_seal and ks_gcm_open with out and tag in the caller's memory. */
ks_status ks_gcm_out_seal(const ks_gcm_key *key, uint8_t *out, uint8_t *tag, size_t tag_len,
                          const uint8_t *iv, size_t iv_len, const uint8_t *aad, size_t aad_len,
                          const uint8_t *in, size_t in_len);
ks_status ks_gcm_out_open1(const ks_gcm_key *key, uint8_t *out, const uint8_t *iv,
                           size_t iv_len, const uint8_t *aad, size_t aad_len, const uint8_t *in,
                           size_t in_len, const uint8_t *tag, size_t tag_len);

#endif
