/* ctgrind_core.c - constant-time check of the crypto core under valgrind (the ctgrind method).
 *
 * Secrets (key schedules, key bytes, wrapped keys, messages) are marked undefined with
 * VALGRIND_MAKE_MEM_UNDEFINED. Memcheck then reports every conditional jump and every memory
 * address computed from them: a secret-dependent branch or table index. The only decision
 * allowed to depend on a secret is the final accept/reject of an unwrap, made in one place
 * (kw.c unwrap_result), on the allow list native/ct/allowed_sites.txt; the test that runs
 * this tool (tests/native/test_mem_ct.py) checks that every report is there.
 *
 * Run: valgrind --error-exitcode=0 ./ctgrind_core (see tests/native/test_mem_ct.py). Outside
 * valgrind the client requests are no-ops and the program only checks its own results. */
#include <stdio.h>
#include <string.h>

#include <valgrind/memcheck.h>

#include "crypto/aes.h"
#include "crypto/cmac.h"
#include "crypto/kw.h"
#include "crypto/mem.h"

#define SECRET(p, n) VALGRIND_MAKE_MEM_UNDEFINED((p), (n))
#define PUBLIC(p, n) VALGRIND_MAKE_MEM_DEFINED((p), (n))

static int failures;

static void expect(int cond, const char *what)
{
    if (!cond) {
        printf("FAIL %s\n", what);
        failures++;
    }
}

static void key_secret(ks_aes_key *key)
{
    SECRET(key->enc, sizeof(key->enc));
    SECRET(key->dec, sizeof(key->dec));
    SECRET(key->raw, sizeof(key->raw));
}

static void check_block_modes(const ks_aes_key *key)
{
    uint8_t buf[16 * 11], out[16 * 11], iv[16] = {0};
    const uint8_t counter[16] = {0xf0, 0xf1, [15] = 0xfe}; /* public, unlike the CBC iv after use */
    ks_aes_ctr ctr;

    memset(buf, 0x3c, sizeof(buf));
    SECRET(buf, sizeof(buf));
    expect(ks_aes_encrypt_blocks(key, out, buf, 11) == KS_OK, "ecb enc");
    expect(ks_aes_decrypt_blocks(key, out, buf, 11) == KS_OK, "ecb dec");
    expect(ks_aes_cbc_encrypt(key, iv, out, buf, 11) == KS_OK, "cbc enc");
    expect(ks_aes_cbc_decrypt(key, iv, out, buf, 11) == KS_OK, "cbc dec");
    expect(ks_aes_ctr_init(&ctr, counter, 32) == KS_OK, "ctr init");
    expect(ks_aes_ctr_xor(key, &ctr, out, buf, sizeof(buf) - 5) == KS_OK, "ctr");
}

static void check_unwraps(const ks_aes_key *kek)
{
    static const size_t kw_lens[] = {16, 40};
    static const size_t kwp_lens[] = {1, 8, 9, 20};
    uint8_t pt[48], ct[64], out[64];
    size_t n = 0, m = 0;

    for (size_t i = 0; i < sizeof(pt); i++) {
        pt[i] = (uint8_t)(i * 29 + 1);
    }
    for (size_t i = 0; i < sizeof(kw_lens) / sizeof(kw_lens[0]); i++) {
        expect(ks_kw_wrap(kek, ct, &n, sizeof(ct), NULL, pt, kw_lens[i]) == KS_OK, "kw wrap");
        for (int corrupt = 0; corrupt < 2; corrupt++) {
            uint8_t c[64];
            memcpy(c, ct, n);
            c[n - 1] ^= (uint8_t)corrupt;
            SECRET(c, n);
            ks_status st = ks_kw_unwrap(kek, out, &m, sizeof(out), NULL, c, n);
            expect(st == (corrupt ? KS_ERR_AUTH : KS_OK), "kw unwrap");
        }
    }
    for (size_t i = 0; i < sizeof(kwp_lens) / sizeof(kwp_lens[0]); i++) {
        expect(ks_kwp_wrap(kek, ct, &n, sizeof(ct), NULL, pt, kwp_lens[i]) == KS_OK,
               "kwp wrap");
        for (int corrupt = 0; corrupt < 2; corrupt++) {
            uint8_t c[64];
            memcpy(c, ct, n);
            c[0] ^= (uint8_t)corrupt;
            SECRET(c, n);
            ks_status st = ks_kwp_unwrap(kek, out, &m, sizeof(out), NULL, c, n);
            expect(st == (corrupt ? KS_ERR_AUTH : KS_OK), "kwp unwrap");
        }
    }
}

static void check_cmac(ks_aes_impl impl)
{
    uint8_t key[32], msg[100], mac[16];
    ks_cmac_ctx ctx;

    memset(key, 0x5a, sizeof(key));
    memset(msg, 0xa5, sizeof(msg));
    ks_aes_set_impl(impl);
    SECRET(key, sizeof(key));
    SECRET(msg, sizeof(msg));
    expect(ks_cmac_init(&ctx, key, sizeof(key)) == KS_OK, "cmac init");
    expect(ks_cmac_update(&ctx, msg, 37) == KS_OK, "cmac update");
    expect(ks_cmac_update(&ctx, msg + 37, 63) == KS_OK, "cmac update");
    expect(ks_cmac_final(&ctx, mac) == KS_OK, "cmac final");
    ks_cmac_clear(&ctx);
    int eq = ks_memeq(msg, msg + 1, 32); /* all 0xa5: equal, found without a branch */
    PUBLIC(&eq, sizeof(eq));
    expect(eq == 1, "memeq");
}

int main(int argc, char **argv)
{
    /* argv[1] = "libcrypto" checks that path too (its internals are libcrypto's). */
    ks_aes_impl impl = argc > 1 && strcmp(argv[1], "libcrypto") == 0 ? KS_AES_IMPL_LIBCRYPTO
                                                                      : KS_AES_IMPL_AESNI;
    static const size_t key_lens[] = {16, 24, 32};
    uint8_t raw[32];

    if (ks_aes_set_impl(impl) != KS_OK) {
        printf("SKIP implementation not supported\n");
        return 0;
    }
    for (size_t i = 0; i < sizeof(key_lens) / sizeof(key_lens[0]); i++) {
        ks_aes_key key;
        memset(raw, (int)(0x11 * (i + 1)), sizeof(raw));
        SECRET(raw, sizeof(raw));
        expect(ks_aes_init(&key, raw, key_lens[i]) == KS_OK, "aes init");
        key_secret(&key);
        check_block_modes(&key);
        check_unwraps(&key);
        ks_aes_clear(&key);
    }
    check_cmac(impl);
    ks_aes_set_impl(KS_AES_IMPL_AUTO);
    printf(failures == 0 ? "OK\n" : "FAILED\n");
    return failures == 0 ? 0 : 1;
}
