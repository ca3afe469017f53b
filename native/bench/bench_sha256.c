/* bench_sha256.c - cost of the in-tree SHA-256 (crypto/sha256.h) on each compression
 * function the processor supports, next to the libcrypto EVP path (crypto/digest.h,
 * crypto/hmac.h), for the message sizes of the audit trail: a 200-byte record hash, an
 * HMAC of a 32-byte chain value under a 32-byte key, one whole audit step (chain hash, MAC,
 * key ratchet), and 16 KiB for throughput.
 *
 * Build and run from the repository root:
 *   cc -O2 -std=c11 -D_GNU_SOURCE -Inative -Inative/include native/bench/bench_sha256.c \
 *      native/crypto/sha256*.c native/crypto/digest.c native/crypto/hmac.c \
 *      native/crypto/mem.c -lcrypto -o /tmp/bench_sha256
 *   /tmp/bench_sha256 [seconds-per-case, default 0.3]
 *
 * Time is the thread's CPU time (CLOCK_THREAD_CPUTIME_ID), so a busy machine that
 * deschedules the benchmark does not count against it; the best of five windows is kept. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "crypto/digest.h"
#include "crypto/hmac.h"
#include "crypto/sha256.h"

enum { REPS = 5, BIG = 16384 };

static uint8_t msg[BIG];
static uint8_t key[32];
static uint8_t sink[32];

typedef int (*bench_op)(size_t len);

static int op_sha256(size_t len)
{
    ks_sha256(sink, msg, len);
    return 1;
}

static int op_hmac(size_t len)
{
    ks_hmac_sha256(sink, key, sizeof(key), msg, len);
    return 1;
}

/* One audit step as the token's audit trail runs it: chain = H(label || chain || record),
 * mac = HMAC(k, chain), k = H(label || k). */
static int op_audit_step(size_t len)
{
    static const uint8_t label[] = "keystead audit";
    static uint8_t chain[32], k[32], mac[32];
    ks_sha256_ctx ctx;
    ks_sha256_init(&ctx);
    ks_sha256_update(&ctx, label, sizeof(label));
    ks_sha256_update(&ctx, chain, sizeof(chain));
    ks_sha256_update(&ctx, msg, len);
    ks_sha256_final(&ctx, chain);
    ks_hmac_sha256(mac, k, sizeof(k), chain, sizeof(chain));
    ks_sha256_init(&ctx);
    ks_sha256_update(&ctx, label, sizeof(label));
    ks_sha256_update(&ctx, k, sizeof(k));
    ks_sha256_final(&ctx, k);
    return 1;
}

static int op_evp_digest(size_t len)
{
    return ks_digest(KS_MD_SHA256, sink, sizeof(sink), msg, len) == KS_OK;
}

static int op_evp_hmac(size_t len)
{
    return ks_hmac(KS_MD_SHA256, sink, sizeof(sink), key, sizeof(key), msg, len) == KS_OK;
}

static int op_evp_audit_step(size_t len)
{
    static const uint8_t label[] = "keystead audit";
    static uint8_t chain[32], k[32], mac[32];
    ks_digest_ctx d;
    int ok = ks_digest_init(&d, KS_MD_SHA256) == KS_OK &&
             ks_digest_update(&d, label, sizeof(label)) == KS_OK &&
             ks_digest_update(&d, chain, sizeof(chain)) == KS_OK &&
             ks_digest_update(&d, msg, len) == KS_OK &&
             ks_digest_final(&d, chain, sizeof(chain)) == KS_OK;
    ks_digest_clear(&d);
    ok = ok && ks_hmac(KS_MD_SHA256, mac, sizeof(mac), k, sizeof(k), chain, sizeof(chain)) ==
                   KS_OK;
    ok = ok && ks_digest_init(&d, KS_MD_SHA256) == KS_OK &&
         ks_digest_update(&d, label, sizeof(label)) == KS_OK &&
         ks_digest_update(&d, k, sizeof(k)) == KS_OK &&
         ks_digest_final(&d, k, sizeof(k)) == KS_OK;
    ks_digest_clear(&d);
    return ok;
}

static double cpu_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

/* Best ns per call over REPS windows of seconds/REPS each; negative when an op fails. */
static double run(bench_op op, size_t len, double seconds)
{
    double best = 0;
    for (int rep = 0; rep < REPS; rep++) {
        uint64_t calls = 0;
        double t0 = cpu_ns(), t1 = t0;
        while (t1 - t0 < seconds * 1e9 / REPS) {
            for (int i = 0; i < 64; i++, calls++) {
                if (!op(len)) {
                    return -1;
                }
            }
            t1 = cpu_ns();
        }
        double ns = (t1 - t0) / (double)calls;
        if (rep == 0 || ns < best) {
            best = ns;
        }
    }
    return best;
}

int main(int argc, char **argv)
{
    static const struct {
        const char *name;
        size_t len;
        bench_op ours;
        bench_op evp;
    } cases[] = {
        {"sha256 200 B", 200, op_sha256, op_evp_digest},
        {"hmac-sha256 32 B, 32 B key", 32, op_hmac, op_evp_hmac},
        {"audit step, 200 B record", 200, op_audit_step, op_evp_audit_step},
        {"sha256 16 KiB", BIG, op_sha256, op_evp_digest},
    };
    static const struct {
        ks_sha256_impl impl;
        const char *name;
    } impls[] = {{KS_SHA256_SHANI, "sha-ni"}, {KS_SHA256_PORTABLE, "portable"}};
    double seconds = argc > 1 ? strtod(argv[1], NULL) : 0.3;
    int failures = 0;

    if (seconds <= 0) {
        seconds = 0.3;
    }
    for (size_t i = 0; i < sizeof(msg); i++) {
        msg[i] = (uint8_t)(i * 131 + 7);
    }
    memset(key, 0x5a, sizeof(key));
    printf("%-30s %-10s %12s %10s\n", "case", "impl", "ns/call", "ns/byte");
    for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
        double len = (double)cases[c].len;
        for (size_t j = 0; j < sizeof(impls) / sizeof(impls[0]); j++) {
            if (ks_sha256_set_impl(impls[j].impl) != KS_OK) {
                printf("%-30s %-10s unsupported on this processor\n", cases[c].name,
                       impls[j].name);
                continue;
            }
            double ns = run(cases[c].ours, cases[c].len, seconds);
            failures += ns < 0;
            printf("%-30s %-10s %12.1f %10.3f\n", cases[c].name, impls[j].name, ns, ns / len);
        }
        ks_sha256_set_impl(KS_SHA256_AUTO);
        double ns = run(cases[c].evp, cases[c].len, seconds);
        failures += ns < 0;
        printf("%-30s %-10s %12.1f %10.3f\n", cases[c].name, "evp", ns, ns / len);
    }
    return failures == 0 ? 0 : 1;
}
