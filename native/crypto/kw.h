/* kw.h - AES key wrap (RFC 3394, SP 800-38F KW) and with padding (RFC 5649, SP 800-38F KWP).
 *
 * Unwrap checks the integrity check value, the message length indicator and the zero
 * padding with masks, in time independent of the key and of where a check fails; on any
 * failure it writes nothing to its output and returns KS_ERR_AUTH. Wrap and unwrap work in
 * locked memory and copy only the finished result to out (crypto/copyout.h).
 *
 * iv: NULL for the default initial value (A6A6A6A6A6A6A6A6 for KW, A65959A6 for KWP), else 8
 * bytes (KW) or 4 bytes (KWP), as CKM_AES_KEY_WRAP / CKM_AES_KEY_WRAP_KWP allow. */
#ifndef KS_CRYPTO_KW_H
#define KS_CRYPTO_KW_H

#include <stddef.h>
#include <stdint.h>

#include "crypto/aes.h"
#include "crypto/status.h"

/* Output sizes, 0 when in_len is not allowed. */
size_t ks_kw_wrapped_len(size_t in_len);    /* in_len >= 16, multiple of 8 */
size_t ks_kwp_wrapped_len(size_t in_len);   /* 1 <= in_len <= 2^32 - 1 */

/* Wrap in (in_len bytes) into out (max_out bytes); *out_len gets the length written.
 * KS_ERR_LEN when in_len is not allowed or max_out is too small (nothing written). */
ks_status ks_kw_wrap(const ks_aes_key *kek, uint8_t *out, size_t *out_len, size_t max_out,
                     const uint8_t *iv, const uint8_t *in, size_t in_len);
ks_status ks_kwp_wrap(const ks_aes_key *kek, uint8_t *out, size_t *out_len, size_t max_out,
                      const uint8_t *iv, const uint8_t *in, size_t in_len);

/* Unwrap. KW: in_len >= 24 and a multiple of 8, output in_len - 8 bytes. KWP: in_len >= 16
 * and a multiple of 8, output the length in the MLI (max_out must be at least in_len - 8;
 * all in_len - 8 bytes are written: the plaintext, then its verified zero padding).
 * Nothing is written to out on any failure.
 * KS_ERR_LEN for a bad in_len or small max_out; KS_ERR_AUTH for any integrity failure. */
ks_status ks_kw_unwrap(const ks_aes_key *kek, uint8_t *out, size_t *out_len, size_t max_out,
                       const uint8_t *iv, const uint8_t *in, size_t in_len);
ks_status ks_kwp_unwrap(const ks_aes_key *kek, uint8_t *out, size_t *out_len, size_t max_out,
                        const uint8_t *iv, const uint8_t *in, size_t in_len);

#endif
