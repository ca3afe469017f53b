/* cmac.h - AES-CMAC (NIST SP 800-38B), streaming. Secret state: ks_cmac_clear() it. */
#ifndef KS_CRYPTO_CMAC_H
#define KS_CRYPTO_CMAC_H

#include <stddef.h>
#include <stdint.h>

#include "crypto/aes.h"
#include "crypto/status.h"

typedef struct ks_cmac_ctx {
    ks_aes_key key;
    uint8_t k1[16];
    uint8_t k2[16];
    uint8_t x[16];      /* chaining value */
    uint8_t buf[16];    /* last, possibly partial, block held back */
    unsigned buf_len;
} ks_cmac_ctx;

ks_status ks_cmac_init(ks_cmac_ctx *ctx, const uint8_t *key, size_t key_len);
ks_status ks_cmac_update(ks_cmac_ctx *ctx, const uint8_t *in, size_t in_len);
/* ks_cmac_init expands key (16, 24 or 32 bytes; KS_ERR_KEY_LEN otherwise) and derives the
 * subkeys K1, K2 (SP 800-38B 6.1). ks_cmac_update takes any split of the message.
 * ks_cmac_final writes the full 16-byte MAC (SP 800-38B 6.2; callers truncate) and restarts
 * the context for a new message under the same key; ks_cmac_clear wipes it when done. */
ks_status ks_cmac_final(ks_cmac_ctx *ctx, uint8_t mac[16]);
void ks_cmac_clear(ks_cmac_ctx *ctx);

#endif
