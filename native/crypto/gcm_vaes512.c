/* gcm_vaes512.c - AES-GCM with VAES + VPCLMULQDQ on 512-bit registers (AVX-512): 16 blocks
 * (four zmm of four blocks) in flight, GHASH over 16 blocks with one reduction.
 *
 * Same field representation as gcm_aesni.c (bit-reflected blocks, K_k = H^k * y, Montgomery
 * reduction by y^-128). Each 128-bit lane works like the 128-bit kernel; the reduction is
 * linear, so the four lanes are reduced side by side and then XORed together. Runs shorter
 * than 16 blocks go to the AES-NI kernel, which continues the same counter and GHASH state.
 *
 * Constant time: AES instructions, carry-less multiplies and fixed shuffles only. */
#include <immintrin.h>

#include "crypto/gcm_internal.h"
#include "crypto/mem.h"

#define KS_V512 __attribute__((target("aes,pclmul,ssse3,sse4.1,avx2,avx512f,avx512bw,avx512vl," \
                                      "vaes,vpclmulqdq")))
#define KS_INLINE static inline __attribute__((always_inline))

#define BLOCKS 16

/* What a run does (see gcm_aesni.c): CTR + GHASH of the output, of the input, or CTR. */
enum { MODE_ENC = 0, MODE_DEC = 1, MODE_CTR = 2 };

KS_V512 KS_INLINE __m512i bswap512(__m512i a)
{
    const __m512i mask = _mm512_broadcast_i32x4(
        _mm_set_epi8(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15));
    return _mm512_shuffle_epi8(a, mask);
}

KS_V512 KS_INLINE __m128i bswap128(__m128i a)
{
    return _mm_shuffle_epi8(a, _mm_set_epi8(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14,
                                            15));
}

KS_V512 KS_INLINE __m512i xor3(__m512i a, __m512i b, __m512i c)
{
    return _mm512_ternarylogic_epi64(a, b, c, 0x96);
}

/* The unreduced sum of x[j] * h[j] over the 16 blocks, lane by lane. */
typedef struct acc512 {
    __m512i lo, mi, hi;
} acc512;

KS_V512 KS_INLINE void mul_acc(acc512 *a, __m512i x, __m512i h, int first)
{
    __m512i lo = _mm512_clmulepi64_epi128(x, h, 0x00);
    __m512i hi = _mm512_clmulepi64_epi128(x, h, 0x11);
    __m512i m0 = _mm512_clmulepi64_epi128(x, h, 0x01);
    __m512i m1 = _mm512_clmulepi64_epi128(x, h, 0x10);
    if (first) {
        a->lo = lo;
        a->hi = hi;
        a->mi = _mm512_xor_si512(m0, m1);
    } else {
        a->lo = _mm512_xor_si512(a->lo, lo);
        a->hi = _mm512_xor_si512(a->hi, hi);
        a->mi = xor3(a->mi, m0, m1);
    }
}

/* Montgomery reduction lane by lane (see gcm_aesni.c gf_reduce), then the sum of the lanes:
 * the reduction is linear, so this equals reducing the sum. Split in two for stitching. */
KS_V512 KS_INLINE void reduce_fold_lo(acc512 *a)
{
    const __m512i poly = _mm512_broadcast_i32x4(_mm_set_epi64x(0,
                                                               (long long)0xc200000000000000ULL));
    a->mi = xor3(a->mi, _mm512_shuffle_epi32(a->lo, 0x4e),
                 _mm512_clmulepi64_epi128(a->lo, poly, 0x00));
}

KS_V512 KS_INLINE __m128i reduce_fold_mi(acc512 *a)
{
    const __m512i poly = _mm512_broadcast_i32x4(_mm_set_epi64x(0,
                                                               (long long)0xc200000000000000ULL));
    __m512i hi = xor3(a->hi, _mm512_shuffle_epi32(a->mi, 0x4e),
                      _mm512_clmulepi64_epi128(a->mi, poly, 0x00));
    __m256i h2 = _mm256_xor_si256(_mm512_castsi512_si256(hi), _mm512_extracti64x4_epi64(hi, 1));
    return _mm_xor_si128(_mm256_castsi256_si128(h2), _mm256_extracti128_si256(h2, 1));
}

/* y <- (y ^ x_0) H^16 + ... + x_15 H over x[0..3] (already byte-reflected), one reduction. */
KS_V512 KS_INLINE __m128i ghash16(__m128i y, const __m512i x[4], const __m512i h[4])
{
    acc512 a;
    mul_acc(&a, _mm512_xor_si512(x[0], _mm512_zextsi128_si512(y)), h[0], 1);
    mul_acc(&a, x[1], h[1], 0);
    mul_acc(&a, x[2], h[2], 0);
    mul_acc(&a, x[3], h[3], 0);
    reduce_fold_lo(&a);
    return reduce_fold_mi(&a);
}

/* Rounds 1..rounds-1 of the four registers; rounds (10, 12, 14) is public. */
KS_V512 KS_INLINE void aes_round(__m512i b[4], __m512i k)
{
    b[0] = _mm512_aesenc_epi128(b[0], k);
    b[1] = _mm512_aesenc_epi128(b[1], k);
    b[2] = _mm512_aesenc_epi128(b[2], k);
    b[3] = _mm512_aesenc_epi128(b[3], k);
}

KS_V512 KS_INLINE void aes_rounds(__m512i b[4], const __m512i *rk, unsigned rounds)
{
#pragma GCC unroll 9
    for (unsigned r = 1; r < 10; r++) {
        aes_round(b, rk[r]);
    }
    if (rounds > 10) {
        aes_round(b, rk[10]);
        aes_round(b, rk[11]);
    }
    if (rounds > 12) {
        aes_round(b, rk[12]);
        aes_round(b, rk[13]);
    }
}

/* The same rounds with the GHASH of 16 other blocks woven in, so that the AES and the
 * carry-less multiply units work at the same time; returns the new GHASH value. */
KS_V512 KS_INLINE __m128i aes_rounds_ghash(__m512i b[4], const __m512i *rk, unsigned rounds,
                                           __m128i y, const __m512i x[4], const __m512i h[4])
{
    acc512 a;
    aes_round(b, rk[1]);
    mul_acc(&a, _mm512_xor_si512(x[0], _mm512_zextsi128_si512(y)), h[0], 1);
    aes_round(b, rk[2]);
    mul_acc(&a, x[1], h[1], 0);
    aes_round(b, rk[3]);
    mul_acc(&a, x[2], h[2], 0);
    aes_round(b, rk[4]);
    mul_acc(&a, x[3], h[3], 0);
    aes_round(b, rk[5]);
    reduce_fold_lo(&a);
    aes_round(b, rk[6]);
    y = reduce_fold_mi(&a);
#pragma GCC unroll 3
    for (unsigned r = 7; r < 10; r++) {
        aes_round(b, rk[r]);
    }
    if (rounds > 10) {
        aes_round(b, rk[10]);
        aes_round(b, rk[11]);
    }
    if (rounds > 12) {
        aes_round(b, rk[12]);
        aes_round(b, rk[13]);
    }
    return y;
}

KS_V512 KS_INLINE void load_h(__m512i h[4], const uint8_t *htable)
{
#pragma GCC unroll 4
    for (int i = 0; i < 4; i++) {
        h[i] = _mm512_loadu_si512((const void *)(htable + 64 * i));
    }
}

KS_V512 static void vaes512_ghash(const uint8_t *htable, uint8_t ghash[16], const uint8_t *in,
                                  size_t nblocks)
{
    if (nblocks >= BLOCKS) {
        __m512i h[4], x[4];
        load_h(h, htable);
        __m128i y = bswap128(_mm_loadu_si128((const __m128i *)ghash));
        for (; nblocks >= BLOCKS; nblocks -= BLOCKS, in += 16 * BLOCKS) {
#pragma GCC unroll 4
            for (int i = 0; i < 4; i++) {
                x[i] = bswap512(_mm512_loadu_si512((const void *)(in + 64 * i)));
            }
            y = ghash16(y, x, h);
        }
        _mm_storeu_si128((__m128i *)ghash, bswap128(y));
    }
    ks_gcm_aesni_ghash(htable, ghash, in, nblocks);
}

KS_V512 KS_INLINE void vaes512_crypt(const ks_gcm_key *key, uint8_t ctr[16], uint8_t ghash[16],
                                     uint8_t *out, const uint8_t *in, size_t nblocks,
                                     int mode)
{
    const int encrypt = mode == MODE_ENC;
    const int hash_in = mode == MODE_DEC;
    if (nblocks >= BLOCKS) {
        const unsigned rounds = key->aes.rounds;
        __m512i rk[15], h[4];
        for (unsigned r = 0; r <= rounds; r++) {
            rk[r] = _mm512_broadcast_i32x4(_mm_loadu_si128((const __m128i *)(key->aes.enc +
                                                                             16 * r)));
        }
        load_h(h, key->htable);
        /* Lane i of c[j] holds counter block 4j + i, byte-reversed: dword 0 is the 32-bit
         * counter, so _mm512_add_epi32 is inc32 (wraps within the dword, SP 800-38D 6.2). */
        __m512i c[4];
        c[0] = _mm512_add_epi32(
            _mm512_broadcast_i32x4(bswap128(_mm_loadu_si128((const __m128i *)ctr))),
            _mm512_set_epi32(0, 0, 0, 3, 0, 0, 0, 2, 0, 0, 0, 1, 0, 0, 0, 0));
        const __m512i four = _mm512_broadcast_i32x4(_mm_set_epi32(0, 0, 0, 4));
        const __m512i sixteen = _mm512_broadcast_i32x4(_mm_set_epi32(0, 0, 0, 16));
#pragma GCC unroll 4
        for (int j = 1; j < 4; j++) {
            c[j] = _mm512_add_epi32(c[j - 1], four);
        }
        __m128i y = bswap128(_mm_loadu_si128((const __m128i *)ghash));
        /* Encrypting, the GHASH of each 16 ciphertext blocks runs during the AES of the next
         * 16 (x holds them meanwhile); decrypting, the input is hashed during its own AES. */
        __m512i x[4];
        int pending = 0;
        for (; nblocks >= BLOCKS; nblocks -= BLOCKS, in += 16 * BLOCKS, out += 16 * BLOCKS) {
            __m512i b[4], d[4];
#pragma GCC unroll 4
            for (int j = 0; j < 4; j++) {
                b[j] = _mm512_xor_si512(bswap512(c[j]), rk[0]);
                c[j] = _mm512_add_epi32(c[j], sixteen);
                d[j] = _mm512_loadu_si512((const void *)(in + 64 * j));
            }
            if (hash_in) {
#pragma GCC unroll 4
                for (int j = 0; j < 4; j++) {
                    x[j] = bswap512(d[j]);
                }
                y = aes_rounds_ghash(b, rk, rounds, y, x, h);
            } else if (pending) {
                y = aes_rounds_ghash(b, rk, rounds, y, x, h);
            } else {
                aes_rounds(b, rk, rounds);
            }
#pragma GCC unroll 4
            for (int j = 0; j < 4; j++) {
                b[j] = _mm512_xor_si512(_mm512_aesenclast_epi128(b[j], rk[rounds]), d[j]);
                _mm512_storeu_si512((void *)(out + 64 * j), b[j]);
                if (encrypt) {
                    x[j] = bswap512(b[j]);
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
        _mm_storeu_si128((__m128i *)ctr, bswap128(_mm512_castsi512_si128(c[0])));
        ks_wipe(rk, sizeof(rk));
    }
    if (mode == MODE_CTR) {
        ks_gcm_aesni_ctr(key, ctr, out, in, nblocks);
    } else {
        (encrypt ? ks_gcm_aesni_encrypt : ks_gcm_aesni_decrypt)(key, ctr, ghash, out, in,
                                                                nblocks);
    }
}

KS_V512 static void vaes512_encrypt(const ks_gcm_key *key, uint8_t ctr[16], uint8_t ghash[16],
                                    uint8_t *out, const uint8_t *in, size_t nblocks)
{
    vaes512_crypt(key, ctr, ghash, out, in, nblocks, MODE_ENC);
}

KS_V512 static void vaes512_decrypt(const ks_gcm_key *key, uint8_t ctr[16], uint8_t ghash[16],
                                    uint8_t *out, const uint8_t *in, size_t nblocks)
{
    vaes512_crypt(key, ctr, ghash, out, in, nblocks, MODE_DEC);
}

KS_V512 static void vaes512_ctr(const ks_gcm_key *key, uint8_t ctr[16], uint8_t *out,
                                const uint8_t *in, size_t nblocks)
{
    uint8_t unused[16] = {0}; /* no GHASH in this mode: never read nor written */
    vaes512_crypt(key, ctr, unused, out, in, nblocks, MODE_CTR);
}

const ks_gcm_kernel ks_gcm_kernel_vaes512 = {vaes512_ghash, vaes512_encrypt, vaes512_decrypt,
                                             vaes512_ctr};
