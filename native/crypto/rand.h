/* rand.h - random bytes from libcrypto's DRBG (SP 800-90A, seeded from the OS). */
#ifndef KS_CRYPTO_RAND_H
#define KS_CRYPTO_RAND_H

#include <stddef.h>
#include <stdint.h>

#include "crypto/status.h"

/* ks_random fills out with len random bytes; KS_ERR_INTERNAL if the DRBG fails. */
ks_status ks_random(uint8_t *out, size_t len);

/* ks_random_seed mixes len bytes of caller seed material into libcrypto's DRBGs (C_SeedRandom):
 * the seed is hashed (SHA-512) and the digest given as additional input to a reseed of the
 * primary DRBG, which also draws fresh entropy from its own sources, so the seed is added to
 * the state and never replaces the entropy; the DRBGs that draw from the primary (the private
 * one of every thread) reseed from it at their next request. A known or repeated seed makes no
 * output predictable. KS_ERR_ARGS for NULL with a length, KS_ERR_INTERNAL when the DRBG fails. */
ks_status ks_random_seed(const uint8_t *seed, size_t len);

#endif
