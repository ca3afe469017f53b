/* ctgrind_rsa.c - constant-time check of the RSA encryption paddings (crypto/rsa_pad.c) under
 * valgrind memcheck (the ctgrind method, as ctgrind_core.c does for KW).
 *
 * The decrypted blocks (what the private-key operation yields), the implicit-rejection key
 * derivation key and the private exponent are marked undefined: memcheck then reports every
 * branch and every address computed from them. PKCS#1 v1.5 (explicit and implicit rejection)
 * and OAEP (every hash) decode valid blocks and every kind of malformed one; the only
 * decision allowed on secret data is pad_result's accept/reject (native/ct/allowed_sites.txt).
 * Under implicit rejection nothing may depend on validity: the tool must see no decision.
 *
 * The modular exponentiation is libcrypto's (blinded): it is outside this check.
 * Usage: valgrind -q ./ctgrind_rsa [pkcs1|oaep|ir]. Prints "OK" or "FAILED". */
#include <stdio.h>
#include <string.h>

#include <valgrind/memcheck.h>

#include "crypto/mem.h"
#include "crypto/rsa_pad.h"

#define SECRET(p, n) VALGRIND_MAKE_MEM_UNDEFINED((p), (n))
#define PUBLIC(p, n) VALGRIND_MAKE_MEM_DEFINED((p), (n))
#define K 256

static int failures;

static void expect(int cond, const char *what)
{
    if (!cond) {
        printf("FAIL %s\n", what);
        failures++;
    }
}

/* The malformed variants of a valid PKCS#1 v1.5 block: bad first byte, bad type, no
 * separator, PS of 7 bytes. */
static void pkcs1_blocks(uint8_t blocks[5][K])
{
    static const uint8_t msg[] = "a premaster secret of 48 bytes, or any other...";
    expect(ks_rsa_pkcs1_encode(blocks[0], K, msg, sizeof(msg)) == KS_OK, "pkcs1 encode");
    for (int i = 1; i < 5; i++) {
        memcpy(blocks[i], blocks[0], K);
    }
    blocks[1][0] = 1;
    blocks[2][1] = 1;
    for (size_t i = 2; i < K; i++) {
        blocks[3][i] |= 0x10;
    }
    blocks[4][9] = 0;
}

static void check_pkcs1(int implicit)
{
    uint8_t blocks[5][K], out[K], kdk[KS_RSA_KDK_LEN];
    size_t n = 0;
    pkcs1_blocks(blocks);
    memset(kdk, 0x42, sizeof(kdk));
    for (int i = 0; i < 5; i++) {
        SECRET(blocks[i], K);
        SECRET(kdk, sizeof(kdk));
        ks_status st = ks_rsa_pkcs1_decode(out, &n, sizeof(out), blocks[i], K,
                                           implicit ? kdk : NULL);
        PUBLIC(&n, sizeof(n));
        PUBLIC(out, sizeof(out));
        if (implicit) {
            expect(st == KS_OK && n <= K - 11, "pkcs1 implicit");
        } else {
            expect(st == (i == 0 ? KS_OK : KS_ERR_AUTH), "pkcs1 explicit");
        }
        if (i == 0) {
            expect(st == KS_OK && n == 48, "pkcs1 valid length");
        }
    }
    /* C_UnwrapKey's decoding: a key of an AES length, valid or synthetic alike */
    static const size_t aes[] = {16, 24, 32};
    for (int i = 0; implicit && i < 5; i++) {
        SECRET(blocks[i], K);
        SECRET(kdk, sizeof(kdk));
        ks_status st = ks_rsa_pkcs1_decode_key(out, &n, sizeof(out), aes, 3, blocks[i], K, kdk);
        PUBLIC(&n, sizeof(n));
        expect(st == KS_OK && (n == 16 || n == 24 || n == 32), "pkcs1 key");
    }
    /* the key derivation key from a secret exponent, and the PRF over a secret key */
    uint8_t d[K], c[K], synth[K];
    memset(d, 0x3c, sizeof(d));
    memset(c, 0x77, sizeof(c));
    SECRET(d, sizeof(d));
    ks_rsa_ir_kdk_from_d(kdk, d, c, K);
    expect(ks_rsa_ir_prf(synth, sizeof(synth), kdk, "message", 7) == KS_OK, "prf");
}

static void check_oaep(void)
{
    static const ks_md mds[] = {KS_MD_SHA1, KS_MD_SHA224, KS_MD_SHA256, KS_MD_SHA384,
                                KS_MD_SHA512};
    static const uint8_t msg[] = "a 32-byte AES key for transport";
    static const uint8_t label[] = "label";
    uint8_t em[K], bad[K], out[K];
    size_t n = 0;
    for (size_t m = 0; m < sizeof(mds) / sizeof(mds[0]); m++) {
        expect(ks_rsa_oaep_encode(em, K, msg, sizeof(msg), mds[m], mds[m], label,
                                  sizeof(label)) == KS_OK,
               "oaep encode");
        for (int variant = 0; variant < 4; variant++) {
            memcpy(bad, em, K);
            const uint8_t *lab = label;
            if (variant == 1) {
                bad[0] = 1; /* Y != 0 */
            } else if (variant == 2) {
                bad[K - 1] ^= 1; /* one bit of maskedDB: the seed, so everything, unmasks wrong */
            } else if (variant == 3) {
                lab = (const uint8_t *)"lab3l"; /* the label hash differs */
            }
            SECRET(bad, K);
            ks_status st = ks_rsa_oaep_decode(out, &n, sizeof(out), bad, K, mds[m], mds[m],
                                              lab, sizeof(label));
            PUBLIC(&n, sizeof(n));
            PUBLIC(out, sizeof(out));
            int ok = variant == 0;
            expect(st == (ok ? KS_OK : KS_ERR_AUTH), "oaep decode");
            expect(!ok || n == sizeof(msg), "oaep length");
        }
        /* random blocks: malformed somewhere */
        for (size_t i = 0; i < K; i++) {
            bad[i] = (uint8_t)(i * 131 + m);
        }
        SECRET(bad, K);
        expect(ks_rsa_oaep_decode(out, &n, sizeof(out), bad, K, mds[m], mds[m], NULL, 0) ==
                   KS_ERR_AUTH,
               "oaep random");
    }
}

int main(int argc, char **argv)
{
    const char *what = argc > 1 ? argv[1] : "pkcs1";
    if (strcmp(what, "pkcs1") == 0) {
        check_pkcs1(0);
    } else if (strcmp(what, "ir") == 0) {
        check_pkcs1(1);
    } else if (strcmp(what, "oaep") == 0) {
        check_oaep();
    } else {
        printf("FAIL unknown check %s\n", what);
        return 1;
    }
    printf(failures == 0 ? "OK\n" : "FAILED\n");
    return failures == 0 ? 0 : 1;
}
