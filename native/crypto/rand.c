/* rand.c - random bytes from libcrypto's private DRBG (SP 800-90A, seeded from the OS).
 *
 * RAND_priv_bytes draws from the DRBG instance OpenSSL keeps for secrets (keys, token
 * keys), separate from the public one that nonces and IVs may expose. */
#include <limits.h>

#include <openssl/rand.h>

#include "crypto/rand.h"

ks_status ks_random(uint8_t *out, size_t len)
{
    if (out == NULL && len > 0) {
        return KS_ERR_ARGS;
    }
    while (len > 0) {
        size_t chunk = len > (size_t)INT_MAX ? (size_t)INT_MAX : len;
        if (RAND_priv_bytes(out, (int)chunk) != 1) {
            return KS_ERR_INTERNAL;
        }
        out += chunk;
        len -= chunk;
    }
    return KS_OK;
}
