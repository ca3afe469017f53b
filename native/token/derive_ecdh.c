/* derive_ecdh.c - CKM_ECDH1_DERIVE and CKM_ECDH1_COFACTOR_DERIVE (see derive_ecdh.h). */
#include "token/derive_ecdh.h"

#include <string.h>

#include "crypto/ecdh.h"
#include "crypto/mem.h"
#include "crypto/x963kdf.h"

#define KS_ECDH_MAX_PUBLIC 1024 /* far above any point: P-521 uncompressed is 133 bytes */

static ks_md kdf_md(CK_EC_KDF_TYPE kdf)
{
    switch (kdf) {
    case CKD_SHA1_KDF:
        return KS_MD_SHA1;
    case CKD_SHA224_KDF:
        return KS_MD_SHA224;
    case CKD_SHA256_KDF:
        return KS_MD_SHA256;
    case CKD_SHA384_KDF:
        return KS_MD_SHA384;
    case CKD_SHA512_KDF:
        return KS_MD_SHA512;
    default:
        return KS_MD_NONE;
    }
}

CK_RV ks_ecdh_params(const CK_MECHANISM *mech)
{
    if (mech->pParameter == NULL || mech->ulParameterLen != sizeof(CK_ECDH1_DERIVE_PARAMS)) {
        return CKR_MECHANISM_PARAM_INVALID;
    }
    const CK_ECDH1_DERIVE_PARAMS *p = mech->pParameter;
    if (p->kdf != CKD_NULL && kdf_md(p->kdf) == KS_MD_NONE) {
        return CKR_MECHANISM_PARAM_INVALID;
    }
    /* "With the key derivation function CKD_NULL, pSharedData must be NULL and
     * ulSharedDataLen must be zero." */
    if (p->kdf == CKD_NULL && (p->pSharedData != NULL || p->ulSharedDataLen != 0)) {
        return CKR_MECHANISM_PARAM_INVALID;
    }
    if ((p->pSharedData == NULL && p->ulSharedDataLen != 0) ||
        p->ulSharedDataLen > KS_ECDH_MAX_PUBLIC) {
        return CKR_MECHANISM_PARAM_INVALID;
    }
    if (p->pPublicData == NULL || p->ulPublicDataLen == 0 ||
        p->ulPublicDataLen > KS_ECDH_MAX_PUBLIC) {
        return CKR_MECHANISM_PARAM_INVALID;
    }
    return CKR_OK;
}

/* The prepared EVP_PKEY of the base key, when the key reference carries one; the PKCS#8 is
 * parsed per call otherwise (crypto/ecdh.h takes either). */
static const void *prepared(const ks_key_ref *base)
{
    return base->pkey;
}

/* A public value that cannot be a raw one of any supported curve (crypto/ecdh.h: 32 and 56
 * bytes for X25519/X448, 04 and 65/97/133 bytes uncompressed, 02/03 and 33/49/67 bytes
 * compressed) but is one DER OCTET STRING (tag 04, a definite length of one or two bytes,
 * nothing after) is the CKA_EC_POINT encoding: its content is the raw value. The raw and
 * the DER lengths never meet where the first byte is 04, so the choice is never ambiguous. */
static void unwrap_der(const uint8_t **pub, size_t *len)
{
    const uint8_t *p = *pub;
    size_t n = *len;
    int raw = n == 32 || n == 56 ||
              (p[0] == 0x04 && (n == 65 || n == 97 || n == 133)) ||
              ((p[0] == 0x02 || p[0] == 0x03) && (n == 33 || n == 49 || n == 67));
    if (raw || n < 2 || p[0] != 0x04) {
        return;
    }
    size_t head = 2;
    size_t content = p[1];
    if (p[1] == 0x81 && n >= 3 && p[2] >= 0x80) {
        head = 3;
        content = p[2];
    } else if (p[1] >= 0x80) {
        return; /* not a DER length of at most 255 */
    }
    if (head + content == n) {
        *pub = p + head;
        *len = content;
    }
}

CK_RV ks_ecdh_derive_value(const CK_MECHANISM *mech, const ks_key_ref *base, uint8_t *out,
                           size_t max_out, size_t *len)
{
    const CK_ECDH1_DERIVE_PARAMS *p = mech->pParameter;
    if (*len == 0 && p->kdf != CKD_NULL) {
        return CKR_TEMPLATE_INCOMPLETE; /* the X9.63 KDF has no length of its own */
    }
    const uint8_t *pub = p->pPublicData;
    size_t pub_len = p->ulPublicDataLen;
    unwrap_der(&pub, &pub_len);
    uint8_t z[KS_ECDH_MAX_SECRET];
    size_t z_len = 0;
    ks_status st = ks_ecdh_derive(z, &z_len, sizeof(z), prepared(base), base->value, base->len,
                                  mech->mechanism == CKM_ECDH1_COFACTOR_DERIVE, pub, pub_len);
    CK_RV rv = st == KS_OK            ? CKR_OK
               : st == KS_ERR_ARGS    ? CKR_MECHANISM_PARAM_INVALID
               : st == KS_ERR_KEY_LEN ? CKR_KEY_TYPE_INCONSISTENT
               : st == KS_ERR_NOMEM   ? CKR_HOST_MEMORY
                                      : CKR_FUNCTION_FAILED;
    size_t want = *len == 0 ? z_len : *len;
    if (rv == CKR_OK && want > max_out) {
        rv = CKR_KEY_SIZE_RANGE;
    } else if (rv == CKR_OK && p->kdf == CKD_NULL) {
        if (want > z_len) {
            rv = CKR_TEMPLATE_INCONSISTENT; /* more than Z holds */
        } else {
            memcpy(out, z + (z_len - want), want); /* the leading bytes removed */
        }
    } else if (rv == CKR_OK) {
        st = ks_x963_kdf(kdf_md(p->kdf), out, want, z, z_len, p->pSharedData,
                         p->ulSharedDataLen);
        rv = st == KS_OK ? CKR_OK : st == KS_ERR_NOMEM ? CKR_HOST_MEMORY : CKR_FUNCTION_FAILED;
    }
    ks_wipe(z, sizeof(z));
    if (rv == CKR_OK) {
        *len = want;
    } else {
        ks_wipe(out, max_out);
    }
    return rv;
}
