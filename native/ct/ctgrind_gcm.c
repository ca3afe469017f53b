/* ctgrind_gcm.c - constant-time check of AES-GCM (crypto/gcm.h) under valgrind memcheck.
 *
 * The key, the H table, the plaintext, the AAD, the ciphertext and the tag are marked
 * undefined (secret). Memcheck reports every branch and every address computed from them.
 * The one decision allowed to depend on secrets is accept/reject of a tag: ks_gcm_check
 * makes it (and ks_gcm_open, which checks the tag before it writes anything, acts on it);
 * tests/native/test_gcm.py checks that every report is in those two functions. Valgrind does not run AVX-512 or VAES code, so this
 * covers the AES-NI path (and libcrypto's, given "libcrypto" as argument).
 *
 * Run: valgrind -q ./ctgrind_gcm [aesni|libcrypto]. Outside valgrind the client requests are
 * no-ops and the program only checks its own results. */
#include <stdio.h>
#include <string.h>

#include <valgrind/memcheck.h>

#include "crypto/gcm.h"

#define SECRET(p, n) VALGRIND_MAKE_MEM_UNDEFINED((p), (n))
#define PUBLIC(p, n) VALGRIND_MAKE_MEM_DEFINED((p), (n))

static int failures;

static void expect(ks_status st, ks_status want, const char *what)
{
    PUBLIC(&st, sizeof(st)); /* the outcome is released to the caller by design */
    if (st != want) {
        printf("FAIL %s: %d\n", what, (int)st);
        failures++;
    }
}

/* One-shot seal, good and bad open, for lengths around the kernels' batch sizes. */
static void check_oneshot(const ks_gcm_key *key)
{
    static const size_t lens[] = {0, 1, 16, 100, 128, 255, 300};
    static const size_t iv_lens[] = {12, 1, 20};
    uint8_t pt[300], aad[37], iv[20], ct[300], out[300], tag[16];

    memset(pt, 0x3c, sizeof(pt));
    memset(aad, 0x5a, sizeof(aad));
    memset(iv, 0x77, sizeof(iv));
    for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
        size_t n = lens[i], ivn = iv_lens[i % 3];
        SECRET(pt, sizeof(pt));
        SECRET(aad, sizeof(aad));
        expect(ks_gcm_seal(key, ct, tag, 16, iv, ivn, aad, sizeof(aad), pt, n), KS_OK, "seal");
        for (int corrupt = 0; corrupt < 2; corrupt++) {
            tag[3] ^= (uint8_t)corrupt;
            SECRET(ct, sizeof(ct));
            SECRET(tag, sizeof(tag));
            expect(ks_gcm_open(key, out, iv, ivn, aad, sizeof(aad), ct, n, tag, 12 + corrupt),
                   corrupt ? KS_ERR_AUTH : KS_OK, "open");
        }
    }
}

/* Streaming in odd pieces: partial blocks carried across calls. */
static void check_stream(const ks_gcm_key *key)
{
    uint8_t msg[200], out[200], tag[16], iv[12] = {1};
    ks_gcm_ctx ctx;
    memset(msg, 0x99, sizeof(msg));
    SECRET(msg, sizeof(msg));
    expect(ks_gcm_start(&ctx, key, iv, sizeof(iv)), KS_OK, "start");
    expect(ks_gcm_aad(&ctx, msg, 5), KS_OK, "aad");
    expect(ks_gcm_aad(&ctx, msg + 5, 30), KS_OK, "aad");
    expect(ks_gcm_encrypt(&ctx, out, msg, 7), KS_OK, "encrypt");
    expect(ks_gcm_encrypt(&ctx, out + 7, msg + 7, 150), KS_OK, "encrypt");
    expect(ks_gcm_encrypt(&ctx, out + 157, msg + 157, 43), KS_OK, "encrypt");
    expect(ks_gcm_finish(&ctx, tag), KS_OK, "finish");
    ks_gcm_ctx_clear(&ctx);
}

int main(int argc, char **argv)
{
    ks_gcm_impl impl = argc > 1 && strcmp(argv[1], "libcrypto") == 0 ? KS_GCM_IMPL_LIBCRYPTO
                                                                      : KS_GCM_IMPL_AESNI;
    static const size_t key_lens[] = {16, 24, 32};
    uint8_t raw[32];

    if (ks_gcm_set_impl(impl) != KS_OK) {
        printf("SKIP implementation not supported\n");
        return 0;
    }
    for (size_t i = 0; i < sizeof(key_lens) / sizeof(key_lens[0]); i++) {
        ks_gcm_key key;
        memset(raw, (int)(0x21 * (i + 1)), sizeof(raw));
        SECRET(raw, sizeof(raw));
        expect(ks_gcm_init(&key, raw, key_lens[i]), KS_OK, "init");
        SECRET(key.aes.enc, sizeof(key.aes.enc));
        SECRET(key.aes.raw, sizeof(key.aes.raw));
        SECRET(key.htable, sizeof(key.htable));
        check_oneshot(&key);
        check_stream(&key);
        ks_gcm_clear(&key);
    }
    ks_gcm_set_impl(KS_GCM_IMPL_AUTO);
    printf(failures == 0 ? "OK\n" : "FAILED\n");
    return failures == 0 ? 0 : 1;
}
