/* fuzz_mech.h - mechanisms and mechanism parameters for the fuzz targets (fuzz_ops.c,
 * fuzz_p11.c): every mechanism of the registry (token/mech.h, the SoftHSMv2 alias included)
 * plus mechanisms keystead does not implement, the key types the registry's rows take plus
 * one none does, and parameter blobs that are mostly the mechanism's own structure with random
 * fields (each pointer backed by exactly the bytes its length claims, or NULL), sometimes any
 * bytes of any length. A mechanism added to the registry is fuzzed without an edit here. */
#ifndef KS_FUZZ_MECH_H
#define KS_FUZZ_MECH_H

#include "fuzz_common.h"
#include "token/mech.h"

/* Mechanisms no row has: a vendor number and an asymmetric one. */
static const CK_MECHANISM_TYPE FZ_UNKNOWN_MECHS[] = {0x80001234UL, CKM_RSA_PKCS};
#define FZ_NUNKNOWN (sizeof(FZ_UNKNOWN_MECHS) / sizeof(FZ_UNKNOWN_MECHS[0]))

/* fz_mech picks a registry row's mechanism or an unknown one. */
static inline CK_MECHANISM_TYPE fz_mech(fz *f)
{
    size_t rows = ks_mech_count(1);
    size_t i = fz_u8(f) % (rows + FZ_NUNKNOWN);
    return i < rows ? ks_mech_at(i, 1)->type : FZ_UNKNOWN_MECHS[i - rows];
}

/* fz_key_type returns the key type number sel (modulo their count) among the distinct key
 * types of the registry's rows, in row order, followed by a vendor type no row takes. */
static inline CK_KEY_TYPE fz_key_type(unsigned sel)
{
    CK_KEY_TYPE seen[64];
    size_t n = 0;
    for (size_t r = 0; r < ks_mech_count(1); r++) {
        for (const CK_KEY_TYPE *kt = ks_mech_at(r, 1)->key_types; *kt != (CK_KEY_TYPE)-1;
             kt++) {
            size_t j = 0;
            while (j < n && seen[j] != *kt) {
                j++;
            }
            if (j == n && n < sizeof(seen) / sizeof(seen[0]) - 1) {
                seen[n++] = *kt;
            }
        }
    }
    seen[n++] = CKK_VENDOR_DEFINED | 0x1234UL;
    return seen[sel % n];
}

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
    case CKM_ECDH1_DERIVE: case CKM_ECDH1_COFACTOR_DERIVE: {
        /* a public value of a length some curve takes (raw or DER), or any length */
        static const CK_ULONG lens[] = {32, 33, 34, 49, 56, 58, 65, 67, 97, 99, 133, 136};
        CK_ECDH1_DERIVE_PARAMS *p = fz_alloc(f, sizeof(*p));
        p->kdf = how & 1 ? (CK_ULONG)(fz_u8(f) % 10) : (CK_ULONG)fz_u64(f);
        p->ulSharedDataLen = how & 2 ? 0 : fz_len(f, 80);
        p->pSharedData = p->ulSharedDataLen > 4096 || how & 4 ? NULL
                                                               : fz_bytes(f, p->ulSharedDataLen);
        p->ulPublicDataLen = how & 8 ? lens[fz_u8(f) % 12] : fz_len(f, 140);
        p->pPublicData = p->ulPublicDataLen > 4096 || (how & 0x30) == 0x30
                             ? NULL
                             : fz_bytes(f, p->ulPublicDataLen);
        mech->pParameter = p;
        mech->ulParameterLen = sizeof(*p);
        break;
    }
    default:
        mech->pParameter = NULL;
        mech->ulParameterLen = 0;
        break;
    }
}

#endif
