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

#define KT_END ((CK_KEY_TYPE)-1)

enum {
    AES_MIN = 16,
    AES_MAX = 32,
    HMAC_MIN = 1,     /* bytes; RFC 2104 allows any length, RFC 4231 case 2 uses 4 */
    HMAC_MAX = 4096,  /* bytes */
    GENERIC_MIN_BITS = 8,
    GENERIC_MAX_BITS = 4096 * 8,
};

#define CIPHER_FLAGS (CKF_ENCRYPT | CKF_DECRYPT | CKF_WRAP | CKF_UNWRAP)
#define MAC_FLAGS (CKF_SIGN | CKF_VERIFY)

static const CK_KEY_TYPE KT_AES[] = {CKK_AES, KT_END};
static const CK_KEY_TYPE KT_NONE[] = {KT_END};
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

#define ROW(m, lo, hi, fl, kt) {m, lo, hi, fl, kt, #m}

static const ks_mech_desc MECHS[] = {
    ROW(CKM_AES_KEY_GEN, AES_MIN, AES_MAX, CKF_GENERATE, KT_AES),
    ROW(CKM_GENERIC_SECRET_KEY_GEN, GENERIC_MIN_BITS, GENERIC_MAX_BITS, CKF_GENERATE,
        KT_GENERIC),
    ROW(CKM_AES_ECB, AES_MIN, AES_MAX, CIPHER_FLAGS, KT_AES),
    ROW(CKM_AES_CBC, AES_MIN, AES_MAX, CIPHER_FLAGS, KT_AES),
    ROW(CKM_AES_CBC_PAD, AES_MIN, AES_MAX, CIPHER_FLAGS, KT_AES),
    ROW(CKM_AES_CTR, AES_MIN, AES_MAX, CIPHER_FLAGS, KT_AES),
    ROW(CKM_AES_GCM, AES_MIN, AES_MAX,
        CIPHER_FLAGS | CKF_MESSAGE_ENCRYPT | CKF_MESSAGE_DECRYPT, KT_AES),
    ROW(CKM_AES_CMAC, AES_MIN, AES_MAX, MAC_FLAGS, KT_AES),
    ROW(CKM_AES_CMAC_GENERAL, AES_MIN, AES_MAX, MAC_FLAGS, KT_AES),
    ROW(CKM_AES_KEY_WRAP, AES_MIN, AES_MAX, CIPHER_FLAGS, KT_AES),
    ROW(CKM_AES_KEY_WRAP_KWP, AES_MIN, AES_MAX, CIPHER_FLAGS, KT_AES),
    ROW(CKM_SHA_1, 0, 0, CKF_DIGEST, KT_NONE),
    ROW(CKM_SHA224, 0, 0, CKF_DIGEST, KT_NONE),
    ROW(CKM_SHA256, 0, 0, CKF_DIGEST, KT_NONE),
    ROW(CKM_SHA384, 0, 0, CKF_DIGEST, KT_NONE),
    ROW(CKM_SHA512, 0, 0, CKF_DIGEST, KT_NONE),
    ROW(CKM_SHA_1_HMAC, HMAC_MIN, HMAC_MAX, MAC_FLAGS, KT_HMAC1),
    ROW(CKM_SHA_1_HMAC_GENERAL, HMAC_MIN, HMAC_MAX, MAC_FLAGS, KT_HMAC1),
    ROW(CKM_SHA224_HMAC, HMAC_MIN, HMAC_MAX, MAC_FLAGS, KT_HMAC224),
    ROW(CKM_SHA224_HMAC_GENERAL, HMAC_MIN, HMAC_MAX, MAC_FLAGS, KT_HMAC224),
    ROW(CKM_SHA256_HMAC, HMAC_MIN, HMAC_MAX, MAC_FLAGS, KT_HMAC256),
    ROW(CKM_SHA256_HMAC_GENERAL, HMAC_MIN, HMAC_MAX, MAC_FLAGS, KT_HMAC256),
    ROW(CKM_SHA384_HMAC, HMAC_MIN, HMAC_MAX, MAC_FLAGS, KT_HMAC384),
    ROW(CKM_SHA384_HMAC_GENERAL, HMAC_MIN, HMAC_MAX, MAC_FLAGS, KT_HMAC384),
    ROW(CKM_SHA512_HMAC, HMAC_MIN, HMAC_MAX, MAC_FLAGS, KT_HMAC512),
    ROW(CKM_SHA512_HMAC_GENERAL, HMAC_MIN, HMAC_MAX, MAC_FLAGS, KT_HMAC512),
    /* Last, so that index < count(0) never reaches it: the SoftHSMv2 alias. */
    ROW(CKM_AES_KEY_WRAP_PAD, AES_MIN, AES_MAX, CIPHER_FLAGS, KT_AES),
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

int ks_mech_key_len_ok(const ks_mech_desc *desc, size_t len)
{
    if (desc == NULL) {
        return 0;
    }
    if (desc->min_key == 0 && desc->max_key == 0) {
        return 1;
    }
    if (desc->type == CKM_GENERIC_SECRET_KEY_GEN) {
        if (len > (size_t)-1 / 8) {
            return 0;
        }
        len *= 8;
    }
    return len >= desc->min_key && len <= desc->max_key;
}
