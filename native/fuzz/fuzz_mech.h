/* fuzz_mech.h - mechanisms and mechanism parameters for the fuzz targets (fuzz_ops.c,
 * fuzz_p11.c): every mechanism keystead routes plus unknown ones, and parameter blobs that are
 * mostly the mechanism's own structure with random fields (each pointer backed by exactly the
 * bytes its length claims, or NULL), sometimes any bytes of any length. */
#ifndef KS_FUZZ_MECH_H
#define KS_FUZZ_MECH_H

#include "fuzz_common.h"

static const CK_MECHANISM_TYPE MECHS[] = {
    CKM_AES_ECB, CKM_AES_CBC, CKM_AES_CBC_PAD, CKM_AES_CTR, CKM_AES_GCM,
    CKM_AES_KEY_WRAP, CKM_AES_KEY_WRAP_KWP, CKM_AES_KEY_WRAP_PAD, CKM_AES_CMAC,
    CKM_AES_CMAC_GENERAL, CKM_SHA_1_HMAC, CKM_SHA_1_HMAC_GENERAL, CKM_SHA224_HMAC,
    CKM_SHA224_HMAC_GENERAL, CKM_SHA256_HMAC, CKM_SHA256_HMAC_GENERAL, CKM_SHA384_HMAC,
    CKM_SHA384_HMAC_GENERAL, CKM_SHA512_HMAC, CKM_SHA512_HMAC_GENERAL, CKM_SHA_1, CKM_SHA224,
    CKM_SHA256, CKM_SHA384, CKM_SHA512, CKM_AES_KEY_GEN, CKM_GENERIC_SECRET_KEY_GEN,
    0x80001234UL, CKM_RSA_PKCS,
};
#define NMECHS (sizeof(MECHS) / sizeof(MECHS[0]))
static const CK_KEY_TYPE KEY_TYPES[] = {
    CKK_AES, CKK_GENERIC_SECRET, CKK_SHA_1_HMAC, CKK_SHA224_HMAC, CKK_SHA256_HMAC,
    CKK_SHA384_HMAC, CKK_SHA512_HMAC, CKK_RSA,
};

/* fz_param fills mech->pParameter / ulParameterLen. */
static inline void fz_param(fz *f, CK_MECHANISM *mech)
{
    uint8_t how = fz_u8(f);
    if (how < 40) {
        mech->ulParameterLen = fz_len(f, 64);
        mech->pParameter = mech->ulParameterLen > 4096 ? NULL : fz_bytes(f, mech->ulParameterLen);
        return;
    }
    switch (mech->mechanism) {
    case CKM_AES_GCM: {
        CK_GCM_PARAMS *p = fz_alloc(f, sizeof(*p));
        p->ulIvLen = how & 1 ? 12 : fz_len(f, 300);
        p->pIv = p->ulIvLen > 4096 || how & 2 ? NULL : fz_bytes(f, p->ulIvLen);
        p->ulIvBits = how & 4 ? p->ulIvLen * 8 : fz_u64(f);
        p->ulAADLen = fz_len(f, 100);
        p->pAAD = p->ulAADLen > 4096 || (how & 0x18) == 0x18 ? NULL : fz_bytes(f, p->ulAADLen);
        p->ulTagBits = how & 0x20 ? 128 : fz_u8(f);
        mech->pParameter = p;
        mech->ulParameterLen = sizeof(*p);
        break;
    }
    case CKM_AES_CTR: {
        CK_AES_CTR_PARAMS *p = fz_alloc(f, sizeof(*p));
        p->ulCounterBits = how & 1 ? fz_u8(f) % 130 : fz_u64(f);
        uint8_t *cb = fz_bytes(f, 16);
        memcpy(p->cb, cb, 16);
        mech->pParameter = p;
        mech->ulParameterLen = sizeof(*p);
        break;
    }
    case CKM_AES_CMAC_GENERAL: case CKM_SHA_1_HMAC_GENERAL: case CKM_SHA224_HMAC_GENERAL:
    case CKM_SHA256_HMAC_GENERAL: case CKM_SHA384_HMAC_GENERAL: case CKM_SHA512_HMAC_GENERAL: {
        CK_MAC_GENERAL_PARAMS *p = fz_alloc(f, sizeof(*p));
        *p = how & 1 ? fz_u8(f) % 70 : (CK_ULONG)fz_u64(f);
        mech->pParameter = p;
        mech->ulParameterLen = sizeof(*p);
        break;
    }
    case CKM_AES_CBC: case CKM_AES_CBC_PAD: case CKM_AES_KEY_WRAP: case CKM_AES_KEY_WRAP_KWP:
    case CKM_AES_KEY_WRAP_PAD:
        mech->ulParameterLen = how & 1 ? (mech->mechanism == CKM_AES_KEY_WRAP ? 8 : 16)
                                       : how & 2 ? 4 : 0;
        mech->pParameter = how & 4 ? NULL : fz_bytes(f, mech->ulParameterLen);
        break;
    default:
        mech->pParameter = NULL;
        mech->ulParameterLen = 0;
        break;
    }
}

#endif
