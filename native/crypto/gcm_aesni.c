/* gcm_aesni.c - AES-GCM with AES-NI and PCLMULQDQ on 128-bit registers: 8 blocks in flight,
 * GHASH over 8 blocks with one reduction (aggregated reduction, Gueron-Kounavis).
 *
 * GHASH representation (SP 800-38D 6.3). GCM numbers the bits of a block from the most
 * significant bit of its first byte, which is the coefficient of x^0. Reversing the 16 bytes
 * (PSHUFB) puts that coefficient in register bit 127: the register then holds the bit-reversed
 * ("reflected") polynomial r(y) = y^127 a(1/y), an element of GF(2)[y]/P*(y) with
 * P*(y) = y^128 + y^127 + y^126 + y^121 + 1, the reciprocal of the GCM polynomial. In that
 * domain a GCM product a*b is r_a * r_b * y^-127. The table stores K_k = r_{H^k} * y, so that
 * one carry-less product r_X * K_k followed by a Montgomery reduction (multiply by y^-128)
 * gives r_{X*H^k}. The reduction folds 64 bits at a time with y^-64 = y^64 + y^63 + y^62 +
 * y^57 (mod P*): the constant 0xc2000000_00000000 is y^63 + y^62 + y^57.
 *
 * Constant time: carry-less multiplies, AES instructions and fixed shuffles only; no table is
 * indexed by secret data and no branch depends on it. */
#include <immintrin.h>

#include "crypto/gcm_internal.h"
#include "crypto/mem.h"

#define KS_AESNI __attribute__((target("aes,pclmul,ssse3,sse4.1")))
#define KS_INLINE static inline __attribute__((always_inline))

KS_AESNI KS_INLINE __m128i bswap128(__m128i a)
{
    return _mm_shuffle_epi8(a, _mm_set_epi8(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14,
                                            15));
}

/* The unreduced 256-bit product r_a * r_b, as lo + mi * y^64 + hi * y^128 (mi in Karatsuba
 * form until gf_reduce). */
typedef struct gf_acc {
    __m128i lo, mi, hi;
} gf_acc;

/* Karatsuba: three multiplies instead of four; acc->mi collects (a_lo ^ a_hi)(b_lo ^ b_hi)
 * and gf_reduce subtracts lo and hi from it once for the whole sum. */
KS_AESNI KS_INLINE void gf_mul_acc(gf_acc *acc, __m128i a, __m128i b)
{
    acc->lo = _mm_xor_si128(acc->lo, _mm_clmulepi64_si128(a, b, 0x00));
    acc->hi = _mm_xor_si128(acc->hi, _mm_clmulepi64_si128(a, b, 0x11));
    __m128i ak = _mm_xor_si128(a, _mm_shuffle_epi32(a, 0x4e));
    __m128i bk = _mm_xor_si128(b, _mm_shuffle_epi32(b, 0x4e));
    acc->mi = _mm_xor_si128(acc->mi, _mm_clmulepi64_si128(ak, bk, 0x00));
}

/* Montgomery reduction: (lo + mi y^64 + hi y^128) * y^-128 mod P*, two 64-bit folds. */
KS_AESNI KS_INLINE __m128i gf_reduce(gf_acc acc)
{
    const __m128i poly = _mm_set_epi64x(0, (long long)0xc200000000000000ULL);
    __m128i mi = _mm_xor_si128(acc.mi, _mm_xor_si128(acc.lo, acc.hi)); /* Karatsuba */
    mi = _mm_xor_si128(mi, _mm_shuffle_epi32(acc.lo, 0x4e));
    mi = _mm_xor_si128(mi, _mm_clmulepi64_si128(acc.lo, poly, 0x00));
    __m128i r = _mm_xor_si128(acc.hi, _mm_shuffle_epi32(mi, 0x4e));
    return _mm_xor_si128(r, _mm_clmulepi64_si128(mi, poly, 0x00));
}

KS_AESNI KS_INLINE __m128i gf_mul(__m128i a, __m128i b)
{
    gf_acc acc = {_mm_setzero_si128(), _mm_setzero_si128(), _mm_setzero_si128()};
    gf_mul_acc(&acc, a, b);
    return gf_reduce(acc);
}

/* y <- (y ^ x_0) H^n + x_1 H^(n-1) + ... + x_(n-1) H, one reduction for the n blocks.
 * hp points at K_n (htable + 16 * (16 - n)). */
KS_AESNI KS_INLINE __m128i ghash_n(__m128i y, const __m128i *x, const uint8_t *hp, size_t n)
{
    gf_acc acc = {_mm_setzero_si128(), _mm_setzero_si128(), _mm_setzero_si128()};
    gf_mul_acc(&acc, _mm_xor_si128(y, x[0]), _mm_loadu_si128((const __m128i *)hp));
#pragma GCC unroll 8
    for (size_t i = 1; i < n; i++) {
        gf_mul_acc(&acc, x[i], _mm_loadu_si128((const __m128i *)(hp + 16 * i)));
    }
    return gf_reduce(acc);
}

KS_AESNI void ks_gcm_aesni_ghash(const uint8_t *htable, uint8_t ghash[16], const uint8_t *in,
                                 size_t nblocks)
{
    __m128i y = bswap128(_mm_loadu_si128((const __m128i *)ghash));
    __m128i x[8];
    while (nblocks > 0) {
        size_t n = nblocks < 8 ? nblocks : 8;
        for (size_t i = 0; i < n; i++) {
            x[i] = bswap128(_mm_loadu_si128((const __m128i *)(in + 16 * i)));
        }
        y = ghash_n(y, x, htable + 16 * (KS_GCM_HPOWERS - n), n);
        in += 16 * n;
        nblocks -= n;
    }
    _mm_storeu_si128((__m128i *)ghash, bswap128(y));
}

/* One AES round over the eight blocks of a batch. */
KS_AESNI KS_INLINE void aes_round8(__m128i b[8], __m128i k)
{
#pragma GCC unroll 8
    for (int i = 0; i < 8; i++) {
        b[i] = _mm_aesenc_si128(b[i], k);
    }
}

/* Rounds 1..rounds-1 of a batch; with x != NULL the GHASH of the eight blocks x (K_8..K_1)
 * is woven in, one multiply per round, the reduction in round 9, so that the AES and the
 * carry-less multiply units work at the same time. rounds (10, 12, 14) is public. */
KS_AESNI KS_INLINE __m128i rounds8(__m128i b[8], const uint8_t *rk, unsigned rounds, __m128i y,
                                   const __m128i *x, const uint8_t *hp)
{
    gf_acc acc = {_mm_setzero_si128(), _mm_setzero_si128(), _mm_setzero_si128()};
#pragma GCC unroll 9
    for (unsigned r = 1; r < 10; r++) {
        aes_round8(b, _mm_loadu_si128((const __m128i *)(rk + 16 * r)));
        if (x != NULL && r <= 8) {
            __m128i xi = r == 1 ? _mm_xor_si128(x[0], y) : x[r - 1];
            gf_mul_acc(&acc, xi, _mm_loadu_si128((const __m128i *)(hp + 16 * (r - 1))));
        }
    }
    for (unsigned r = 10; r < rounds; r++) {
        aes_round8(b, _mm_loadu_si128((const __m128i *)(rk + 16 * r)));
    }
    return x != NULL ? gf_reduce(acc) : y;
}

/* What a run of blocks does: CTR and the GHASH of its output (encrypt), of its input
 * (decrypt), or CTR alone (the second pass of a tag-first decryption). A compile-time
 * constant in every inlined use, so each mode gets its own loop. */
enum { MODE_ENC = 0, MODE_DEC = 1, MODE_CTR = 2 };

/* Fewer than 8 blocks: the keystream of a whole batch is computed (the eight AES run in
 * parallel, as fast as one), only n blocks are used and the counter advances by n. */
KS_AESNI KS_INLINE void crypt_tail(const uint8_t *rk, unsigned rounds, const uint8_t *htable,
                                   __m128i *c, __m128i *y, uint8_t *out, const uint8_t *in,
                                   size_t n, int mode)
{
    __m128i b[8], x[8];
    const __m128i rk0 = _mm_loadu_si128((const __m128i *)rk);
#pragma GCC unroll 8
    for (int i = 0; i < 8; i++) {
        b[i] = _mm_xor_si128(bswap128(_mm_add_epi32(*c, _mm_set_epi32(0, 0, 0, i))), rk0);
    }
    rounds8(b, rk, rounds, *y, NULL, NULL);
    const __m128i rkl = _mm_loadu_si128((const __m128i *)(rk + 16 * rounds));
    for (size_t i = 0; i < n; i++) {
        __m128i d = _mm_loadu_si128((const __m128i *)(in + 16 * i));
        __m128i o = _mm_xor_si128(_mm_aesenclast_si128(b[i], rkl), d);
        _mm_storeu_si128((__m128i *)(out + 16 * i), o);
        x[i] = bswap128(mode == MODE_ENC ? o : d);
    }
    *c = _mm_add_epi32(*c, _mm_set_epi32(0, 0, 0, (int)n));
    if (mode != MODE_CTR) {
        *y = ghash_n(*y, x, htable + 16 * (KS_GCM_HPOWERS - n), n);
    }
}

/* CTR and GHASH over nblocks. c holds the counter block byte-reversed, so that its 32-bit
 * counter is dword 0 and _mm_add_epi32 is inc32 (SP 800-38D 6.2). Encrypting, each batch's
 * ciphertext is hashed during the next batch's AES; decrypting, during its own. */
KS_AESNI KS_INLINE void aesni_crypt(const ks_gcm_key *key, uint8_t ctr[16], uint8_t ghash[16],
                                    uint8_t *out, const uint8_t *in, size_t nblocks,
                                    int mode)
{
    const int encrypt = mode == MODE_ENC;
    const int hash_in = mode == MODE_DEC;
    const uint8_t *rk = key->aes.enc;
    const uint8_t *hp = key->htable + 16 * (KS_GCM_HPOWERS - 8);
    const unsigned rounds = key->aes.rounds;
    const __m128i rk0 = _mm_loadu_si128((const __m128i *)rk);
    const __m128i rkl = _mm_loadu_si128((const __m128i *)(rk + 16 * rounds));
    __m128i c = bswap128(_mm_loadu_si128((const __m128i *)ctr));
    __m128i y = bswap128(_mm_loadu_si128((const __m128i *)ghash));
    __m128i x[8];
    int pending = 0;
    for (; nblocks >= 8; nblocks -= 8, in += 128, out += 128) {
        __m128i b[8];
#pragma GCC unroll 8
        for (int i = 0; i < 8; i++) {
            b[i] = _mm_xor_si128(bswap128(_mm_add_epi32(c, _mm_set_epi32(0, 0, 0, i))), rk0);
            if (hash_in) {
                x[i] = bswap128(_mm_loadu_si128((const __m128i *)(in + 16 * i)));
            }
        }
        c = _mm_add_epi32(c, _mm_set_epi32(0, 0, 0, 8));
        if (hash_in || pending) {
            y = rounds8(b, rk, rounds, y, x, hp);
        } else {
            rounds8(b, rk, rounds, y, NULL, hp);
        }
#pragma GCC unroll 8
        for (int i = 0; i < 8; i++) {
            __m128i d = _mm_loadu_si128((const __m128i *)(in + 16 * i));
            b[i] = _mm_xor_si128(_mm_aesenclast_si128(b[i], rkl), d);
            _mm_storeu_si128((__m128i *)(out + 16 * i), b[i]);
            if (encrypt) {
                x[i] = bswap128(b[i]);
            }
        }
        pending = encrypt;
    }
    if (pending) {
        y = ghash_n(y, x, hp, 8);
    }
    if (nblocks > 0) {
        crypt_tail(rk, rounds, key->htable, &c, &y, out, in, nblocks, mode);
    }
    _mm_storeu_si128((__m128i *)ctr, bswap128(c));
    if (mode != MODE_CTR) {
        _mm_storeu_si128((__m128i *)ghash, bswap128(y));
    }
}

KS_AESNI void ks_gcm_aesni_encrypt(const ks_gcm_key *key, uint8_t ctr[16], uint8_t ghash[16],
                                   uint8_t *out, const uint8_t *in, size_t nblocks)
{
    aesni_crypt(key, ctr, ghash, out, in, nblocks, MODE_ENC);
}

KS_AESNI void ks_gcm_aesni_decrypt(const ks_gcm_key *key, uint8_t ctr[16], uint8_t ghash[16],
                                   uint8_t *out, const uint8_t *in, size_t nblocks)
{
    aesni_crypt(key, ctr, ghash, out, in, nblocks, MODE_DEC);
}

KS_AESNI void ks_gcm_aesni_ctr(const ks_gcm_key *key, uint8_t ctr[16], uint8_t *out,
                               const uint8_t *in, size_t nblocks)
{
    uint8_t unused[16] = {0}; /* no GHASH in this mode: never read nor written */
    aesni_crypt(key, ctr, unused, out, in, nblocks, MODE_CTR);
}

const ks_gcm_kernel ks_gcm_kernel_aesni = {ks_gcm_aesni_ghash, ks_gcm_aesni_encrypt,
                                           ks_gcm_aesni_decrypt, ks_gcm_aesni_ctr};

KS_AESNI void ks_gcm_aesni_block(const ks_aes_key *key, uint8_t out[16], const uint8_t in[16])
{
    __m128i b = _mm_xor_si128(_mm_loadu_si128((const __m128i *)in),
                              _mm_loadu_si128((const __m128i *)key->enc));
    for (unsigned r = 1; r < key->rounds; r++) {
        b = _mm_aesenc_si128(b, _mm_loadu_si128((const __m128i *)(key->enc + 16 * r)));
    }
    b = _mm_aesenclast_si128(b, _mm_loadu_si128((const __m128i *)(key->enc + 16 * key->rounds)));
    _mm_storeu_si128((__m128i *)out, b);
}

KS_AESNI void ks_gcm_aesni_htable(const ks_aes_key *key, uint8_t htable[16 * KS_GCM_HPOWERS])
{
    uint8_t h_bytes[16] = {0};
    ks_gcm_aesni_block(key, h_bytes, h_bytes);
    __m128i h = bswap128(_mm_loadu_si128((const __m128i *)h_bytes));
    ks_wipe(h_bytes, sizeof(h_bytes));
    /* K_1 = r_H * y: shift left by one; a carry out of bit 127 is y^128, which reduces to
     * y^127 + y^126 + y^121 + 1 (mask, no branch). */
    __m128i carry = _mm_srai_epi32(_mm_shuffle_epi32(h, 0xff), 31);
    __m128i k1 = _mm_or_si128(_mm_slli_epi64(h, 1), _mm_slli_si128(_mm_srli_epi64(h, 63), 8));
    k1 = _mm_xor_si128(k1, _mm_and_si128(carry, _mm_set_epi64x((long long)0xc200000000000000ULL,
                                                                1)));
    __m128i k = k1;
    for (int i = 1; i <= KS_GCM_HPOWERS; i++) {
        _mm_storeu_si128((__m128i *)(htable + 16 * (KS_GCM_HPOWERS - i)), k);
        k = gf_mul(k, k1); /* K_(i+1) = K_i * K_1 * y^-128 */
    }
}
