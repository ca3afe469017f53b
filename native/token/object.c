/* object.c - ks_object allocation and the few questions every caller asks of an object. */
#include "token/object.h"

#include <stdlib.h>

#include "crypto/pkey_prep.h"

ks_object *ks_object_new(void)
{
    ks_object *obj = calloc(1, sizeof(*obj));
    if (obj != NULL) {
        ks_attrs_init(&obj->attrs);
    }
    return obj;
}

void ks_object_free(ks_object *obj)
{
    if (obj == NULL) {
        return;
    }
    ks_object_drop_prepared(obj);
    ks_attrs_free(&obj->attrs);
    free(obj);
}

CK_OBJECT_CLASS ks_object_class_of(const ks_attrs *attrs)
{
    CK_ULONG cls = (CK_ULONG)-1;
    ks_attrs_get_ulong(attrs, CKA_CLASS, &cls);
    return cls;
}

CK_OBJECT_CLASS ks_object_class(const ks_object *obj)
{
    return ks_object_class_of(&obj->attrs);
}

int ks_object_is_private(const ks_object *obj)
{
    /* PKCS#11 3.0 4.4: CKA_PRIVATE defaults to true for keys; the rules fill it always. */
    return ks_attrs_bool(&obj->attrs, CKA_PRIVATE, CK_TRUE) == CK_TRUE;
}

int ks_object_is_token(const ks_object *obj)
{
    return ks_attrs_bool(&obj->attrs, CKA_TOKEN, CK_FALSE) == CK_TRUE;
}

void *ks_object_prepared_key(ks_object *obj, const uint8_t *value, size_t len)
{
    if (obj->pkey != NULL) {
        return obj->pkey;
    }
    CK_OBJECT_CLASS cls = ks_object_class(obj);
    if ((cls != CKO_PRIVATE_KEY && cls != CKO_PUBLIC_KEY) || value == NULL) {
        return NULL;
    }
    obj->pkey = ks_pkey_prepare(value, len, cls == CKO_PRIVATE_KEY);
    return obj->pkey;
}

void ks_object_drop_prepared(ks_object *obj)
{
    ks_pkey_free(obj->pkey);
    obj->pkey = NULL;
}
