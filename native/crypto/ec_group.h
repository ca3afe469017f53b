/* ec_group.h - libcrypto's groups of the prime curves (P-256, P-384, P-521), made once per
 * process and shared, for the scalar multiplications of key generation and ECDH that go
 * straight to EC_POINT_mul instead of through EVP_PKEY (whose OpenSSL 3.0 parameter and
 * context machinery costs more than the arithmetic it wraps). No CK_* types. */
#ifndef KS_CRYPTO_EC_GROUP_H
#define KS_CRYPTO_EC_GROUP_H

#include <openssl/ec.h>

#include "crypto/curve.h"

/* ks_ec_group returns the group of prime curve c, made at the first call (lock-free: two
 * threads that race each make one and one is kept); NULL for any other curve or when
 * libcrypto fails. The group is never changed or freed afterwards, so any thread may use
 * it as a const argument (EC_POINT_mul, EC_POINT_oct2point) concurrently. */
const EC_GROUP *ks_ec_group(ks_curve c);

#endif
