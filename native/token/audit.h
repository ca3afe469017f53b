/* audit.h - the token's own audit trail: append-only, hash-chained, sealed with a
 * forward-secure key (issue: "a sealed audit trail in the token").
 *
 * Record i (seq = 1, 2, ...) is encoded canonically (enc_i: each field as a 4-byte big-endian
 * length and its bytes) and chained: chain_i = SHA-256("keystead audit chain" || chain_{i-1} ||
 * enc_i), chain_0 = 32 zero bytes. It is sealed with the epoch key of its sequence number:
 * mac_i = HMAC-SHA-256(k_i, chain_i), where k_1 is the initial key and k_{i+1} =
 * SHA-256("keystead audit evolve" || k_i). After sealing record i the token keeps only
 * k_{i+1}: someone who takes the machine later cannot re-seal any earlier record. The
 * auditor keeps k_1, which C_InitToken writes once to <token file>.audit-key (mode 0600)
 * for the SO to move off the machine; with it, `keystead audit verify` recomputes every
 * chain value and MAC and names the first record that was edited, deleted, reordered or
 * inserted. The records live in <token file>.audit (token/audit_file.h), not in the
 * database: an append is one write to the page cache, not a transaction.
 *
 * What is recorded: every login (failed ones too), logout, PIN change, token and PIN
 * initialisation, key generation, import, copy, wrap, unwrap, attribute change, lifecycle
 * transition, override and destruction: one record each, with time, process, user, session,
 * the object's CKA_UNIQUE_ID, the mechanism and the result code. Key use (encrypt, decrypt,
 * sign, verify, digest of a key) is counted per key, session and operation and written as one
 * record with the count at session close, at C_Finalize and, while calls continue, at least
 * every second; with audit_mode = per-op every use is one record. */
#ifndef KS_TOKEN_AUDIT_H
#define KS_TOKEN_AUDIT_H

#include <stdint.h>

#include "pkcs11.h"
#include "token/store.h"

#define KS_AUDIT_KEY_LEN 32

typedef enum ks_audit_event {
    KS_AUDIT_INIT_TOKEN,
    KS_AUDIT_LOGIN,
    KS_AUDIT_LOGOUT,
    KS_AUDIT_INIT_PIN,
    KS_AUDIT_SET_PIN,
    KS_AUDIT_GENERATE,
    KS_AUDIT_IMPORT,
    KS_AUDIT_COPY,
    KS_AUDIT_WRAP,
    KS_AUDIT_UNWRAP,
    KS_AUDIT_SET_ATTRIBUTE,
    KS_AUDIT_TRANSITION,
    KS_AUDIT_OVERRIDE,
    KS_AUDIT_DESTROY,
    KS_AUDIT_USE,
    KS_AUDIT_INTEGRITY, /* a store record failed verification (token/store_auth.c) */
    KS_AUDIT_DERIVE,    /* C_DeriveKey: the new key, its base key in the detail */
} ks_audit_event;

/* One record before it is sealed. Strings may be NULL (recorded as empty). */
typedef struct ks_audit_entry {
    ks_audit_event event;
    CK_USER_TYPE user;          /* who was logged in, (CK_ULONG)-1 for nobody */
    CK_SESSION_HANDLE session;  /* 0 when none */
    const char *object;         /* the object's CKA_UNIQUE_ID */
    CK_MECHANISM_TYPE mechanism;/* (CK_ULONG)-1 when none */
    CK_RV rv;
    uint64_t count;             /* KS_AUDIT_USE: operations counted; else 1 */
    const char *detail;         /* e.g. "C_Encrypt", "active -> suspended: rotation" */
} ks_audit_entry;

/* ks_audit_start begins a new trail at C_InitToken: it erases the old records, makes a fresh
 * initial key, stores it as the current epoch key and writes it to key_path (0600, replacing
 * any old file) unless key_path is NULL (in-memory tokens). */
CK_RV ks_audit_start(ks_store *store, const char *key_path);

/* ks_audit_append seals and appends one record (token/audit_file.h: a copy into the mapped
 * file, in the page cache before it returns). CKR_FUNCTION_FAILED when no trail was started,
 * CKR_DEVICE_ERROR when the trail's file is missing, damaged or cannot be written. */
CK_RV ks_audit_append(ks_store *store, const ks_audit_entry *entry);

/* ks_audit_ready: CKR_OK when a record could be appended now (the trail opens, was started,
 * was not found deleted or cut, and has room for a record: grown now if need be), else the error ks_audit_append would give. For
 * operations whose record is written later (batched key-use counts). */
CK_RV ks_audit_ready(ks_store *store);

/* ks_audit_adopt starts a trail (as ks_audit_start) for a token made before tokens had one:
 * only when neither the trail file nor key_path exists. A token whose trail was started and
 * whose file is gone keeps failing: that is damage the SO answers with C_InitToken. */
CK_RV ks_audit_adopt(ks_store *store, const char *key_path);

/* ks_audit_dirty_fd: a descriptor of the trail's file to fdatasync and close when records
 * were appended since the last call, else -1 (the flusher thread makes them durable). */
int ks_audit_dirty_fd(ks_store *store);

const char *ks_audit_event_name(ks_audit_event event);

#endif
