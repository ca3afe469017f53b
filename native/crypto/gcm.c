/* gcm.c - AES-GCM (NIST SP 800-38D): dispatch, the streaming state machine, length limits,
 * one-shot calls. The block-wise work runs in the ISA kernels (gcm_aesni.c, gcm_vaes256.c,
 * gcm_vaes512.c) or in libcrypto (gcm_libcrypto.c) on processors without AES-NI.
 *
 * ks_gcm_start overwrites the whole context: clear a used one with ks_gcm_ctx_clear first.
 *
 * Partial blocks: during the AAD phase the pending AAD bytes are XORed straight into the GHASH
 * state and partial_len counts them; during the data phase partial holds the keystream of the
 * current counter block, partial_len the bytes of it already used, and the ciphertext bytes
 * are XORed into the GHASH state as they are produced. A block is multiplied by H when it
 * fills up or at the end, so any split of the input gives the same result.
 *
 * Tag first: ks_gcm_absorb feeds the ciphertext to the GHASH alone (as AAD is fed, the
 * counter untouched), ks_gcm_check compares the tag and, when it verified, moves the context
 * to PHASE_VERIFIED with the counter still at inc32(J0) and the GHASH back at its value after
 * the AAD; ks_gcm_decrypt_verified then runs CTR into the output and hashes its input again
 * (the fused decrypt kernel), so that ks_gcm_recheck finds out whether the input changed
 * between the two passes; ks_gcm_decrypt_held runs CTR alone (the kernels' ctr entry) over
 * ciphertext the module holds, which nobody else can change. */
#include <cpuid.h>
#include <string.h>

#include "crypto/aes_internal.h"
#include "crypto/gcm.h"
#include "crypto/gcm_internal.h"
#include "crypto/mem.h"

/* SP 800-38D 5.2.1.1: len(P) <= 2^39 - 256 bits, len(A) and len(IV) <= 2^64 - 1 bits. */
#define KS_GCM_MAX_AAD ((UINT64_C(1) << 61) - 1)
#define KS_GCM_MAX_IV ((UINT64_C(1) << 61) - 1)

enum {
    PHASE_AAD = 0,
    PHASE_ENCRYPT = 1,
    PHASE_DONE = 2,
    PHASE_DECRYPT = 3,
    PHASE_ABSORB = 4,   /* tag first: ciphertext into the GHASH, nothing written */
    PHASE_VERIFIED = 5, /* tag first: the tag verified, CTR into the output */
};

/* ---- dispatch ------------------------------------------------------------------------ */

static uint64_t xgetbv0(void)
{
    uint32_t lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return ((uint64_t)hi << 32) | lo;
}

/* Features read with CPUID (Intel SDM vol. 2A, CPUID leaves 1 and 7) and, for the wide
 * registers, the OS support reported in XCR0: ymm state (bits 1-2), zmm state (bits 5-7). */
static int cpu_has(ks_gcm_impl impl)
{
    unsigned a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d)) {
        return 0;
    }
    int aesni = (c >> 25 & 1) && (c >> 1 & 1) && (c >> 9 & 1) && (c >> 19 & 1);
    int osxsave = c >> 27 & 1;
    int avx = c >> 28 & 1;
    if (impl == KS_GCM_IMPL_AESNI || !aesni) {
        return aesni;
    }
    if (!osxsave || !avx || __get_cpuid_max(0, NULL) < 7) {
        return 0;
    }
    uint64_t xcr0 = xgetbv0();
    __cpuid_count(7, 0, a, b, c, d);
    int vaes = (c >> 9 & 1) && (c >> 10 & 1);
    int avx2 = b >> 5 & 1;
    int avx512 = (b >> 16 & 1) && (b >> 30 & 1) && (b >> 31 & 1);
    int os_ymm = (xcr0 & 0x6) == 0x6;
    int os_zmm = (xcr0 & 0xe6) == 0xe6;
    if (impl == KS_GCM_IMPL_VAES256) {
        return vaes && avx2 && os_ymm;
    }
    if (impl == KS_GCM_IMPL_VAES512) {
        return vaes && avx2 && avx512 && os_zmm;
    }
    return 0;
}

int ks_gcm_impl_supported(ks_gcm_impl impl)
{
    switch (impl) {
    case KS_GCM_IMPL_LIBCRYPTO:
        return 1;
    case KS_GCM_IMPL_AESNI:
    case KS_GCM_IMPL_VAES256:
    case KS_GCM_IMPL_VAES512:
        return cpu_has(impl);
    default:
        return 0;
    }
}

/* The processor's best path, found once: CPUID and XGETBV trap to the hypervisor on many
 * virtual machines (tens of microseconds each), far too slow to run at every key set-up.
 * Racing first callers compute the same answer, so a relaxed atomic is enough. */
static int default_impl = KS_GCM_IMPL_AUTO;

ks_gcm_impl ks_gcm_impl_default(void)
{
    int cached = __atomic_load_n(&default_impl, __ATOMIC_RELAXED);
    if (cached != KS_GCM_IMPL_AUTO) {
        return (ks_gcm_impl)cached;
    }
    static const ks_gcm_impl order[] = {KS_GCM_IMPL_VAES512, KS_GCM_IMPL_VAES256,
                                        KS_GCM_IMPL_AESNI};
    ks_gcm_impl found = KS_GCM_IMPL_LIBCRYPTO;
    for (size_t i = 0; i < sizeof(order) / sizeof(order[0]); i++) {
        if (cpu_has(order[i])) {
            found = order[i];
            break;
        }
    }
    __atomic_store_n(&default_impl, (int)found, __ATOMIC_RELAXED);
    return found;
}

/* The forced implementation (AUTO when none): written by ks_gcm_set_impl, read at key init,
 * atomically so that no lock is needed. */
static int forced_impl = KS_GCM_IMPL_AUTO;

ks_status ks_gcm_set_impl(ks_gcm_impl impl)
{
    if (impl < KS_GCM_IMPL_AUTO || impl > KS_GCM_IMPL_LIBCRYPTO) {
        return KS_ERR_ARGS;
    }
    if (impl != KS_GCM_IMPL_AUTO && !ks_gcm_impl_supported(impl)) {
        return KS_ERR_UNSUPPORTED;
    }
    __atomic_store_n(&forced_impl, (int)impl, __ATOMIC_RELAXED);
    return KS_OK;
}

static const ks_gcm_kernel *kernel_of(const ks_gcm_key *key)
{
    switch (key->impl) {
    case KS_GCM_IMPL_VAES512:
        return &ks_gcm_kernel_vaes512;
    case KS_GCM_IMPL_VAES256:
        return &ks_gcm_kernel_vaes256;
    case KS_GCM_IMPL_AESNI:
        return &ks_gcm_kernel_aesni;
    default:
        return NULL;
    }
}

/* ---- keys ---------------------------------------------------------------------------- */

ks_status ks_gcm_init(ks_gcm_key *key, const uint8_t *raw, size_t raw_len)
{
    if (key == NULL || raw == NULL) {
        return KS_ERR_ARGS;
    }
    ks_gcm_impl impl = (ks_gcm_impl)__atomic_load_n(&forced_impl, __ATOMIC_RELAXED);
    if (impl == KS_GCM_IMPL_AUTO) {
        impl = ks_gcm_impl_default();
    }
    memset(key, 0, sizeof(*key));
    ks_status st = ks_aes_init(&key->aes, raw, raw_len);
    if (st != KS_OK) {
        ks_gcm_clear(key);
        return st;
    }
    key->impl = impl;
    if (impl != KS_GCM_IMPL_LIBCRYPTO) {
        /* The kernels need AES-NI round keys even when the AES layer chose libcrypto. */
        if (key->aes.impl != KS_AES_IMPL_AESNI) {
            ks_aesni_expand(key->aes.enc, key->aes.dec, raw, raw_len);
        }
        ks_gcm_aesni_htable(&key->aes, key->htable);
    }
    return KS_OK;
}

void ks_gcm_clear(ks_gcm_key *key)
{
    if (key != NULL) {
        ks_aes_clear(&key->aes);
        ks_wipe(key, sizeof(*key));
    }
}

/* ---- streaming ----------------------------------------------------------------------- */

static void inc32(uint8_t block[16])
{
    uint32_t c = ((uint32_t)block[12] << 24 | (uint32_t)block[13] << 16 |
                  (uint32_t)block[14] << 8 | block[15]) + 1;
    block[12] = (uint8_t)(c >> 24);
    block[13] = (uint8_t)(c >> 16);
    block[14] = (uint8_t)(c >> 8);
    block[15] = (uint8_t)c;
}

static void put_be64(uint8_t *p, uint64_t v)
{
    for (int i = 7; i >= 0; i--) {
        p[i] = (uint8_t)v;
        v >>= 8;
    }
}

/* Multiply the pending GHASH block by H: GHASH of a zero block is Y * H. */
static void ghash_flush(ks_gcm_ctx *ctx, const ks_gcm_kernel *k)
{
    static const uint8_t zero[16] = {0};
    k->ghash(ctx->key->htable, ctx->ghash, zero, 1);
}

/* Feeds len bytes of p to the running GHASH (AAD, or ciphertext in the first pass of a
 * tag-first decryption): a block begun by an earlier call first, then whole blocks through
 * the kernel, then the start of a new partial block. */
static void ghash_absorb(ks_gcm_ctx *ctx, const ks_gcm_kernel *k, const uint8_t *p,
                         size_t len)
{
    while (ctx->partial_len != 0 && len != 0) {
        ctx->ghash[ctx->partial_len++] ^= *p++;
        len--;
        if (ctx->partial_len == 16) {
            ghash_flush(ctx, k);
            ctx->partial_len = 0;
        }
    }
    size_t full = len / 16;
    k->ghash(ctx->key->htable, ctx->ghash, p, full);
    p += 16 * full;
    len -= 16 * full;
    if (len != 0) { /* here partial_len is 0: start a new partial block */
        for (size_t i = 0; i < len; i++) {
            ctx->ghash[i] ^= p[i];
        }
        ctx->partial_len = (unsigned)len;
    }
}

ks_status ks_gcm_start(ks_gcm_ctx *ctx, const ks_gcm_key *key, const uint8_t *iv,
                       size_t iv_len)
{
    if (ctx == NULL || key == NULL || (iv == NULL && iv_len != 0)) {
        return KS_ERR_ARGS;
    }
    if (iv_len == 0 || (uint64_t)iv_len > KS_GCM_MAX_IV) {
        return KS_ERR_LEN;
    }
    memset(ctx, 0, sizeof(*ctx));
    ctx->key = key;
    const ks_gcm_kernel *k = kernel_of(key);
    if (k == NULL) {
        return ks_gcm_lc_start(ctx, iv, iv_len);
    }
    if (iv_len == 12) {
        /* SP 800-38D 7.1 step 2: J0 = IV || 0^31 || 1. */
        memcpy(ctx->j0, iv, 12);
        ctx->j0[15] = 1;
    } else {
        /* J0 = GHASH(IV || 0^(s+64) || [len(IV)]_64); ghash is zero after the memset. */
        uint8_t last[16] = {0};
        size_t full = iv_len / 16, rest = iv_len % 16;
        k->ghash(key->htable, ctx->ghash, iv, full);
        if (rest != 0) {
            memcpy(last, iv + 16 * full, rest);
            k->ghash(key->htable, ctx->ghash, last, 1);
            memset(last, 0, sizeof(last));
        }
        put_be64(last + 8, (uint64_t)iv_len * 8);
        k->ghash(key->htable, ctx->ghash, last, 1);
        memcpy(ctx->j0, ctx->ghash, 16);
        memset(ctx->ghash, 0, sizeof(ctx->ghash));
    }
    memcpy(ctx->counter, ctx->j0, 16);
    inc32(ctx->counter);
    /* From here j0 holds E_K(J0), the tag mask (7.1 step 6): computed now, its AES overlaps
     * the work that follows instead of delaying the tag. */
    ks_gcm_aesni_block(&key->aes, ctx->j0, ctx->j0);
    return KS_OK;
}

ks_status ks_gcm_aad(ks_gcm_ctx *ctx, const uint8_t *aad, size_t aad_len)
{
    if (ctx == NULL || ctx->key == NULL || (aad == NULL && aad_len != 0) ||
        ctx->phase != PHASE_AAD) {
        return KS_ERR_ARGS;
    }
    if ((uint64_t)aad_len > KS_GCM_MAX_AAD - ctx->aad_len) {
        return KS_ERR_LEN;
    }
    if (aad_len == 0) {
        return KS_OK; /* nothing to hash; and aad may be NULL, where aad + 0 is UB (C11 6.5.6) */
    }
    const ks_gcm_kernel *k = kernel_of(ctx->key);
    if (k == NULL) {
        ks_status st = ks_gcm_lc_aad(ctx, aad, aad_len);
        if (st == KS_OK) {
            ctx->aad_len += aad_len;
        }
        return st;
    }
    ctx->aad_len += aad_len;
    ghash_absorb(ctx, k, aad, aad_len);
    return KS_OK;
}

/* Common checks of a data call; on the first one, closes the AAD (zero padding, 7.1 step 4). */
static ks_status data_begin(ks_gcm_ctx *ctx, const uint8_t *out, const uint8_t *in,
                            size_t len, int phase)
{
    if (ctx == NULL || ctx->key == NULL || ((out == NULL || in == NULL) && len != 0)) {
        return KS_ERR_ARGS;
    }
    if (ctx->phase != PHASE_AAD && ctx->phase != phase) {
        return KS_ERR_ARGS;
    }
    if ((uint64_t)len > KS_GCM_MAX_MSG - ctx->msg_len) {
        return KS_ERR_LEN;
    }
    if (ctx->phase == PHASE_AAD) {
        const ks_gcm_kernel *k = kernel_of(ctx->key);
        if (k != NULL && ctx->partial_len != 0) {
            ghash_flush(ctx, k);
        }
        ctx->partial_len = 0;
        ctx->phase = phase;
        /* Tag first: the second pass hashes the ciphertext again from here (recheck). */
        memcpy(ctx->aad_ghash, ctx->ghash, 16);
    }
    return KS_OK;
}

/* CTR over len bytes with the GHASH of the ciphertext (the output when phase is
 * PHASE_ENCRYPT, else the input), carrying partial blocks; k is the key's kernel. */
static void crypt_run(ks_gcm_ctx *ctx, const ks_gcm_kernel *k, uint8_t *out, const uint8_t *in,
                      size_t len, int phase)
{
    /* Use up the keystream of a block begun by the previous call. */
    while (ctx->partial_len != 0 && len != 0) {
        uint8_t c = phase == PHASE_ENCRYPT ? (uint8_t)(*in ^ ctx->partial[ctx->partial_len])
                                           : *in;
        *out++ = (uint8_t)(*in++ ^ ctx->partial[ctx->partial_len]);
        ctx->ghash[ctx->partial_len++] ^= c;
        len--;
        if (ctx->partial_len == 16) {
            ghash_flush(ctx, k);
            ctx->partial_len = 0;
        }
    }
    size_t full = len / 16;
    (phase == PHASE_ENCRYPT ? k->encrypt : k->decrypt)(ctx->key, ctx->counter, ctx->ghash, out,
                                                       in, full);
    out += 16 * full;
    in += 16 * full;
    len -= 16 * full;
    if (len != 0) {
        ks_gcm_aesni_block(&ctx->key->aes, ctx->partial, ctx->counter);
        inc32(ctx->counter);
        for (size_t i = 0; i < len; i++) {
            uint8_t c = phase == PHASE_ENCRYPT ? (uint8_t)(in[i] ^ ctx->partial[i]) : in[i];
            out[i] = (uint8_t)(in[i] ^ ctx->partial[i]);
            ctx->ghash[i] ^= c;
        }
        ctx->partial_len = (unsigned)len;
    }
}

static ks_status gcm_crypt(ks_gcm_ctx *ctx, uint8_t *out, const uint8_t *in, size_t len,
                           int phase)
{
    ks_status st = data_begin(ctx, out, in, len, phase);
    if (st != KS_OK || len == 0) {
        return st; /* len 0: out and in may be NULL, where even + 0 is UB (C11 6.5.6) */
    }
    const ks_gcm_kernel *k = kernel_of(ctx->key);
    if (k == NULL) {
        st = ks_gcm_lc_crypt(ctx, out, in, len, phase == PHASE_ENCRYPT);
        if (st == KS_OK) {
            ctx->msg_len += len;
        }
        return st;
    }
    ctx->msg_len += len;
    crypt_run(ctx, k, out, in, len, phase);
    return KS_OK;
}

ks_status ks_gcm_encrypt(ks_gcm_ctx *ctx, uint8_t *out, const uint8_t *in, size_t len)
{
    return gcm_crypt(ctx, out, in, len, PHASE_ENCRYPT);
}

ks_status ks_gcm_decrypt(ks_gcm_ctx *ctx, uint8_t *out, const uint8_t *in, size_t len)
{
    return gcm_crypt(ctx, out, in, len, PHASE_DECRYPT);
}

ks_status ks_gcm_absorb(ks_gcm_ctx *ctx, const uint8_t *in, size_t len)
{
    ks_status st = data_begin(ctx, in, in, len, PHASE_ABSORB);
    if (st != KS_OK) {
        return st;
    }
    const ks_gcm_kernel *k = kernel_of(ctx->key);
    if (k == NULL) {
        st = ks_gcm_lc_absorb(ctx, in, len);
        if (st == KS_OK) {
            ctx->msg_len += len;
        }
        return st;
    }
    if (len == 0) {
        return KS_OK; /* in may be NULL, where even + 0 is UB (C11 6.5.6) */
    }
    ctx->msg_len += len;
    ghash_absorb(ctx, k, in, len);
    return KS_OK;
}

/* The checks of a second-pass call; KS_OK when there is something to do. */
static ks_status verified_begin(ks_gcm_ctx *ctx, const uint8_t *out, const uint8_t *in,
                                size_t len)
{
    if (ctx == NULL || ctx->key == NULL || ctx->phase != PHASE_VERIFIED ||
        ((out == NULL || in == NULL) && len != 0)) {
        return KS_ERR_ARGS;
    }
    if ((uint64_t)len > ctx->open_len) {
        return KS_ERR_LEN;
    }
    ctx->open_len -= len;
    return KS_OK;
}

/* The run of ciphertext ks_gcm_decrypt_verified copies at a time (a multiple of the block). */
enum { STAGE_LEN = 4096 };

ks_status ks_gcm_decrypt_verified(ks_gcm_ctx *ctx, uint8_t *out, const uint8_t *in,
                                  size_t len)
{
    ks_status st = verified_begin(ctx, out, in, len);
    if (st != KS_OK || len == 0) {
        return st;
    }
    if (ctx->rehashed != ctx->msg_len - ctx->open_len - len) {
        return KS_ERR_ARGS; /* a held part was decrypted without its GHASH */
    }
    ctx->rehashed += len;
    const ks_gcm_kernel *k = kernel_of(ctx->key);
    /* The caller's ciphertext may be memory another thread or process writes (shared memory).
     * A kernel reads a block for the GHASH and again for the XOR (the compiler may reload it
     * from memory too), so a byte changed between those reads would be decrypted as changed
     * and hashed as it was, and the recheck would pass. Each run is therefore copied into
     * module memory first, read once from the caller: what is hashed is what is decrypted. */
    _Alignas(64) uint8_t stage[STAGE_LEN];
    while (len != 0) {
        size_t n = len < sizeof(stage) ? len : sizeof(stage);
        memcpy(stage, in, n);
        if (k == NULL) {
            st = ks_gcm_lc_release(ctx, out, stage, n);
            if (st != KS_OK) {
                return st;
            }
        } else {
            crypt_run(ctx, k, out, stage, n, PHASE_DECRYPT); /* CTR, and the GHASH again */
        }
        out += n;
        in += n;
        len -= n;
    }
    return KS_OK;
}

ks_status ks_gcm_decrypt_held(ks_gcm_ctx *ctx, uint8_t *out, const uint8_t *in, size_t len)
{
    ks_status st = verified_begin(ctx, out, in, len);
    if (st != KS_OK || len == 0) {
        return st;
    }
    const ks_gcm_kernel *k = kernel_of(ctx->key);
    if (k == NULL) {
        return ks_gcm_lc_release(ctx, out, in, len);
    }
    /* Use up the keystream of a block begun by the previous call. */
    while (ctx->partial_len != 0 && len != 0) {
        *out++ = (uint8_t)(*in++ ^ ctx->partial[ctx->partial_len++]);
        len--;
        ctx->partial_len &= 15;
    }
    size_t full = len / 16;
    k->ctr(ctx->key, ctx->counter, out, in, full);
    out += 16 * full;
    in += 16 * full;
    len -= 16 * full;
    if (len != 0) {
        ks_gcm_aesni_block(&ctx->key->aes, ctx->partial, ctx->counter);
        inc32(ctx->counter);
        for (size_t i = 0; i < len; i++) {
            out[i] = (uint8_t)(in[i] ^ ctx->partial[i]);
        }
        ctx->partial_len = (unsigned)len;
    }
    return KS_OK;
}

ks_status ks_gcm_recheck(ks_gcm_ctx *ctx)
{
    if (ctx == NULL || ctx->key == NULL || ctx->phase != PHASE_VERIFIED ||
        ctx->open_len != 0 || ctx->rehashed != ctx->msg_len) {
        return KS_ERR_ARGS;
    }
    uint8_t again[16];
    ks_status st;
    const ks_gcm_kernel *k = kernel_of(ctx->key);
    if (k == NULL) {
        st = ks_gcm_lc_refinish(ctx, again);
    } else {
        if (ctx->partial_len != 0) {
            ghash_flush(ctx, k);
        }
        uint8_t block[16];
        put_be64(block, ctx->aad_len * 8);
        put_be64(block + 8, ctx->msg_len * 8);
        k->ghash(ctx->key->htable, ctx->ghash, block, 1);
        for (int i = 0; i < 16; i++) {
            again[i] = ctx->j0[i] ^ ctx->ghash[i];
        }
        st = KS_OK;
    }
    if (st == KS_OK && !ks_memeq(again, ctx->expect, 16)) {
        st = KS_ERR_AUTH;
    }
    ks_wipe(again, sizeof(again));
    ks_wipe(ctx->expect, sizeof(ctx->expect));
    ks_wipe(ctx->ghash, sizeof(ctx->ghash));
    ks_wipe(ctx->partial, sizeof(ctx->partial));
    ctx->phase = PHASE_DONE;
    return st;
}

ks_status ks_gcm_finish(ks_gcm_ctx *ctx, uint8_t tag[16])
{
    if (ctx == NULL || ctx->key == NULL || tag == NULL || ctx->phase == PHASE_DONE ||
        ctx->phase == PHASE_VERIFIED) {
        return KS_ERR_ARGS;
    }
    const ks_gcm_kernel *k = kernel_of(ctx->key);
    if (k == NULL) {
        ks_status st = ks_gcm_lc_finish(ctx, tag);
        ctx->phase = PHASE_DONE;
        return st;
    }
    if (ctx->partial_len != 0) {
        ghash_flush(ctx, k);
    }
    /* SP 800-38D 7.1 steps 5-6: S = GHASH(... || [len(A)]_64 || [len(C)]_64),
     * T = MSB_t(GCTR(J0, S)). */
    uint8_t block[16];
    put_be64(block, ctx->aad_len * 8);
    put_be64(block + 8, ctx->msg_len * 8);
    k->ghash(ctx->key->htable, ctx->ghash, block, 1);
    for (int i = 0; i < 16; i++) {
        tag[i] = ctx->j0[i] ^ ctx->ghash[i];
    }
    ks_wipe(block, sizeof(block));
    ks_wipe(ctx->partial, sizeof(ctx->partial));
    ks_wipe(ctx->ghash, sizeof(ctx->ghash));
    ctx->partial_len = 0;
    ctx->phase = PHASE_DONE;
    return KS_OK;
}

ks_status ks_gcm_check(ks_gcm_ctx *ctx, const uint8_t *tag, size_t tag_len)
{
    if (tag == NULL || tag_len < 4 || tag_len > 16) {
        return KS_ERR_ARGS;
    }
    uint8_t expected[16] = {0};
    uint8_t expected_full[16];
    int absorbed = ctx != NULL && ctx->phase == PHASE_ABSORB;
    ks_status st = ks_gcm_finish(ctx, expected);
    memcpy(expected_full, expected, 16);
    if (st == KS_OK && !ks_memeq(expected, tag, tag_len)) {
        st = KS_ERR_AUTH;
    }
    ks_wipe(expected, sizeof(expected));
    if (st == KS_OK && absorbed) {
        /* The counter was never advanced while absorbing: CTR starts at inc32(J0). The
         * second pass hashes what it decrypts again, from the GHASH after the AAD, so that
         * ks_gcm_recheck can tell whether the input changed between the passes. */
        ctx->phase = PHASE_VERIFIED;
        ctx->open_len = ctx->msg_len;
        ctx->rehashed = 0;
        memcpy(ctx->expect, expected_full, 16);
        memcpy(ctx->ghash, ctx->aad_ghash, 16);
    }
    ks_wipe(expected_full, sizeof(expected_full));
    return st;
}

void ks_gcm_ctx_clear(ks_gcm_ctx *ctx)
{
    if (ctx != NULL) {
        ks_gcm_lc_free(ctx);
        ks_wipe(ctx, sizeof(*ctx));
    }
}

/* ---- one-shot ------------------------------------------------------------------------ */

ks_status ks_gcm_seal(const ks_gcm_key *key, uint8_t *out, uint8_t *tag, size_t tag_len,
                      const uint8_t *iv, size_t iv_len, const uint8_t *aad, size_t aad_len,
                      const uint8_t *in, size_t in_len)
{
    if (tag == NULL || tag_len < 4 || tag_len > 16) {
        return KS_ERR_ARGS;
    }
    ks_gcm_ctx ctx;
    uint8_t full[16];
    memset(&ctx, 0, sizeof(ctx));
    ks_status st = ks_gcm_start(&ctx, key, iv, iv_len);
    if (st == KS_OK) {
        st = ks_gcm_aad(&ctx, aad, aad_len);
    }
    if (st == KS_OK) {
        st = ks_gcm_encrypt(&ctx, out, in, in_len);
    }
    if (st == KS_OK) {
        st = ks_gcm_finish(&ctx, full);
    }
    if (st == KS_OK) {
        memcpy(tag, full, tag_len);
    }
    ks_wipe(full, sizeof(full));
    ks_gcm_ctx_clear(&ctx);
    return st;
}

ks_status ks_gcm_open(const ks_gcm_key *key, uint8_t *out, const uint8_t *iv, size_t iv_len,
                      const uint8_t *aad, size_t aad_len, const uint8_t *in, size_t in_len,
                      const uint8_t *tag, size_t tag_len)
{
    if (tag == NULL || tag_len < 4 || tag_len > 16 || (out == NULL && in_len != 0)) {
        return KS_ERR_ARGS;
    }
    /* Tag first: nothing reaches out unless the tag verifies (fail closed, and no byte of
     * out is ever written with a value that is not final). */
    ks_gcm_ctx ctx;
    memset(&ctx, 0, sizeof(ctx));
    ks_status st = ks_gcm_start(&ctx, key, iv, iv_len);
    if (st == KS_OK) {
        st = ks_gcm_aad(&ctx, aad, aad_len);
    }
    if (st == KS_OK) {
        st = ks_gcm_absorb(&ctx, in, in_len);
    }
    if (st == KS_OK) {
        st = ks_gcm_check(&ctx, tag, tag_len);
    }
    if (st == KS_OK) {
        st = ks_gcm_decrypt_verified(&ctx, out, in, in_len);
    }
    if (st == KS_OK && ks_gcm_recheck(&ctx) != KS_OK) {
        /* The input changed under the call between the passes: take back what was written. */
        ks_wipe(out, in_len);
        st = KS_ERR_AUTH;
    }
    ks_gcm_ctx_clear(&ctx);
    return st;
}
