/* rules_class.c - the object class table (token/rules.h ks_class_desc): one row per class.
 *
 * Data objects (3.0 base 4.5), secret keys (4.10), public keys (4.8) and private keys (4.9)
 * are supported. Certificates (4.6) have their row, not supported yet: their CKA_CLASS is
 * refused (CKR_ATTRIBUTE_VALUE_INVALID) until their attribute rows and hooks exist.
 *
 * A private key's value is CKA_KS_PKCS8 (keystead.h: its PKCS#8 DER, sealed); a public
 * key's is CKA_PUBLIC_KEY_INFO (its SubjectPublicKeyInfo DER, not secret). */
#include "keystead.h"
#include "token/rules_internal.h"

static const ks_class_desc CLASSES[] = {
    {CKO_DATA, "data", KS_ON_DATA, 1, 0, 0, KS_NO_VALUE_ATTR, NULL, NULL},
    {CKO_SECRET_KEY, "secret key", KS_ON_SECRET, 1, 1, 1, CKA_VALUE,
     ks_rules_secret_check_new, ks_rules_secret_finish},
    {CKO_PUBLIC_KEY, "public key", KS_ON_PUBLIC, 1, 1, 0, CKA_PUBLIC_KEY_INFO,
     ks_rules_pair_check_new, ks_rules_public_finish},
    {CKO_PRIVATE_KEY, "private key", KS_ON_PRIVATE, 1, 1, 1, CKA_KS_PKCS8,
     ks_rules_pair_check_new, ks_rules_private_finish},
    {CKO_CERTIFICATE, "certificate", KS_ON_CERT, 0, 0, 0, KS_NO_VALUE_ATTR, NULL, NULL},
};

const ks_class_desc *ks_class_find(CK_OBJECT_CLASS cls)
{
    for (size_t i = 0; i < sizeof(CLASSES) / sizeof(CLASSES[0]); i++) {
        if (CLASSES[i].cls == cls) {
            return &CLASSES[i];
        }
    }
    return NULL;
}

const ks_class_desc *ks_class_supported(CK_OBJECT_CLASS cls)
{
    const ks_class_desc *c = ks_class_find(cls);
    return c != NULL && c->supported ? c : NULL;
}
