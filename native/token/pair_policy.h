/* pair_policy.h - the policy of key pairs (NIST SP 800-57 Part 1 Rev. 5, sections 5.2 and 7;
 * docs/policy.md, "Key pairs").
 *
 * A key pair is a CKO_PRIVATE_KEY object and the CKO_PUBLIC_KEY objects whose
 * CKA_PUBLIC_KEY_INFO (the SubjectPublicKeyInfo DER, which the token sets on both keys when
 * it generates or imports them) is the same: the link is the key itself, so it needs no
 * record of its own, holds for pairs imported one key at a time, and cannot be forged
 * without the key. CKA_ID is the caller's label and links nothing.
 *
 *  - One key, one purpose (section 5.2): under wrap_policy = strict a private key may not
 *    both sign (CKA_SIGN, CKA_SIGN_RECOVER) and decrypt (CKA_DECRYPT, CKA_UNWRAP), nor a
 *    public key both verify (CKA_VERIFY, CKA_VERIFY_RECOVER) and encrypt (CKA_ENCRYPT,
 *    CKA_WRAP): CKR_TEMPLATE_INCONSISTENT wherever such a key would come to be (creation,
 *    generation, unwrap, copy, C_SetAttributeValue). compat allows it, as PKCS#11 does.
 *  - The states of a pair move together (ks_pair_follow). */
#ifndef KS_TOKEN_PAIR_POLICY_H
#define KS_TOKEN_PAIR_POLICY_H

#include "pkcs11.h"
#include "token/attrs.h"
#include "token/config.h"
#include "token/token.h"

/* ks_pair_check_purpose: CKR_TEMPLATE_INCONSISTENT when, under the strict profile, a new
 * private or public key (before NULL) has two purposes, or a changed one or a copy (before:
 * the object or the original) gains a purpose before did not have: a key's value keeps the
 * one purpose it was made for. A key that already has both (made under compat) keeps them. */
CK_RV ks_pair_check_purpose(const ks_config *cfg, const ks_attrs *before,
                            const ks_attrs *after);

/* ks_pair_follow moves the other keys of obj's pair after obj went from state `from` to
 * `to` (obj's own change already made and recorded):
 *   suspended, compromised   -> the other keys too (either way round);
 *   suspended -> active      -> the other keys that are suspended become active;
 *   a private key destroyed  -> its public keys are deactivated: they still verify (and
 *                               process) within their recipient-usage period, never sign
 *                               or encrypt again.
 * Deactivation is not followed: a signature key's public half outlives its private half,
 * and an encryption key's private half outlives its public half. A key the caller may not
 * govern (a governed key, for anyone but the manager) or that cannot take the edge is left
 * as it is. Each move is one transition record ("... : pair of <uid>"). Called with
 * tok->lock held; returns the first error of a store write or record. */
CK_RV ks_pair_follow(ks_token *tok, CK_SESSION_HANDLE session, int rw, const ks_object *obj,
                     CK_ULONG from, CK_ULONG to);

#endif
