/* sha256_ni.c - the SHA-256 compression function (FIPS 180-4 6.2.2) on the Intel SHA
 * extensions. Only called when sha256.c's dispatch found SHA, SSSE3 and SSE4.1.
 *
 * Instruction semantics (Intel SDM vol. 2, SHA256RNDS2 / SHA256MSG1 / SHA256MSG2):
 * - SHA256RNDS2 dst, src, <xmm0> runs two rounds. src holds A, B, E, F in dwords 3..0
 *   (A highest), dst holds C, D, G, H the same way, and dwords 0 and 1 of xmm0 hold
 *   W_t + K_t and W_{t+1} + K_{t+1}. The result is the new A, B, E, F; after two rounds the
 *   new C, D, G, H are the old A, B, E, F, so the two registers simply swap roles.
 * - SHA256MSG1 a, b: with a = W_{t-16..t-13} and b's dword 0 = W_{t-12}, gives
 *   W_{t-16+j} + sigma0(W_{t-15+j}) for j = 0..3.
 * - SHA256MSG2 a, b: with a = that sum plus W_{t-7..t-4} and b = W_{t-4..t-1}, gives
 *   W_t..W_{t+3}, adding sigma1 of W_{t-2}, W_{t-1} and then of the two words it just made.
 * Throughout, dword j of a message register holds the word with the lowest index plus j. */
#include <immintrin.h>

#include "crypto/sha256.h"

#define TARGET __attribute__((target("sha,ssse3,sse4.1")))

/* Four rounds starting at round 4*g: two SHA256RNDS2, the second on the upper two WK. */
TARGET static inline void rounds4(__m128i *abef, __m128i *cdgh, __m128i w, unsigned g)
{
    __m128i wk = _mm_add_epi32(w, _mm_load_si128((const __m128i *)(ks_sha256_k + 4 * g)));
    *cdgh = _mm_sha256rnds2_epu32(*cdgh, *abef, wk);
    *abef = _mm_sha256rnds2_epu32(*abef, *cdgh, _mm_shuffle_epi32(wk, 0x0e));
}

/* W_t..W_{t+3} from the four previous message registers (oldest first), 6.2.2 step 1. */
TARGET static inline __m128i schedule(__m128i w16, __m128i w12, __m128i w8, __m128i w4)
{
    __m128i s = _mm_sha256msg1_epu32(w16, w12);
    s = _mm_add_epi32(s, _mm_alignr_epi8(w4, w8, 4)); /* W_{t-7..t-4} */
    return _mm_sha256msg2_epu32(s, w4);
}

TARGET void ks_sha256_blocks_shani(uint32_t h[8], const uint8_t *in, size_t nblocks)
{
    /* Big-endian words (FIPS 180-4 3.1): PSHUFB reverses the bytes of each dword. */
    const __m128i bswap = _mm_set_epi8(12, 13, 14, 15, 8, 9, 10, 11, 4, 5, 6, 7, 0, 1, 2, 3);

    /* h[0..3] = A B C D and h[4..7] = E F G H, dword 0 first. Rearranged into ABEF and
     * CDGH with A and C in dword 3. */
    __m128i abcd = _mm_loadu_si128((const __m128i *)h);
    __m128i efgh = _mm_loadu_si128((const __m128i *)(h + 4));
    abcd = _mm_shuffle_epi32(abcd, 0xb1);               /* dwords 0..3: B A D C */
    efgh = _mm_shuffle_epi32(efgh, 0x1b);               /* H G F E */
    __m128i abef = _mm_alignr_epi8(abcd, efgh, 8);      /* F E B A */
    __m128i cdgh = _mm_blend_epi16(abcd, efgh, 0x0f);   /* H G D C */

    for (; nblocks > 0; nblocks--, in += KS_SHA256_BLOCK) {
        const __m128i abef0 = abef, cdgh0 = cdgh;
        __m128i m0 = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)in), bswap);
        __m128i m1 = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(in + 16)), bswap);
        __m128i m2 = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(in + 32)), bswap);
        __m128i m3 = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(in + 48)), bswap);
        rounds4(&abef, &cdgh, m0, 0);
        rounds4(&abef, &cdgh, m1, 1);
        rounds4(&abef, &cdgh, m2, 2);
        rounds4(&abef, &cdgh, m3, 3);
        /* Rounds 16..63: m0..m3 rotate through W_{t-16..t-1}. */
        for (unsigned g = 4; g < 16; g += 4) {
            m0 = schedule(m0, m1, m2, m3);
            rounds4(&abef, &cdgh, m0, g);
            m1 = schedule(m1, m2, m3, m0);
            rounds4(&abef, &cdgh, m1, g + 1);
            m2 = schedule(m2, m3, m0, m1);
            rounds4(&abef, &cdgh, m2, g + 2);
            m3 = schedule(m3, m0, m1, m2);
            rounds4(&abef, &cdgh, m3, g + 3);
        }
        /* 6.2.2 step 4: the addition is lane-wise, so it works on the shuffled layout. */
        abef = _mm_add_epi32(abef, abef0);
        cdgh = _mm_add_epi32(cdgh, cdgh0);
    }

    /* Back to A..H in memory order. */
    __m128i t = _mm_shuffle_epi32(abef, 0x1b);          /* A B E F */
    __m128i u = _mm_shuffle_epi32(cdgh, 0xb1);          /* G H C D */
    _mm_storeu_si128((__m128i *)h, _mm_blend_epi16(t, u, 0xf0));       /* A B C D */
    _mm_storeu_si128((__m128i *)(h + 4), _mm_alignr_epi8(u, t, 8));    /* E F G H */
}
