/* kdf.c - PIN-based key derivation through libcrypto: PBKDF2-HMAC-SHA-256 (SP 800-132,
 * RFC 8018 5.2) and scrypt (RFC 7914).
 *
 * Arguments are checked here so that a bad parameter is KS_ERR_ARGS, and a libcrypto
 * failure on good parameters stays KS_ERR_INTERNAL. */
#include <limits.h>

#include <openssl/evp.h>

#include "crypto/kdf.h"
#include "crypto/mem.h"

static const uint8_t EMPTY[1] = {0};

ks_status ks_pbkdf2_sha256(uint8_t *out, size_t out_len, const uint8_t *pass, size_t pass_len,
                           const uint8_t *salt, size_t salt_len, uint32_t iterations)
{
    if (out == NULL || out_len == 0 || out_len > INT_MAX || (pass == NULL && pass_len > 0) ||
        pass_len > INT_MAX || (salt == NULL && salt_len > 0) || salt_len > INT_MAX ||
        iterations == 0 || iterations > INT_MAX) {
        return KS_ERR_ARGS;
    }
    if (PKCS5_PBKDF2_HMAC((const char *)(pass_len > 0 ? pass : EMPTY), (int)pass_len,
                          salt_len > 0 ? salt : EMPTY, (int)salt_len, (int)iterations,
                          EVP_sha256(), (int)out_len, out) != 1) {
        ks_wipe(out, out_len);
        return KS_ERR_INTERNAL;
    }
    return KS_OK;
}

/* RFC 7914 2 and 6: N a power of two > 1 and N < 2^(128 * r / 8); r * p < 2^30. The memory
 * scrypt needs is 128 * r * (N + p + 2) bytes (V, B and X), which libcrypto must be allowed. */
ks_status ks_scrypt(uint8_t *out, size_t out_len, const uint8_t *pass, size_t pass_len,
                    const uint8_t *salt, size_t salt_len, uint64_t n, uint32_t r, uint32_t p)
{
    if (out == NULL || out_len == 0 || (pass == NULL && pass_len > 0) ||
        (salt == NULL && salt_len > 0) || n < 2 || (n & (n - 1)) != 0 || r == 0 || p == 0 ||
        (uint64_t)r * p >= ((uint64_t)1 << 30)) {
        return KS_ERR_ARGS;
    }
    if (16 * (uint64_t)r < 64 && n >= ((uint64_t)1 << (16 * r))) {
        return KS_ERR_ARGS;
    }
    /* n + p + 2 and the product stay below 2^64 when n < 2^56; beyond, refuse. */
    if (n >= ((uint64_t)1 << 56) || 128 * (uint64_t)r > UINT64_MAX / (n + p + 2)) {
        return KS_ERR_ARGS;
    }
    uint64_t need = 128 * (uint64_t)r * (n + p + 2);
    if (need > UINT64_MAX - (1u << 16)) {
        return KS_ERR_ARGS;
    }
    if (EVP_PBE_scrypt((const char *)(pass_len > 0 ? pass : EMPTY), pass_len,
                       salt_len > 0 ? salt : EMPTY, salt_len, n, r, p, need + (1u << 16), out,
                       out_len) != 1) {
        ks_wipe(out, out_len);
        return KS_ERR_INTERNAL;
    }
    return KS_OK;
}
