/* object.h - an object as the running token holds it: its handle and attributes.
 *
 * Token objects live in the store and are cached per token (token.c); session objects live
 * only in memory, owned by the session that created them (PKCS#11 3.0 4.4). A ks_object's
 * attributes may include CKA_VALUE in the clear: only in process memory, wiped on free. */
#ifndef KS_TOKEN_OBJECT_H
#define KS_TOKEN_OBJECT_H

#include <stdint.h>

#include "pkcs11.h"
#include "token/attrs.h"

/* Session-object handles carry this bit; token-object handles are store row ids below it. */
#define KS_SESSION_OBJECT_BIT (1UL << 40)

typedef struct ks_object {
    CK_OBJECT_HANDLE handle;
    int is_token;
    CK_SESSION_HANDLE owner; /* session objects: the creating session */
    int sealed_missing;      /* loaded without the token key: secret values absent */
    int role;                /* the wrap policy's role of the value once fixed (never changes
                                again), 0 while unknown: spares a registry read per use */
    ks_attrs attrs;
    /* The prepared key of a key-pair object (crypto/pkey_sign.h), made at its first use and
     * dropped whenever the object changes (ks_object_drop_prepared); read and written only
     * under the token's lock. Operations take their own reference. */
    void *pkey;
    struct ks_object *next;  /* chain in the cache bucket or session-object list */
} ks_object;

ks_object *ks_object_new(void);
/* ks_object_free wipes the attributes and frees the object; NULL allowed. */
void ks_object_free(ks_object *obj);

/* ks_object_prepared_key returns obj's prepared key (borrowed: valid while the token's lock
 * is held), parsing value (len bytes: the PKCS#8 of a private key, the SubjectPublicKeyInfo of
 * a public key) at the first call; NULL for other classes or a value that does not parse.
 * Called under the token's lock. */
void *ks_object_prepared_key(ks_object *obj, const uint8_t *value, size_t len);

/* ks_object_drop_prepared forgets obj's prepared key (its attributes changed). */
void ks_object_drop_prepared(ks_object *obj);

CK_OBJECT_CLASS ks_object_class(const ks_object *obj);
/* ks_object_class_of reads CKA_CLASS of an attribute set, (CK_ULONG)-1 when absent. */
CK_OBJECT_CLASS ks_object_class_of(const ks_attrs *attrs);
int ks_object_is_private(const ks_object *obj);
int ks_object_is_token(const ks_object *obj);

#endif
