/* wrap_policy.h - the wrap policy that keeps sensitive keys inside the token.
 *
 * Bortolozzo, Centenaro, Focardi and Steel, "Attacking and fixing PKCS#11 security tokens"
 * (CCS 2010), and Clulow, "On the security of PKCS#11" (CHES 2003), show how legal call
 * sequences reveal sensitive keys. Under the default `strict` profile keystead refuses each
 * of them (tests/attacks/ runs every one against keystead and SoftHSMv2):
 *
 *  1. Role separation (SP 800-57 5.2, one key one purpose). An AES key VALUE has one role,
 *     fixed at its first use through any object holding it: key-wrapping (wrap, unwrap) or
 *     data (encrypt, decrypt, sign, verify). The role is recorded against a keyed
 *     fingerprint of the value, so a copy made by C_CopyObject or by wrap-then-unwrap shares
 *     it. This stops wrap-then-decrypt, encrypt-then-unwrap and the raw block oracle of
 *     ECB/CBC/CTR used to compute an RFC 3394 wrapping by hand.
 *  2. A wrapped key is a data key; a wrapping key never leaves the token. C_WrapKey fixes the
 *     wrapped value's role to data and refuses (CKR_KEY_NOT_WRAPPABLE) a value that already
 *     wraps, and a key under itself. Without this, a KEK carried to a second token (whose
 *     role registry has never seen it) could decrypt there what it wrapped here.
 *  3. Known keys do not wrap. A key whose value may be known outside the token (imported with
 *     C_CreateObject, unwrapped, or ever non-sensitive: CKA_KS_VALUE_KNOWN or not
 *     CKA_ALWAYS_SENSITIVE) may wrap only if the SO marked it CKA_TRUSTED. It may unwrap.
 *  4. Sticky sensitivity. An unwrapped key is always CKA_SENSITIVE: re-importing a wrapped key
 *     as non-sensitive is refused (CKR_TEMPLATE_INCONSISTENT); a template that does not set
 *     CKA_SENSITIVE gets a sensitive key.
 *  5. Strength. The wrapping key is at least as long as the key it wraps (SP 800-57 Part 1
 *     5.6.1: the protection is no stronger than the weaker key): CKR_WRAPPING_KEY_SIZE_RANGE.
 *  6. Only authenticated key wrapping carries keys: C_WrapKey and C_UnwrapKey take
 *     CKM_AES_KEY_WRAP and CKM_AES_KEY_WRAP_KWP (and its 0x210A alias); ECB, CBC, CBC-PAD,
 *     CTR and GCM are CKR_MECHANISM_INVALID there (they stay available for data). ECB or CBC
 *     wrapping splits a key into blocks that unwrap separately, truncates (a 1-byte key
 *     unwrapped from a 32-byte blob is found by trying 256 values, then the next byte...),
 *     and wrapping a known key under the same KEK turns wrap into a raw block oracle; CTR and
 *     GCM with a caller's counter or IV give a keystream to XOR away. And an unwrapped key is
 *     the whole unwrapped value: a CKA_VALUE_LEN other than its length is
 *     CKR_TEMPLATE_INCONSISTENT, never a truncation (a generic secret of 1, 2, ... bytes of a
 *     sensitive key, each new byte found from the short key's check value in 256 tries).
 *
 * Every rule guards secret values only. A key "guards a secret" when its value is not known
 * outside the token (not imported, not unwrapped under a key that guards nothing, never
 * readable) or when the SO trusts it. Under a known, untrusted key only known keys can be
 * wrapped (rule 3), so nothing computed with it is secret: such keys behave exactly as in
 * PKCS#11, and known-answer tests with imported keys work under the strict default. They obey
 * a role another key fixed for their value but fix none themselves. Only the SO takes
 * CKA_TRUSTED away (by C_SetAttributeValue or in a copy), so no untrusted copy of a trusted
 * key can wrap its value out.
 *
 * Limits, by design: a wrapping key cannot be moved to another token (rule 2), and a key
 * cannot both wrap and encrypt. The registry answers "has this value a role?" for values a
 * caller can import, i.e. it confirms a guessed value: no help against full-entropy keys.
 * Roles stay recorded after their keys are destroyed (a fingerprint, not the value).
 *
 * The `compat` profile (wrap_policy = compat) keeps only the rules of PKCS#11 itself, like
 * SoftHSMv2. */
#ifndef KS_TOKEN_WRAP_POLICY_H
#define KS_TOKEN_WRAP_POLICY_H

#include <stddef.h>

#include "pkcs11.h"
#include "token/attrs.h"
#include "token/config.h"
#include "token/rules.h"
#include "token/token.h"

typedef enum ks_role {
    KS_ROLE_NONE = 0,
    KS_ROLE_KEK = 1,  /* wrap, unwrap */
    KS_ROLE_DATA = 2, /* encrypt, decrypt, sign, verify */
} ks_role;

/* Checks of C_WrapKey / C_UnwrapKey beyond the PKCS#11 rules. On a refusal both fill why
 * (the attribute at fault, or KS_NO_ATTR, and which rule refused) for the call's log line. */
CK_RV ks_wrap_policy_check_wrap(const ks_config *cfg, CK_MECHANISM_TYPE mech,
                                const ks_attrs *kek, const ks_attrs *key, ks_why *why);
/* ks_wrap_policy_check_unwrap: new_key is the key built from the caller's template (tmpl,
 * count) and the defaults, value_len the length of the unwrapped value. Rule 4: CKA_SENSITIVE
 * false in the template is CKR_TEMPLATE_INCONSISTENT, and a template that does not say gets
 * CKA_SENSITIVE true in new_key (python-pkcs11's unwrap_key sends none). Rule 6: a
 * CKA_VALUE_LEN other than value_len is CKR_TEMPLATE_INCONSISTENT (no truncation). */
CK_RV ks_wrap_policy_check_unwrap(const ks_config *cfg, CK_MECHANISM_TYPE mech,
                                  const ks_attrs *kek, ks_attrs *new_key, size_t value_len,
                                  const CK_ATTRIBUTE *tmpl, CK_ULONG count, ks_why *why);

/* ks_wrap_policy_mech_flags: the CK_MECHANISM_INFO flags of mech under cfg's profile (rule 6:
 * in strict, CKF_WRAP and CKF_UNWRAP only on the key-wrap mechanisms, the registry's
 * KS_MECH_KEY_WRAP rows), for C_GetMechanismInfo through ks_mech_offer (token/mech.h). Keys
 * whose values are known are exempt at C_WrapKey/C_UnwrapKey (they behave as PKCS#11 says),
 * which the flags do not advertise. */
CK_FLAGS ks_wrap_policy_mech_flags(const ks_config *cfg, CK_MECHANISM_TYPE mech,
                                   CK_FLAGS flags);

/* ks_wrap_policy_check_trust: in the strict profile only the SO takes CKA_TRUSTED away, by
 * C_SetAttributeValue or in a C_CopyObject copy (before: the object or the copied source,
 * after: its new attributes): an untrusted copy of a trusted key would count as a known key
 * that guards nothing, and wrap the trusted value out. CKR_ATTRIBUTE_READ_ONLY otherwise. */
CK_RV ks_wrap_policy_check_trust(const ks_token *tok, const ks_attrs *before,
                                 const ks_attrs *after);

/* ks_wrap_policy_use fixes or checks the role of a key's value for one use (strict profile).
 * CKR_KEY_FUNCTION_NOT_PERMITTED when the value already has the other role. Called with
 * tok->lock held; needs the token key (logged in), as any use of a key's value does. */
CK_RV ks_wrap_policy_use(ks_token *tok, const ks_object *key, ks_role role);

/* ks_wrap_policy_wrap_roles: rules 1 and 2 for one C_WrapKey that produces output (length
 * queries fix nothing): the KEK's value takes (or has) the wrapping role, the wrapped key's
 * value the data role. CKR_KEY_FUNCTION_NOT_PERMITTED when the KEK's value is a data key,
 * CKR_KEY_NOT_WRAPPABLE when the wrapped value is a wrapping key or the KEK itself; a refused
 * call fixes no role. Called with tok->lock held, logged in. */
CK_RV ks_wrap_policy_wrap_roles(ks_token *tok, const ks_object *kek, const ks_object *key);

/* ks_wrap_policy_guards_secret: the key's value is not known outside the token, or the SO
 * trusts it to wrap keys whose values are. The strict rules protect exactly these. */
int ks_wrap_policy_guards_secret(const ks_attrs *key);

/* ks_wrap_policy_unwraps_secret: a value unwrapped under kek is secret (not known outside the
 * token): kek guards a secret and is not a private key (a private key receives blobs anyone
 * with its public key can make). Decides the unwrapped key's CKA_KS_VALUE_KNOWN. */
int ks_wrap_policy_unwraps_secret(const ks_attrs *kek);

/* ks_wrap_policy_value_known: the value may be known outside the token: imported, unwrapped
 * under a key that guards no secret, readable now, or generated and readable once. */
int ks_wrap_policy_value_known(const ks_attrs *key);

/* ks_wrap_policy_unwrapped: rule 2 for the copy a C_UnwrapKey makes. A key unwrapped under a
 * key that guards a secret was wrapped, so it is a data key in this token too: its value's
 * role is fixed to data before the object is stored (an AES value already holding the
 * wrapping role here: CKR_KEY_FUNCTION_NOT_PERMITTED). Without this a data key wrapped in
 * one token arrives role-less in another, wraps a secret there, and the first token decrypts
 * the blob. new_key holds the unwrapped CKA_VALUE. Strict profile only. */
CK_RV ks_wrap_policy_unwrapped(ks_token *tok, const ks_attrs *kek, const ks_attrs *new_key);

/* Usage counts are kept per key value (docs/authority.md): one token-wide counter per value,
 * named "use:" and 192 bits of the value's keyed fingerprint, shared by every copy, session
 * object and unwrapped copy of the value. ks_value_uses_name writes that name (needs the
 * token key: CKR_USER_NOT_LOGGED_IN without a login; CKR_KEY_HANDLE_INVALID without a
 * value). */
#define KS_VALUE_USES_NAME_LEN (4 + 48 + 1)
CK_RV ks_value_uses_name(const ks_token *tok, const ks_attrs *key,
                         char name[KS_VALUE_USES_NAME_LEN]);

#endif
