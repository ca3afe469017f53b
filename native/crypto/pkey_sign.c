/* pkey_sign.c - RSA PKCS#1 v1.5 and PSS, ECDSA and pure EdDSA signatures through libcrypto's
 * EVP_PKEY interface (see pkey_sign.h for the inputs each takes).
 *
 * The hash objects are fetched once (an implicit fetch looks the algorithm up on every
 * call). The table is written only inside pthread_once and read-only afterwards. */
#include "crypto/pkey_sign.h"

#include <pthread.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#define MD_SLOTS (KS_MD_SHA512 + 1)

static EVP_MD *g_md[MD_SLOTS];
static pthread_once_t g_md_once = PTHREAD_ONCE_INIT;

static void md_fetch_all(void)
{
    for (int i = KS_MD_SHA1; i < MD_SLOTS; i++) {
        g_md[i] = EVP_MD_fetch(NULL, ks_md_name((ks_md)i), NULL);
    }
}

static const EVP_MD *md_get(ks_md md)
{
    if (md <= KS_MD_NONE || md >= MD_SLOTS) {
        return NULL;
    }
    pthread_once(&g_md_once, md_fetch_all);
    return g_md[md];
}

static int alg_fits(ks_pkey_kind kind, ks_sig_alg alg)
{
    switch (alg) {
    case KS_SIG_RSA_PKCS1:
    case KS_SIG_RSA_PSS:
        return kind == KS_PKEY_RSA;
    case KS_SIG_ECDSA:
        return kind == KS_PKEY_EC;
    case KS_SIG_EDDSA:
        return kind == KS_PKEY_ED25519 || kind == KS_PKEY_ED448;
    }
    return 0;
}

size_t ks_sig_size(const ks_pkey *pkey, ks_sig_alg alg)
{
    size_t bits = 0;
    ks_pkey_kind kind = ks_pkey_kind_of(pkey, &bits);
    if (!alg_fits(kind, alg)) {
        return 0;
    }
    switch (kind) {
    case KS_PKEY_RSA:
        return (bits + 7) / 8;
    case KS_PKEY_EC:
        return 2 * ((bits + 7) / 8);
    case KS_PKEY_ED25519:
        return 64;
    case KS_PKEY_ED448:
        return 114;
    case KS_PKEY_OTHER:
        break;
    }
    return 0;
}

size_t ks_sig_max_input(const ks_pkey *pkey, const ks_sig_spec *spec)
{
    if (spec->alg == KS_SIG_ECDSA || spec->alg == KS_SIG_EDDSA) {
        return SIZE_MAX;
    }
    if (spec->md != KS_MD_NONE) {
        return ks_md_size(spec->md);
    }
    size_t k = ks_sig_size(pkey, spec->alg);
    return k > 11 ? k - 11 : 0; /* RFC 8017 9.2 step 3: tLen <= emLen - 11 */
}

ks_status ks_sig_check(const ks_pkey *pkey, const ks_sig_spec *spec)
{
    size_t bits = 0;
    ks_pkey_kind kind = ks_pkey_kind_of(pkey, &bits);
    if (!alg_fits(kind, spec->alg)) {
        return KS_ERR_KEY_LEN;
    }
    if (spec->alg == KS_SIG_RSA_PKCS1 && spec->md != KS_MD_NONE && md_get(spec->md) == NULL) {
        return KS_ERR_ARGS;
    }
    if (spec->alg == KS_SIG_RSA_PSS) {
        if (md_get(spec->md) == NULL || md_get(spec->mgf1_md) == NULL || bits < 2) {
            return KS_ERR_ARGS;
        }
        /* RFC 8017 9.1.1: emBits = modBits - 1, emLen = ceil(emBits / 8) >= hLen + sLen + 2 */
        size_t em_len = (bits - 1 + 7) / 8;
        size_t h_len = ks_md_size(spec->md);
        if (em_len < h_len + 2 || spec->salt_len > em_len - h_len - 2) {
            return KS_ERR_ARGS;
        }
    }
    return KS_OK;
}

void ks_sig_ctx_clear(ks_sig_ctx *ctx)
{
    if (ctx == NULL) {
        return;
    }
    EVP_MD_CTX_free(ctx->mdctx); /* frees the EVP_PKEY_CTX it owns */
    EVP_PKEY_CTX_free(ctx->pctx);
    ks_pkey_free(ctx->pkey);
    memset(ctx, 0, sizeof(*ctx));
}

/* The RSA parameters of an EVP_PKEY_CTX set up for signing or verifying. */
static int rsa_setup(EVP_PKEY_CTX *pctx, const ks_sig_spec *spec)
{
    if (spec->alg == KS_SIG_RSA_PKCS1) {
        if (EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PADDING) != 1) {
            return 0;
        }
        return spec->md == KS_MD_NONE ||
               EVP_PKEY_CTX_set_signature_md(pctx, md_get(spec->md)) == 1;
    }
    return EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) == 1 &&
           EVP_PKEY_CTX_set_signature_md(pctx, md_get(spec->md)) == 1 &&
           EVP_PKEY_CTX_set_rsa_mgf1_md(pctx, md_get(spec->mgf1_md)) == 1 &&
           spec->salt_len <= INT32_MAX &&
           EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, (int)spec->salt_len) == 1;
}

static int raw_pkcs1(const ks_sig_spec *spec)
{
    return spec->alg == KS_SIG_RSA_PKCS1 && spec->md == KS_MD_NONE;
}

/* A fresh EVP_PKEY_CTX for spec (RSA, ECDSA), or a DigestSign/DigestVerify EVP_MD_CTX
 * (EdDSA); NULL on failure. */
static void *make_context(EVP_PKEY *evp, const ks_sig_spec *spec, int verify)
{
    if (spec->alg == KS_SIG_EDDSA) {
        EVP_MD_CTX *m = EVP_MD_CTX_new();
        int ok = m != NULL &&
                 (verify ? EVP_DigestVerifyInit_ex(m, NULL, NULL, NULL, NULL, evp, NULL)
                         : EVP_DigestSignInit_ex(m, NULL, NULL, NULL, NULL, evp, NULL)) == 1;
        if (!ok) {
            EVP_MD_CTX_free(m);
            return NULL;
        }
        return m;
    }
    EVP_PKEY_CTX *pctx = EVP_PKEY_CTX_new_from_pkey(NULL, evp, NULL);
    if (pctx == NULL) {
        return NULL;
    }
    int ok;
    if (!verify) {
        ok = EVP_PKEY_sign_init(pctx);
    } else if (raw_pkcs1(spec)) {
        ok = EVP_PKEY_verify_recover_init(pctx); /* see raw_pkcs1_verify */
    } else {
        ok = EVP_PKEY_verify_init(pctx);
    }
    if (ok != 1 || (spec->alg != KS_SIG_ECDSA && !rsa_setup(pctx, spec))) {
        EVP_PKEY_CTX_free(pctx);
        return NULL;
    }
    return pctx;
}

static void dispose_pkey_ctx(void *c)
{
    EVP_PKEY_CTX_free(c);
}

static void dispose_md_ctx(void *c)
{
    EVP_MD_CTX_free(c);
}

/* The tag of the context the prepared key keeps for (spec, verify): the bytes of both,
 * padding zeroed. */
typedef struct ctx_tag {
    ks_sig_spec spec;
    int verify;
} ctx_tag;

/* The key's ready context for (spec, verify), made and kept at the first use. */
static const void *kept_context(ks_pkey *key, const ks_sig_spec *spec, int verify)
{
    ctx_tag tag;
    memset(&tag, 0, sizeof(tag));
    tag.spec.alg = spec->alg;
    tag.spec.md = spec->md;
    tag.spec.mgf1_md = spec->mgf1_md;
    tag.spec.salt_len = spec->salt_len;
    tag.verify = verify;
    const void *t = ks_pkey_context(key, &tag, sizeof(tag));
    if (t != NULL) {
        return t;
    }
    void *fresh = make_context(ks_pkey_evp(key), spec, verify);
    if (fresh == NULL) {
        return NULL;
    }
    return ks_pkey_keep(key, &tag, sizeof(tag), fresh,
                        spec->alg == KS_SIG_EDDSA ? dispose_md_ctx : dispose_pkey_ctx);
}

ks_status ks_sig_ctx_init(ks_sig_ctx *ctx, ks_pkey *pkey, const ks_sig_spec *spec,
                          int verify)
{
    if (ctx == NULL || pkey == NULL || spec == NULL) {
        return KS_ERR_ARGS;
    }
    memset(ctx, 0, sizeof(*ctx));
    ks_status st = ks_sig_check(pkey, spec);
    if (st != KS_OK) {
        return st;
    }
    ctx->spec = *spec;
    ctx->verify = verify;
    ctx->sig_len = ks_sig_size(pkey, spec->alg);
    ctx->field_len = spec->alg == KS_SIG_ECDSA ? ctx->sig_len / 2 : 0;
    const void *kept = kept_context(pkey, spec, verify);
    if (spec->alg == KS_SIG_EDDSA) {
        /* A PureEdDSA context signs once: each signature copies the kept one (eddsa()). */
        ctx->mdctx = EVP_MD_CTX_new();
        st = ctx->mdctx == NULL ? KS_ERR_NOMEM : KS_OK;
    } else {
        /* A copy of the kept context, or (the key keeps no more) one of our own. */
        ctx->pctx = kept != NULL ? EVP_PKEY_CTX_dup((EVP_PKEY_CTX *)kept)
                                 : make_context(ks_pkey_evp(pkey), spec, verify);
        st = ctx->pctx == NULL ? KS_ERR_INTERNAL : KS_OK;
    }
    if (st == KS_OK) {
        ctx->pkey = ks_pkey_ref(pkey);
    } else {
        ks_sig_ctx_clear(ctx);
    }
    return st;
}

static ks_status eddsa(ks_sig_ctx *ctx, uint8_t *sig, size_t *sig_len, const uint8_t *in,
                       size_t in_len)
{
    /* A PureEdDSA context signs or verifies once: start from a copy of the kept one. */
    const void *kept = kept_context(ctx->pkey, &ctx->spec, ctx->verify);
    EVP_MD_CTX *m = ctx->mdctx;
    int ready = kept != NULL ? EVP_MD_CTX_copy_ex(m, kept)
                             : (EVP_MD_CTX_reset(m) == 1 &&
                                (ctx->verify ? EVP_DigestVerifyInit_ex(m, NULL, NULL, NULL, NULL,
                                                                        ks_pkey_evp(ctx->pkey),
                                                                        NULL)
                                             : EVP_DigestSignInit_ex(m, NULL, NULL, NULL, NULL,
                                                                      ks_pkey_evp(ctx->pkey),
                                                                      NULL)));
    if (ready != 1) {
        return KS_ERR_INTERNAL;
    }
    /* A NULL input of length 0 is the empty message; libcrypto wants a pointer. */
    static const uint8_t empty[1];
    const uint8_t *msg = in != NULL ? in : empty;
    if (ctx->verify) {
        return EVP_DigestVerify(m, sig, *sig_len, msg, in_len) == 1 ? KS_OK : KS_ERR_AUTH;
    }
    return EVP_DigestSign(m, sig, sig_len, msg, in_len) == 1 ? KS_OK : KS_ERR_INTERNAL;
}

static int input_ok(const ks_sig_ctx *ctx, size_t in_len)
{
    size_t max = ks_sig_max_input(ctx->pkey, &ctx->spec);
    int exact = ctx->spec.alg == KS_SIG_RSA_PSS ||
                (ctx->spec.alg == KS_SIG_RSA_PKCS1 && ctx->spec.md != KS_MD_NONE);
    return exact ? in_len == max : in_len <= max;
}

/* ECDSA signatures are at most SEQUENCE { INTEGER r, INTEGER s } of 66-byte values. */
#define ECDSA_DER_MAX (2 * (66 + 1) + 9)

ks_status ks_sig_sign(ks_sig_ctx *ctx, uint8_t *sig, size_t max_sig, size_t *sig_len,
                      const uint8_t *in, size_t in_len)
{
    if (ctx == NULL || ctx->pkey == NULL || ctx->verify || sig == NULL || sig_len == NULL ||
        (in == NULL && in_len != 0)) {
        return KS_ERR_ARGS;
    }
    if (max_sig < ctx->sig_len) {
        return KS_ERR_ARGS;
    }
    if (!input_ok(ctx, in_len)) {
        return KS_ERR_LEN;
    }
    static const uint8_t empty[1];
    const uint8_t *tbs = in != NULL ? in : empty;
    if (ctx->spec.alg == KS_SIG_EDDSA) {
        *sig_len = ctx->sig_len;
        return eddsa(ctx, sig, sig_len, in, in_len);
    }
    if (ctx->spec.alg == KS_SIG_ECDSA) {
        uint8_t der[ECDSA_DER_MAX];
        size_t der_len = sizeof(der);
        if (EVP_PKEY_sign(ctx->pctx, der, &der_len, tbs, in_len) != 1) {
            return KS_ERR_INTERNAL;
        }
        ks_status st = ks_ecdsa_der_to_raw(sig, ctx->field_len, der, der_len);
        if (st != KS_OK) {
            return KS_ERR_INTERNAL;
        }
        *sig_len = ctx->sig_len;
        return KS_OK;
    }
    size_t n = ctx->sig_len;
    if (EVP_PKEY_sign(ctx->pctx, sig, &n, tbs, in_len) != 1 || n != ctx->sig_len) {
        return KS_ERR_INTERNAL;
    }
    *sig_len = n;
    return KS_OK;
}

/* Raw PKCS#1 v1.5 (no DigestInfo made here): recover the padded data and compare it whole
 * (libcrypto's verify of raw data refuses an empty one, which RFC 8017 9.2 allows). The data
 * and the signature are public: a plain comparison. */
#define RSA_MAX_BYTES (16384 / 8)

static ks_status raw_pkcs1_verify(ks_sig_ctx *ctx, const uint8_t *sig, size_t sig_len,
                                  const uint8_t *in, size_t in_len)
{
    uint8_t rec[RSA_MAX_BYTES];
    size_t n = sizeof(rec);
    if (sig_len > sizeof(rec) ||
        EVP_PKEY_verify_recover(ctx->pctx, rec, &n, sig, sig_len) != 1) {
        return KS_ERR_AUTH;
    }
    return n == in_len && (in_len == 0 || memcmp(rec, in, in_len) == 0) ? KS_OK : KS_ERR_AUTH;
}

ks_status ks_sig_verify(ks_sig_ctx *ctx, const uint8_t *sig, size_t sig_len,
                        const uint8_t *in, size_t in_len)
{
    if (ctx == NULL || ctx->pkey == NULL || !ctx->verify || (sig == NULL && sig_len != 0) ||
        (in == NULL && in_len != 0)) {
        return KS_ERR_ARGS;
    }
    if (sig_len != ctx->sig_len) {
        return KS_ERR_LEN;
    }
    if (!input_ok(ctx, in_len)) {
        /* No signature of this scheme covers such an input (a PSS hash of another length,
         * raw PKCS#1 v1.5 data longer than k - 11). */
        return KS_ERR_AUTH;
    }
    static const uint8_t empty[1];
    const uint8_t *tbs = in != NULL ? in : empty;
    if (ctx->spec.alg == KS_SIG_EDDSA) {
        size_t n = sig_len;
        return eddsa(ctx, (uint8_t *)sig, &n, in, in_len);
    }
    int ok;
    if (raw_pkcs1(&ctx->spec)) {
        return raw_pkcs1_verify(ctx, sig, sig_len, tbs, in_len);
    }
    if (ctx->spec.alg == KS_SIG_ECDSA) {
        uint8_t der[ECDSA_DER_MAX];
        size_t der_len = 0;
        if (ks_ecdsa_raw_to_der(der, sizeof(der), &der_len, sig, ctx->field_len) != KS_OK) {
            return KS_ERR_AUTH;
        }
        ok = EVP_PKEY_verify(ctx->pctx, der, der_len, tbs, in_len);
    } else {
        ok = EVP_PKEY_verify(ctx->pctx, sig, sig_len, tbs, in_len);
    }
    /* 0 is a bad signature, a negative value a malformed one (an RSA value >= n, an ECDSA r
     * or s of 0 or >= the order): both are an invalid signature. */
    return ok == 1 ? KS_OK : KS_ERR_AUTH;
}

/* DER length octets: short form below 128, else 0x81 nn (nothing here exceeds 255). */
static size_t der_read_len(const uint8_t *p, size_t avail, size_t *len)
{
    if (avail < 1) {
        return 0;
    }
    if (p[0] < 0x80) {
        *len = p[0];
        return 1;
    }
    if (p[0] == 0x81 && avail >= 2 && p[1] >= 0x80) {
        *len = p[1];
        return 2;
    }
    return 0; /* long forms beyond one octet, or non-minimal: not ours */
}

/* One non-negative minimal INTEGER at *p, copied right-aligned into out[field_len]. */
static int der_read_uint(const uint8_t **p, const uint8_t *end, uint8_t *out, size_t field_len)
{
    const uint8_t *q = *p;
    size_t len = 0;
    if (end - q < 2 || q[0] != 0x02) {
        return 0;
    }
    size_t hl = der_read_len(q + 1, (size_t)(end - q - 1), &len);
    if (hl == 0 || len == 0 || (size_t)(end - q - 1 - (ptrdiff_t)hl) < len) {
        return 0;
    }
    const uint8_t *v = q + 1 + hl;
    if (v[0] & 0x80) {
        return 0; /* negative */
    }
    if (len > 1 && v[0] == 0 && !(v[1] & 0x80)) {
        return 0; /* non-minimal */
    }
    const uint8_t *digits = v;
    size_t n = len;
    if (n > 1 && digits[0] == 0) {
        digits++;
        n--;
    }
    if (n > field_len) {
        return 0;
    }
    memset(out, 0, field_len - n);
    memcpy(out + field_len - n, digits, n);
    *p = v + len;
    return 1;
}

ks_status ks_ecdsa_der_to_raw(uint8_t *raw, size_t field_len, const uint8_t *der,
                              size_t der_len)
{
    size_t len = 0;
    if (raw == NULL || der == NULL || der_len < 2 || der[0] != 0x30) {
        return KS_ERR_AUTH;
    }
    size_t hl = der_read_len(der + 1, der_len - 1, &len);
    if (hl == 0 || 1 + hl + len != der_len) {
        return KS_ERR_AUTH;
    }
    const uint8_t *p = der + 1 + hl;
    const uint8_t *end = der + der_len;
    if (!der_read_uint(&p, end, raw, field_len) ||
        !der_read_uint(&p, end, raw + field_len, field_len) || p != end) {
        return KS_ERR_AUTH;
    }
    return KS_OK;
}

/* The minimal INTEGER of a big-endian unsigned value of n bytes; returns bytes written. */
static size_t der_put_uint(uint8_t *out, const uint8_t *v, size_t n)
{
    while (n > 1 && v[0] == 0) {
        v++;
        n--;
    }
    size_t pad = (v[0] & 0x80) ? 1 : 0;
    size_t body = n + pad;
    size_t o = 0;
    out[o++] = 0x02;
    if (body >= 0x80) {
        out[o++] = 0x81;
    }
    out[o++] = (uint8_t)body;
    if (pad) {
        out[o++] = 0;
    }
    memcpy(out + o, v, n);
    return o + n;
}

ks_status ks_ecdsa_raw_to_der(uint8_t *der, size_t max_der, size_t *der_len,
                              const uint8_t *raw, size_t field_len)
{
    if (der == NULL || der_len == NULL || raw == NULL || field_len == 0 || field_len > 100 ||
        max_der < 2 * field_len + 9) {
        return KS_ERR_ARGS;
    }
    uint8_t body[2 * (100 + 4)];
    size_t n = der_put_uint(body, raw, field_len);
    n += der_put_uint(body + n, raw + field_len, field_len);
    size_t o = 0;
    der[o++] = 0x30;
    if (n >= 0x80) {
        der[o++] = 0x81;
    }
    der[o++] = (uint8_t)n;
    memcpy(der + o, body, n);
    *der_len = o + n;
    return KS_OK;
}
