/* store_seal.c - sealing attribute values with AES-256-GCM (NIST SP 800-38D).
 *
 * Each value gets a fresh random 96-bit IV (SP 800-38D 8.2.2, RBG-based construction). The
 * associated data binds the ciphertext to its place: the object's CKA_UNIQUE_ID (32 hex
 * characters) followed by the attribute type as 8 big-endian bytes, so a sealed value copied
 * to another object or attribute fails to open. Stored form: iv (12) || ciphertext || tag
 * (16). The 2^32 invocation bound of 8.3 is far beyond any token's object count. */
#include <string.h>

#include "crypto/mem.h"
#include "crypto/rand.h"
#include "token/store_internal.h"

void ks_st_hex(char *out, const uint8_t *in, size_t len)
{
    static const char HEX[] = "0123456789abcdef";
    for (size_t i = 0; i < len; i++) {
        out[2 * i] = HEX[in[i] >> 4];
        out[2 * i + 1] = HEX[in[i] & 15];
    }
}

void ks_st_seal_aad(uint8_t aad[KS_UID_LEN + 8], const char uid[KS_UID_LEN],
                    CK_ATTRIBUTE_TYPE type)
{
    memcpy(aad, uid, KS_UID_LEN);
    uint64_t t = (uint64_t)type;
    for (int i = 0; i < 8; i++) {
        aad[KS_UID_LEN + i] = (uint8_t)(t >> (56 - 8 * i));
    }
}

CK_RV ks_st_seal(const ks_gcm_key *key, uint8_t *out, const char uid[KS_UID_LEN],
                 CK_ATTRIBUTE_TYPE type, const uint8_t *in, size_t in_len)
{
    uint8_t aad[KS_UID_LEN + 8];
    ks_st_seal_aad(aad, uid, type);
    if (ks_random(out, KS_SEAL_IV_LEN) != KS_OK) {
        return CKR_FUNCTION_FAILED;
    }
    uint8_t *ct = out + KS_SEAL_IV_LEN;
    ks_status st = ks_gcm_seal(key, ct, ct + in_len, KS_SEAL_TAG_LEN, out, KS_SEAL_IV_LEN, aad,
                               sizeof(aad), in, in_len);
    if (st != KS_OK) {
        ks_wipe(out, in_len + KS_SEAL_OVERHEAD);
        return st == KS_ERR_NOMEM ? CKR_HOST_MEMORY : CKR_FUNCTION_FAILED;
    }
    return CKR_OK;
}

CK_RV ks_st_unseal(const ks_gcm_key *key, uint8_t *out, const char uid[KS_UID_LEN],
                   CK_ATTRIBUTE_TYPE type, const uint8_t *in, size_t in_len)
{
    if (in_len < KS_SEAL_OVERHEAD) {
        return CKR_DEVICE_ERROR;
    }
    uint8_t aad[KS_UID_LEN + 8];
    ks_st_seal_aad(aad, uid, type);
    size_t len = in_len - KS_SEAL_OVERHEAD;
    const uint8_t *ct = in + KS_SEAL_IV_LEN;
    ks_status st = ks_gcm_open(key, out, in, KS_SEAL_IV_LEN, aad, sizeof(aad), ct, len,
                               ct + len, KS_SEAL_TAG_LEN);
    if (st != KS_OK) {
        ks_wipe(out, len);
        /* A value that does not open was altered on disk or moved: the store is damaged. */
        return st == KS_ERR_NOMEM ? CKR_HOST_MEMORY : CKR_DEVICE_ERROR;
    }
    return CKR_OK;
}
