/* rsa_keygen.h - RSA key generation by FIPS 186-5 A.1.3 (random probable primes), on
 * libcrypto's BIGNUM arithmetic.
 *
 * libcrypto 3.0's own generator (SP 800-56B / FIPS 186-4 B.3.6, auxiliary primes, 64
 * Miller-Rabin rounds on every prime) is several times slower than the method FIPS 186-5 keeps
 * as A.1.3; this one follows A.1.3 and the Miller-Rabin rounds of FIPS 186-5 Table B.1.
 *
 * What every key satisfies (nlen the modulus bits, pbits = ceil(nlen / 2) and qbits =
 * floor(nlen / 2) the sizes of p and q):
 * - p >= sqrt(2) * 2^(pbits - 1) and q >= sqrt(2) * 2^(qbits - 1), both below 2^pbits and
 *   2^qbits: n has exactly nlen bits;
 * - gcd(e, p - 1) = gcd(e, q - 1) = 1;
 * - p and q pass Miller-Rabin with random bases (B.3.1): 5 rounds for nlen 2048 to 3071,
 *   4 from 3072 (Table B.1); 7 below 2048 (FIPS 186-4 Table C.3, 512-bit primes, error
 *   2^-100: only legacy 1024-bit keys);
 * - |p - q| > 2^(nlen/2 - 100);
 * - d = e^-1 mod lcm(p - 1, q - 1) and d > 2^(nlen/2) (FIPS 186-5 A.1.1; a smaller d
 *   means new primes, as SP 800-56B 6.3.1 does);
 * - dP = d mod (p - 1), dQ = d mod (q - 1), qInv = q^-1 mod p;
 * - a pairwise consistency test (m^e^d = m through the built key, as libcrypto's own
 *   generator runs one) passed.
 * Secret integers live in libcrypto's secure heap when it has one, carry BN_FLG_CONSTTIME
 * and are cleared when freed. No PKCS#11 types. */
#ifndef KS_CRYPTO_RSA_KEYGEN_H
#define KS_CRYPTO_RSA_KEYGEN_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>

#include "crypto/status.h"

/* The smallest and largest modulus this generator makes (bounds of what a caller offers are
 * the caller's: the mechanism registry). */
#define KS_RSA_KEYGEN_MIN_BITS 1024
#define KS_RSA_KEYGEN_MAX_BITS 16384

/* ks_rsa_keygen_exponent_ok says whether the big-endian e (leading zero bytes allowed) is a
 * public exponent FIPS 186-5 A.1.1 allows for new keys: odd and 2^16 < e < 2^256. */
int ks_rsa_keygen_exponent_ok(const uint8_t *e, size_t e_len);

/* ks_rsa_keygen makes an RSA key pair of bits bits with public exponent e (big-endian, e_len
 * bytes). KS_ERR_ARGS for an exponent ks_rsa_keygen_exponent_ok refuses or bits outside
 * [KS_RSA_KEYGEN_MIN_BITS, KS_RSA_KEYGEN_MAX_BITS]; KS_ERR_NOMEM; KS_ERR_INTERNAL when
 * libcrypto fails, the search gives up (A.1.3's bound of 5 * nlen/2 candidates per prime)
 * or the pairwise test fails. *out gets the key (free with EVP_PKEY_free), NULL on error. */
ks_status ks_rsa_keygen(EVP_PKEY **out, unsigned bits, const uint8_t *e, size_t e_len);

#endif
