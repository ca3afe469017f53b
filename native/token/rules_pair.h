/* rules_pair.h - the key pair family's entry for a caller that holds the key already
 * (C_GenerateKeyPair): the class hooks of rules_pair.c read it back from its DER, which
 * libcrypto 3.0 decodes at hundreds of microseconds a key. */
#ifndef KS_TOKEN_RULES_PAIR_H
#define KS_TOKEN_RULES_PAIR_H

#include <openssl/evp.h>

#include "crypto/curve.h"
#include "token/attrs.h"
#include "token/rules.h"

/* ks_rules_pair_finish_with finishes a public or private key object (by its CKA_CLASS) from
 * k, as its class's finish hook would from the object's DER value: every public component
 * computed from k, CKA_EC_PARAMS kept as given (it must name k's curve), CKA_PUBLIC_KEY_INFO
 * set. The object's value (CKA_KS_PKCS8 or CKA_PUBLIC_KEY_INFO) must already be k's.
 * CKR_TEMPLATE_INCONSISTENT when k is not of the object's key type or curve. */
CK_RV ks_rules_pair_finish_with(ks_attrs *obj, const EVP_PKEY *k, ks_why *why);

/* ks_rules_pair_finish_curve is ks_rules_pair_finish_with for a curve key held as its
 * values rather than an EVP_PKEY: its curve c, its public point (as ks_curve_point_len
 * says) and its SubjectPublicKeyInfo DER, which the caller computed once for both keys of
 * the pair. Same rules, same results. */
CK_RV ks_rules_pair_finish_curve(ks_attrs *obj, ks_curve c, const uint8_t *point,
                                 size_t point_len, const uint8_t *spki, size_t spki_len,
                                 ks_why *why);

#endif
