/* aes_ni.c - AES (FIPS 197) on the AES-NI instructions: key expansion and the bulk kernels.
 *
 * Every function carries its own target attribute (no per-file flags) and is reached only
 * through the runtime dispatch in aes.c. No table lookups: the S-box is the instruction.
 * The parallel kernels keep eight blocks in flight, enough to cover AESENC's latency. */
#include <immintrin.h>
#include <string.h>

#include "crypto/aes_internal.h"
#include "crypto/mem.h"

#define KS_AESNI __attribute__((target("aes,sse4.1")))

#define LOADU(p) _mm_loadu_si128((const __m128i *)(const void *)(p))
#define STOREU(p, v) _mm_storeu_si128((__m128i *)(void *)(p), (v))
#define RK(base, i) LOADU((base) + 16 * (size_t)(i))

/* SubWord (FIPS 197 5.2) with AESENCLAST: on a state whose four columns are equal,
 * ShiftRows is the identity, and the round key is zero, so column 0 is SubWord(w). */
KS_AESNI static uint32_t sub_word(uint32_t w)
{
    __m128i s = _mm_aesenclast_si128(_mm_set1_epi32((int)w), _mm_setzero_si128());
    return (uint32_t)_mm_cvtsi128_si32(s);
}

/* KeyExpansion (FIPS 197 5.2) for Nk = 4, 6, 8 words, then the equivalent inverse cipher's
 * schedule (FIPS 197 5.3.5). Words are little-endian loads of the key bytes, so RotWord is a
 * right rotation by 8 and Rcon lands in the low byte. */
KS_AESNI void ks_aesni_expand(uint8_t enc[15 * 16], uint8_t dec[15 * 16], const uint8_t *raw,
                              size_t raw_len)
{
    const unsigned nk = (unsigned)(raw_len / 4);
    const unsigned rounds = nk + 6;
    const unsigned total = 4 * (rounds + 1);
    uint32_t w[60];
    uint32_t rcon = 1;

    memcpy(w, raw, raw_len);
    for (unsigned i = nk; i < total; i++) {
        uint32_t t = w[i - 1];
        if (i % nk == 0) {
            t = sub_word((t >> 8) | (t << 24)) ^ rcon;
            rcon = ((rcon << 1) ^ ((rcon >> 7) * 0x11b)) & 0xff; /* public constant */
        } else if (nk > 6 && i % nk == 4) {
            t = sub_word(t);
        }
        w[i] = w[i - nk] ^ t;
    }
    memcpy(enc, w, 16 * (size_t)(rounds + 1));
    ks_wipe(w, sizeof(w));

    STOREU(dec, RK(enc, rounds));
    for (unsigned i = 1; i < rounds; i++) {
        STOREU(dec + 16 * i, _mm_aesimc_si128(RK(enc, rounds - i)));
    }
    STOREU(dec + 16 * rounds, RK(enc, 0));
}

KS_AESNI static inline __m128i enc1(const uint8_t *rk, unsigned rounds, __m128i b)
{
    b = _mm_xor_si128(b, RK(rk, 0));
    for (unsigned r = 1; r < rounds; r++) {
        b = _mm_aesenc_si128(b, RK(rk, r));
    }
    return _mm_aesenclast_si128(b, RK(rk, rounds));
}

KS_AESNI static inline __m128i dec1(const uint8_t *dk, unsigned rounds, __m128i b)
{
    b = _mm_xor_si128(b, RK(dk, 0));
    for (unsigned r = 1; r < rounds; r++) {
        b = _mm_aesdec_si128(b, RK(dk, r));
    }
    return _mm_aesdeclast_si128(b, RK(dk, rounds));
}

/* Apply one operation to the eight blocks b0..b7. */
#define EACH8(op)                                                                         \
    do {                                                                                  \
        b0 = op(b0, k); b1 = op(b1, k); b2 = op(b2, k); b3 = op(b3, k);                   \
        b4 = op(b4, k); b5 = op(b5, k); b6 = op(b6, k); b7 = op(b7, k);                   \
    } while (0)

/* Eight blocks through the full cipher (first = AESENC or AESDEC, last = its LAST form). */
#define CIPHER8(keys, first, last)                                                        \
    do {                                                                                  \
        __m128i k = RK(keys, 0);                                                          \
        EACH8(_mm_xor_si128);                                                             \
        for (unsigned r = 1; r < rounds; r++) {                                           \
            k = RK(keys, r);                                                              \
            EACH8(first);                                                                 \
        }                                                                                 \
        k = RK(keys, rounds);                                                             \
        EACH8(last);                                                                      \
    } while (0)

#define LOAD8(src)                                                                        \
    __m128i b0 = LOADU((src)), b1 = LOADU((src) + 16), b2 = LOADU((src) + 32),            \
            b3 = LOADU((src) + 48), b4 = LOADU((src) + 64), b5 = LOADU((src) + 80),       \
            b6 = LOADU((src) + 96), b7 = LOADU((src) + 112)

#define STORE8(dst)                                                                       \
    do {                                                                                  \
        STOREU((dst), b0); STOREU((dst) + 16, b1); STOREU((dst) + 32, b2);                \
        STOREU((dst) + 48, b3); STOREU((dst) + 64, b4); STOREU((dst) + 80, b5);           \
        STOREU((dst) + 96, b6); STOREU((dst) + 112, b7);                                  \
    } while (0)

KS_AESNI void ks_aesni_ecb_encrypt(const uint8_t *rk, unsigned rounds, uint8_t *out,
                                   const uint8_t *in, size_t nblocks)
{
    for (; nblocks >= 8; nblocks -= 8, in += 128, out += 128) {
        LOAD8(in);
        CIPHER8(rk, _mm_aesenc_si128, _mm_aesenclast_si128);
        STORE8(out);
    }
    for (; nblocks > 0; nblocks--, in += 16, out += 16) {
        STOREU(out, enc1(rk, rounds, LOADU(in)));
    }
}

KS_AESNI void ks_aesni_ecb_decrypt(const uint8_t *dk, unsigned rounds, uint8_t *out,
                                   const uint8_t *in, size_t nblocks)
{
    for (; nblocks >= 8; nblocks -= 8, in += 128, out += 128) {
        LOAD8(in);
        CIPHER8(dk, _mm_aesdec_si128, _mm_aesdeclast_si128);
        STORE8(out);
    }
    for (; nblocks > 0; nblocks--, in += 16, out += 16) {
        STOREU(out, dec1(dk, rounds, LOADU(in)));
    }
}

/* CBC encryption (SP 800-38A 6.2) is serial by definition: one block at a time. */
KS_AESNI void ks_aesni_cbc_encrypt(const uint8_t *rk, unsigned rounds, uint8_t iv[16],
                                   uint8_t *out, const uint8_t *in, size_t nblocks)
{
    __m128i c = LOADU(iv);
    for (; nblocks > 0; nblocks--, in += 16, out += 16) {
        c = enc1(rk, rounds, _mm_xor_si128(c, LOADU(in)));
        STOREU(out, c);
    }
    STOREU(iv, c);
}

/* CBC decryption is parallel: eight ciphertext blocks are loaded (so out may equal in)
 * before any plaintext is stored. */
KS_AESNI void ks_aesni_cbc_decrypt(const uint8_t *dk, unsigned rounds, uint8_t iv[16],
                                   uint8_t *out, const uint8_t *in, size_t nblocks)
{
    __m128i prev = LOADU(iv);
    for (; nblocks >= 8; nblocks -= 8, in += 128, out += 128) {
        LOAD8(in);
        const __m128i c0 = b0, c1 = b1, c2 = b2, c3 = b3, c4 = b4, c5 = b5, c6 = b6, c7 = b7;
        CIPHER8(dk, _mm_aesdec_si128, _mm_aesdeclast_si128);
        b0 = _mm_xor_si128(b0, prev);
        b1 = _mm_xor_si128(b1, c0);
        b2 = _mm_xor_si128(b2, c1);
        b3 = _mm_xor_si128(b3, c2);
        b4 = _mm_xor_si128(b4, c3);
        b5 = _mm_xor_si128(b5, c4);
        b6 = _mm_xor_si128(b6, c5);
        b7 = _mm_xor_si128(b7, c6);
        prev = c7;
        STORE8(out);
    }
    for (; nblocks > 0; nblocks--, in += 16, out += 16) {
        const __m128i c = LOADU(in);
        STOREU(out, _mm_xor_si128(dec1(dk, rounds, c), prev));
        prev = c;
    }
    STOREU(iv, prev);
}

/* The counter block with its low 32-bit word (big-endian) replaced by c. */
KS_AESNI static inline __m128i ctr_block(__m128i base, uint32_t c)
{
    return _mm_insert_epi32(base, (int)__builtin_bswap32(c), 3);
}

KS_AESNI void ks_aesni_ctr32(const uint8_t *rk, unsigned rounds, const uint8_t ctr[16],
                             uint8_t *out, const uint8_t *in, size_t nblocks)
{
    const __m128i base = LOADU(ctr);
    uint32_t c = ((uint32_t)ctr[12] << 24) | ((uint32_t)ctr[13] << 16) |
                 ((uint32_t)ctr[14] << 8) | ctr[15];

    for (; nblocks >= 8; nblocks -= 8, in += 128, out += 128, c += 8) {
        __m128i b0 = ctr_block(base, c), b1 = ctr_block(base, c + 1),
                b2 = ctr_block(base, c + 2), b3 = ctr_block(base, c + 3),
                b4 = ctr_block(base, c + 4), b5 = ctr_block(base, c + 5),
                b6 = ctr_block(base, c + 6), b7 = ctr_block(base, c + 7);
        CIPHER8(rk, _mm_aesenc_si128, _mm_aesenclast_si128);
        b0 = _mm_xor_si128(b0, LOADU(in));
        b1 = _mm_xor_si128(b1, LOADU(in + 16));
        b2 = _mm_xor_si128(b2, LOADU(in + 32));
        b3 = _mm_xor_si128(b3, LOADU(in + 48));
        b4 = _mm_xor_si128(b4, LOADU(in + 64));
        b5 = _mm_xor_si128(b5, LOADU(in + 80));
        b6 = _mm_xor_si128(b6, LOADU(in + 96));
        b7 = _mm_xor_si128(b7, LOADU(in + 112));
        STORE8(out);
    }
    for (; nblocks > 0; nblocks--, in += 16, out += 16, c++) {
        const __m128i ks = enc1(rk, rounds, ctr_block(base, c));
        STOREU(out, _mm_xor_si128(ks, LOADU(in)));
    }
}

KS_AESNI void ks_aesni_cbc_mac(const uint8_t *rk, unsigned rounds, uint8_t x[16],
                               const uint8_t *in, size_t nblocks)
{
    __m128i c = LOADU(x);
    for (; nblocks > 0; nblocks--, in += 16) {
        c = enc1(rk, rounds, _mm_xor_si128(c, LOADU(in)));
    }
    STOREU(x, c);
}

/* In a 128-bit register the block A || R[i] has A in the low quadword (bytes 0..7). The
 * 64-bit counter t of RFC 3394 2.2.1 is big-endian in those bytes, hence the byte swap. */
KS_AESNI static inline __m128i t_mask(uint64_t t)
{
    return _mm_cvtsi64_si128((long long)__builtin_bswap64(t));
}

KS_AESNI void ks_aesni_kw_w(const uint8_t *rk, unsigned rounds, uint8_t a[8], uint8_t *r,
                            size_t n)
{
    __m128i av = _mm_loadl_epi64((const __m128i *)(const void *)a);
    for (uint64_t j = 0; j < 6; j++) {
        for (size_t i = 0; i < n; i++) {
            __m128i *ri = (__m128i *)(void *)(r + 8 * i);
            __m128i b = enc1(rk, rounds, _mm_unpacklo_epi64(av, _mm_loadl_epi64(ri)));
            av = _mm_xor_si128(b, t_mask(n * j + i + 1));
            _mm_storel_epi64(ri, _mm_unpackhi_epi64(b, b));
        }
    }
    _mm_storel_epi64((__m128i *)(void *)a, av);
}

KS_AESNI void ks_aesni_kw_w_inv(const uint8_t *dk, unsigned rounds, uint8_t a[8], uint8_t *r,
                                size_t n)
{
    __m128i av = _mm_loadl_epi64((const __m128i *)(const void *)a);
    for (uint64_t j = 6; j-- > 0;) {
        for (size_t i = n; i-- > 0;) {
            __m128i *ri = (__m128i *)(void *)(r + 8 * i);
            __m128i x = _mm_xor_si128(av, t_mask(n * j + i + 1));
            __m128i b = dec1(dk, rounds, _mm_unpacklo_epi64(x, _mm_loadl_epi64(ri)));
            av = b;
            _mm_storel_epi64(ri, _mm_unpackhi_epi64(b, b));
        }
    }
    _mm_storel_epi64((__m128i *)(void *)a, av);
}
