/* ct_valgrind.c - constant-time check under valgrind memcheck (the ctgrind method) of AES
 * (block modes), KW/KWP wrap and unwrap, GCM seal and open (one-shot and streaming, every
 * kernel valgrind can run), CMAC, and the token's CBC_PAD decryption (token/ops).
 *
 * Keys, plaintexts and wrapped keys are marked undefined with VALGRIND_MAKE_MEM_UNDEFINED;
 * memcheck then reports every conditional jump or memory address computed from them. Results
 * are marked defined again before this driver compares them, so a report can only come from
 * the code under test. The only decisions allowed to depend on secrets are the final
 * accept/reject of an authenticated decryption, in the functions native/ct/allowed_sites.txt
 * lists (the one allow list, shared with the ctgrind_*.c drivers); every other report is a secret-dependent branch or
 * index, and a failure.
 *
 * Usage: valgrind -q ./ct_valgrind [aesni|libcrypto]. Outside valgrind the client requests do
 * nothing and the driver only checks its own results. Prints "OK" or "FAILED". */
#include <stdio.h>
#include <string.h>

#include <valgrind/memcheck.h>

#include "crypto/aes.h"
#include "crypto/cmac.h"
#include "crypto/gcm.h"
#include "crypto/kw.h"
#include "crypto/mem.h"
#include "token/ops.h"

#define SECRET(p, n) VALGRIND_MAKE_MEM_UNDEFINED((p), (n))
#define PUBLIC(p, n) VALGRIND_MAKE_MEM_DEFINED((p), (n))

static int failures;

static void expect(int cond, const char *what)
{
    PUBLIC(&cond, sizeof(cond));
    if (!cond) {
        printf("FAIL %s\n", what);
        failures++;
    }
}

/* A status as the caller sees it: the result of a check is public once returned. */
static int status(int st)
{
    PUBLIC(&st, sizeof(st));
    return st;
}

static void fill(uint8_t *p, size_t n, uint8_t seed)
{
    for (size_t i = 0; i < n; i++) {
        p[i] = (uint8_t)(seed + i * 37);
    }
}

static void check_aes(const uint8_t *raw, size_t raw_len)
{
    ks_aes_key key;
    uint8_t buf[16 * 9], out[16 * 9], iv[16] = {1};
    const uint8_t counter[16] = {0xc0, [15] = 0xfd};
    ks_aes_ctr ctr;

    expect(status(ks_aes_init(&key, raw, raw_len)) == KS_OK, "aes init");
    fill(buf, sizeof(buf), 3);
    SECRET(buf, sizeof(buf));
    expect(status(ks_aes_encrypt_blocks(&key, out, buf, 9)) == KS_OK, "ecb enc");
    expect(status(ks_aes_decrypt_blocks(&key, out, buf, 9)) == KS_OK, "ecb dec");
    expect(status(ks_aes_cbc_encrypt(&key, iv, out, buf, 9)) == KS_OK, "cbc enc");
    expect(status(ks_aes_cbc_decrypt(&key, iv, out, buf, 9)) == KS_OK, "cbc dec");
    expect(status(ks_aes_ctr_init(&ctr, counter, 32)) == KS_OK, "ctr init");
    expect(status(ks_aes_ctr_xor(&key, &ctr, out, buf, sizeof(buf) - 3)) == KS_OK, "ctr");

    /* KW and KWP: wrap secret keys, unwrap the result and a corrupted copy. */
    static const size_t kw_lens[] = {16, 32};
    static const size_t kwp_lens[] = {1, 7, 20, 32};
    uint8_t pt[32], ct[48], back[48];
    size_t n = 0, m = 0;
    fill(pt, sizeof(pt), 9);
    SECRET(pt, sizeof(pt));
    for (int padded = 0; padded < 2; padded++) {
        const size_t *lens = padded ? kwp_lens : kw_lens;
        size_t count = padded ? 4 : 2;
        for (size_t i = 0; i < count; i++) {
            ks_status st = padded ? ks_kwp_wrap(&key, ct, &n, sizeof(ct), NULL, pt, lens[i])
                                  : ks_kw_wrap(&key, ct, &n, sizeof(ct), NULL, pt, lens[i]);
            expect(status(st) == KS_OK, "wrap");
            for (int corrupt = 0; corrupt < 2; corrupt++) {
                uint8_t c[48];
                memcpy(c, ct, n);
                c[n / 2] ^= (uint8_t)corrupt;
                SECRET(c, n);
                st = padded ? ks_kwp_unwrap(&key, back, &m, sizeof(back), NULL, c, n)
                            : ks_kw_unwrap(&key, back, &m, sizeof(back), NULL, c, n);
                expect(status(st) == (corrupt ? KS_ERR_AUTH : KS_OK), "unwrap");
            }
        }
    }
    ks_aes_clear(&key);
}

static void check_gcm(ks_gcm_impl impl, const uint8_t *raw, size_t raw_len)
{
    ks_gcm_key key;
    ks_gcm_ctx ctx;
    uint8_t pt[83], ct[83], back[83], tag[16], iv[12], aad[29];

    if (status(ks_gcm_set_impl(impl)) != KS_OK) {
        printf("skip gcm impl %d (not supported here)\n", (int)impl);
        return;
    }
    fill(pt, sizeof(pt), 5);
    fill(iv, sizeof(iv), 7);
    fill(aad, sizeof(aad), 11);
    SECRET(pt, sizeof(pt));
    expect(status(ks_gcm_init(&key, raw, raw_len)) == KS_OK, "gcm init");
    expect(status(ks_gcm_seal(&key, ct, tag, 16, iv, 12, aad, sizeof(aad), pt, sizeof(pt))) ==
               KS_OK, "gcm seal");
    for (int wrong = 0; wrong < 2; wrong++) {
        uint8_t t[16];
        memcpy(t, tag, 16);
        t[15] ^= (uint8_t)wrong;
        ks_status st = ks_gcm_open(&key, back, iv, 12, aad, sizeof(aad), ct, sizeof(ct), t, 16);
        expect(status(st) == (wrong ? KS_ERR_AUTH : KS_OK), "gcm open");
    }
    /* Streaming, in uneven pieces, and a non-96-bit IV (GHASH of the IV, SP 800-38D 7.1). */
    memset(&ctx, 0, sizeof(ctx));
    expect(status(ks_gcm_start(&ctx, &key, aad, 17)) == KS_OK, "gcm start");
    expect(status(ks_gcm_aad(&ctx, aad, 5)) == KS_OK, "gcm aad");
    expect(status(ks_gcm_aad(&ctx, aad + 5, 24)) == KS_OK, "gcm aad");
    expect(status(ks_gcm_encrypt(&ctx, ct, pt, 13)) == KS_OK, "gcm enc");
    expect(status(ks_gcm_encrypt(&ctx, ct + 13, pt + 13, 70)) == KS_OK, "gcm enc");
    expect(status(ks_gcm_finish(&ctx, tag)) == KS_OK, "gcm finish");
    ks_gcm_ctx_clear(&ctx);
    memset(&ctx, 0, sizeof(ctx));
    expect(status(ks_gcm_start(&ctx, &key, aad, 17)) == KS_OK, "gcm start");
    expect(status(ks_gcm_aad(&ctx, aad, 29)) == KS_OK, "gcm aad");
    expect(status(ks_gcm_decrypt(&ctx, back, ct, 50)) == KS_OK, "gcm dec");
    expect(status(ks_gcm_decrypt(&ctx, back + 50, ct + 50, 33)) == KS_OK, "gcm dec");
    PUBLIC(tag, sizeof(tag)); /* a received tag is public */
    expect(status(ks_gcm_check(&ctx, tag, 16)) == KS_OK, "gcm check");
    ks_gcm_ctx_clear(&ctx);
    ks_gcm_clear(&key);
    ks_gcm_set_impl(KS_GCM_IMPL_AUTO);
}

static void check_cmac(const uint8_t *raw, size_t raw_len)
{
    ks_cmac_ctx ctx;
    uint8_t msg[77], mac[16];
    fill(msg, sizeof(msg), 13);
    SECRET(msg, sizeof(msg));
    expect(status(ks_cmac_init(&ctx, raw, raw_len)) == KS_OK, "cmac init");
    expect(status(ks_cmac_update(&ctx, msg, 30)) == KS_OK, "cmac update");
    expect(status(ks_cmac_update(&ctx, msg + 30, 47)) == KS_OK, "cmac update");
    expect(status(ks_cmac_final(&ctx, mac)) == KS_OK, "cmac final");
    ks_cmac_clear(&ctx);
}

/* token/ops CBC_PAD decryption: the padding check runs on secret plaintext. */
static void check_cbc_pad(const uint8_t *raw, size_t raw_len)
{
    uint8_t iv[16] = {2}, pt[40], ct[48], back[48];
    CK_MECHANISM mech = {CKM_AES_CBC_PAD, iv, sizeof(iv)};
    ks_key_ref key = {CKK_AES, raw, raw_len, NULL};
    ks_op *op = NULL;
    CK_ULONG n = sizeof(ct);

    fill(pt, sizeof(pt), 17);
    expect(status((int)ks_op_new(&op, KS_OP_ENCRYPT, &mech, &key)) == CKR_OK, "op enc");
    expect(status((int)ks_op_oneshot(op, ct, &n, pt, sizeof(pt))) == CKR_OK, "cbc_pad enc");
    ks_op_free(op);
    for (int bad = 0; bad < 2; bad++) {
        uint8_t c[48];
        CK_ULONG m = sizeof(back);
        memcpy(c, ct, sizeof(c));
        c[31] ^= (uint8_t)(bad * 0x5a); /* changes the last block's plaintext (and padding) */
        SECRET(c, sizeof(c));
        expect(status((int)ks_op_new(&op, KS_OP_DECRYPT, &mech, &key)) == CKR_OK, "op dec");
        CK_RV rv = ks_op_oneshot(op, back, &m, c, sizeof(c));
        expect(status((int)rv) == (int)(bad ? CKR_ENCRYPTED_DATA_INVALID : CKR_OK), "cbc_pad dec");
        ks_op_free(op);
    }
}

int main(int argc, char **argv)
{
    ks_aes_impl impl = argc > 1 && strcmp(argv[1], "libcrypto") == 0 ? KS_AES_IMPL_LIBCRYPTO
                                                                      : KS_AES_IMPL_AESNI;
    static const size_t key_lens[] = {16, 24, 32};
    uint8_t raw[32];

    if (status(ks_aes_set_impl(impl)) != KS_OK) {
        printf("SKIP aes implementation not supported\n");
        return 0;
    }
    for (size_t i = 0; i < 3; i++) {
        fill(raw, sizeof(raw), (uint8_t)(0x21 * (i + 1)));
        SECRET(raw, sizeof(raw));
        check_aes(raw, key_lens[i]);
        check_cmac(raw, key_lens[i]);
        check_cbc_pad(raw, key_lens[i]);
        if (impl == KS_AES_IMPL_AESNI) {
            check_gcm(KS_GCM_IMPL_AESNI, raw, key_lens[i]);
            check_gcm(KS_GCM_IMPL_VAES256, raw, key_lens[i]);
            check_gcm(KS_GCM_IMPL_VAES512, raw, key_lens[i]);
        } else {
            check_gcm(KS_GCM_IMPL_LIBCRYPTO, raw, key_lens[i]);
        }
    }
    ks_aes_set_impl(KS_AES_IMPL_AUTO);
    printf(failures == 0 ? "OK\n" : "FAILED\n");
    return failures == 0 ? 0 : 1;
}
