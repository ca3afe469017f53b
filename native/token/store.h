/* store.h - one SQLite database per token: token metadata, PIN-wrapped token key, objects.
 *
 * Sealing (docs/store.md): attribute values for which ks_rules_is_sealed() holds are
 * stored as AES-256-GCM(token_key, iv, value, aad = object uid || attribute type) and never in
 * the clear. The 32-byte token key is random, made at C_InitToken, and stored wrapped under a
 * key derived from the SO PIN and, once C_InitPIN ran, separately under one derived from the
 * user PIN (scrypt or PBKDF2-SHA256 per the configuration). C_SetPIN rewraps only the token key.
 *
 * Concurrency: every write is one IMMEDIATE transaction, so a second process sees it at once
 * and no write is half done after a crash (WAL journal, synchronous=FULL). Handles are the
 * object's rowid: stable across processes and restarts, never reused. A ks_store may be used
 * from several threads: each call takes the store's lock. Every function returns
 * CKR_ARGUMENTS_BAD for NULL required arguments and CKR_DEVICE_ERROR when SQLite fails
 * (including a busy database after a 10 s wait).
 *
 * Sealed attributes: those ks_rules_is_sealed() names, for keys (secret/private) always and
 * for other classes only when CKA_PRIVATE is true (a public object's values are readable
 * without login by definition).
 *
 * Authentication (docs/store.md): objects, counters and value roles carry an HMAC-SHA-256
 * under a key derived from the token key, and a keyed census of those records catches a
 * deleted or replayed one. The MAC key is made by ks_store_login (which also migrates a store
 * made before authentication, once) or by any call given the token key, and kept by the
 * handle until ks_store_forget_key. A record that fails verification is refused with
 * CKR_DEVICE_ERROR, logged and recorded in the audit trail. Without the MAC key, nothing is
 * verified (a secret value stored unsealed is still refused) and only public objects that
 * hold no secret can be written: every other write is CKR_USER_NOT_LOGGED_IN. A token key
 * that is not this token's is CKR_USER_NOT_LOGGED_IN. */
#ifndef KS_TOKEN_STORE_H
#define KS_TOKEN_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "pkcs11.h"
#include "token/attrs.h"
#include "token/config.h"

#define KS_TOKEN_KEY_LEN 32
#define KS_UID_LEN 32 /* hex characters of CKA_UNIQUE_ID */

typedef struct ks_store ks_store;

/* What C_GetTokenInfo needs from the store. */
typedef struct ks_token_meta {
    int initialized;            /* C_InitToken ran */
    int user_pin_set;           /* C_InitPIN ran */
    char label[32];             /* blank padded, not NUL terminated */
    char serial[16];            /* blank padded */
    unsigned so_failures;       /* consecutive failed SO logins */
    unsigned user_failures;
    unsigned max_attempts;      /* from the configuration at the last write */
    int user_pin_to_be_changed; /* CKF_USER_PIN_TO_BE_CHANGED */
} ks_token_meta;

/* ks_store_open opens (creating when create is set) the database at path, or an in-memory
 * database when path is ":memory:". CKR_DEVICE_ERROR with no store when it cannot. */
CK_RV ks_store_open(ks_store **out, const char *path, int create, const ks_config *cfg);
void ks_store_close(ks_store *store);

CK_RV ks_store_meta(ks_store *store, ks_token_meta *out);

/* The token's policy floor (store_policy.c, README "Wrap policy"): the wrap policy and the
 * audit-failure setting in force when the SO initialised the token. A process whose
 * configuration is weaker gets the floor. Bits set = the stricter setting. */
#define KS_FLOOR_STRICT_WRAP 0x1u   /* wrap_policy = strict */
#define KS_FLOOR_AUDIT_REFUSE 0x2u  /* audit_failure = refuse */
#define KS_FLOOR_ALL (KS_FLOOR_STRICT_WRAP | KS_FLOOR_AUDIT_REFUSE)

/* ks_store_floor_of: the floor bits of a configuration. */
unsigned ks_store_floor_of(const ks_config *cfg);

/* ks_store_policy_floor reads the recorded floor into *floor. Fail closed: KS_FLOOR_ALL when
 * the token has no floor (made before floors, until the SO's next login records one), when
 * the stored value is not a floor, and, once the store's MAC key is known (a login), when
 * the value is not authenticated or its MAC fails. */
CK_RV ks_store_policy_floor(ks_store *store, unsigned *floor);

/* ks_store_policy_record writes floor (C_InitToken, after ks_store_init_token): stored
 * plain; the SO's next login authenticates it (ks_store_policy_adopt). */
CK_RV ks_store_policy_record(ks_store *store, unsigned floor);

/* ks_store_policy_adopt, at the SO's login (the MAC key known): a floor that is not yet
 * authenticated (a new token), absent (a token made before floors) or fails its MAC is
 * recorded, authenticated, as cfg_floor OR'd with the stored value when it is a floor (an
 * unauthenticated value can only raise what the SO's configuration records). An
 * authenticated floor stays as it is. */
CK_RV ks_store_policy_adopt(ks_store *store, unsigned cfg_floor);

/* ks_store_init_token erases every object, sets the label (32 bytes, blank padded), makes a
 * fresh token key wrapped under so_pin, and forgets the user PIN. If the token was
 * initialised before, so_pin must match the old SO PIN (CKR_PIN_INCORRECT, counted). */
CK_RV ks_store_init_token(ks_store *store, const uint8_t *so_pin, size_t so_pin_len,
                          const char label[32]);

/* ks_store_login checks the PIN of user_type (CKU_SO or CKU_USER) and on success writes the
 * token key to token_key and resets the failure counter. Failures: CKR_PIN_INCORRECT
 * (counted), CKR_PIN_LOCKED (at max_attempts consecutive failures; nothing is tried),
 * CKR_USER_PIN_NOT_INITIALIZED. The PIN comparison is by unwrapping: constant time. */
/* The attempt is counted before the PIN is tried and the count reset after a success (kill -9
 * mid-login never gives a free guess). Also CKR_USER_TYPE_INVALID. */
CK_RV ks_store_login(ks_store *store, CK_USER_TYPE user_type, const uint8_t *pin,
                     size_t pin_len, uint8_t token_key[KS_TOKEN_KEY_LEN]);

/* ks_store_init_pin (SO logged in, token_key known) sets the user PIN, unlocking it.
 * CKR_USER_NOT_LOGGED_IN when token_key is not the token's key (e.g. re-initialised). */
CK_RV ks_store_init_pin(ks_store *store, const uint8_t token_key[KS_TOKEN_KEY_LEN],
                        const uint8_t *pin, size_t pin_len);
/* ks_store_init_pin_of: the same for who (CKU_USER or CKU_KS_MANAGER). */
CK_RV ks_store_init_pin_of(ks_store *store, CK_USER_TYPE who,
                           const uint8_t token_key[KS_TOKEN_KEY_LEN], const uint8_t *pin,
                           size_t pin_len);

/* ks_store_set_pin changes the PIN of user_type from old to new (old checked as in login). */
CK_RV ks_store_set_pin(ks_store *store, CK_USER_TYPE user_type, const uint8_t *old_pin,
                       size_t old_len, const uint8_t *new_pin, size_t new_len);

/* Objects. token_key may be NULL when not logged in: loads then leave sealed attributes out
 * and set *sealed_missing; puts and updates of objects with sealed attributes fail with
 * CKR_USER_NOT_LOGGED_IN. */
CK_RV ks_store_put_object(ks_store *store, const uint8_t *token_key, const ks_attrs *obj,
                          CK_OBJECT_HANDLE *handle_out);
/* ks_store_put_objects stores count objects in one transaction (all or none), writing their
 * handles to handles_out: for bulk loads (benchmarks, restores), one sync instead of count. */
CK_RV ks_store_put_objects(ks_store *store, const uint8_t *token_key, const ks_attrs *objs,
                           size_t count, CK_OBJECT_HANDLE *handles_out);
CK_RV ks_store_update_object(ks_store *store, const uint8_t *token_key,
                             CK_OBJECT_HANDLE handle, const ks_attrs *obj);
/* ks_store_delete_object removes the object and its counters, and overwrites its values
 * (secure_delete, then a WAL checkpoint). CKR_OBJECT_HANDLE_INVALID when no such object. */
CK_RV ks_store_delete_object(ks_store *store, CK_OBJECT_HANDLE handle);
/* ks_store_load_object adds the object's attributes to out (an initialised, normally empty
 * set; freed on failure). CKR_OBJECT_HANDLE_INVALID when no such object; CKR_DEVICE_ERROR
 * when a sealed value fails its GCM check (altered file). sealed_missing may be NULL. */
CK_RV ks_store_load_object(ks_store *store, const uint8_t *token_key, CK_OBJECT_HANDLE handle,
                           ks_attrs *out, int *sealed_missing);

/* ks_store_find lists handles of objects that may match tmpl, using the indexed columns
 * (CKA_CLASS, CKA_LABEL, CKA_ID, CKA_KEY_TYPE, CKA_PRIVATE) when tmpl names them; the caller
 * filters the rest with ks_rules_match. *out is malloc'd. */
CK_RV ks_store_find(ks_store *store, const CK_ATTRIBUTE *tmpl, CK_ULONG count,
                    CK_OBJECT_HANDLE **out, size_t *out_count);
/* ks_store_free_handles frees a list from ks_store_find (free() does the same). */
void ks_store_free_handles(CK_OBJECT_HANDLE *list);

/* ks_store_counter_add atomically adds delta to a persistent per-object counter (name: e.g.
 * "usage", "gcm") and returns the value before the add in *before; with limit != 0 refuses
 * (CKR_KEY_FUNCTION_NOT_PERMITTED, nothing added) when before + delta > limit or the sum
 * would overflow. Durable when it returns: no restart or crash makes a counter go backwards.
 * handle 0 names the token itself; another unknown handle is CKR_OBJECT_HANDLE_INVALID.
 * name: 1..64 characters. before may be NULL. A counter never added to reads 0. */
CK_RV ks_store_counter_add(ks_store *store, CK_OBJECT_HANDLE handle, const char *name,
                           uint64_t delta, uint64_t limit, uint64_t *before);

/* ks_store_counter_add_unsynced is ks_store_counter_add whose commit is not synced to disk:
 * every process sees it when it returns (the WAL is shared), and it becomes durable with the
 * next synced commit of any process on the token, or the next checkpoint (SQLite's WAL keeps
 * commits in order: after a crash the store is the state after some prefix of the commits,
 * and a synced commit's prefix holds every commit before it). A power loss before then may
 * lose it, and nothing after it. Only for facts whose loss in such a crash leaves nothing
 * durable that depends on them (the data role an unwrap fixes: docs/store.md, "Commits
 * without a sync"). */
CK_RV ks_store_counter_add_unsynced(ks_store *store, CK_OBJECT_HANDLE handle, const char *name,
                                    uint64_t delta, uint64_t limit, uint64_t *before);

/* ks_store_value_uses_add / _get: the usage count of a key value, the token-wide counter name
 * ("use:<fingerprint>", wrap_policy.h), as ks_store_counter_add / _get; legacy_handle (0:
 * none) names a token object whose per-object "usage" count, from a store made before counts
 * were per value, the value's count is raised to first. */
CK_RV ks_store_value_uses_add(ks_store *store, const char *name, CK_OBJECT_HANDLE legacy_handle,
                              uint64_t delta, uint64_t limit, uint64_t *before);
CK_RV ks_store_value_uses_get(ks_store *store, const char *name, CK_OBJECT_HANDLE legacy_handle,
                              uint64_t *value);
CK_RV ks_store_counter_get(ks_store *store, CK_OBJECT_HANDLE handle, const char *name,
                           uint64_t *value);

/* ks_store_value_role fixes or reads the role of a key value (wrap policy), keyed by a
 * fingerprint of the value (e.g. HMAC under the token key): atomically, when no role is
 * recorded for fingerprint and role != 0, records role; *fixed gets the recorded role (0 when
 * none and role == 0). Durable when it returns. */
CK_RV ks_store_value_role(ks_store *store, const uint8_t fingerprint[32], int role, int *fixed);

/* ks_store_forget_key wipes the MAC key the handle derived from a token key (at logout);
 * until the next login, nothing is verified and nothing authenticated can be written. */
void ks_store_forget_key(ks_store *store);

/* ks_store_changed returns 1 when another connection wrote since the last call. */
int ks_store_changed(ks_store *store);

/* In-memory tokens (token_dir = :memory:): ks_store_open(":memory:<id>") attaches to token
 * <id> of a process-wide registry (created when create is set, CKR_DEVICE_ERROR otherwise);
 * its objects live until the process ends or ks_store_memory_reset. ":memory:" alone is a
 * private database that ends with its handle.
 * ks_store_memory_tokens lists up to max registered ids with their initialised flag (in no
 * particular order) and returns how many it wrote. */
size_t ks_store_memory_tokens(CK_SLOT_ID *ids, int *initialized, size_t max);
/* ks_store_memory_reset forgets every in-memory token (open handles keep theirs until closed). */
void ks_store_memory_reset(void);

#endif
