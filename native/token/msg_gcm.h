/* msg_gcm.h - the state of a message-based AES-GCM process (PKCS#11 3.0 base spec 5.13,
 * 5.14 "message-based encryption/decryption"; current mechanisms 2.12 AES-GCM with
 * CK_GCM_MESSAGE_PARAMS), between C_Message{Encrypt,Decrypt}Init and its Final.
 *
 * One process holds the key schedule; each message brings its own CK_GCM_MESSAGE_PARAMS.
 * Encryption: the IV is the caller's (CKG_NO_GENERATE) or the token's (the front draws the
 * invocation number, see gcm_iv.h) and is written back to pIv; the tag goes to pTag.
 * Decryption: pIv and pTag are inputs, ivGenerator and ulIvFixedBits are ignored; a
 * multi-part message returns no plaintext before its tag has verified (the ciphertext is
 * held until the CKF_END_OF_MESSAGE part), and a tag that does not verify gives
 * CKR_ENCRYPTED_DATA_INVALID with the output wiped.
 *
 * Every function applies PKCS#11 3.0 5.2 to its output (NULL output: length query, no
 * cryptography, state unchanged; too small: CKR_BUFFER_TOO_SMALL, state unchanged). */
#ifndef KS_TOKEN_MSG_GCM_H
#define KS_TOKEN_MSG_GCM_H

#include <stddef.h>
#include <stdint.h>

#include "pkcs11.h"

typedef struct ks_msg_gcm ks_msg_gcm;

/* How a message's IV comes about (encryption). */
typedef enum ks_msg_iv_kind {
    KS_MSG_IV_CALLER = 0, /* CKG_NO_GENERATE */
    KS_MSG_IV_COUNTER,    /* CKG_GENERATE, CKG_GENERATE_COUNTER: SP 800-38D 8.2.1 */
    KS_MSG_IV_RANDOM,     /* CKG_GENERATE_RANDOM: SP 800-38D 8.2.2 */
} ks_msg_iv_kind;

/* ks_msg_gcm_new makes the state for one process with an AES key value:
 * CKR_KEY_SIZE_RANGE, CKR_HOST_MEMORY. */
CK_RV ks_msg_gcm_new(ks_msg_gcm **out, int decrypt, const uint8_t *key, size_t key_len);
/* ks_msg_gcm_free wipes and frees; NULL allowed. */
void ks_msg_gcm_free(ks_msg_gcm *m);
/* ks_msg_gcm_active returns 1 between a Begin and the end of that message. */
int ks_msg_gcm_active(const ks_msg_gcm *m);
/* ks_msg_gcm_abort ends the multi-part message in progress, if any. */
void ks_msg_gcm_abort(ks_msg_gcm *m);

/* ks_msg_gcm_params checks a CK_GCM_MESSAGE_PARAMS (CKR_MECHANISM_PARAM_INVALID: NULL or
 * wrong size, pIv NULL, ulIvLen 0 or above 2^32 - 1, ulTagBits not 32..128 in whole bytes,
 * pTag NULL when need_tag; for encryption an unknown generator, CKG_GENERATE_COUNTER_XOR
 * (PKCS#11 3.1, not 3.0), ulIvFixedBits that leave fewer than 32 counter bits or 96 random
 * bits). *kind says how the IV is made (always KS_MSG_IV_CALLER for decryption). */
CK_RV ks_msg_gcm_params(const void *param, CK_ULONG param_len, int decrypt, int need_tag,
                        const CK_GCM_MESSAGE_PARAMS **out, ks_msg_iv_kind *kind);

/* ks_msg_gcm_make_iv writes the token-generated IV of kind into p->pIv (invocation is the
 * number drawn for it; unused for random IVs). CKR_FUNCTION_FAILED when the RNG fails. */
CK_RV ks_msg_gcm_make_iv(const CK_GCM_MESSAGE_PARAMS *p, ks_msg_iv_kind kind,
                         uint64_t invocation);

/* Single-part: the output is as long as the input (the tag is in p->pTag). Checked params;
 * out_len non-NULL; in/aad non-NULL when their length is non-zero (the front checks).
 * ks_msg_gcm_out_ready applies 5.2 before the front draws an IV. */
int ks_msg_gcm_out_ready(CK_BYTE_PTR out, CK_ULONG_PTR out_len, CK_ULONG need, CK_RV *rv);
CK_RV ks_msg_gcm_seal(ks_msg_gcm *m, const CK_GCM_MESSAGE_PARAMS *p, const uint8_t *aad,
                      size_t aad_len, const uint8_t *in, size_t in_len, uint8_t *out);
CK_RV ks_msg_gcm_open(ks_msg_gcm *m, const CK_GCM_MESSAGE_PARAMS *p, const uint8_t *aad,
                      size_t aad_len, const uint8_t *in, size_t in_len, uint8_t *out,
                      CK_ULONG_PTR out_len);

/* Multi-part: begin (IV and AAD; the IV already made for encryption), then next parts.
 * ks_msg_gcm_next returns through *ended whether the message is over (5.13: any error but
 * CKR_BUFFER_TOO_SMALL, or the CKF_END_OF_MESSAGE part unless it was a length query).
 * p may be NULL for a part that is not the last. */
CK_RV ks_msg_gcm_begin(ks_msg_gcm *m, const CK_GCM_MESSAGE_PARAMS *p, const uint8_t *aad,
                       size_t aad_len);
CK_RV ks_msg_gcm_next(ks_msg_gcm *m, const CK_GCM_MESSAGE_PARAMS *p, const uint8_t *in,
                      size_t in_len, uint8_t *out, CK_ULONG_PTR out_len, int last, int *ended);

#endif
