/* rsa_pad.c - PKCS#1 v1.5 and OAEP encryption paddings (RFC 8017 7.1 and 7.2), with
 * decoders in constant time and the implicit rejection of draft-irtf-cfrg-rsa-guidance.
 *
 * The decoders follow one shape: copy the block to locked memory, compute `good` as a mask
 * over every byte, find the message's start with masks, move the message to the front with
 * shift_left (a fixed pattern of masked copies for each bit of the start), and only then let
 * pad_result, the one place where validity decides anything, accept or reject. */
#include "crypto/rsa_pad.h"

#include <string.h>

#include "crypto/ct.h"
#include "crypto/mem.h"
#include "crypto/rand.h"
#include "crypto/sha256.h"

#define PKCS1_OVERHEAD 11 /* 0x00 0x02, at least 8 bytes of PS, 0x00 */
#define IR_LEN_TRIES 128  /* the draft's candidate lengths: 128 16-bit values */

static int k_ok(size_t k)
{
    return k >= KS_RSA_MIN_BYTES && k <= KS_RSA_MAX_BYTES;
}

size_t ks_rsa_pkcs1_max_msg(size_t k)
{
    return k_ok(k) ? k - PKCS1_OVERHEAD : 0;
}

/* oaep_fits: a k-byte modulus carries OAEP with an h-byte hash (RFC 8017 7.1.1 step 1.b) */
static int oaep_fits(size_t k, size_t h)
{
    return k_ok(k) && h != 0 && k >= 2 * h + 2;
}

size_t ks_rsa_oaep_max_msg(size_t k, ks_md md)
{
    size_t h = ks_md_size(md);
    return oaep_fits(k, h) ? k - 2 * h - 2 : 0;
}

/* ---- MGF1 (RFC 8017 B.2.1) ---------------------------------------------------------- */

ks_status ks_rsa_mgf1_xor(uint8_t *buf, size_t buf_len, ks_md md, const uint8_t *seed,
                          size_t seed_len)
{
    size_t h = ks_md_size(md);
    uint8_t block[KS_MD_MAX_SIZE];
    ks_status st = h == 0 ? KS_ERR_ARGS : KS_OK;

    for (uint32_t counter = 0; st == KS_OK && buf_len > 0; counter++) {
        const uint8_t c[4] = {(uint8_t)(counter >> 24), (uint8_t)(counter >> 16),
                              (uint8_t)(counter >> 8), (uint8_t)counter};
        ks_digest_ctx ctx = {0};
        st = ks_digest_init(&ctx, md);
        if (st == KS_OK) {
            st = ks_digest_update(&ctx, seed, seed_len);
        }
        if (st == KS_OK) {
            st = ks_digest_update(&ctx, c, sizeof(c));
        }
        if (st == KS_OK) {
            st = ks_digest_final(&ctx, block, sizeof(block));
        }
        ks_digest_clear(&ctx);
        size_t n = buf_len < h ? buf_len : h;
        for (size_t i = 0; st == KS_OK && i < n; i++) {
            buf[i] ^= block[i];
        }
        buf += n;
        buf_len -= n;
    }
    ks_wipe(block, sizeof(block));
    return st;
}

/* ---- encoding ------------------------------------------------------------------------ */

ks_status ks_rsa_pkcs1_encode(uint8_t *em, size_t k, const uint8_t *msg, size_t msg_len)
{
    if (em == NULL || (msg == NULL && msg_len > 0)) {
        return KS_ERR_ARGS;
    }
    if (!k_ok(k) || msg_len > k - PKCS1_OVERHEAD) {
        return KS_ERR_LEN;
    }
    size_t ps_len = k - 3 - msg_len;
    em[0] = 0x00;
    em[1] = 0x02;
    if (ks_random(em + 2, ps_len) != KS_OK) {
        return KS_ERR_INTERNAL;
    }
    /* PS is random and public-to-be (it is part of what the RSA operation hides, not a key):
     * redrawing its zero bytes may branch on them. */
    for (size_t i = 0; i < ps_len; i++) {
        while (em[2 + i] == 0) {
            if (ks_random(em + 2 + i, 1) != KS_OK) {
                return KS_ERR_INTERNAL;
            }
        }
    }
    em[2 + ps_len] = 0x00;
    if (msg_len > 0) {
        memcpy(em + 3 + ps_len, msg, msg_len);
    }
    return KS_OK;
}

ks_status ks_rsa_oaep_encode(uint8_t *em, size_t k, const uint8_t *msg, size_t msg_len,
                             ks_md md, ks_md mgf_md, const uint8_t *label, size_t label_len)
{
    size_t h = ks_md_size(md);
    if (em == NULL || (msg == NULL && msg_len > 0) || (label == NULL && label_len > 0) ||
        h == 0 || ks_md_size(mgf_md) == 0) {
        return KS_ERR_ARGS;
    }
    if (!oaep_fits(k, h) || msg_len > ks_rsa_oaep_max_msg(k, md)) {
        return KS_ERR_LEN;
    }
    uint8_t *seed = em + 1, *db = em + 1 + h;
    size_t db_len = k - h - 1;
    em[0] = 0x00;
    /* DB = lHash || PS || 0x01 || M */
    if (ks_digest(md, db, h, label, label_len) != KS_OK) {
        return KS_ERR_INTERNAL;
    }
    memset(db + h, 0, db_len - h - msg_len - 1);
    db[db_len - msg_len - 1] = 0x01;
    if (msg_len > 0) {
        memcpy(db + db_len - msg_len, msg, msg_len);
    }
    if (ks_random(seed, h) != KS_OK || ks_rsa_mgf1_xor(db, db_len, mgf_md, seed, h) != KS_OK ||
        ks_rsa_mgf1_xor(seed, h, mgf_md, db, db_len) != KS_OK) {
        ks_wipe(em, k);
        return KS_ERR_INTERNAL;
    }
    return KS_OK;
}

/* ---- constant-time decoding ---------------------------------------------------------- */

/* shift_left moves buf[shift..len) to the front and zeroes what is left behind, with the same
 * memory accesses for every shift in [0, len]: one masked pass over the buffer per bit. */
static void shift_left(uint8_t *buf, size_t len, ks_mask shift)
{
    for (size_t step = 1; step != 0 && step <= len; step <<= 1) {
        ks_mask m = ~ks_ct_is_zero(shift & step);
        size_t i = 0;
        for (; i + step < len; i++) {
            buf[i] = (uint8_t)ks_ct_select(m, buf[i + step], buf[i]);
        }
        for (; i < len; i++) {
            buf[i] = (uint8_t)ks_ct_select(m, 0, buf[i]);
        }
    }
}

/* pad_result is the one decision on validity (native/ct/allowed_sites.txt): good is all
 * ones or zero; on failure the output is wiped and the one status returned. */
static ks_status pad_result(ks_mask good, uint8_t *out, size_t out_size, size_t *out_len)
{
    if (good == 0) {
        ks_wipe(out, out_size);
        *out_len = 0;
        return KS_ERR_AUTH;
    }
    return KS_OK;
}

ks_status ks_rsa_ir_prf(uint8_t *out, size_t out_len, const uint8_t kdk[KS_RSA_KDK_LEN],
                        const char *label, size_t label_len)
{
    if (out == NULL || kdk == NULL || label == NULL) {
        return KS_ERR_ARGS;
    }
    if (out_len > 0xffff / 8) {
        return KS_ERR_LEN;
    }
    const uint8_t bits[2] = {(uint8_t)((out_len * 8) >> 8), (uint8_t)(out_len * 8)};
    uint8_t block[KS_SHA256_LEN];
    size_t pos = 0;
    for (uint16_t i = 0; pos < out_len; i++) {
        const uint8_t be_i[2] = {(uint8_t)(i >> 8), (uint8_t)i};
        ks_hmac_sha256_ctx ctx;
        ks_hmac_sha256_init(&ctx, kdk, KS_RSA_KDK_LEN);
        ks_hmac_sha256_update(&ctx, be_i, sizeof(be_i));
        ks_hmac_sha256_update(&ctx, (const uint8_t *)label, label_len);
        ks_hmac_sha256_update(&ctx, bits, sizeof(bits));
        ks_hmac_sha256_final(&ctx, block);
        ks_wipe(&ctx, sizeof(ctx));
        size_t n = out_len - pos < sizeof(block) ? out_len - pos : sizeof(block);
        memcpy(out + pos, block, n);
        pos += n;
    }
    ks_wipe(block, sizeof(block));
    return KS_OK;
}

void ks_rsa_ir_kdk_from_d(uint8_t kdk[KS_RSA_KDK_LEN], const uint8_t *d, const uint8_t *c,
                          size_t k)
{
    uint8_t d_hash[KS_SHA256_LEN];
    ks_sha256(d_hash, d, k);
    ks_hmac_sha256(kdk, d_hash, sizeof(d_hash), c, k);
    ks_wipe(d_hash, sizeof(d_hash));
}

/* ir_synthetic fills synth (k bytes) with the draft's synthetic message and returns the index
 * where its synthetic length starts: the last of 128 candidate lengths, masked to the bit
 * length of the largest message, that is below that largest message plus one. */
static ks_status ir_synthetic(uint8_t *synth, size_t k, const uint8_t *kdk, ks_mask *start)
{
    uint8_t cand[IR_LEN_TRIES * 2];
    ks_status st = ks_rsa_ir_prf(synth, k, kdk, "message", 7);
    if (st == KS_OK) {
        st = ks_rsa_ir_prf(cand, sizeof(cand), kdk, "length", 6);
    }
    if (st != KS_OK) {
        ks_wipe(cand, sizeof(cand));
        return st;
    }
    ks_mask max_sep = k - 2 - 8, len_mask = max_sep;
    len_mask |= len_mask >> 1;
    len_mask |= len_mask >> 2;
    len_mask |= len_mask >> 4;
    len_mask |= len_mask >> 8;
    ks_mask synth_len = 0;
    for (size_t i = 0; i < sizeof(cand); i += 2) {
        ks_mask c = (((ks_mask)cand[i] << 8) | cand[i + 1]) & len_mask;
        synth_len = ks_ct_select(ks_ct_lt(c, max_sep), c, synth_len);
    }
    ks_wipe(cand, sizeof(cand));
    *start = k - synth_len;
    return KS_OK;
}

/* pkcs1_check: RFC 8017 7.2.2 step 3, EM = 0x00 || 0x02 || PS || 0x00 || M with PS at least
 * 8 bytes; returns the validity mask and sets *start to M's index (meaningless when invalid). */
static ks_mask pkcs1_check(const uint8_t *em, size_t k, ks_mask *start)
{
    ks_mask good = ks_ct_is_zero(em[0]) & ks_ct_eq(em[1], 2);
    ks_mask found = 0, zero_index = 0;
    for (size_t i = 2; i < k; i++) {
        ks_mask z = ks_ct_is_zero(em[i]);
        zero_index = ks_ct_select(~found & z, i, zero_index);
        found |= z;
    }
    good &= ks_ct_ge(zero_index, 2 + 8); /* also false when no zero byte was found */
    *start = zero_index + 1;
    return good;
}

ks_status ks_rsa_pkcs1_decode(uint8_t *out, size_t *out_len, size_t max_out,
                              const uint8_t *em, size_t k, const uint8_t *kdk)
{
    if (out == NULL || out_len == NULL || em == NULL) {
        return KS_ERR_ARGS;
    }
    size_t max_msg = ks_rsa_pkcs1_max_msg(k);
    if (max_msg == 0 || max_out < max_msg) {
        return KS_ERR_LEN;
    }
    uint8_t *buf = ks_secure_alloc(2 * k);
    if (buf == NULL) {
        return KS_ERR_NOMEM;
    }
    uint8_t *synth = buf + k;

    ks_mask start = 0;
    ks_mask good = pkcs1_check(em, k, &start);

    ks_status st = KS_OK;
    if (kdk != NULL) {
        ks_mask synth_start = 0;
        st = ir_synthetic(synth, k, kdk, &synth_start);
        /* both buffers are read whatever good says */
        for (size_t i = 0; i < k; i++) {
            buf[i] = (uint8_t)ks_ct_select(good, em[i], synth[i]);
        }
        start = ks_ct_select(good, start, synth_start);
        good = ~(ks_mask)0; /* implicit rejection: the output is the answer either way */
    } else {
        memcpy(buf, em, k);
    }
    shift_left(buf, k, start);
    memcpy(out, buf, max_msg);
    *out_len = (size_t)(k - start);
    ks_secure_free(buf, 2 * k);
    if (st != KS_OK) {
        ks_wipe(out, max_msg);
        *out_len = 0;
        return st;
    }
    return pad_result(good, out, max_msg, out_len);
}

ks_status ks_rsa_oaep_decode(uint8_t *out, size_t *out_len, size_t max_out,
                             const uint8_t *em, size_t k, ks_md md, ks_md mgf_md,
                             const uint8_t *label, size_t label_len)
{
    size_t h = ks_md_size(md);
    if (out == NULL || out_len == NULL || em == NULL || h == 0 || ks_md_size(mgf_md) == 0 ||
        (label == NULL && label_len > 0)) {
        return KS_ERR_ARGS;
    }
    size_t max_msg = ks_rsa_oaep_max_msg(k, md);
    if (!oaep_fits(k, h) || max_out < max_msg) {
        return KS_ERR_LEN;
    }
    uint8_t l_hash[KS_MD_MAX_SIZE];
    uint8_t *buf = ks_secure_alloc(k);
    if (buf == NULL) {
        return KS_ERR_NOMEM;
    }
    memcpy(buf, em, k);
    uint8_t *seed = buf + 1, *db = buf + 1 + h;
    size_t db_len = k - h - 1;
    /* RFC 8017 7.1.2 step 3: seed = maskedSeed ^ MGF(maskedDB), DB = maskedDB ^ MGF(seed) */
    ks_status st = ks_digest(md, l_hash, sizeof(l_hash), label, label_len);
    if (st == KS_OK) {
        st = ks_rsa_mgf1_xor(seed, h, mgf_md, db, db_len);
    }
    if (st == KS_OK) {
        st = ks_rsa_mgf1_xor(db, db_len, mgf_md, seed, h);
    }
    if (st != KS_OK) {
        ks_secure_free(buf, k);
        return st;
    }
    ks_mask good = ks_ct_is_zero(buf[0]);
    uint8_t diff = 0;
    for (size_t i = 0; i < h; i++) {
        diff |= (uint8_t)(db[i] ^ l_hash[i]);
    }
    good &= ks_ct_is_zero(diff);
    /* DB = lHash' || PS (zeros) || 0x01 || M: the first non-zero byte after lHash' must be
     * 0x01, and there must be one. */
    ks_mask found = 0, one_index = 0;
    for (size_t i = h; i < db_len; i++) {
        ks_mask nz = ~ks_ct_is_zero(db[i]);
        ks_mask first = ~found & nz;
        one_index = ks_ct_select(first, i, one_index);
        good &= ~first | ks_ct_eq(db[i], 1);
        found |= nz;
    }
    good &= found;
    ks_mask start = 1 + h + one_index + 1;
    shift_left(buf, k, start);
    memcpy(out, buf, max_msg);
    *out_len = (size_t)(k - start);
    ks_secure_free(buf, k);
    ks_wipe(l_hash, sizeof(l_hash));
    return pad_result(good, out, max_msg, out_len);
}

ks_status ks_rsa_pkcs1_decode_key(uint8_t *out, size_t *out_len, size_t max_out,
                                  const size_t *lens, size_t n_lens, const uint8_t *em,
                                  size_t k, const uint8_t *kdk)
{
    if (out == NULL || out_len == NULL || lens == NULL || em == NULL || kdk == NULL ||
        n_lens == 0 || n_lens > KS_RSA_KEY_LENS) {
        return KS_ERR_ARGS;
    }
    size_t max_msg = ks_rsa_pkcs1_max_msg(k), longest = 0;
    for (size_t i = 0; i < n_lens; i++) {
        if (lens[i] == 0 || lens[i] > max_msg) {
            return KS_ERR_LEN;
        }
        longest = lens[i] > longest ? lens[i] : longest;
    }
    if (max_msg == 0 || max_out < longest) {
        return KS_ERR_LEN;
    }
    uint8_t *buf = ks_secure_alloc(2 * k);
    if (buf == NULL) {
        return KS_ERR_NOMEM;
    }
    uint8_t *synth = buf + k, pick[2];
    ks_mask start = 0;
    ks_mask good = pkcs1_check(em, k, &start), allowed = 0;
    /* the synthetic key: the last bytes of k bytes of PRF "key", of a length chosen among
     * the allowed ones by PRF "key length" against public thresholds (no division) */
    ks_status st = ks_rsa_ir_prf(synth, k, kdk, "key", 3);
    if (st == KS_OK) {
        st = ks_rsa_ir_prf(pick, sizeof(pick), kdk, "key length", 10);
    }
    ks_mask v = ((ks_mask)pick[0] << 8) | pick[1], synth_len = lens[0];
    for (size_t i = 0; i < n_lens; i++) {
        allowed |= ks_ct_eq(k - start, lens[i]);
        synth_len = ks_ct_select(ks_ct_ge(v, (ks_mask)(65536 * i / n_lens)), lens[i], synth_len);
    }
    good &= allowed; /* a valid padding around a key of a length the caller expects */
    for (size_t i = 0; i < k; i++) {
        buf[i] = (uint8_t)ks_ct_select(good, em[i], synth[i]);
    }
    start = ks_ct_select(good, start, k - synth_len);
    shift_left(buf, k, start);
    memcpy(out, buf, longest);
    *out_len = (size_t)(k - start);
    ks_secure_free(buf, 2 * k);
    ks_wipe(pick, sizeof(pick));
    if (st != KS_OK) {
        ks_wipe(out, longest);
        *out_len = 0;
    }
    return st;
}
