/* bench_core.c - throughput of the crypto core, in C, without Python in the loop.
 *
 * Every case runs on every AES implementation the processor supports (AES-NI, libcrypto).
 * A case is one row of CASES[]: a name, the key length, the message length, and an op()
 * that processes one message. Adding a primitive (GCM, say) is one more op() and one more
 * row. Reported: ns per byte (clock_gettime, CLOCK_MONOTONIC) and cycles per byte from the
 * time-stamp counter (__rdtsc; reference cycles at the TSC frequency, which may differ from
 * the core clock under turbo).
 *
 * Each figure is the best of REPS timing windows, to see past other load on the machine.
 *
 * Usage: bench_core [seconds per case, default 0.5] */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#if defined(__x86_64__) || defined(__i386__)
#include <x86intrin.h>
#define HAVE_RDTSC 1
#endif

#include "crypto/aes.h"
#include "crypto/cmac.h"
#include "crypto/gcm.h"
#include "crypto/kw.h"
#include "crypto/mem.h"

/* State shared by the ops of one case: a key on the implementation under test and buffers
 * of len bytes (wrap needs 16 more, so they are allocated with room). */
typedef struct bench_ctx {
    ks_aes_key key;
    ks_gcm_key gcm; /* same raw key; the best GCM path, or libcrypto with libcrypto AES */
    uint8_t raw[32];
    size_t key_len;
    uint8_t *in;
    uint8_t *out;
    uint8_t *tmp;
    size_t len;
} bench_ctx;

typedef int (*bench_op)(bench_ctx *ctx);

enum { REPS = 5 };

typedef struct bench_case {
    const char *name;
    size_t key_len;
    size_t len;
    bench_op op;
} bench_case;

static int op_ecb_enc(bench_ctx *c)
{
    return ks_aes_encrypt_blocks(&c->key, c->out, c->in, c->len / 16) == KS_OK;
}

static int op_ecb_dec(bench_ctx *c)
{
    return ks_aes_decrypt_blocks(&c->key, c->out, c->in, c->len / 16) == KS_OK;
}

static int op_cbc_enc(bench_ctx *c)
{
    uint8_t iv[16] = {0};
    return ks_aes_cbc_encrypt(&c->key, iv, c->out, c->in, c->len / 16) == KS_OK;
}

static int op_cbc_dec(bench_ctx *c)
{
    uint8_t iv[16] = {0};
    return ks_aes_cbc_decrypt(&c->key, iv, c->out, c->in, c->len / 16) == KS_OK;
}

static int op_ctr(bench_ctx *c)
{
    ks_aes_ctr ctr;
    uint8_t block[16] = {0};
    return ks_aes_ctr_init(&ctr, block, 128) == KS_OK &&
           ks_aes_ctr_xor(&c->key, &ctr, c->out, c->in, c->len) == KS_OK;
}

/* Wrap then unwrap: the cost of one key transport round trip. */
static int op_kw(bench_ctx *c)
{
    size_t n = 0, m = 0;
    return ks_kw_wrap(&c->key, c->tmp, &n, c->len + 16, NULL, c->in, c->len) == KS_OK &&
           ks_kw_unwrap(&c->key, c->out, &m, c->len + 16, NULL, c->tmp, n) == KS_OK;
}

static int op_kwp(bench_ctx *c)
{
    size_t n = 0, m = 0;
    return ks_kwp_wrap(&c->key, c->tmp, &n, c->len + 16, NULL, c->in, c->len) == KS_OK &&
           ks_kwp_unwrap(&c->key, c->out, &m, c->len + 16, NULL, c->tmp, n) == KS_OK;
}

static int op_cmac(bench_ctx *c)
{
    ks_cmac_ctx mac;
    int ok = ks_cmac_init(&mac, c->raw, c->key_len) == KS_OK &&
             ks_cmac_update(&mac, c->in, c->len) == KS_OK &&
             ks_cmac_final(&mac, c->out) == KS_OK;
    ks_cmac_clear(&mac);
    return ok;
}

/* One-shot AES-GCM with a 96-bit IV and no AAD (per-path figures: bench_gcm.c). */
static int op_gcm_seal(bench_ctx *c)
{
    static const uint8_t iv[12] = {0};
    return ks_gcm_seal(&c->gcm, c->out, c->tmp, 16, iv, 12, NULL, 0, c->in, c->len) == KS_OK;
}

/* Seal then open: the cost of one authenticated round trip. */
static int op_gcm_roundtrip(bench_ctx *c)
{
    static const uint8_t iv[12] = {0};
    return op_gcm_seal(c) &&
           ks_gcm_open(&c->gcm, c->in, iv, 12, NULL, 0, c->out, c->len, c->tmp, 16) == KS_OK;
}

static const bench_case CASES[] = {
    {"aes-128-ecb-enc", 16, 16384, op_ecb_enc},
    {"aes-256-ecb-enc", 32, 16384, op_ecb_enc},
    {"aes-256-ecb-dec", 32, 16384, op_ecb_dec},
    {"aes-256-cbc-enc", 32, 16384, op_cbc_enc},
    {"aes-256-cbc-dec", 32, 16384, op_cbc_dec},
    {"aes-128-ctr", 16, 16384, op_ctr},
    {"aes-256-ctr", 32, 16384, op_ctr},
    {"aes-256-ctr-64B", 32, 64, op_ctr},
    {"aes-256-kw-32B (wrap+unwrap)", 32, 32, op_kw},
    {"aes-256-kw-4K (wrap+unwrap)", 32, 4096, op_kw},
    {"aes-256-kwp-37B (wrap+unwrap)", 32, 37, op_kwp},
    {"aes-256-kwp-4K (wrap+unwrap)", 32, 4096, op_kwp},
    {"aes-128-cmac-16K", 16, 16384, op_cmac},
    {"aes-256-cmac-16K", 32, 16384, op_cmac},
    {"aes-256-cmac-64B", 32, 64, op_cmac},
    {"aes-128-gcm-seal-16K", 16, 16384, op_gcm_seal},
    {"aes-256-gcm-seal-64B", 32, 64, op_gcm_seal},
    {"aes-256-gcm-seal-4K", 32, 4096, op_gcm_seal},
    {"aes-256-gcm-seal-1M", 32, 1 << 20, op_gcm_seal},
    {"aes-256-gcm-1M (seal+open)", 32, 1 << 20, op_gcm_roundtrip},
};

static double now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static uint64_t cycles(void)
{
#ifdef HAVE_RDTSC
    return __rdtsc();
#else
    return 0;
#endif
}

static int run_case(const bench_case *bc, ks_aes_impl impl, const char *impl_name,
                    double seconds)
{
    bench_ctx ctx;
    memset(&ctx, 0, sizeof(ctx));
    ctx.len = bc->len;
    ctx.key_len = bc->key_len;
    ctx.in = calloc(1, bc->len + 16);
    ctx.out = calloc(1, bc->len + 16);
    ctx.tmp = calloc(1, bc->len + 16);
    if (ctx.in == NULL || ctx.out == NULL || ctx.tmp == NULL) {
        fprintf(stderr, "out of memory\n");
        return 0;
    }
    for (size_t i = 0; i < bc->len; i++) {
        ctx.in[i] = (uint8_t)(i * 131 + 7);
    }
    for (size_t i = 0; i < sizeof(ctx.raw); i++) {
        ctx.raw[i] = (uint8_t)(i * 17 + 3);
    }
    int ok = ks_aes_set_impl(impl) == KS_OK &&
             ks_aes_init(&ctx.key, ctx.raw, bc->key_len) == KS_OK &&
             ks_gcm_set_impl(impl == KS_AES_IMPL_LIBCRYPTO ? KS_GCM_IMPL_LIBCRYPTO
                                                           : KS_GCM_IMPL_AUTO) == KS_OK &&
             ks_gcm_init(&ctx.gcm, ctx.raw, bc->key_len) == KS_OK && bc->op(&ctx);

    /* The best of REPS windows: on a shared machine the others measure the neighbours. */
    double best_ns = 0, best_cyc = 0;
    for (int rep = 0; rep < REPS && ok; rep++) {
        uint64_t ops = 0;
        double t0 = now_ns(), t1 = t0;
        uint64_t c0 = cycles();
        while (ok && t1 - t0 < seconds * 1e9 / REPS) {
            for (int i = 0; i < 16 && ok; i++, ops++) {
                ok = bc->op(&ctx);
            }
            t1 = now_ns();
        }
        double ns = (t1 - t0) / (double)ops;
        if (rep == 0 || ns < best_ns) {
            best_ns = ns;
            best_cyc = (double)(cycles() - c0) / (double)ops;
        }
    }
    if (ok) {
        double len = (double)bc->len;
        printf("%-30s %-10s %7zu %12.1f %10.3f %10.2f\n", bc->name, impl_name, bc->len,
               best_ns, best_ns / len, best_cyc / len);
    } else {
        printf("%-30s %-10s FAILED\n", bc->name, impl_name);
    }
    ks_aes_clear(&ctx.key);
    ks_gcm_clear(&ctx.gcm);
    ks_wipe(ctx.raw, sizeof(ctx.raw));
    free(ctx.in);
    free(ctx.out);
    free(ctx.tmp);
    ks_aes_set_impl(KS_AES_IMPL_AUTO);
    ks_gcm_set_impl(KS_GCM_IMPL_AUTO);
    return ok;
}

int main(int argc, char **argv)
{
    static const struct {
        ks_aes_impl impl;
        const char *name;
    } impls[] = {{KS_AES_IMPL_AESNI, "aesni"}, {KS_AES_IMPL_LIBCRYPTO, "libcrypto"}};
    double seconds = argc > 1 ? strtod(argv[1], NULL) : 0.5;
    int failures = 0;

    if (seconds <= 0) {
        seconds = 0.5;
    }
    printf("%-30s %-10s %7s %12s %10s %10s\n", "case", "impl", "bytes", "ns/op", "ns/byte",
           "cyc/byte");
    for (size_t i = 0; i < sizeof(CASES) / sizeof(CASES[0]); i++) {
        for (size_t j = 0; j < sizeof(impls) / sizeof(impls[0]); j++) {
            if (!ks_aes_impl_supported(impls[j].impl)) {
                printf("%-30s %-10s unsupported on this processor\n", CASES[i].name,
                       impls[j].name);
                continue;
            }
            failures += !run_case(&CASES[i], impls[j].impl, impls[j].name, seconds);
        }
    }
    return failures == 0 ? 0 : 1;
}
