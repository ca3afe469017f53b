/* rand.h - random bytes from libcrypto's DRBG (SP 800-90A, seeded from the OS). */
#ifndef KS_CRYPTO_RAND_H
#define KS_CRYPTO_RAND_H

#include <stddef.h>
#include <stdint.h>

#include "crypto/status.h"

/* ks_random fills out with len random bytes; KS_ERR_INTERNAL if the DRBG fails. */
ks_status ks_random(uint8_t *out, size_t len);

#endif
