/* gcm_vaes256.c - AES-GCM with VAES + VPCLMULQDQ on 256-bit registers (AVX2, no AVX-512):
 * 16 blocks (eight ymm of two blocks) in flight, GHASH over 16 blocks with one reduction.
 *
 * Same field representation as gcm_aesni.c (bit-reflected blocks, K_k = H^k * y, Montgomery
 * reduction by y^-128); the two 128-bit lanes are reduced side by side and then XORed (the
 * reduction is linear). Runs shorter than 16 blocks go to the AES-NI kernel, which continues
 * the same counter and GHASH state.
 *
 * Constant time: AES instructions, carry-less multiplies and fixed shuffles only. */
#include <immintrin.h>

#include "crypto/gcm_internal.h"
#include "crypto/mem.h"

#define KS_V256 __attribute__((target("aes,pclmul,ssse3,sse4.1,avx,avx2,vaes,vpclmulqdq")))
#define KS_INLINE static inline __attribute__((always_inline))

#define BLOCKS 16

/* What a run does (see gcm_aesni.c): CTR + GHASH of the output, of the input, or CTR. */
enum { MODE_ENC = 0, MODE_DEC = 1, MODE_CTR = 2 };
#define REGS 8 /* ymm registers per batch */

KS_V256 KS_INLINE __m256i bswap256(__m256i a)
{
    const __m256i mask = _mm256_broadcastsi128_si256(
        _mm_set_epi8(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15));
    return _mm256_shuffle_epi8(a, mask);
}

KS_V256 KS_INLINE __m128i bswap128(__m128i a)
{
    return _mm_shuffle_epi8(a, _mm_set_epi8(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14,
                                            15));
}

typedef struct acc256 {
    __m256i lo, mi, hi;
} acc256;

/* Karatsuba, as in gcm_aesni.c: mi collects (x_lo ^ x_hi)(h_lo ^ h_hi) and the reduction
 * subtracts lo and hi once. */
KS_V256 KS_INLINE void mul_acc(acc256 *a, __m256i x, __m256i h, int first)
{
    __m256i lo = _mm256_clmulepi64_epi128(x, h, 0x00);
    __m256i hi = _mm256_clmulepi64_epi128(x, h, 0x11);
    __m256i mi = _mm256_clmulepi64_epi128(_mm256_xor_si256(x, _mm256_shuffle_epi32(x, 0x4e)),
                                          _mm256_xor_si256(h, _mm256_shuffle_epi32(h, 0x4e)),
                                          0x00);
    if (first) {
        a->lo = lo;
        a->hi = hi;
        a->mi = mi;
    } else {
        a->lo = _mm256_xor_si256(a->lo, lo);
        a->hi = _mm256_xor_si256(a->hi, hi);
        a->mi = _mm256_xor_si256(a->mi, mi);
    }
}

/* Montgomery reduction lane by lane (gcm_aesni.c gf_reduce), then the sum of the lanes. */
KS_V256 KS_INLINE void reduce_fold_lo(acc256 *a)
{
    const __m256i poly = _mm256_broadcastsi128_si256(
        _mm_set_epi64x(0, (long long)0xc200000000000000ULL));
    a->mi = _mm256_xor_si256(a->mi, _mm256_xor_si256(a->lo, a->hi)); /* Karatsuba */
    a->mi = _mm256_xor_si256(a->mi, _mm256_shuffle_epi32(a->lo, 0x4e));
    a->mi = _mm256_xor_si256(a->mi, _mm256_clmulepi64_epi128(a->lo, poly, 0x00));
}

KS_V256 KS_INLINE __m128i reduce_fold_mi(acc256 *a)
{
    const __m256i poly = _mm256_broadcastsi128_si256(
        _mm_set_epi64x(0, (long long)0xc200000000000000ULL));
    __m256i hi = _mm256_xor_si256(a->hi, _mm256_shuffle_epi32(a->mi, 0x4e));
    hi = _mm256_xor_si256(hi, _mm256_clmulepi64_epi128(a->mi, poly, 0x00));
    return _mm_xor_si128(_mm256_castsi256_si128(hi), _mm256_extracti128_si256(hi, 1));
}

/* y <- (y ^ x_0) H^16 + ... + x_15 H over x[0..7] (already byte-reflected). */
KS_V256 KS_INLINE __m128i ghash16(__m128i y, const __m256i x[REGS], const __m256i h[REGS])
{
    acc256 a;
    mul_acc(&a, _mm256_xor_si256(x[0], _mm256_zextsi128_si256(y)), h[0], 1);
#pragma GCC unroll 7
    for (int i = 1; i < REGS; i++) {
        mul_acc(&a, x[i], h[i], 0);
    }
    reduce_fold_lo(&a);
    return reduce_fold_mi(&a);
}

KS_V256 KS_INLINE void aes_round(__m256i b[REGS], __m256i k)
{
#pragma GCC unroll 8
    for (int j = 0; j < REGS; j++) {
        b[j] = _mm256_aesenc_epi128(b[j], k);
    }
}

/* Rounds 1..rounds-1; with x != NULL, the GHASH of x is woven in (one multiply per round
 * for the first eight rounds, the reduction in the next two). rounds is public. */
KS_V256 KS_INLINE __m128i aes_rounds(__m256i b[REGS], const uint8_t *rk, unsigned rounds,
                                     __m128i y, const __m256i *x, const __m256i *h)
{
    acc256 a;
#pragma GCC unroll 9
    for (unsigned r = 1; r < 10; r++) {
        aes_round(b, _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)(rk +
                                                                                   16 * r))));
        if (x != NULL && r <= REGS) {
            __m256i xi = x[r - 1];
            if (r == 1) {
                xi = _mm256_xor_si256(xi, _mm256_zextsi128_si256(y));
            }
            mul_acc(&a, xi, h[r - 1], r == 1);
        }
        if (x != NULL && r == 9) {
            reduce_fold_lo(&a);
            y = reduce_fold_mi(&a);
        }
    }
    for (unsigned r = 10; r < rounds; r++) {
        aes_round(b, _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)(rk +
                                                                                   16 * r))));
    }
    return y;
}

KS_V256 static void vaes256_ghash(const uint8_t *htable, uint8_t ghash[16], const uint8_t *in,
                                  size_t nblocks)
{
    if (nblocks >= BLOCKS) {
        __m256i h[REGS], x[REGS];
#pragma GCC unroll 8
        for (int i = 0; i < REGS; i++) {
            h[i] = _mm256_loadu_si256((const __m256i *)(htable + 32 * i));
        }
        __m128i y = bswap128(_mm_loadu_si128((const __m128i *)ghash));
        for (; nblocks >= BLOCKS; nblocks -= BLOCKS, in += 16 * BLOCKS) {
#pragma GCC unroll 8
            for (int i = 0; i < REGS; i++) {
                x[i] = bswap256(_mm256_loadu_si256((const __m256i *)(in + 32 * i)));
            }
            y = ghash16(y, x, h);
        }
        _mm_storeu_si128((__m128i *)ghash, bswap128(y));
    }
    ks_gcm_aesni_ghash(htable, ghash, in, nblocks);
}

KS_V256 KS_INLINE void vaes256_crypt(const ks_gcm_key *key, uint8_t ctr[16], uint8_t ghash[16],
                                     uint8_t *out, const uint8_t *in, size_t nblocks,
                                     int mode)
{
    const int encrypt = mode == MODE_ENC;
    const int hash_in = mode == MODE_DEC;
    if (nblocks >= BLOCKS) {
        const unsigned rounds = key->aes.rounds;
        const uint8_t *rk = key->aes.enc;
        const __m256i rk0 = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)rk));
        const __m256i rkl = _mm256_broadcastsi128_si256(
            _mm_loadu_si128((const __m128i *)(rk + 16 * rounds)));
        __m256i h[REGS], x[REGS], c[REGS];
#pragma GCC unroll 8
        for (int i = 0; i < REGS; i++) {
            h[i] = _mm256_loadu_si256((const __m256i *)(key->htable + 32 * i));
        }
        /* Lane i of c[j] holds counter block 2j + i, byte-reversed, so that
         * _mm256_add_epi32 is inc32 (SP 800-38D 6.2). */
        c[0] = _mm256_add_epi32(
            _mm256_broadcastsi128_si256(bswap128(_mm_loadu_si128((const __m128i *)ctr))),
            _mm256_set_epi32(0, 0, 0, 1, 0, 0, 0, 0));
        const __m256i two = _mm256_broadcastsi128_si256(_mm_set_epi32(0, 0, 0, 2));
        const __m256i sixteen = _mm256_broadcastsi128_si256(_mm_set_epi32(0, 0, 0, 16));
#pragma GCC unroll 8
        for (int j = 1; j < REGS; j++) {
            c[j] = _mm256_add_epi32(c[j - 1], two);
        }
        __m128i y = bswap128(_mm_loadu_si128((const __m128i *)ghash));
        /* As in gcm_vaes512.c: encrypting, each batch's ciphertext is hashed during the next
         * batch's AES; decrypting, the input is hashed during its own AES. */
        int pending = 0;
        for (; nblocks >= BLOCKS; nblocks -= BLOCKS, in += 16 * BLOCKS, out += 16 * BLOCKS) {
            __m256i b[REGS];
#pragma GCC unroll 8
            for (int j = 0; j < REGS; j++) {
                b[j] = _mm256_xor_si256(bswap256(c[j]), rk0);
                c[j] = _mm256_add_epi32(c[j], sixteen);
            }
            if (hash_in) {
#pragma GCC unroll 8
                for (int j = 0; j < REGS; j++) {
                    x[j] = bswap256(_mm256_loadu_si256((const __m256i *)(in + 32 * j)));
                }
            }
            if (hash_in || pending) {
                y = aes_rounds(b, rk, rounds, y, x, h);
            } else {
                aes_rounds(b, rk, rounds, y, NULL, NULL);
            }
#pragma GCC unroll 8
            for (int j = 0; j < REGS; j++) {
                __m256i d = _mm256_loadu_si256((const __m256i *)(in + 32 * j));
                b[j] = _mm256_xor_si256(_mm256_aesenclast_epi128(b[j], rkl), d);
                _mm256_storeu_si256((__m256i *)(out + 32 * j), b[j]);
                if (encrypt) {
                    x[j] = bswap256(b[j]);
                }
            }
            pending = encrypt;
        }
        if (pending) {
            y = ghash16(y, x, h);
        }
        if (mode != MODE_CTR) {
            _mm_storeu_si128((__m128i *)ghash, bswap128(y));
        }
        _mm_storeu_si128((__m128i *)ctr, bswap128(_mm256_castsi256_si128(c[0])));
    }
    if (mode == MODE_CTR) {
        ks_gcm_aesni_ctr(key, ctr, out, in, nblocks);
    } else {
        (encrypt ? ks_gcm_aesni_encrypt : ks_gcm_aesni_decrypt)(key, ctr, ghash, out, in,
                                                                nblocks);
    }
}

KS_V256 static void vaes256_encrypt(const ks_gcm_key *key, uint8_t ctr[16], uint8_t ghash[16],
                                    uint8_t *out, const uint8_t *in, size_t nblocks)
{
    vaes256_crypt(key, ctr, ghash, out, in, nblocks, MODE_ENC);
}

KS_V256 static void vaes256_decrypt(const ks_gcm_key *key, uint8_t ctr[16], uint8_t ghash[16],
                                    uint8_t *out, const uint8_t *in, size_t nblocks)
{
    vaes256_crypt(key, ctr, ghash, out, in, nblocks, MODE_DEC);
}

KS_V256 static void vaes256_ctr(const ks_gcm_key *key, uint8_t ctr[16], uint8_t *out,
                                const uint8_t *in, size_t nblocks)
{
    uint8_t unused[16] = {0}; /* no GHASH in this mode: never read nor written */
    vaes256_crypt(key, ctr, unused, out, in, nblocks, MODE_CTR);
}

const ks_gcm_kernel ks_gcm_kernel_vaes256 = {vaes256_ghash, vaes256_encrypt, vaes256_decrypt,
                                             vaes256_ctr};
