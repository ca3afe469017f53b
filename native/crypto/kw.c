/* kw.c - AES key wrap: KW (RFC 3394, SP 800-38F 6.2) and KWP (RFC 5649, SP 800-38F 6.3).
 *
 * Both rest on the wrapping function W and its inverse (SP 800-38F 6.1, algorithms 1 and 2).
 * Unwrap never exits early: W^-1 runs over the whole input, then the integrity check value,
 * the KWP message length indicator and its zero padding are folded into one mask
 * (crypto/ct.h), and only that mask decides between the plaintext and KS_ERR_AUTH.
 *
 * W and W^-1 transform in place, so both run in a work area of locked memory
 * (ks_secure_alloc), never in the caller's output: the output buffer may be the caller's
 * (C_WrapKey, C_Encrypt with these mechanisms), shared or mapped, and it must never hold the
 * key being wrapped nor an unverified unwrap. Only the finished result is copied out
 * (crypto/copyout.h), once; on any failure nothing is written. */
#include <string.h>

#include "crypto/aes_internal.h"
#include "crypto/copyout.h"
#include "crypto/ct.h"
#include "crypto/kw.h"
#include "crypto/mem.h"

/* RFC 3394 2.2.3.1 and RFC 5649 3: the default initial values. */
static const uint8_t KW_ICV1[8] = {0xa6, 0xa6, 0xa6, 0xa6, 0xa6, 0xa6, 0xa6, 0xa6};
static const uint8_t KWP_ICV2[4] = {0xa6, 0x59, 0x59, 0xa6};

/* SP 800-38F 5.3.1, table 1: KW plaintext of 2 .. 2^54 - 1 semiblocks; KWP of 1 .. 2^32 - 1
 * bytes. */
#define KW_MAX_SEMIBLOCKS (((uint64_t)1 << 54) - 1)
#define KWP_MAX_BYTES ((uint64_t)0xffffffffu)

size_t ks_kw_wrapped_len(size_t in_len)
{
    if (in_len < 16 || in_len % 8 != 0 || in_len / 8 > KW_MAX_SEMIBLOCKS) {
        return 0;
    }
    return in_len + 8;
}

size_t ks_kwp_wrapped_len(size_t in_len)
{
    if (in_len < 1 || (uint64_t)in_len > KWP_MAX_BYTES) {
        return 0;
    }
    return (in_len + 7) / 8 * 8 + 8;
}

/* A ^= t, t as a 64-bit big-endian integer (RFC 3394 2.2.1). */
static void xor_t(uint8_t a[8], uint64_t t)
{
    for (int k = 7; k >= 0; k--, t >>= 8) {
        a[k] ^= (uint8_t)t;
    }
}

/* W (SP 800-38F 6.1 algorithm 1): a is the initial value in and C[0] out; r holds the n
 * semiblocks, transformed in place. AES-NI keys take the register-resident kernel; others
 * go block by block through one libcrypto context. */
static ks_status wrap_w(const ks_aes_key *kek, uint8_t a[8], uint8_t *r, size_t n)
{
    if (kek->impl == KS_AES_IMPL_AESNI) {
        ks_aesni_kw_w(kek->enc, kek->rounds, a, r, n);
        return KS_OK;
    }
    ks_aes_ecb_ctx ecb;
    uint8_t b[16];
    ks_status st = ks_aes_ecb_begin(&ecb, kek, 0);

    for (uint64_t j = 0; j < 6 && st == KS_OK; j++) {
        for (size_t i = 0; i < n && st == KS_OK; i++) {
            memcpy(b, a, 8);
            memcpy(b + 8, r + 8 * i, 8);
            st = ks_aes_ecb_run(&ecb, b, b, 1);
            memcpy(a, b, 8);
            xor_t(a, n * j + i + 1);
            memcpy(r + 8 * i, b + 8, 8);
        }
    }
    ks_aes_ecb_end(&ecb);
    ks_wipe(b, sizeof(b));
    return st;
}

/* W^-1 (SP 800-38F 6.1 algorithm 2): a is C[0] in and the recovered initial value out. */
static ks_status unwrap_w(const ks_aes_key *kek, uint8_t a[8], uint8_t *r, size_t n)
{
    if (kek->impl == KS_AES_IMPL_AESNI) {
        ks_aesni_kw_w_inv(kek->dec, kek->rounds, a, r, n);
        return KS_OK;
    }
    ks_aes_ecb_ctx ecb;
    uint8_t b[16];
    ks_status st = ks_aes_ecb_begin(&ecb, kek, 1);

    for (uint64_t j = 6; j-- > 0 && st == KS_OK;) {
        for (size_t i = n; i-- > 0 && st == KS_OK;) {
            memcpy(b, a, 8);
            xor_t(b, n * j + i + 1);
            memcpy(b + 8, r + 8 * i, 8);
            st = ks_aes_ecb_run(&ecb, b, b, 1);
            memcpy(a, b, 8);
            memcpy(r + 8 * i, b + 8, 8);
        }
    }
    ks_aes_ecb_end(&ecb);
    ks_wipe(b, sizeof(b));
    return st;
}

static void begin_out(size_t *out_len)
{
    if (out_len != NULL) {
        *out_len = 0;
    }
}

ks_status ks_kw_wrap(const ks_aes_key *kek, uint8_t *out, size_t *out_len, size_t max_out,
                     const uint8_t *iv, const uint8_t *in, size_t in_len)
{
    uint8_t a[8];

    begin_out(out_len);
    if (kek == NULL || out == NULL || out_len == NULL || in == NULL) {
        return KS_ERR_ARGS;
    }
    size_t wrapped = ks_kw_wrapped_len(in_len);
    if (wrapped == 0 || max_out < wrapped) {
        return KS_ERR_LEN;
    }
    uint8_t *work = ks_secure_alloc(wrapped);
    if (work == NULL) {
        return KS_ERR_NOMEM;
    }
    memcpy(a, iv != NULL ? iv : KW_ICV1, 8);
    memcpy(work + 8, in, in_len);
    ks_status st = wrap_w(kek, a, work + 8, in_len / 8);
    memcpy(work, a, 8);
    ks_wipe(a, sizeof(a));
    if (st == KS_OK) {
        ks_copy_out(out, work, wrapped);
        *out_len = wrapped;
    }
    ks_secure_free(work, wrapped);
    return st;
}

ks_status ks_kwp_wrap(const ks_aes_key *kek, uint8_t *out, size_t *out_len, size_t max_out,
                      const uint8_t *iv, const uint8_t *in, size_t in_len)
{
    uint8_t a[8];
    ks_status st;

    begin_out(out_len);
    if (kek == NULL || out == NULL || out_len == NULL || in == NULL) {
        return KS_ERR_ARGS;
    }
    size_t wrapped = ks_kwp_wrapped_len(in_len);
    if (wrapped == 0 || max_out < wrapped) {
        return KS_ERR_LEN;
    }
    size_t padded = wrapped - 8;
    uint8_t *work = ks_secure_alloc(wrapped); /* zeroed: the padding is already there */
    if (work == NULL) {
        return KS_ERR_NOMEM;
    }

    /* RFC 5649 3: AIV = ICV2 || MLI (32-bit big-endian byte length); pad with zeros. */
    memcpy(a, iv != NULL ? iv : KWP_ICV2, 4);
    a[4] = (uint8_t)(in_len >> 24);
    a[5] = (uint8_t)(in_len >> 16);
    a[6] = (uint8_t)(in_len >> 8);
    a[7] = (uint8_t)in_len;
    memcpy(work + 8, in, in_len);

    if (padded == 8) {
        /* RFC 5649 4.1: one semiblock of padded plaintext is encrypted as one AES block. */
        memcpy(work, a, 8);
        st = ks_aes_encrypt_blocks(kek, work, work, 1);
    } else {
        st = wrap_w(kek, a, work + 8, padded / 8);
        memcpy(work, a, 8);
    }
    ks_wipe(a, sizeof(a));
    if (st == KS_OK) {
        ks_copy_out(out, work, wrapped);
        *out_len = wrapped;
    }
    ks_secure_free(work, wrapped);
    return st;
}

/* Finish an unwrap: on a true mask copy the work area out (all work_len bytes, a public
 * length: for KWP the verified zero padding follows the plen bytes of plaintext, so no copy
 * depends on the secret-derived MLI) and report plen; otherwise write nothing. This is the
 * one branch on secret-derived data, and it is kept out of line so that the constant-time
 * check (native/ct/ctgrind_core.c) can tell it from any other. The work area is freed (and
 * wiped) either way. */
__attribute__((noinline)) static ks_status unwrap_result(ks_mask ok, ks_status st,
                                                         uint8_t *work, size_t work_len,
                                                         uint8_t *out, size_t *out_len,
                                                         size_t plen)
{
    if (st == KS_OK && ks_value_barrier(ok) == 0) {
        st = KS_ERR_AUTH;
    }
    if (st == KS_OK) {
        ks_copy_out(out, work, work_len);
        *out_len = plen;
    }
    ks_secure_free(work, work_len);
    return st;
}

ks_status ks_kw_unwrap(const ks_aes_key *kek, uint8_t *out, size_t *out_len, size_t max_out,
                       const uint8_t *iv, const uint8_t *in, size_t in_len)
{
    uint8_t a[8];

    begin_out(out_len);
    if (kek == NULL || out == NULL || out_len == NULL || in == NULL) {
        return KS_ERR_ARGS;
    }
    if (in_len < 24 || in_len % 8 != 0 || in_len / 8 - 1 > KW_MAX_SEMIBLOCKS) {
        return KS_ERR_LEN;
    }
    size_t plen = in_len - 8;
    if (max_out < plen) {
        return KS_ERR_LEN;
    }
    uint8_t *work = ks_secure_alloc(plen);
    if (work == NULL) {
        return KS_ERR_NOMEM;
    }
    memcpy(a, in, 8);
    memcpy(work, in + 8, plen);
    ks_status st = unwrap_w(kek, a, work, plen / 8);

    /* RFC 3394 2.2.3: the recovered A must equal the initial value. */
    const uint8_t *icv = iv != NULL ? iv : KW_ICV1;
    uint8_t diff = 0;
    for (int k = 0; k < 8; k++) {
        diff |= (uint8_t)(a[k] ^ icv[k]);
    }
    ks_wipe(a, sizeof(a));
    return unwrap_result(ks_ct_is_zero(diff), st, work, plen, out, out_len, plen);
}

ks_status ks_kwp_unwrap(const ks_aes_key *kek, uint8_t *out, size_t *out_len, size_t max_out,
                        const uint8_t *iv, const uint8_t *in, size_t in_len)
{
    uint8_t a[8];
    uint8_t b[16];
    ks_status st;

    begin_out(out_len);
    if (kek == NULL || out == NULL || out_len == NULL || in == NULL) {
        return KS_ERR_ARGS;
    }
    if (in_len < 16 || in_len % 8 != 0 || (uint64_t)in_len - 8 > KWP_MAX_BYTES + 7) {
        return KS_ERR_LEN;
    }
    size_t padded = in_len - 8;
    if (max_out < padded) {
        return KS_ERR_LEN;
    }
    uint8_t *work = ks_secure_alloc(padded);
    if (work == NULL) {
        return KS_ERR_NOMEM;
    }
    if (padded == 8) {
        /* RFC 5649 4.2: two semiblocks of ciphertext are one AES block. */
        st = ks_aes_decrypt_blocks(kek, b, in, 1);
        memcpy(a, b, 8);
        memcpy(work, b + 8, 8);
        ks_wipe(b, sizeof(b));
    } else {
        memcpy(a, in, 8);
        memcpy(work, in + 8, padded);
        st = unwrap_w(kek, a, work, padded / 8);
    }

    /* RFC 5649 3: A = ICV2 || MLI with 8 * (n - 1) < MLI <= 8 * n, and the padding bytes
     * work[MLI .. 8n) all zero. The padding lies in the last semiblock, so all eight of its
     * bytes are visited and masked by position, whatever MLI says. */
    const uint8_t *icv = iv != NULL ? iv : KWP_ICV2;
    uint8_t diff = 0;
    for (int k = 0; k < 4; k++) {
        diff |= (uint8_t)(a[k] ^ icv[k]);
    }
    ks_mask mli = ((ks_mask)a[4] << 24) | ((ks_mask)a[5] << 16) | ((ks_mask)a[6] << 8) | a[7];
    ks_mask ok = ks_ct_is_zero(diff);
    ok &= ks_ct_lt(padded - 8, mli);
    ok &= ~ks_ct_lt(padded, mli);
    uint8_t pad = 0;
    for (size_t idx = padded - 8; idx < padded; idx++) {
        pad |= (uint8_t)(work[idx] & (uint8_t)ks_ct_ge(idx, mli));
    }
    ok &= ks_ct_is_zero(pad);
    ks_wipe(a, sizeof(a));
    /* mli is only used once ok is true, where it is within the buffer. */
    return unwrap_result(ok, st, work, padded, out, out_len,
                         (size_t)(mli & ks_value_barrier(ok)));
}
