/* ops_pkey_sign.c - C_Sign* and C_Verify* with the key-pair signature mechanisms (PKCS#11 3.0
 * mechanisms 2.1.6-2.1.8, 2.1.10-2.1.11 (RSA PKCS#1 v1.5, PSS and their hashed variants),
 * 2.3.6-2.3.7 (ECDSA), 2.3.14 (EdDSA)).
 *
 * - CKM_RSA_PKCS signs the data as given (a DigestInfo, at most k - 11 bytes), single-part;
 *   CKM_SHA*_RSA_PKCS hash the message and sign its DigestInfo, multi-part.
 * - CKM_RSA_PKCS_PSS signs a hash given by the caller, whose length must be that of the
 *   parameter's hashAlg, single-part; CKM_SHA*_RSA_PKCS_PSS hash the message, multi-part, and
 *   their hashAlg must be the mechanism's own hash. The CK_RSA_PKCS_PSS_PARAMS is required:
 *   hashAlg a SHA-1/SHA-2 digest mechanism, mgf a CKG_MGF1_SHA1/SHA2 generator, sLen at most
 *   emLen - hLen - 2 for the key (RFC 8017 9.1.1); anything else is
 *   CKR_MECHANISM_PARAM_INVALID.
 * - CKM_ECDSA signs a hash of any length, truncated to the bit length of the order (SEC 1
 *   4.1.3), single-part; CKM_ECDSA_SHA* hash the message, multi-part. Signatures are r || s,
 *   each as long as the order in bytes (mechanisms 2.3.1).
 * - CKM_EDDSA signs the whole message, single-part (PureEdDSA needs it twice). With no
 *   parameter it is Ed25519 or Ed448 as the key's curve says. A CK_EDDSA_PARAMS asking for
 *   Ed25519ctx, Ed25519ph, Ed448ph or an Ed448 context needs instances the linked libcrypto
 *   (3.0) does not have: CKR_MECHANISM_PARAM_INVALID. A parameter with phFlag false and no
 *   context on an Ed448 key is pure Ed448 and is accepted.
 *
 * The single-part mechanisms answer C_SignUpdate/C_VerifyUpdate (and a final without update)
 * with CKR_FUNCTION_NOT_SUPPORTED, as the key-wrap family does.
 *
 * The key comes prepared (ks_key_ref.pkey, the object's cached EVP_PKEY) or is parsed here
 * from its DER; the libcrypto context is made once per operation at init, so that the
 * signing call itself allocates nothing of ours. Verification checks the data length
 * (CKR_DATA_LEN_RANGE, as signing does), then the signature length alone
 * (CKR_SIGNATURE_LEN_RANGE), and answers every other failure CKR_SIGNATURE_INVALID. */
#include <string.h>

#include "crypto/copyout.h"
#include "crypto/mem.h"
#include "token/mech.h"
#include "token/ops_internal.h"

const ks_mech_family ks_fam_pkey_sign = {"pkey-sign", ks_op_pkey_sign_init};

typedef struct sig_row {
    CK_MECHANISM_TYPE mech;
    ks_sig_alg alg;
    ks_md hash; /* hashed by the token (multi-part); KS_MD_NONE: single-part */
} sig_row;

static const sig_row SIG_ROWS[] = {
    {CKM_RSA_PKCS, KS_SIG_RSA_PKCS1, KS_MD_NONE},
    {CKM_SHA1_RSA_PKCS, KS_SIG_RSA_PKCS1, KS_MD_SHA1},
    {CKM_SHA224_RSA_PKCS, KS_SIG_RSA_PKCS1, KS_MD_SHA224},
    {CKM_SHA256_RSA_PKCS, KS_SIG_RSA_PKCS1, KS_MD_SHA256},
    {CKM_SHA384_RSA_PKCS, KS_SIG_RSA_PKCS1, KS_MD_SHA384},
    {CKM_SHA512_RSA_PKCS, KS_SIG_RSA_PKCS1, KS_MD_SHA512},
    {CKM_RSA_PKCS_PSS, KS_SIG_RSA_PSS, KS_MD_NONE},
    {CKM_SHA1_RSA_PKCS_PSS, KS_SIG_RSA_PSS, KS_MD_SHA1},
    {CKM_SHA224_RSA_PKCS_PSS, KS_SIG_RSA_PSS, KS_MD_SHA224},
    {CKM_SHA256_RSA_PKCS_PSS, KS_SIG_RSA_PSS, KS_MD_SHA256},
    {CKM_SHA384_RSA_PKCS_PSS, KS_SIG_RSA_PSS, KS_MD_SHA384},
    {CKM_SHA512_RSA_PKCS_PSS, KS_SIG_RSA_PSS, KS_MD_SHA512},
    {CKM_ECDSA, KS_SIG_ECDSA, KS_MD_NONE},
    {CKM_ECDSA_SHA1, KS_SIG_ECDSA, KS_MD_SHA1},
    {CKM_ECDSA_SHA224, KS_SIG_ECDSA, KS_MD_SHA224},
    {CKM_ECDSA_SHA256, KS_SIG_ECDSA, KS_MD_SHA256},
    {CKM_ECDSA_SHA384, KS_SIG_ECDSA, KS_MD_SHA384},
    {CKM_ECDSA_SHA512, KS_SIG_ECDSA, KS_MD_SHA512},
    {CKM_EDDSA, KS_SIG_EDDSA, KS_MD_NONE},
};

static const sig_row *sig_row_of(CK_MECHANISM_TYPE m)
{
    for (size_t i = 0; i < sizeof(SIG_ROWS) / sizeof(SIG_ROWS[0]); i++) {
        if (SIG_ROWS[i].mech == m) {
            return &SIG_ROWS[i];
        }
    }
    return NULL;
}

static ks_md md_of_digest_mech(CK_MECHANISM_TYPE m)
{
    switch (m) {
    case CKM_SHA_1:
        return KS_MD_SHA1;
    case CKM_SHA224:
        return KS_MD_SHA224;
    case CKM_SHA256:
        return KS_MD_SHA256;
    case CKM_SHA384:
        return KS_MD_SHA384;
    case CKM_SHA512:
        return KS_MD_SHA512;
    default:
        return KS_MD_NONE;
    }
}

static ks_md md_of_mgf(CK_RSA_PKCS_MGF_TYPE g)
{
    switch (g) {
    case CKG_MGF1_SHA1:
        return KS_MD_SHA1;
    case CKG_MGF1_SHA224:
        return KS_MD_SHA224;
    case CKG_MGF1_SHA256:
        return KS_MD_SHA256;
    case CKG_MGF1_SHA384:
        return KS_MD_SHA384;
    case CKG_MGF1_SHA512:
        return KS_MD_SHA512;
    default:
        return KS_MD_NONE;
    }
}

/* CK_RSA_PKCS_PSS_PARAMS (mechanisms 2.1.3): required, hashAlg the mechanism's own hash for
 * the hashed variants. The salt length is checked against the key by ks_sig_check. */
static CK_RV pss_params(const CK_MECHANISM *mech, const sig_row *row, ks_sig_spec *spec)
{
    const CK_RSA_PKCS_PSS_PARAMS *p = mech->pParameter;
    if (p == NULL || mech->ulParameterLen != sizeof(*p)) {
        return CKR_MECHANISM_PARAM_INVALID;
    }
    spec->md = md_of_digest_mech(p->hashAlg);
    spec->mgf1_md = md_of_mgf(p->mgf);
    spec->salt_len = p->sLen;
    if (spec->md == KS_MD_NONE || spec->mgf1_md == KS_MD_NONE ||
        (row->hash != KS_MD_NONE && spec->md != row->hash)) {
        return CKR_MECHANISM_PARAM_INVALID;
    }
    return CKR_OK;
}

/* CK_EDDSA_PARAMS (mechanisms 2.3.14), optional: see the top of the file. */
static CK_RV eddsa_params(const CK_MECHANISM *mech, ks_pkey_kind kind)
{
    if (mech->pParameter == NULL && mech->ulParameterLen == 0) {
        return CKR_OK;
    }
    const CK_EDDSA_PARAMS *p = mech->pParameter;
    if (p == NULL || mech->ulParameterLen != sizeof(*p) ||
        (p->pContextData == NULL && p->ulContextDataLen != 0) || p->ulContextDataLen > 255) {
        return CKR_MECHANISM_PARAM_INVALID;
    }
    if (kind == KS_PKEY_ED448 && p->phFlag == CK_FALSE && p->ulContextDataLen == 0) {
        return CKR_OK; /* Ed448 with the empty context: pure Ed448 */
    }
    return CKR_MECHANISM_PARAM_INVALID;
}

static CK_RV status_rv(ks_status st)
{
    return ks_op_status_rv(st, CKR_DATA_LEN_RANGE, CKR_SIGNATURE_INVALID);
}

/* The longest signature: an RSA modulus of the rows' largest size (mech.c), 16384 bits. */
#define SIG_MAX (16384 / 8)

/* Signs in into module memory, then copies the signature out once (crypto/copyout.h: the
 * caller's buffer is written only by the copy-out helper). out holds *out_len bytes, at least
 * the signature length (ks_out_ready). */
static CK_RV sign_out(ks_pksig_state *st, uint8_t *out, CK_ULONG *out_len, const uint8_t *in,
                      size_t in_len)
{
    uint8_t sig[SIG_MAX];
    size_t n = 0;
    CK_RV rv = status_rv(ks_sig_sign(&st->sig, sig, sizeof(sig), &n, in, in_len));
    if (rv == CKR_OK) {
        ks_copy_out(out, sig, n);
        *out_len = n;
    }
    return rv;
}

/* The input of the signature primitive: the caller's data (single-part mechanisms), or the
 * hash of everything fed (hashed ones) into buf. */
static CK_RV sig_input(ks_op *op, uint8_t buf[KS_MD_MAX_SIZE], const uint8_t **in,
                       size_t *in_len)
{
    ks_pksig_state *st = &op->u.pksig;
    if (st->hash == KS_MD_NONE) {
        return CKR_OK;
    }
    ks_status s = ks_digest_final(&st->dig, buf, KS_MD_MAX_SIZE);
    if (s != KS_OK) {
        return status_rv(s);
    }
    *in = buf;
    *in_len = ks_md_size(st->hash);
    return CKR_OK;
}

/* Raw inputs longer than the primitive takes (raw PKCS#1 v1.5 past k - 11, a PSS hash of the
 * wrong length) are CKR_DATA_LEN_RANGE for signing and verifying alike. */
static int raw_len_ok(const ks_op *op, size_t in_len)
{
    const ks_pksig_state *st = &op->u.pksig;
    if (st->hash != KS_MD_NONE) {
        return 1;
    }
    size_t max = ks_sig_max_input(st->sig.pkey, &st->sig.spec);
    return st->sig.spec.alg == KS_SIG_RSA_PSS ? in_len == max : in_len <= max;
}

static CK_RV sign_final(ks_op *op, uint8_t *out, CK_ULONG *out_len)
{
    ks_pksig_state *st = &op->u.pksig;
    CK_RV rv = CKR_OK;
    if (st->hash == KS_MD_NONE) {
        return CKR_FUNCTION_NOT_SUPPORTED; /* single-part only */
    }
    if (!ks_out_ready(out, out_len, st->sig.sig_len, &rv)) {
        return rv;
    }
    uint8_t hash[KS_MD_MAX_SIZE];
    const uint8_t *in = NULL;
    size_t in_len = 0;
    rv = sig_input(op, hash, &in, &in_len);
    if (rv == CKR_OK) {
        rv = sign_out(st, out, out_len, in, in_len);
    }
    ks_wipe(hash, sizeof(hash));
    return rv;
}

static CK_RV sign_oneshot(ks_op *op, uint8_t *out, CK_ULONG *out_len, const uint8_t *in,
                          size_t in_len)
{
    ks_pksig_state *st = &op->u.pksig;
    CK_RV rv = CKR_OK;
    /* A length query leaves the state as it was: answer before feeding anything. */
    if (!ks_out_ready(out, out_len, st->sig.sig_len, &rv)) {
        return rv;
    }
    if (st->hash != KS_MD_NONE) {
        ks_status s = ks_digest_update(&st->dig, in, in_len);
        return s == KS_OK ? sign_final(op, out, out_len) : status_rv(s);
    }
    if (!raw_len_ok(op, in_len)) {
        return CKR_DATA_LEN_RANGE;
    }
    return sign_out(st, out, out_len, in, in_len);
}

static CK_RV pksig_update(ks_op *op, uint8_t *out, CK_ULONG *out_len, const uint8_t *in,
                          size_t in_len)
{
    (void)out;
    (void)out_len;
    ks_pksig_state *st = &op->u.pksig;
    if (st->hash == KS_MD_NONE) {
        return CKR_FUNCTION_NOT_SUPPORTED;
    }
    return status_rv(ks_digest_update(&st->dig, in, in_len));
}

static CK_RV verify_final(ks_op *op, const uint8_t *sig, size_t sig_len)
{
    ks_pksig_state *st = &op->u.pksig;
    if (st->hash == KS_MD_NONE) {
        return CKR_FUNCTION_NOT_SUPPORTED;
    }
    if (sig_len != st->sig.sig_len) {
        return CKR_SIGNATURE_LEN_RANGE;
    }
    uint8_t hash[KS_MD_MAX_SIZE];
    const uint8_t *in = NULL;
    size_t in_len = 0;
    CK_RV rv = sig_input(op, hash, &in, &in_len);
    if (rv == CKR_OK) {
        rv = status_rv(ks_sig_verify(&st->sig, sig, sig_len, in, in_len));
    }
    return rv;
}

static CK_RV verify_oneshot(ks_op *op, const uint8_t *data, size_t data_len, const uint8_t *sig,
                            size_t sig_len)
{
    ks_pksig_state *st = &op->u.pksig;
    if (!raw_len_ok(op, data_len)) {
        return CKR_DATA_LEN_RANGE;
    }
    if (sig_len != st->sig.sig_len) {
        return CKR_SIGNATURE_LEN_RANGE;
    }
    if (st->hash != KS_MD_NONE) {
        ks_status s = ks_digest_update(&st->dig, data, data_len);
        return s == KS_OK ? verify_final(op, sig, sig_len) : status_rv(s);
    }
    ks_status s = ks_sig_verify(&st->sig, sig, sig_len, data, data_len);
    return s == KS_ERR_LEN ? CKR_SIGNATURE_LEN_RANGE : status_rv(s);
}

static void pksig_clear(ks_op *op)
{
    ks_pksig_state *st = &op->u.pksig;
    ks_digest_clear(&st->dig);
    ks_sig_ctx_clear(&st->sig);
}

static const ks_op_family PKSIG_FAMILY = {
    .oneshot = sign_oneshot,
    .update = pksig_update,
    .final = sign_final,
    .verify = verify_oneshot,
    .verify_final = verify_final,
    .clear = pksig_clear,
};

/* The parameter and the key's kind together make the signature spec. */
static CK_RV make_spec(const CK_MECHANISM *mech, const sig_row *row, ks_pkey *pkey,
                       ks_sig_spec *spec)
{
    size_t bits = 0;
    ks_pkey_kind kind = ks_pkey_kind_of(pkey, &bits);
    memset(spec, 0, sizeof(*spec));
    spec->alg = row->alg;
    switch (row->alg) {
    case KS_SIG_RSA_PKCS1:
        spec->md = row->hash;
        return ks_mech_params_none(mech);
    case KS_SIG_RSA_PSS:
        return pss_params(mech, row, spec);
    case KS_SIG_ECDSA:
        if (kind == KS_PKEY_OTHER) {
            return CKR_CURVE_NOT_SUPPORTED; /* an EC key on a curve other than P-256/384/521 */
        }
        return ks_mech_params_none(mech);
    case KS_SIG_EDDSA:
        return eddsa_params(mech, kind);
    }
    return CKR_MECHANISM_INVALID;
}

static CK_RV spec_check_rv(ks_status st)
{
    switch (st) {
    case KS_OK:
        return CKR_OK;
    case KS_ERR_KEY_LEN:
        return CKR_KEY_TYPE_INCONSISTENT; /* the key's algorithm is not the mechanism's */
    case KS_ERR_ARGS:
        return CKR_MECHANISM_PARAM_INVALID; /* a PSS salt too long for the modulus */
    case KS_ERR_NOMEM:
        return CKR_HOST_MEMORY;
    default:
        return CKR_FUNCTION_FAILED;
    }
}

CK_RV ks_op_pkey_sign_init(ks_op *op, const CK_MECHANISM *mech, const ks_key_ref *key)
{
    ks_pksig_state *st = &op->u.pksig;
    const sig_row *row = sig_row_of(mech->mechanism);
    if (row == NULL || (op->kind != KS_OP_SIGN && op->kind != KS_OP_VERIFY)) {
        return CKR_MECHANISM_INVALID;
    }
    ks_pkey *pkey = key->pkey != NULL
                        ? ks_pkey_of(key->pkey) /* the object's, with its ready contexts */
                        : ks_pkey_prepare(key->value, key->len, op->kind == KS_OP_SIGN);
    if (pkey == NULL) {
        return CKR_KEY_TYPE_INCONSISTENT; /* a value that is no key of its class */
    }
    ks_sig_spec spec;
    CK_RV rv = make_spec(mech, row, pkey, &spec);
    size_t bits = 0;
    const ks_mech_desc *desc = ks_mech_find(mech->mechanism, 0);
    if (rv == CKR_OK && ks_pkey_kind_of(pkey, &bits) == KS_PKEY_RSA &&
        ks_mech_key_type_ok(desc, CKK_RSA) && !ks_mech_key_bits_ok(desc, bits)) {
        rv = CKR_KEY_SIZE_RANGE; /* an RSA row's modulus bounds (mech.c) */
    }
    if (rv == CKR_OK) {
        rv = spec_check_rv(ks_sig_ctx_init(&st->sig, pkey, &spec, op->kind == KS_OP_VERIFY));
    }
    ks_pkey_free(pkey); /* the context holds its own reference */
    if (rv != CKR_OK) {
        return rv;
    }
    st->hash = row->hash;
    if (row->hash != KS_MD_NONE) {
        ks_status s = ks_digest_init(&st->dig, row->hash);
        if (s != KS_OK) {
            ks_sig_ctx_clear(&st->sig);
            return ks_op_status_rv(s, CKR_FUNCTION_FAILED, CKR_FUNCTION_FAILED);
        }
    }
    op->fam = &PKSIG_FAMILY;
    return CKR_OK;
}
