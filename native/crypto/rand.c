/* rand.c - random bytes from libcrypto's private DRBG (SP 800-90A, seeded from the OS).
 *
 * RAND_priv_bytes draws from the DRBG instance OpenSSL keeps for secrets (keys, token
 * keys), separate from the public one that nonces and IVs may expose. */
#include <limits.h>

#include <openssl/evp.h>
#include <openssl/rand.h>

#include "crypto/mem.h"
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

ks_status ks_random_seed(const uint8_t *seed, size_t len)
{
    if (seed == NULL && len > 0) {
        return KS_ERR_ARGS;
    }
    /* Any length reaches the DRBG as one 64-byte additional input (SP 800-90A 9.2 allows
     * additional input with a reseed; its length limit is then never reached). */
    uint8_t digest[EVP_MAX_MD_SIZE];
    unsigned digest_len = 0;
    static const uint8_t none = 0;
    if (EVP_Digest(len > 0 ? seed : &none, len, digest, &digest_len, EVP_sha512(), NULL) != 1) {
        return KS_ERR_INTERNAL;
    }
    EVP_RAND_CTX *primary = RAND_get0_primary(NULL);
    int ok = primary != NULL && EVP_RAND_reseed(primary, 0, NULL, 0, digest, digest_len) == 1;
    ks_wipe(digest, sizeof(digest));
    return ok ? KS_OK : KS_ERR_INTERNAL;
}
