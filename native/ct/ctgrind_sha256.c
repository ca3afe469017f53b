/* ctgrind_sha256.c - constant-time check of SHA-256 and HMAC-SHA-256 (crypto/sha256.h)
 * under valgrind memcheck.
 *
 * HMAC keys (shorter than, equal to and longer than the block) and messages are marked
 * undefined (secret); memcheck reports every branch and every address computed from them.
 * Nothing in SHA-256 may depend on them, so the only report allowed is the deliberate one in
 * control_branch(), which proves the marking reached the digests (a run that reported
 * nothing at all could also mean nothing was checked); tests/native/test_sha256.py checks
 * both. Valgrind hides the SHA extensions from its guest, so under valgrind only the
 * portable path runs ("shani" prints SKIP there).
 *
 * Run: valgrind -q ./ctgrind_sha256 [portable|shani]. Outside valgrind the client requests
 * are no-ops and the program only checks its own results. */
#include <stdio.h>
#include <string.h>

#include <valgrind/memcheck.h>

#include "crypto/sha256.h"

#define SECRET(p, n) VALGRIND_MAKE_MEM_UNDEFINED((p), (n))
#define PUBLIC(p, n) VALGRIND_MAKE_MEM_DEFINED((p), (n))

static volatile int sink;

/* The positive control: a branch on a digest byte, which memcheck must report. */
__attribute__((noinline)) static void control_branch(const uint8_t *digest)
{
    if (digest[0] & 1) {
        sink++;
    }
}

int main(int argc, char **argv)
{
    static const size_t key_lens[] = {0, 20, 64, 65, 131};
    static const size_t msg_lens[] = {0, 1, 55, 56, 64, 200, 300};
    /* SHA-256 of 300 bytes 0x5a, FIPS 180-4 (checked with hashlib). */
    static const uint8_t expected[4] = {0xdd, 0x12, 0x8f, 0xf0};
    uint8_t key[131], msg[300], out[32];
    ks_sha256_impl impl = KS_SHA256_PORTABLE;

    if (argc > 1 && strcmp(argv[1], "shani") == 0) {
        impl = KS_SHA256_SHANI;
    }
    if (ks_sha256_set_impl(impl) != KS_OK) {
        printf("SKIP %s not supported here\n", argv[1]);
        return 0;
    }
    memset(key, 0xa5, sizeof(key));
    memset(msg, 0x5a, sizeof(msg));
    SECRET(key, sizeof(key));
    SECRET(msg, sizeof(msg));
    for (size_t i = 0; i < sizeof(key_lens) / sizeof(key_lens[0]); i++) {
        for (size_t j = 0; j < sizeof(msg_lens) / sizeof(msg_lens[0]); j++) {
            ks_hmac_sha256(out, key, key_lens[i], msg, msg_lens[j]);
            ks_sha256_ctx ctx;
            ks_sha256_init(&ctx);
            ks_sha256_update(&ctx, key, key_lens[i]);
            ks_sha256_update(&ctx, msg, msg_lens[j]);
            ks_sha256_final(&ctx, out);
        }
    }
    ks_sha256(out, msg, sizeof(msg));
    control_branch(out);
    PUBLIC(out, sizeof(out));
    if (memcmp(out, expected, sizeof(expected)) != 0) {
        printf("FAIL sha256 of 300 bytes: %02x%02x%02x%02x\n", out[0], out[1], out[2],
               out[3]);
        return 1;
    }
    printf("OK\n");
    return 0;
}
