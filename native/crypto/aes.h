/* aes.h - the AES block cipher (FIPS 197) and the raw modes built on it (SP 800-38A).
 *
 * WARNING: ECB, CBC and CTR give no integrity. The key schedule holds secret material:
 * release it with ks_aes_clear() on every exit path.
 *
 * Implementations: AES-NI (runtime detected) or libcrypto where the processor lacks AES-NI.
 * There is no table-based AES: no secret-dependent memory access on any path. */
#ifndef KS_CRYPTO_AES_H
#define KS_CRYPTO_AES_H

#include <stddef.h>
#include <stdint.h>

#include "crypto/status.h"

#define KS_AES_BLOCK 16

typedef enum ks_aes_impl {
    KS_AES_IMPL_AUTO = 0,  /* the best the processor offers */
    KS_AES_IMPL_AESNI,
    KS_AES_IMPL_LIBCRYPTO,
} ks_aes_impl;

/* A key schedule. raw is always filled; enc and dec are filled whenever the processor has
 * AES-NI, whatever implementation the key uses, so that other kernels (GCM) can rely on them:
 * enc[16*i] is round key i in FIPS 197 byte order (i = 0..rounds); dec is the schedule of the
 * equivalent inverse cipher (FIPS 197 5.3.5) in the order AESDEC consumes it: dec[0] =
 * enc[rounds], dec[16*i] = InvMixColumns(enc[16*(rounds-i)]), dec[16*rounds] = enc[0]. */
typedef struct ks_aes_key {
    _Alignas(16) uint8_t enc[15 * 16]; /* encryption round keys */
    _Alignas(16) uint8_t dec[15 * 16]; /* equivalent-inverse-cipher round keys (AESIMC) */
    uint8_t raw[32];                   /* the key itself, for the libcrypto path */
    unsigned rounds;                   /* 10, 12 or 14 */
    unsigned key_len;                  /* 16, 24 or 32 */
    ks_aes_impl impl;                  /* resolved, never AUTO */
} ks_aes_key;

/* ks_aes_init expands key (16, 24 or 32 bytes) with the active implementation.
 * Returns KS_ERR_KEY_LEN for any other length, KS_ERR_ARGS for NULL. */
ks_status ks_aes_init(ks_aes_key *key, const uint8_t *raw, size_t raw_len);

/* ks_aes_clear wipes the key schedule. */
void ks_aes_clear(ks_aes_key *key);

/* ks_aes_set_impl forces an implementation for this process (tests and benchmarks).
 * Returns KS_ERR_UNSUPPORTED when the processor lacks it. Keys expanded before keep theirs. */
ks_status ks_aes_set_impl(ks_aes_impl impl);

/* ks_aes_impl_supported returns 1 when impl can run on this processor. */
int ks_aes_impl_supported(ks_aes_impl impl);

/* ks_aes_impl_default returns the implementation new keys get now (never AUTO): the forced
 * one, else AES-NI when the processor has it, else libcrypto. */
ks_aes_impl ks_aes_impl_default(void);

/* ks_aes_encrypt_blocks / ks_aes_decrypt_blocks: ECB over nblocks 16-byte blocks.
 * out may equal in (other overlaps are not allowed). KS_ERR_ARGS for NULL or an
 * uninitialised key, KS_ERR_INTERNAL if libcrypto fails. */
ks_status ks_aes_encrypt_blocks(const ks_aes_key *key, uint8_t *out, const uint8_t *in,
                                size_t nblocks);
ks_status ks_aes_decrypt_blocks(const ks_aes_key *key, uint8_t *out, const uint8_t *in,
                                size_t nblocks);

/* ks_aes_cbc_encrypt / ks_aes_cbc_decrypt: CBC over nblocks; iv is updated to the chaining
 * value for the next call (so multi-part calls chain). out may equal in. */
ks_status ks_aes_cbc_encrypt(const ks_aes_key *key, uint8_t iv[16], uint8_t *out,
                             const uint8_t *in, size_t nblocks);
ks_status ks_aes_cbc_decrypt(const ks_aes_key *key, uint8_t iv[16], uint8_t *out,
                             const uint8_t *in, size_t nblocks);

/* CTR mode (SP 800-38A 6.5) with a counter in the low counter_bits bits (1..128) of the
 * counter block, big-endian, incremented modulo 2^counter_bits. The state streams: any split
 * of the input gives the same output. ks_aes_ctr_xor refuses (KS_ERR_LEN) a length that
 * would reuse a counter value, before writing anything. */
typedef struct ks_aes_ctr {
    uint8_t counter[16];
    uint8_t keystream[16];
    unsigned used;          /* bytes of keystream consumed, 16 = none left */
    unsigned counter_bits;
    uint64_t blocks_left_hi; /* remaining fresh counter values (128-bit count, hi:lo) */
    uint64_t blocks_left_lo;
} ks_aes_ctr;

ks_status ks_aes_ctr_init(ks_aes_ctr *ctr, const uint8_t counter_block[16],
                          unsigned counter_bits);
ks_status ks_aes_ctr_xor(const ks_aes_key *key, ks_aes_ctr *ctr, uint8_t *out,
                         const uint8_t *in, size_t len);

#endif
