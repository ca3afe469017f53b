/* sha256.c - FIPS 180-4 SHA-256 and HMAC-SHA-256 (FIPS 198-1): dispatch, the streaming
 * state, padding, HMAC, and the portable compression function. The SHA-NI compression lives
 * in sha256_ni.c. */
#include <string.h>

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif

#include "crypto/mem.h"
#include "crypto/sha256.h"

/* ---- dispatch ------------------------------------------------------------------------ */

/* SHA-NI needs the SHA extensions themselves plus SSSE3 (PSHUFB, the byte swap of the
 * message words) and SSE4.1 (PBLENDW, the state shuffle). Read with CPUID (Intel SDM vol. 2A:
 * leaf 1 ECX bits 9 and 19, leaf 7 subleaf 0 EBX bit 29) rather than __builtin_cpu_supports,
 * whose "sha" name clang does not know. Cached: CPUID traps to the hypervisor on many
 * virtual machines; racing first callers compute the same answer, so a relaxed atomic is
 * enough (as in gcm.c). -1: not read yet. */
static int shani_cached = -1;

static int cpu_has_shani(void)
{
    int cached = __atomic_load_n(&shani_cached, __ATOMIC_RELAXED);
    if (cached >= 0) {
        return cached;
    }
    int found = 0;
#if defined(__x86_64__) || defined(__i386__)
    unsigned a, b, c, d;
    if (__get_cpuid(1, &a, &b, &c, &d) && (c >> 9 & 1) && (c >> 19 & 1) &&
        __get_cpuid_max(0, NULL) >= 7) {
        __cpuid_count(7, 0, a, b, c, d);
        found = (int)(b >> 29 & 1);
    }
#endif
    __atomic_store_n(&shani_cached, found, __ATOMIC_RELAXED);
    return found;
}

int ks_sha256_impl_supported(ks_sha256_impl impl)
{
    switch (impl) {
    case KS_SHA256_AUTO:
    case KS_SHA256_PORTABLE:
        return 1;
    case KS_SHA256_SHANI:
        return cpu_has_shani();
    default:
        return 0;
    }
}

/* The processor's best path, found once. Racing first callers compute the same answer, so
 * a relaxed atomic is enough (as in gcm.c). */
static int default_impl = KS_SHA256_AUTO;

ks_sha256_impl ks_sha256_impl_default(void)
{
    int cached = __atomic_load_n(&default_impl, __ATOMIC_RELAXED);
    if (cached != KS_SHA256_AUTO) {
        return (ks_sha256_impl)cached;
    }
    ks_sha256_impl found = cpu_has_shani() ? KS_SHA256_SHANI : KS_SHA256_PORTABLE;
    __atomic_store_n(&default_impl, (int)found, __ATOMIC_RELAXED);
    return found;
}

/* The forced implementation (AUTO when none), read at every compression call. */
static int forced_impl = KS_SHA256_AUTO;

ks_status ks_sha256_set_impl(ks_sha256_impl impl)
{
    if (impl < KS_SHA256_AUTO || impl > KS_SHA256_PORTABLE) {
        return KS_ERR_ARGS;
    }
    if (!ks_sha256_impl_supported(impl)) {
        return KS_ERR_UNSUPPORTED;
    }
    __atomic_store_n(&forced_impl, (int)impl, __ATOMIC_RELAXED);
    return KS_OK;
}

static void compress(uint32_t h[8], const uint8_t *in, size_t nblocks)
{
    int impl = __atomic_load_n(&forced_impl, __ATOMIC_RELAXED);
    if (impl == KS_SHA256_AUTO) {
        impl = (int)ks_sha256_impl_default();
    }
    if (impl == KS_SHA256_SHANI) {
        ks_sha256_blocks_shani(h, in, nblocks);
    } else {
        ks_sha256_blocks_portable(h, in, nblocks);
    }
}

/* ---- the portable compression function (FIPS 180-4 6.2.2) --------------------------- */

/* FIPS 180-4 4.2.2: the first 32 bits of the fractional parts of the cube roots of the
 * first 64 primes. */
__attribute__((aligned(16))) const uint32_t ks_sha256_k[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4,
    0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe,
    0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f,
    0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7,
    0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc,
    0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b,
    0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116,
    0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7,
    0xc67178f2,
};

static inline uint32_t rotr(uint32_t x, unsigned n)
{
    return (x >> n) | (x << (32 - n));
}

static inline uint32_t load_be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

static inline void store_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

/* FIPS 180-4 4.1.2, functions (4.2)-(4.7). */
#define CH(x, y, z) (((x) & (y)) ^ (~(x) & (z)))
#define MAJ(x, y, z) (((x) & (y)) ^ ((x) & (z)) ^ ((y) & (z)))
#define BSIG0(x) (rotr((x), 2) ^ rotr((x), 13) ^ rotr((x), 22))
#define BSIG1(x) (rotr((x), 6) ^ rotr((x), 11) ^ rotr((x), 25))
#define SSIG0(x) (rotr((x), 7) ^ rotr((x), 18) ^ ((x) >> 3))
#define SSIG1(x) (rotr((x), 17) ^ rotr((x), 19) ^ ((x) >> 10))

/* 6.2.2 step 3, one round with the working variables named in their current roles: the
 * caller rotates the names instead of moving eight values per round. */
#define ROUND(a, b, c, d, e, f, g, h, t, wt)                                                  \
    do {                                                                                      \
        uint32_t t1 = (h) + BSIG1(e) + CH(e, f, g) + ks_sha256_k[t] + (wt);                  \
        (d) += t1;                                                                            \
        (h) = t1 + BSIG0(a) + MAJ(a, b, c);                                                   \
    } while (0)

#define EIGHT_ROUNDS(t, W)                                                                    \
    do {                                                                                      \
        ROUND(a, b, c, d, e, f, g, hh, (t) + 0, W((t) + 0));                                  \
        ROUND(hh, a, b, c, d, e, f, g, (t) + 1, W((t) + 1));                                  \
        ROUND(g, hh, a, b, c, d, e, f, (t) + 2, W((t) + 2));                                  \
        ROUND(f, g, hh, a, b, c, d, e, (t) + 3, W((t) + 3));                                  \
        ROUND(e, f, g, hh, a, b, c, d, (t) + 4, W((t) + 4));                                  \
        ROUND(d, e, f, g, hh, a, b, c, (t) + 5, W((t) + 5));                                  \
        ROUND(c, d, e, f, g, hh, a, b, (t) + 6, W((t) + 6));                                  \
        ROUND(b, c, d, e, f, g, hh, a, (t) + 7, W((t) + 7));                                  \
    } while (0)

/* The message schedule (6.2.2 step 1) is kept as a ring of its last 16 words: W_t only
 * needs W_{t-2}, W_{t-7}, W_{t-15} and W_{t-16}, and w[t & 15] holds W_{t-16} until it is
 * replaced. The ring holds message-derived words (HMAC keys among them) and is wiped once
 * at the end. */
#define W_LOAD(t) (w[t] = load_be32(in + 4 * (t)))
#define W_NEXT(t)                                                                             \
    (w[(t) & 15] += SSIG1(w[((t) - 2) & 15]) + w[((t) - 7) & 15] + SSIG0(w[((t) - 15) & 15]))

void ks_sha256_blocks_portable(uint32_t h[8], const uint8_t *in, size_t nblocks)
{
    uint32_t w[16];
    for (; nblocks > 0; nblocks--, in += KS_SHA256_BLOCK) {
        uint32_t a = h[0], b = h[1], c = h[2], d = h[3];
        uint32_t e = h[4], f = h[5], g = h[6], hh = h[7];
        EIGHT_ROUNDS(0, W_LOAD);
        EIGHT_ROUNDS(8, W_LOAD);
        for (unsigned t = 16; t < 64; t += 16) {
            EIGHT_ROUNDS(t, W_NEXT);
            EIGHT_ROUNDS(t + 8, W_NEXT);
        }
        /* 6.2.2 step 4. */
        h[0] += a;
        h[1] += b;
        h[2] += c;
        h[3] += d;
        h[4] += e;
        h[5] += f;
        h[6] += g;
        h[7] += hh;
    }
    ks_wipe(w, sizeof(w));
}

/* ---- streaming ----------------------------------------------------------------------- */

void ks_sha256_init(ks_sha256_ctx *ctx)
{
    /* FIPS 180-4 5.3.3: the first 32 bits of the fractional parts of the square roots of
     * the first eight primes. */
    static const uint32_t h0[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                                   0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
    memcpy(ctx->h, h0, sizeof(h0));
    ctx->bytes = 0;
    memset(ctx->buf, 0, sizeof(ctx->buf));
    ctx->used = 0;
}

void ks_sha256_update(ks_sha256_ctx *ctx, const uint8_t *in, size_t in_len)
{
    if (in_len == 0) {
        return;
    }
    ctx->bytes += in_len;
    if (ctx->used > 0) {
        size_t take = KS_SHA256_BLOCK - ctx->used;
        if (take > in_len) {
            take = in_len;
        }
        memcpy(ctx->buf + ctx->used, in, take);
        ctx->used += take;
        in += take;
        in_len -= take;
        if (ctx->used < KS_SHA256_BLOCK) {
            return; /* in is used up */
        }
        compress(ctx->h, ctx->buf, 1);
        ctx->used = 0;
    }
    size_t nblocks = in_len / KS_SHA256_BLOCK;
    if (nblocks > 0) {
        compress(ctx->h, in, nblocks);
        in += nblocks * KS_SHA256_BLOCK;
        in_len -= nblocks * KS_SHA256_BLOCK;
    }
    if (in_len > 0) {
        memcpy(ctx->buf, in, in_len);
        ctx->used = in_len;
    }
}

void ks_sha256_final(ks_sha256_ctx *ctx, uint8_t out[KS_SHA256_LEN])
{
    /* FIPS 180-4 5.1.1: a 1 bit, zeros up to 448 mod 512 bits, the 64-bit length in bits. */
    uint64_t bits = ctx->bytes << 3;
    size_t used = ctx->used;
    ctx->buf[used++] = 0x80;
    if (used > KS_SHA256_BLOCK - 8) {
        memset(ctx->buf + used, 0, KS_SHA256_BLOCK - used);
        compress(ctx->h, ctx->buf, 1);
        used = 0;
    }
    memset(ctx->buf + used, 0, KS_SHA256_BLOCK - 8 - used);
    store_be32(ctx->buf + 56, (uint32_t)(bits >> 32));
    store_be32(ctx->buf + 60, (uint32_t)bits);
    compress(ctx->h, ctx->buf, 1);
    for (unsigned i = 0; i < 8; i++) {
        store_be32(out + 4 * i, ctx->h[i]);
    }
    ks_wipe(ctx, sizeof(*ctx));
}

void ks_sha256(uint8_t out[KS_SHA256_LEN], const uint8_t *in, size_t in_len)
{
    ks_sha256_ctx ctx;
    ks_sha256_init(&ctx);
    ks_sha256_update(&ctx, in, in_len);
    ks_sha256_final(&ctx, out);
}

/* ---- HMAC (FIPS 198-1 4, RFC 2104 2) ------------------------------------------------- */

void ks_hmac_sha256_init(ks_hmac_sha256_ctx *ctx, const uint8_t *key, size_t key_len)
{
    uint8_t pad[KS_SHA256_BLOCK];

    /* Steps 1-3: K0 is the key (hashed first when longer than the block), zero-padded. */
    memset(pad, 0, sizeof(pad));
    if (key_len > KS_SHA256_BLOCK) {
        ks_sha256(pad, key, key_len);
    } else if (key_len > 0) {
        memcpy(pad, key, key_len);
    }
    /* Steps 4-5: the inner hash starts with K0 ^ ipad; K0 ^ opad is kept for step 8. */
    for (size_t i = 0; i < sizeof(pad); i++) {
        ctx->opad[i] = (uint8_t)(pad[i] ^ 0x5c);
        pad[i] ^= 0x36;
    }
    ks_sha256_init(&ctx->inner);
    ks_sha256_update(&ctx->inner, pad, sizeof(pad));
    ks_wipe(pad, sizeof(pad));
}

void ks_hmac_sha256_update(ks_hmac_sha256_ctx *ctx, const uint8_t *in, size_t in_len)
{
    ks_sha256_update(&ctx->inner, in, in_len);
}

void ks_hmac_sha256_final(ks_hmac_sha256_ctx *ctx, uint8_t out[KS_SHA256_LEN])
{
    uint8_t inner[KS_SHA256_LEN];
    ks_sha256_ctx outer;

    /* Step 6: the inner hash; steps 7-9: H((K0 ^ opad) || inner). */
    ks_sha256_final(&ctx->inner, inner);
    ks_sha256_init(&outer);
    ks_sha256_update(&outer, ctx->opad, sizeof(ctx->opad));
    ks_sha256_update(&outer, inner, sizeof(inner));
    ks_sha256_final(&outer, out);
    ks_wipe(inner, sizeof(inner));
    ks_wipe(ctx, sizeof(*ctx));
}

void ks_hmac_sha256(uint8_t out[KS_SHA256_LEN], const uint8_t *key, size_t key_len,
                    const uint8_t *in, size_t in_len)
{
    ks_hmac_sha256_ctx ctx;
    ks_hmac_sha256_init(&ctx, key, key_len);
    ks_hmac_sha256_update(&ctx, in, in_len);
    ks_hmac_sha256_final(&ctx, out);
}
