/* lifecycle.h - the NIST SP 800-57 Part 1 Rev. 5 section 7 key states and their only allowed
 * transitions (README, "Key lifecycle in the token"), as one table, and what each state permits. */
#ifndef KS_TOKEN_LIFECYCLE_H
#define KS_TOKEN_LIFECYCLE_H

#include "pkcs11.h"

/* The class of an operation, for state and usage-period checks. */
typedef enum ks_use {
    KS_USE_PROTECT, /* encrypt, sign, wrap, MAC generation */
    KS_USE_PROCESS, /* decrypt, verify, unwrap, digest a key (C_DigestKey) */
    KS_USE_EXPORT,  /* the key's own value leaves the token (the key wrapped by C_WrapKey) */
} ks_use;

/* ks_lifecycle_allowed returns 1 when from -> to is an edge of the table (from == to is not). */
int ks_lifecycle_allowed(CK_ULONG from, CK_ULONG to);

/* ks_lifecycle_valid_state returns 1 for KS_STATE_PRE_ACTIVATION..KS_STATE_DESTROYED. */
int ks_lifecycle_valid_state(CK_ULONG state);

/* ks_lifecycle_permits returns 1 when a key in state may be used for use; override is the
 * key's CKA_KS_PROCESS_OVERRIDE (processing in suspended and compromised states only). */
int ks_lifecycle_permits(CK_ULONG state, ks_use use, CK_BBOOL override);

const char *ks_lifecycle_state_name(CK_ULONG state);

#endif
