/* mech.c - the mechanism registry: one row per mechanism keystead implements.
 *
 * Key sizes follow the unit the PKCS#11 3.0 mechanisms specification gives for each
 * CK_MECHANISM_INFO: bytes for AES (2.10.x "in bytes") and for the HMAC mechanisms (as
 * SoftHSMv2 and every major token report them), bits for CKM_GENERIC_SECRET_KEY_GEN
 * (generic secret key generation: "the supported range of generic secret key sizes, in bits").
 *
 * CKM_AES_KEY_WRAP_PAD (0x210A) is SoftHSMv2's number for RFC 5649; it is listed only when
 * the module runs with alias_softhsm and then behaves exactly as CKM_AES_KEY_WRAP_KWP. */
#include "token/mech.h"

#include "token/config.h"
#include "token/derive_ecdh.h"
#include "token/ops_internal.h"
#include "token/wrap_policy.h"

#define KT_END ((CK_KEY_TYPE)-1)
#define NO_KEY CK_UNAVAILABLE_INFORMATION

enum {
    AES_MIN = 16,
    AES_MAX = 32,
    HMAC_MIN = 1,     /* bytes; RFC 2104 allows any length, RFC 4231 case 2 uses 4 */
    HMAC_MAX = 4096,  /* bytes */
    GENERIC_MIN_BITS = 8,
    GENERIC_MAX_BITS = 4096 * 8,
    RSA_MIN_BITS = 2048, /* SP 800-131A Rev. 2: 2048 and above for new keys */
    RSA_MAX_BITS = 4096,
    RSA_LEGACY_MIN_BITS = 1024, /* with legacy_mechanisms = on only (legacy use) */
    EC_MIN_BITS = 256,   /* mechanisms 2.3: the field sizes, in bits, of the curves offered */
    EC_MAX_BITS = 521,
    CURVE25519_BITS = 255,
    CURVE448_BITS = 448,
    ECDH_MIN_BITS = 255, /* X25519 */
    ECDH_MAX_BITS = 521, /* P-521 */
};

#define CIPHER_FLAGS (CKF_ENCRYPT | CKF_DECRYPT | CKF_WRAP | CKF_UNWRAP)
#define MAC_FLAGS (CKF_SIGN | CKF_VERIFY)
#define ECDH_FLAGS (CKF_DERIVE | CKF_EC_F_P | CKF_EC_NAMEDCURVE | CKF_EC_UNCOMPRESS | CKF_EC_COMPRESS)

static const CK_KEY_TYPE KT_AES[] = {CKK_AES, KT_END};
static const CK_KEY_TYPE KT_NONE[] = {KT_END};
static const CK_KEY_TYPE KT_DES3[] = {CKK_DES3, KT_END};
static const CK_KEY_TYPE KT_RSA[] = {CKK_RSA, KT_END};
static const CK_KEY_TYPE KT_EC[] = {CKK_EC, KT_END};
static const CK_KEY_TYPE KT_EDWARDS[] = {CKK_EC_EDWARDS, KT_END};
static const CK_KEY_TYPE KT_MONTGOMERY[] = {CKK_EC_MONTGOMERY, KT_END};
static const CK_KEY_TYPE KT_ECDH[] = {CKK_EC, CKK_EC_MONTGOMERY, KT_END};
/* The generic secret generator also makes the typed HMAC keys (the front lets a template ask
 * for CKK_SHA256_HMAC and the like instead of CKK_GENERIC_SECRET). */
static const CK_KEY_TYPE KT_GENERIC[] = {CKK_GENERIC_SECRET, CKK_SHA_1_HMAC, CKK_SHA224_HMAC,
                                         CKK_SHA256_HMAC,    CKK_SHA384_HMAC, CKK_SHA512_HMAC,
                                         KT_END};
static const CK_KEY_TYPE KT_HMAC1[] = {CKK_GENERIC_SECRET, CKK_SHA_1_HMAC, KT_END};
static const CK_KEY_TYPE KT_HMAC224[] = {CKK_GENERIC_SECRET, CKK_SHA224_HMAC, KT_END};
static const CK_KEY_TYPE KT_HMAC256[] = {CKK_GENERIC_SECRET, CKK_SHA256_HMAC, KT_END};
static const CK_KEY_TYPE KT_HMAC384[] = {CKK_GENERIC_SECRET, CKK_SHA384_HMAC, KT_END};
static const CK_KEY_TYPE KT_HMAC512[] = {CKK_GENERIC_SECRET, CKK_SHA512_HMAC, KT_END};

CK_RV ks_mech_params_none(const CK_MECHANISM *mech)
{
    return mech->pParameter != NULL || mech->ulParameterLen != 0 ? CKR_MECHANISM_PARAM_INVALID
                                                                 : CKR_OK;
}

/* ROW(mechanism, its name, key size bounds, functions, key types, key class, traits,
 * wrap padding, parameter check, family) */
#define ROW(m, name, lo, hi, fl, kt, cls, tr, pad, par, fam) \
    {m, lo, hi, fl, kt, name, cls, tr, pad, par, fam}
#define GEN(m, lo, hi, kt, tr) \
    ROW(m, #m, lo, hi, CKF_GENERATE, kt, CKO_SECRET_KEY, tr, 0, ks_mech_params_none, NULL)
#define AES(m, fl, tr, pad, fam) \
    ROW(m, #m, AES_MIN, AES_MAX, fl, KT_AES, CKO_SECRET_KEY, tr, pad, NULL, fam)
#define HMAC(m, kt) \
    ROW(m, #m, HMAC_MIN, HMAC_MAX, MAC_FLAGS, kt, CKO_SECRET_KEY, 0, 0, NULL, &ks_fam_mac)
/* RSA encryption rows: modulus bounds in bits; the key class follows the operation. */
#define RSAENC(m, fl, tr, par) \
    ROW(m, #m, RSA_MIN_BITS, RSA_MAX_BITS, fl, KT_RSA, CKO_PRIVATE_KEY, \
        KS_MECH_KEY_PAIR | KS_MECH_KEY_BITS | (tr), 0, par, &ks_fam_rsa_enc)
/* ECDH over P-256/384/521 (CKK_EC) and X25519/X448 (CKK_EC_MONTGOMERY, which the
 * mechanisms specification lets CKM_ECDH1_DERIVE take): the bounds are field sizes in bits,
 * as the mechanism's CK_MECHANISM_INFO says; the family checks the curve itself
 * (token/derive_ecdh.h). Named curves, points uncompressed or compressed. */
#define ECDH(m)                                                                              \
    ROW(m, #m, ECDH_MIN_BITS, ECDH_MAX_BITS, ECDH_FLAGS, KT_ECDH, CKO_PRIVATE_KEY,          \
        KS_MECH_KEY_BITS | KS_MECH_KEY_PAIR, 0, ks_ecdh_params, NULL)
#define DIGEST(m) ROW(m, #m, 0, 0, CKF_DIGEST, KT_NONE, NO_KEY, 0, 0, NULL, &ks_fam_digest)
/* Triple DES: the key is 24 bytes (CKM_DES3_KEY_GEN makes three-key keys only). */
#define DES3(m, pad) \
    ROW(m, #m, 24, 24, CIPHER_FLAGS, KT_DES3, CKO_SECRET_KEY, KS_MECH_LEGACY, pad, NULL, \
        &ks_fam_des3)
/* A key pair generator (C_GenerateKeyPair): its key class is the private key's. */
#define PAIR_GEN(m, lo, hi, kt, tr)                                                        \
    ROW(m, #m, lo, hi, CKF_GENERATE_KEY_PAIR, kt, CKO_PRIVATE_KEY, KS_MECH_KEY_PAIR | (tr), 0, \
        ks_mech_params_none, NULL)

/* Signatures with key pairs (ops_pkey_sign.c): the private key signs, the public key
 * verifies (KS_MECH_KEY_PAIR). RSA sizes are modulus bits (RSA keys of 2048 bits and more,
 * SP 800-131A); EC and EdDSA sizes are the curves' field sizes (P-256 to P-521, Ed25519 and
 * Ed448), which C_GetMechanismInfo reports as mechanisms 2.3 asks; the family checks the
 * curve itself and answers CKR_CURVE_NOT_SUPPORTED for others (only RSA sizes are checked
 * against the row, p11/guard.c). */
enum { RSA_SIG_MIN_BITS = 2048, RSA_SIG_MAX_BITS = 16384 };
static const CK_KEY_TYPE KT_RSA_SIG[] = {CKK_RSA, KT_END};
static const CK_KEY_TYPE KT_EC_SIG[] = {CKK_EC, KT_END};
static const CK_KEY_TYPE KT_EDDSA_SIG[] = {CKK_EC_EDWARDS, KT_END};
#define PKSIG(m, lo, hi, kt)                                                                 \
    ROW(m, #m, lo, hi, MAC_FLAGS, kt, CKO_PRIVATE_KEY,                                       \
        KS_MECH_KEY_PAIR | ((lo) != 0 ? KS_MECH_KEY_BITS : 0u), 0, NULL, &ks_fam_pkey_sign)

static const ks_mech_desc MECHS[] = {
    GEN(CKM_AES_KEY_GEN, AES_MIN, AES_MAX, KT_AES, 0),
    GEN(CKM_GENERIC_SECRET_KEY_GEN, GENERIC_MIN_BITS, GENERIC_MAX_BITS, KT_GENERIC,
        KS_MECH_KEY_BITS),
    AES(CKM_AES_ECB, CIPHER_FLAGS, 0, 16, &ks_fam_block),
    AES(CKM_AES_CBC, CIPHER_FLAGS, 0, 16, &ks_fam_block),
    AES(CKM_AES_CBC_PAD, CIPHER_FLAGS, 0, 0, &ks_fam_block),
    AES(CKM_AES_CTR, CIPHER_FLAGS, KS_MECH_DECRYPT_PROTECTS, 0, &ks_fam_block),
    AES(CKM_AES_GCM, CIPHER_FLAGS | CKF_MESSAGE_ENCRYPT | CKF_MESSAGE_DECRYPT, 0, 0,
        &ks_fam_gcm),
    AES(CKM_AES_CMAC, MAC_FLAGS, 0, 0, &ks_fam_mac),
    AES(CKM_AES_CMAC_GENERAL, MAC_FLAGS, 0, 0, &ks_fam_mac),
    AES(CKM_AES_KEY_WRAP, CIPHER_FLAGS, KS_MECH_KEY_WRAP, 8, &ks_fam_kw),
    AES(CKM_AES_KEY_WRAP_KWP, CIPHER_FLAGS, KS_MECH_KEY_WRAP, 0, &ks_fam_kw),
    DIGEST(CKM_SHA_1),
    DIGEST(CKM_SHA224),
    DIGEST(CKM_SHA256),
    DIGEST(CKM_SHA384),
    DIGEST(CKM_SHA512),
    HMAC(CKM_SHA_1_HMAC, KT_HMAC1),
    HMAC(CKM_SHA_1_HMAC_GENERAL, KT_HMAC1),
    HMAC(CKM_SHA224_HMAC, KT_HMAC224),
    HMAC(CKM_SHA224_HMAC_GENERAL, KT_HMAC224),
    HMAC(CKM_SHA256_HMAC, KT_HMAC256),
    HMAC(CKM_SHA256_HMAC_GENERAL, KT_HMAC256),
    HMAC(CKM_SHA384_HMAC, KT_HMAC384),
    HMAC(CKM_SHA384_HMAC_GENERAL, KT_HMAC384),
    HMAC(CKM_SHA512_HMAC, KT_HMAC512),
    HMAC(CKM_SHA512_HMAC_GENERAL, KT_HMAC512),
    /* Key pairs: generation (C_GenerateKeyPair). */
    PAIR_GEN(CKM_RSA_PKCS_KEY_PAIR_GEN, RSA_MIN_BITS, RSA_MAX_BITS, KT_RSA, KS_MECH_KEY_BITS),
    PAIR_GEN(CKM_EC_KEY_PAIR_GEN, EC_MIN_BITS, EC_MAX_BITS, KT_EC, KS_MECH_KEY_BITS),
    PAIR_GEN(CKM_EC_EDWARDS_KEY_PAIR_GEN, CURVE25519_BITS, CURVE448_BITS, KT_EDWARDS,
             KS_MECH_KEY_BITS),
    PAIR_GEN(CKM_EC_MONTGOMERY_KEY_PAIR_GEN, CURVE25519_BITS, CURVE448_BITS, KT_MONTGOMERY,
             KS_MECH_KEY_BITS),

    /* Key pairs: signatures (RSA PKCS#1 v1.5 and PSS, ECDSA, EdDSA). */
    /* CKM_RSA_PKCS signs too: its one row is with the RSA encryption rows below. */
    PKSIG(CKM_SHA1_RSA_PKCS, RSA_SIG_MIN_BITS, RSA_SIG_MAX_BITS, KT_RSA_SIG),
    PKSIG(CKM_SHA224_RSA_PKCS, RSA_SIG_MIN_BITS, RSA_SIG_MAX_BITS, KT_RSA_SIG),
    PKSIG(CKM_SHA256_RSA_PKCS, RSA_SIG_MIN_BITS, RSA_SIG_MAX_BITS, KT_RSA_SIG),
    PKSIG(CKM_SHA384_RSA_PKCS, RSA_SIG_MIN_BITS, RSA_SIG_MAX_BITS, KT_RSA_SIG),
    PKSIG(CKM_SHA512_RSA_PKCS, RSA_SIG_MIN_BITS, RSA_SIG_MAX_BITS, KT_RSA_SIG),
    PKSIG(CKM_RSA_PKCS_PSS, RSA_SIG_MIN_BITS, RSA_SIG_MAX_BITS, KT_RSA_SIG),
    PKSIG(CKM_SHA1_RSA_PKCS_PSS, RSA_SIG_MIN_BITS, RSA_SIG_MAX_BITS, KT_RSA_SIG),
    PKSIG(CKM_SHA224_RSA_PKCS_PSS, RSA_SIG_MIN_BITS, RSA_SIG_MAX_BITS, KT_RSA_SIG),
    PKSIG(CKM_SHA256_RSA_PKCS_PSS, RSA_SIG_MIN_BITS, RSA_SIG_MAX_BITS, KT_RSA_SIG),
    PKSIG(CKM_SHA384_RSA_PKCS_PSS, RSA_SIG_MIN_BITS, RSA_SIG_MAX_BITS, KT_RSA_SIG),
    PKSIG(CKM_SHA512_RSA_PKCS_PSS, RSA_SIG_MIN_BITS, RSA_SIG_MAX_BITS, KT_RSA_SIG),
    PKSIG(CKM_ECDSA, EC_MIN_BITS, EC_MAX_BITS, KT_EC_SIG),
    PKSIG(CKM_ECDSA_SHA1, EC_MIN_BITS, EC_MAX_BITS, KT_EC_SIG),
    PKSIG(CKM_ECDSA_SHA224, EC_MIN_BITS, EC_MAX_BITS, KT_EC_SIG),
    PKSIG(CKM_ECDSA_SHA256, EC_MIN_BITS, EC_MAX_BITS, KT_EC_SIG),
    PKSIG(CKM_ECDSA_SHA384, EC_MIN_BITS, EC_MAX_BITS, KT_EC_SIG),
    PKSIG(CKM_ECDSA_SHA512, EC_MIN_BITS, EC_MAX_BITS, KT_EC_SIG),
    PKSIG(CKM_EDDSA, CURVE25519_BITS, CURVE448_BITS, KT_EDDSA_SIG),

    /* Key pairs: RSA encryption and key transport (PKCS#1 v1.5, X.509, OAEP, RSA-AES).
     * Under the strict wrap policy only OAEP and RSA-AES carry keys (KS_MECH_KEY_WRAP:
     * CCA2-secure, docs/policy.md); PKCS#1 v1.5 and raw RSA wrap and unwrap under compat. */
    /* CKM_RSA_PKCS encrypts and signs: one row, a family that picks by the operation
     * (token/ops.c): signatures over the prepared key (ops_pkey_sign.c), the rest here. */
    ROW(CKM_RSA_PKCS, "CKM_RSA_PKCS", RSA_MIN_BITS, RSA_MAX_BITS, CIPHER_FLAGS | MAC_FLAGS,
        KT_RSA, CKO_PRIVATE_KEY, KS_MECH_KEY_PAIR | KS_MECH_KEY_BITS, 0, ks_mech_params_none,
        &ks_fam_rsa_pkcs),
    RSAENC(CKM_RSA_X_509, CIPHER_FLAGS | MAC_FLAGS, 0, ks_mech_params_none),
    RSAENC(CKM_RSA_PKCS_OAEP, CIPHER_FLAGS, KS_MECH_KEY_WRAP, ks_rsa_oaep_params),
    RSAENC(CKM_RSA_AES_KEY_WRAP, CKF_WRAP | CKF_UNWRAP, KS_MECH_KEY_WRAP, ks_rsa_aes_wrap_params),

    /* Key derivation (ECDH, X25519, X448). */
    ECDH(CKM_ECDH1_DERIVE),
    ECDH(CKM_ECDH1_COFACTOR_DERIVE),

    /* Legacy, offered only with legacy_mechanisms = on (DES3, MD5). */
    GEN(CKM_DES3_KEY_GEN, 24, 24, KT_DES3, KS_MECH_LEGACY),
    DES3(CKM_DES3_ECB, 8),
    DES3(CKM_DES3_CBC, 8),
    DES3(CKM_DES3_CBC_PAD, 0),
    ROW(CKM_MD5, "CKM_MD5", 0, 0, CKF_DIGEST, KT_NONE, NO_KEY, KS_MECH_LEGACY, 0, NULL,
        &ks_fam_digest),

    /* Last, so that index < count(0) never reaches it: the SoftHSMv2 alias. */
    AES(CKM_AES_KEY_WRAP_PAD, CIPHER_FLAGS, KS_MECH_KEY_WRAP | KS_MECH_ALIAS, 0, &ks_fam_kw),
};

#define MECH_ROWS (sizeof(MECHS) / sizeof(MECHS[0]))

size_t ks_mech_count(int alias_softhsm)
{
    return alias_softhsm ? MECH_ROWS : MECH_ROWS - 1;
}

const ks_mech_desc *ks_mech_at(size_t index, int alias_softhsm)
{
    return index < ks_mech_count(alias_softhsm) ? &MECHS[index] : NULL;
}

const ks_mech_desc *ks_mech_find(CK_MECHANISM_TYPE type, int alias_softhsm)
{
    size_t n = ks_mech_count(alias_softhsm);
    for (size_t i = 0; i < n; i++) {
        if (MECHS[i].type == type) {
            return &MECHS[i];
        }
    }
    return NULL;
}

/* A legacy row exists for a configuration only with legacy_mechanisms = on. */
static int row_offered(const ks_config *cfg, const ks_mech_desc *d)
{
    return (d->traits & KS_MECH_LEGACY) == 0 || cfg->legacy_mechanisms;
}

const ks_mech_desc *ks_mech_lookup(const ks_config *cfg, CK_MECHANISM_TYPE type)
{
    const ks_mech_desc *d = ks_mech_find(type, cfg->kwp_alias_softhsm);
    return d != NULL && row_offered(cfg, d) ? d : NULL;
}

int ks_mech_offer(const ks_config *cfg, size_t index, CK_MECHANISM_TYPE *type,
                  CK_MECHANISM_INFO *info)
{
    const ks_mech_desc *d = NULL;
    for (size_t i = 0, seen = 0; (d = ks_mech_at(i, cfg->kwp_alias_softhsm)) != NULL; i++) {
        if (row_offered(cfg, d) && seen++ == index) {
            break;
        }
    }
    if (d == NULL) {
        return 0;
    }
    *type = d->type;
    info->ulMinKeySize = ks_mech_min_key(cfg, d);
    info->ulMaxKeySize = d->max_key;
    info->flags = ks_wrap_policy_mech_flags(cfg, d->type, d->flags);
    if (ks_mech_key_type_ok(d, CKK_EC)) {
        /* The EC capabilities (mechanisms 3.0 2.3.1): curves over prime fields, named by OID
         * (or by name), uncompressed points; no explicit parameters. */
        info->flags |= CKF_EC_F_P | CKF_EC_OID | CKF_EC_UNCOMPRESS;
    }
    return 1;
}

int ks_mech_key_type_ok(const ks_mech_desc *desc, CK_KEY_TYPE kt)
{
    if (desc == NULL || kt == KT_END) {
        return 0;
    }
    for (const CK_KEY_TYPE *p = desc->key_types; *p != KT_END; p++) {
        if (*p == kt) {
            return 1;
        }
    }
    return 0;
}

/* The operations that use the private key of a pair; the others use the public key. */
#define PRIVATE_OPS (CKF_SIGN | CKF_DECRYPT | CKF_UNWRAP | CKF_DERIVE | CKF_MESSAGE_SIGN | \
                     CKF_MESSAGE_DECRYPT)

int ks_mech_key_class_ok(const ks_mech_desc *desc, CK_OBJECT_CLASS cls, CK_FLAGS op)
{
    if (desc == NULL || desc->key_class == NO_KEY) {
        return 0;
    }
    if (desc->traits & KS_MECH_KEY_PAIR) {
        return cls == ((op & PRIVATE_OPS) != 0 ? CKO_PRIVATE_KEY : CKO_PUBLIC_KEY);
    }
    return desc->key_class == cls;
}

/* An RSA row whose floor legacy_mechanisms = on lowers to RSA_LEGACY_MIN_BITS. */
static int legacy_sized(const ks_mech_desc *d)
{
    return (d->traits & KS_MECH_KEY_BITS) != 0 && ks_mech_key_type_ok(d, CKK_RSA) &&
           d->min_key > RSA_LEGACY_MIN_BITS;
}

CK_ULONG ks_mech_min_key(const ks_config *cfg, const ks_mech_desc *desc)
{
    return cfg->legacy_mechanisms && legacy_sized(desc) ? RSA_LEGACY_MIN_BITS : desc->min_key;
}

static int bits_within(const ks_mech_desc *desc, CK_ULONG min, size_t bits)
{
    if (desc->min_key == 0 && desc->max_key == 0) {
        return 1;
    }
    return bits >= min && bits <= desc->max_key;
}

int ks_mech_key_bits_ok(const ks_mech_desc *desc, size_t bits)
{
    if (desc == NULL) {
        return 0;
    }
    return bits_within(desc, legacy_sized(desc) ? RSA_LEGACY_MIN_BITS : desc->min_key, bits);
}

int ks_mech_key_bits_allowed(const ks_config *cfg, const ks_mech_desc *desc, size_t bits)
{
    return desc != NULL && bits_within(desc, ks_mech_min_key(cfg, desc), bits);
}

int ks_mech_key_len_ok(const ks_mech_desc *desc, size_t len)
{
    if (desc == NULL) {
        return 0;
    }
    if ((desc->min_key == 0 && desc->max_key == 0) || (desc->traits & KS_MECH_KEY_PAIR)) {
        return 1;
    }
    if (desc->traits & KS_MECH_KEY_BITS) {
        if (len > (size_t)-1 / 8) {
            return 0;
        }
        len *= 8;
    }
    return len >= desc->min_key && len <= desc->max_key;
}

int ks_mech_is_key_wrap(CK_MECHANISM_TYPE type)
{
    const ks_mech_desc *d = ks_mech_find(type, 1);
    return d != NULL && (d->traits & KS_MECH_KEY_WRAP) != 0;
}
