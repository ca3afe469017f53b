/* rules_pair.h - the key pair family's entry for a caller that holds the key already
 * (C_GenerateKeyPair): the class hooks of rules_pair.c read it back from its DER, which
 * libcrypto 3.0 decodes at hundreds of microseconds a key. */
#ifndef KS_TOKEN_RULES_PAIR_H
#define KS_TOKEN_RULES_PAIR_H

#include <openssl/evp.h>

#include "token/attrs.h"
#include "token/rules.h"

/* ks_rules_pair_finish_with finishes a public or private key object (by its CKA_CLASS) from
 * k, as its class's finish hook would from the object's DER value: every public component
 * computed from k, CKA_EC_PARAMS kept as given (it must name k's curve), CKA_PUBLIC_KEY_INFO
 * set. The object's value (CKA_KS_PKCS8 or CKA_PUBLIC_KEY_INFO) must already be k's.
 * CKR_TEMPLATE_INCONSISTENT when k is not of the object's key type or curve. */
CK_RV ks_rules_pair_finish_with(ks_attrs *obj, const EVP_PKEY *k, ks_why *why);

#endif
