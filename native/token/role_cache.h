/* role_cache.h - the roles of key values that this process has seen in the token's store.
 *
 * The wrap policy keeps each value's role in the store, as a token-wide counter named after
 * the value's keyed fingerprint (token/wrap_policy.c). A role, once committed there, never
 * changes and is never removed: the counter is only ever added to from 0, under its own role
 * as the limit, and counters of the token itself (handle 0) are deleted by nothing but
 * C_InitToken, which makes a new token key and so new fingerprints (store_counters.c). So a
 * role this process has read from the store, or committed to it, can answer every later
 * question about the same value from memory, for any object of the value in any session,
 * without a read transaction per unwrap or per first use. Only roles the store holds enter
 * the cache: a value whose role is not in the store is always looked up there (another
 * process may fix it at any time), so nothing here is binding that other processes cannot
 * see (docs/policy.md, "Where roles are kept").
 *
 * A direct-mapped table: a slot holds one fingerprint and its role, a new one evicts the old
 * (which is then read from the store again when needed). The fingerprints are HMAC outputs
 * under the token key, uniform and unknown to a caller, and the store holds their first 192
 * bits in the clear anyway; still the table is wiped when the token key goes (logout,
 * C_InitToken). Callers hold the token's lock. */
#ifndef KS_TOKEN_ROLE_CACHE_H
#define KS_TOKEN_ROLE_CACHE_H

#include <stdint.h>

#define KS_ROLE_CACHE_SLOTS 512
#define KS_ROLE_FP_LEN 32

typedef struct ks_role_cache {
    struct {
        uint8_t fp[KS_ROLE_FP_LEN];
        int role; /* 0: empty slot */
    } slot[KS_ROLE_CACHE_SLOTS];
} ks_role_cache;

/* ks_role_cache_clear empties (and wipes) the cache. */
void ks_role_cache_clear(ks_role_cache *c);

/* ks_role_cache_get: the role the store holds for the value of fingerprint fp, as this
 * process last saw it, or 0 when the cache does not know it (then ask the store). */
int ks_role_cache_get(const ks_role_cache *c, const uint8_t fp[KS_ROLE_FP_LEN]);

/* ks_role_cache_put remembers that the store holds role (not 0) for fp: only after the role
 * was read from the store or its transaction committed. */
void ks_role_cache_put(ks_role_cache *c, const uint8_t fp[KS_ROLE_FP_LEN], int role);

#endif
