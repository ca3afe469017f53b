/* wrap_policy.h - the wrap policy that keeps sensitive keys inside the token.
 *
 * Bortolozzo, Centenaro, Focardi and Steel, "Attacking and fixing PKCS#11 security tokens"
 * (CCS 2010), show how legal call sequences reveal sensitive keys. Under the default `strict`
 * profile keystead refuses each of them:
 *
 *  1. Role separation (SP 800-57 5.2, one key one purpose). A key VALUE has one role, fixed at
 *     its first use through any object holding it: key-wrapping (wrap, unwrap) or data
 *     (encrypt, decrypt, sign, verify). The role is recorded against a keyed fingerprint of the
 *     value, so a copy made by C_CopyObject or by wrap-then-unwrap shares it. This stops
 *     wrap-then-decrypt, encrypt-then-unwrap and the raw block oracle of ECB/CBC/CTR used to
 *     compute an RFC 3394 wrapping by hand.
 *  2. Known keys do not wrap. A key whose value may be known outside the token (imported with
 *     C_CreateObject, unwrapped under such a key, or ever non-sensitive) may wrap only if the SO
 *     marked it CKA_TRUSTED.
 *  3. Sticky sensitivity. An unwrapped key is always CKA_SENSITIVE: re-importing a wrapped key
 *     with weaker attributes is refused (CKR_TEMPLATE_INCONSISTENT).
 *  4. Strength. The wrapping key is at least as long as the key it wraps (SP 800-57 Part 1
 *     5.6.1: the protection is no stronger than the weaker key): CKR_WRAPPING_KEY_SIZE_RANGE.
 *
 * The `compat` profile (wrap_policy = compat) keeps only the rules of PKCS#11 itself, like
 * SoftHSMv2. */
#ifndef KS_TOKEN_WRAP_POLICY_H
#define KS_TOKEN_WRAP_POLICY_H

#include "pkcs11.h"
#include "token/attrs.h"
#include "token/config.h"
#include "token/token.h"

typedef enum ks_role {
    KS_ROLE_NONE = 0,
    KS_ROLE_KEK = 1,  /* wrap, unwrap */
    KS_ROLE_DATA = 2, /* encrypt, decrypt, sign, verify */
} ks_role;

/* Checks of C_WrapKey / C_UnwrapKey beyond the PKCS#11 rules. */
CK_RV ks_wrap_policy_check_wrap(const ks_config *cfg, CK_MECHANISM_TYPE mech,
                                const ks_attrs *kek, const ks_attrs *key);
CK_RV ks_wrap_policy_check_unwrap(const ks_config *cfg, CK_MECHANISM_TYPE mech,
                                  const ks_attrs *kek, ks_attrs *new_key);

/* ks_wrap_policy_use fixes or checks the role of a key's value for one use (strict profile).
 * CKR_KEY_FUNCTION_NOT_PERMITTED when the value already has the other role. Called with
 * tok->lock held; needs the token key (logged in), as any use of a key's value does. */
CK_RV ks_wrap_policy_use(ks_token *tok, const ks_object *key, ks_role role);

/* ks_wrap_policy_value_known: the value may be known outside the token. */
int ks_wrap_policy_value_known(const ks_attrs *key);

#endif
