/* policy.h - what a key may do now: lifecycle state (NIST SP 800-57 Part 1 Rev. 5 section 7),
 * usage periods, allowed mechanisms and usage limits, checked at every *Init. */
#ifndef KS_TOKEN_POLICY_H
#define KS_TOKEN_POLICY_H

#include "pkcs11.h"
#include "token/attrs.h"
#include "token/lifecycle.h"
#include "token/token.h"

/* ks_policy_allowed_mechanism: CKR_MECHANISM_INVALID when the key has CKA_ALLOWED_MECHANISMS
 * and mech is not in it (PKCS#11 3.0 4.7). */
CK_RV ks_policy_allowed_mechanism(const ks_attrs *key, CK_MECHANISM_TYPE mech);

/* ks_policy_check_use: CKR_KEY_FUNCTION_NOT_PERMITTED when the key's lifecycle state forbids
 * use, or today (UTC) is outside the period that bounds it: CKA_START_DATE..CKA_END_DATE for
 * protecting, CKA_KS_PROCESS_START_DATE..CKA_KS_PROCESS_END_DATE for processing and for
 * export. */
CK_RV ks_policy_check_use(const ks_attrs *key, ks_use use);

/* ks_policy_count_use counts one use of a token key against CKA_KS_USAGE_LIMIT; at the limit
 * CKR_KEY_FUNCTION_NOT_PERMITTED. Called with tok->lock held. */
CK_RV ks_policy_count_use(ks_token *tok, ks_object *key);

/* ks_policy_limit_reached: CKR_KEY_FUNCTION_NOT_PERMITTED when the key has used up its
 * CKA_KS_USAGE_LIMIT, without counting (ks_policy_count_use counts, and refuses at the limit
 * too, atomically). Called with tok->lock held. */
CK_RV ks_policy_limit_reached(ks_token *tok, const ks_object *key);

/* ks_policy_unused_uses: uses this process reserved for the key value whose count is named
 * `uses` ("use:<fingerprint>", wrap_policy.h) and has not made yet. */
uint64_t ks_policy_unused_uses(const ks_token *tok, const char *uses);

/* ks_policy_value_uses: the uses made of that value, from `counted` (its count in the store,
 * an upper bound): less what this process reserved and has not used, and less what every
 * process gave back (ks_policy_return_leases). Exact once no process holds a lease. Called
 * with tok->lock held. */
uint64_t ks_policy_value_uses(ks_token *tok, const char *uses, uint64_t counted);

/* ks_policy_return_leases gives back what this process reserved for its keys and has not
 * used (into each value's "ret:<fingerprint>" counter: the count itself only grows), so the
 * count another process reads is exact again. At the close of the token's last session and
 * at C_Finalize; called with tok->lock held (or single-threaded). */
void ks_policy_return_leases(ks_token *tok);

/* ks_policy_today writes today's UTC date as a CK_DATE. */
void ks_policy_today(CK_DATE *out);

#endif
