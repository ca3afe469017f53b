/* gcm_hold.h - the ciphertext an AES-GCM decryption holds back until its tag can be checked.
 *
 * PKCS#11 3.0 releases no plaintext of an AEAD decryption before the whole message is in
 * (C_DecryptUpdate and a C_DecryptMessageNext that is not the last part return no data), so
 * the single-message functions (ops_aes_gcm.c) and the message-based ones (msg_gcm.c) both
 * collect the parts here. The bytes are ciphertext, nothing secret: plain heap memory, freed
 * without a wipe. */
#ifndef KS_TOKEN_GCM_HOLD_H
#define KS_TOKEN_GCM_HOLD_H

#include <stddef.h>
#include <stdint.h>

#include "pkcs11.h"

typedef struct ks_gcm_hold {
    uint8_t *buf;
    size_t len;
    size_t cap;
} ks_gcm_hold;

/* ks_gcm_hold_add appends in_len bytes of in while the total stays at most max bytes:
 * CKR_ENCRYPTED_DATA_LEN_RANGE beyond (nothing appended), CKR_HOST_MEMORY when the buffer
 * cannot grow. Growth is geometric from 4 KiB: no allocation per part once it is large
 * enough. */
CK_RV ks_gcm_hold_add(ks_gcm_hold *h, const uint8_t *in, size_t in_len, uint64_t max);

/* ks_gcm_hold_reset empties h and keeps its buffer for the next message. */
void ks_gcm_hold_reset(ks_gcm_hold *h);

/* ks_gcm_hold_free releases h's buffer; h is empty afterwards. */
void ks_gcm_hold_free(ks_gcm_hold *h);

#endif
