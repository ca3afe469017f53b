/* gcm_iv.h - token-generated AES-GCM IVs and the per-key invocation counter (NIST SP 800-38D
 * 8.2 IV constructions, 8.3 invocation limit).
 *
 * Every invocation of GCM encryption with a token-generated IV (the message API's
 * CKG_GENERATE, CKG_GENERATE_COUNTER and CKG_GENERATE_RANDOM, and KS_EncryptMessages) takes
 * one invocation number of its key: 0, 1, 2, ... up to 2^32 - 1, never one twice.
 *
 * - Token objects: the numbers are reserved in blocks (KS_GCM_IV_BLOCK) by one durable
 *   ks_store_counter_add(store, key, "gcm", block, 2^32) and handed out from memory. A
 *   reservation is on disk before any of its numbers is used, so no restart, crash, second
 *   process or second module instance ever reuses one; the unused rest of a block is skipped
 *   (CKA_KS_GCM_INVOCATIONS reads the reserved count). The 2^32nd reservation is the last.
 * - Session objects live in memory only, and so does their counter.
 *
 * Reservations are kept per key object, found by its CKA_UNIQUE_ID (random, never reused),
 * in a process-wide table under its own lock; a forked child starts with an empty table, so
 * it never hands out its parent's numbers. Two objects with the same key value (C_CopyObject,
 * two imports of one value) have separate counters: give them different fixed fields. */
#ifndef KS_TOKEN_GCM_IV_H
#define KS_TOKEN_GCM_IV_H

#include <stddef.h>
#include <stdint.h>

#include "pkcs11.h"
#include "token/object.h"
#include "token/token.h"

/* SP 800-38D 8.3: at most 2^32 invocations per key. */
#define KS_GCM_IV_LIMIT (UINT64_C(1) << 32)
/* Invocation numbers reserved per durable write. */
#define KS_GCM_IV_BLOCK UINT64_C(4096)
/* SP 800-38D 8.2.1: the invocation field must hold every number below the limit. */
#define KS_GCM_IV_COUNTER_BITS 32
/* SP 800-38D 8.2.2: the random field of an RBG-based IV is at least 96 bits. */
#define KS_GCM_IV_RANDOM_BITS 96

/* ks_gcm_iv_draw takes n consecutive invocation numbers of key, *first .. *first + n - 1,
 * none handed out before. Called with tok->lock held. Fails with
 * CKR_KEY_FUNCTION_NOT_PERMITTED, taking nothing, when fewer than n remain below
 * KS_GCM_IV_LIMIT; CKR_DEVICE_ERROR when the store fails; CKR_HOST_MEMORY;
 * CKR_GENERAL_ERROR when the object has no CKA_UNIQUE_ID. */
CK_RV ks_gcm_iv_draw(ks_token *tok, const ks_object *key, uint64_t n, uint64_t *first);

/* ks_gcm_iv_counter writes the deterministic IV of SP 800-38D 8.2.1: the first fixed_bits
 * bits of iv (iv_len bytes) are kept (the fixed field), the other bits become the invocation
 * number, big-endian, right-aligned (the invocation field). Needs
 * iv_len * 8 - fixed_bits >= KS_GCM_IV_COUNTER_BITS. */
void ks_gcm_iv_counter(uint8_t *iv, size_t iv_len, size_t fixed_bits, uint64_t invocation);

/* ks_gcm_iv_random writes the RBG-based IV of SP 800-38D 8.2.2: the first fixed_bits bits
 * are kept, the others are random. CKR_FUNCTION_FAILED when the generator fails. */
CK_RV ks_gcm_iv_random(uint8_t *iv, size_t iv_len, size_t fixed_bits);

#endif
