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
    struct ks_object *next;  /* chain in the cache bucket or session-object list */
} ks_object;

ks_object *ks_object_new(void);
/* ks_object_free wipes the attributes and frees the object; NULL allowed. */
void ks_object_free(ks_object *obj);

CK_OBJECT_CLASS ks_object_class(const ks_object *obj);
/* ks_object_class_of reads CKA_CLASS of an attribute set, (CK_ULONG)-1 when absent. */
CK_OBJECT_CLASS ks_object_class_of(const ks_attrs *attrs);
int ks_object_is_private(const ks_object *obj);
int ks_object_is_token(const ks_object *obj);

#endif
