/* des3.h - Triple DES (TDEA, three-key EDE: SP 800-67 Rev. 2) through libcrypto's
 * DES-EDE3, for the legacy mechanisms only (SP 800-131A Rev. 2 disallows TDEA encryption
 * after 2023; decryption is legacy use). Block size 8 bytes, key 24 bytes.
 *
 * WARNING: ECB and CBC give no integrity. The key's libcrypto contexts hold the key
 * schedule: release them with ks_des3_clear() on every exit path. */
#ifndef KS_CRYPTO_DES3_H
#define KS_CRYPTO_DES3_H

#include <stddef.h>
#include <stdint.h>

#include "crypto/status.h"

#define KS_DES3_BLOCK 8
#define KS_DES3_KEY_LEN 24

typedef struct ks_des3_key {
    void *enc; /* EVP_CIPHER_CTX of DES-EDE3-ECB, encrypting, no padding */
    void *dec; /* the same, decrypting */
} ks_des3_key;

/* ks_des3_init sets up both directions from a 24-byte key (parity bits are ignored, as
 * SP 800-67 says). KS_ERR_KEY_LEN for another length, KS_ERR_NOMEM, KS_ERR_UNSUPPORTED when
 * libcrypto lacks DES-EDE3. On failure nothing is left to clear. */
ks_status ks_des3_init(ks_des3_key *key, const uint8_t *raw, size_t raw_len);

/* ks_des3_clear frees the contexts (libcrypto wipes their key schedules); safe twice. */
void ks_des3_clear(ks_des3_key *key);

/* ECB over nblocks 8-byte blocks; out may equal in. */
ks_status ks_des3_ecb_encrypt(const ks_des3_key *key, uint8_t *out, const uint8_t *in,
                              size_t nblocks);
ks_status ks_des3_ecb_decrypt(const ks_des3_key *key, uint8_t *out, const uint8_t *in,
                              size_t nblocks);

/* CBC (SP 800-38A) over nblocks blocks, chaining through iv, which is updated to the last
 * ciphertext block so that calls continue one another; out may equal in. */
ks_status ks_des3_cbc_encrypt(const ks_des3_key *key, uint8_t iv[KS_DES3_BLOCK], uint8_t *out,
                              const uint8_t *in, size_t nblocks);
ks_status ks_des3_cbc_decrypt(const ks_des3_key *key, uint8_t iv[KS_DES3_BLOCK], uint8_t *out,
                              const uint8_t *in, size_t nblocks);

/* ks_des3_set_parity sets the low bit of every byte so that each byte has an odd number of
 * ones (FIPS 46-3 parity); branch-free. */
void ks_des3_set_parity(uint8_t *key, size_t len);

/* ks_des3_parity_ok returns 1 when every byte of key has odd parity, in constant time. */
int ks_des3_parity_ok(const uint8_t *key, size_t len);

#endif
