/* bench_gcm.c - throughput of AES-GCM (crypto/gcm.h) on every implementation the processor
 * supports, without Python or PKCS#11 in the way: one-shot seal and open of 64 B, 4 KiB and
 * 1 MiB messages, AES-128 and AES-256, best of several runs.
 *
 * Build and run from the repository root:
 *   cc -O2 -std=c11 -D_GNU_SOURCE -Inative -Inative/include native/bench/bench_gcm.c \
 *      native/crypto/gcm*.c native/crypto/aes*.c native/crypto/mem.c -lcrypto -o /tmp/bench_gcm
 *   /tmp/bench_gcm [seconds-per-case]
 *
 * Time is the thread's CPU time (CLOCK_THREAD_CPUTIME_ID), so that a busy machine that
 * deschedules the benchmark does not count against it; the best of five runs is kept.
 * Cycles are time-stamp-counter cycles (RDTSC, rate calibrated against the wall clock over
 * the run) per byte of CPU time: on processors with an invariant TSC they tick at the
 * nominal frequency, not the boosted core clock. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <x86intrin.h>

#include "crypto/gcm.h"

static const struct {
    ks_gcm_impl impl;
    const char *name;
} impls[] = {
    {KS_GCM_IMPL_VAES512, "vaes512"},
    {KS_GCM_IMPL_VAES256, "vaes256"},
    {KS_GCM_IMPL_AESNI, "aesni"},
    {KS_GCM_IMPL_LIBCRYPTO, "libcrypto"},
};

static const size_t sizes[] = {64, 4096, 1 << 20};
static const size_t key_lens[] = {16, 32};

static double clock_s(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Best bytes per second and TSC cycles per byte over repeated timed runs of ~seconds/5. */
static void run(const ks_gcm_key *key, int decrypt, uint8_t *buf, uint8_t *out, size_t len,
                double seconds, double *best_bps, double *best_cpb)
{
    static const uint8_t iv[12] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12};
    uint8_t tag[16];
    ks_gcm_seal(key, out, tag, 16, iv, 12, NULL, 0, buf, len); /* out: a valid ciphertext */
    size_t reps = 1;
    *best_bps = 0;
    *best_cpb = 1e30;
    for (int round = 0; round < 5; round++) {
        double t0, t1, w0, w1;
        uint64_t c0, c1;
        do {
            w0 = clock_s(CLOCK_MONOTONIC);
            t0 = clock_s(CLOCK_THREAD_CPUTIME_ID);
            c0 = __rdtsc();
            for (size_t i = 0; i < reps; i++) {
                ks_status st = decrypt
                    ? ks_gcm_open(key, buf, iv, 12, NULL, 0, out, len, tag, 16)
                    : ks_gcm_seal(key, out, tag, 16, iv, 12, NULL, 0, buf, len);
                if (st != KS_OK) {
                    fprintf(stderr, "bench_gcm: status %d\n", (int)st);
                    exit(1);
                }
            }
            c1 = __rdtsc();
            t1 = clock_s(CLOCK_THREAD_CPUTIME_ID);
            w1 = clock_s(CLOCK_MONOTONIC);
            if (t1 - t0 < seconds / 5) {
                reps *= 2;
            }
        } while (t1 - t0 < seconds / 5);
        double bps = (double)(len * reps) / (t1 - t0);
        double tsc_hz = (double)(c1 - c0) / (w1 - w0);
        double cpb = (t1 - t0) * tsc_hz / (double)(len * reps);
        *best_bps = bps > *best_bps ? bps : *best_bps;
        *best_cpb = cpb < *best_cpb ? cpb : *best_cpb;
    }
}

int main(int argc, char **argv)
{
    double seconds = argc > 1 ? atof(argv[1]) : 1.0;
    size_t max = sizes[sizeof(sizes) / sizeof(sizes[0]) - 1];
    uint8_t *buf = calloc(1, max), *out = calloc(1, max);
    uint8_t raw[32];
    if (buf == NULL || out == NULL) {
        return 1;
    }
    memset(raw, 0x42, sizeof(raw));
    printf("%-10s %-6s %-8s %-8s %9s %9s\n", "impl", "key", "size", "op", "GB/s", "cyc/B");
    for (size_t i = 0; i < sizeof(impls) / sizeof(impls[0]); i++) {
        if (ks_gcm_set_impl(impls[i].impl) != KS_OK) {
            printf("%-10s unsupported\n", impls[i].name);
            continue;
        }
        for (size_t k = 0; k < sizeof(key_lens) / sizeof(key_lens[0]); k++) {
            ks_gcm_key key;
            if (ks_gcm_init(&key, raw, key_lens[k]) != KS_OK) {
                return 1;
            }
            for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
                for (int decrypt = 0; decrypt <= 1; decrypt++) {
                    double bps, cpb;
                    run(&key, decrypt, buf, out, sizes[s], seconds, &bps, &cpb);
                    printf("%-10s %-6zu %-8zu %-8s %9.2f %9.3f\n", impls[i].name,
                           8 * key_lens[k], sizes[s], decrypt ? "open" : "seal", bps / 1e9,
                           cpb);
                }
            }
            ks_gcm_clear(&key);
        }
    }
    free(buf);
    free(out);
    return 0;
}
