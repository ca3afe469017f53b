/* objects.c - object management (PKCS#11 3.0 5.7). Attribute rules live in token/rules.c;
 * this file resolves sessions and objects and applies the session and login rules. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "p11/guard.h"
#include "token/pair_policy.h"
#include "token/policy.h"
#include "token/wrap_policy.h"

static CK_RV template_shape(const CK_ATTRIBUTE *tmpl, CK_ULONG count)
{
    if (tmpl == NULL && count != 0) {
        return CKR_ARGUMENTS_BAD;
    }
    if (count > KS_MAX_COUNT) {
        return CKR_ARGUMENTS_BAD;
    }
    return CKR_OK;
}

/* Add a new object built from attrs; frees attrs. */
static CK_RV store_new(ks_session *s, ks_attrs *attrs, CK_OBJECT_HANDLE *out)
{
    CK_RV rv = ks_token_add(s->token, s->handle, ks_p11_session_rw(s), attrs, out);
    ks_attrs_free(attrs);
    return rv;
}

static CK_RV create_object(CK_SESSION_HANDLE hSession, CK_ATTRIBUTE_PTR pTemplate,
                           CK_ULONG ulCount, CK_OBJECT_HANDLE_PTR phObject)
{
    CK_RV rv = template_shape(pTemplate, ulCount);
    if (rv != CKR_OK) {
        return rv;
    }
    if (phObject == NULL) {
        return CKR_ARGUMENTS_BAD;
    }
    ks_session *s = NULL;
    rv = ks_session_acquire(hSession, &s);
    if (rv != CKR_OK) {
        return rv;
    }
    ks_token *tok = s->token;
    pthread_mutex_lock(&tok->lock);
    ks_rule_ctx ctx = ks_token_rule_ctx(tok, KS_NO_MECH);
    ks_why why = {KS_NO_ATTR, NULL};
    ks_attrs attrs;
    ks_attrs_init(&attrs);
    rv = ks_rules_new_object(&attrs, KS_ORIGIN_CREATE, pTemplate, ulCount, NULL, 0, &ctx, &why);
    if (rv == CKR_OK) { /* the class's finishing, if it has one */
        rv = ks_rules_finish_key(&attrs, KS_ORIGIN_CREATE, &why);
    }

    if (rv == CKR_OK) {
        rv = store_new(s, &attrs, phObject);
    } else {
        ks_attrs_free(&attrs);
        ks_p11_why(&why);
    }
    rv = ks_p11_audit_new(s, KS_AUDIT_IMPORT, rv == CKR_OK ? *phObject : CK_INVALID_HANDLE,
                     KS_NO_MECH, rv, "C_CreateObject");
    pthread_mutex_unlock(&tok->lock);
    ks_session_release(s);
    return rv;
}

KS_EXPORT CK_RV C_CreateObject(CK_SESSION_HANDLE hSession, CK_ATTRIBUTE_PTR pTemplate,
                               CK_ULONG ulCount, CK_OBJECT_HANDLE_PTR phObject)
{
    return ks_p11_exit("C_CreateObject", hSession, KS_NO_MECH,
                       create_object(hSession, pTemplate, ulCount, phObject));
}

static CK_RV copy_object(CK_SESSION_HANDLE hSession, CK_OBJECT_HANDLE hObject,
                         CK_ATTRIBUTE_PTR pTemplate, CK_ULONG ulCount,
                         CK_OBJECT_HANDLE_PTR phNewObject)
{
    CK_RV rv = template_shape(pTemplate, ulCount);
    if (rv != CKR_OK) {
        return rv;
    }
    if (phNewObject == NULL) {
        return CKR_ARGUMENTS_BAD;
    }
    ks_session *s = NULL;
    rv = ks_session_acquire(hSession, &s);
    if (rv != CKR_OK) {
        return rv;
    }
    ks_token *tok = s->token;
    pthread_mutex_lock(&tok->lock);
    ks_object *obj = NULL;
    rv = ks_token_get(tok, hSession, hObject, &obj);
    if (rv == CKR_OK && obj->sealed_missing) {
        rv = CKR_USER_NOT_LOGGED_IN;
    }
    if (rv == CKR_OK) {
        ks_rule_ctx ctx = ks_token_rule_ctx(tok, KS_NO_MECH);
        ks_why why = {KS_NO_ATTR, NULL};
        ks_attrs attrs;
        ks_attrs_init(&attrs);
        rv = ks_rules_copy(&attrs, &obj->attrs, pTemplate, ulCount, &ctx, &why);
        if (rv == CKR_OK) {
            rv = ks_wrap_policy_check_trust(tok, &obj->attrs, &attrs);
        }
        if (rv == CKR_OK && ks_pair_check_purpose(tok->cfg, &obj->attrs, &attrs) != CKR_OK) {
            /* the copy holds the same value: it keeps the original's purpose */
            why = (ks_why){CKA_DECRYPT, "one key, one purpose: a copy keeps its original's"};
            rv = CKR_TEMPLATE_INCONSISTENT;
        }
        if (rv == CKR_OK) {
            ks_attrs_remove(&attrs, CKA_UNIQUE_ID); /* the copy is a new object */
            rv = store_new(s, &attrs, phNewObject);
        } else {
            ks_attrs_free(&attrs);
            ks_p11_why(&why);
        }
        rv = ks_p11_audit_new(s, KS_AUDIT_COPY, rv == CKR_OK ? *phNewObject : CK_INVALID_HANDLE,
                         KS_NO_MECH, rv, "C_CopyObject");
    }
    pthread_mutex_unlock(&tok->lock);
    ks_session_release(s);
    return rv;
}

KS_EXPORT CK_RV C_CopyObject(CK_SESSION_HANDLE hSession, CK_OBJECT_HANDLE hObject,
                             CK_ATTRIBUTE_PTR pTemplate, CK_ULONG ulCount,
                             CK_OBJECT_HANDLE_PTR phNewObject)
{
    return ks_p11_exit("C_CopyObject", hSession, KS_NO_MECH,
                       copy_object(hSession, hObject, pTemplate, ulCount, phNewObject));
}

static CK_RV destroy_object(CK_SESSION_HANDLE hSession, CK_OBJECT_HANDLE hObject)
{
    ks_session *s = NULL;
    CK_RV rv = ks_session_acquire(hSession, &s);
    if (rv != CKR_OK) {
        return rv;
    }
    ks_token *tok = s->token;
    pthread_mutex_lock(&tok->lock);
    ks_object *obj = NULL;
    rv = ks_token_get(tok, hSession, hObject, &obj);
    if (rv == CKR_OK && obj->is_token && !ks_p11_session_rw(s)) {
        rv = CKR_SESSION_READ_ONLY;
    }
    if (rv == CKR_OK && ks_attrs_bool(&obj->attrs, CKA_DESTROYABLE, CK_TRUE) != CK_TRUE) {
        rv = CKR_ACTION_PROHIBITED;
    }
    if (rv == CKR_OK) {
        ks_rule_ctx ctx = ks_token_rule_ctx(tok, KS_NO_MECH);
        if (ks_rules_governed_by_other(&obj->attrs, &ctx)) {
            rv = CKR_ACTION_PROHIBITED; /* only the manager destroys a governed key */
        }
    }
    if (obj != NULL) {
        char uid[KS_UID_LEN + 1];
        ks_token_uid(&obj->attrs, uid); /* the object is gone after the removal */
        /* Recorded before it happens: an object whose destruction the trail cannot hold
         * stays. A removal that then fails gets a second record with its error. */
        CK_RV recorded = ks_token_audit_uid(tok, KS_AUDIT_DESTROY, hSession, uid, KS_NO_MECH,
                                            rv, "C_DestroyObject");
        if (rv == CKR_OK && recorded != CKR_OK) {
            rv = recorded;
        } else if (rv == CKR_OK) {
            rv = ks_token_remove(tok, ks_p11_session_rw(s), obj);
            if (rv != CKR_OK) {
                (void)ks_token_audit_uid(tok, KS_AUDIT_DESTROY, hSession, uid, KS_NO_MECH, rv,
                                         "C_DestroyObject");
            }
        }
    }
    pthread_mutex_unlock(&tok->lock);
    ks_session_release(s);
    return rv;
}

KS_EXPORT CK_RV C_DestroyObject(CK_SESSION_HANDLE hSession, CK_OBJECT_HANDLE hObject)
{
    return ks_p11_exit("C_DestroyObject", hSession, KS_NO_MECH,
                       destroy_object(hSession, hObject));
}

/* Resolve an object of the session under the token lock; the caller unlocks and releases. */
static CK_RV object_of(CK_SESSION_HANDLE hSession, CK_OBJECT_HANDLE hObject, ks_session **s,
                       ks_object **obj)
{
    CK_RV rv = ks_session_acquire(hSession, s);
    if (rv != CKR_OK) {
        return rv;
    }
    pthread_mutex_lock(&(*s)->token->lock);
    rv = ks_token_get((*s)->token, hSession, hObject, obj);
    if (rv != CKR_OK) {
        pthread_mutex_unlock(&(*s)->token->lock);
        ks_session_release(*s);
    }
    return rv;
}

static void object_done(ks_session *s)
{
    pthread_mutex_unlock(&s->token->lock);
    ks_session_release(s);
}

static CK_RV get_object_size(CK_SESSION_HANDLE hSession, CK_OBJECT_HANDLE hObject,
                             CK_ULONG_PTR pulSize)
{
    if (pulSize == NULL) {
        return CKR_ARGUMENTS_BAD;
    }
    ks_session *s = NULL;
    ks_object *obj = NULL;
    CK_RV rv = object_of(hSession, hObject, &s, &obj);
    if (rv != CKR_OK) {
        return rv;
    }
    *pulSize = ks_rules_object_size(&obj->attrs);
    object_done(s);
    return CKR_OK;
}

KS_EXPORT CK_RV C_GetObjectSize(CK_SESSION_HANDLE hSession, CK_OBJECT_HANDLE hObject,
                                CK_ULONG_PTR pulSize)
{
    return ks_p11_exit("C_GetObjectSize", hSession, KS_NO_MECH,
                       get_object_size(hSession, hObject, pulSize));
}

static int asks_for(const CK_ATTRIBUTE *tmpl, CK_ULONG count, CK_ATTRIBUTE_TYPE type)
{
    for (CK_ULONG i = 0; i < count; i++) {
        if (tmpl[i].type == type) {
            return 1;
        }
    }
    return 0;
}

/* Counters live in the store, not in the attribute set: fill them into a view. */
static CK_RV counters_view(ks_token *tok, const ks_object *obj, ks_attrs *view)
{
    static const struct {
        CK_ATTRIBUTE_TYPE type;
        const char *name;
    } counters[] = {{CKA_KS_USAGE_COUNT, "usage"}, {CKA_KS_GCM_INVOCATIONS, "gcm"}};
    CK_RV rv = ks_attrs_copy(view, &obj->attrs);
    for (size_t i = 0; rv == CKR_OK && i < 2; i++) {
        if (!ks_attrs_has(view, counters[i].type) || tok->store == NULL ||
            (!obj->is_token && counters[i].type != CKA_KS_USAGE_COUNT)) {
            continue;
        }
        uint64_t value = 0;
        char uses[KS_VALUE_USES_NAME_LEN];
        if (counters[i].type == CKA_KS_USAGE_COUNT &&
            ks_value_uses_name(tok, &obj->attrs, uses) == CKR_OK) {
            /* per key value, shared by every copy (docs/authority.md); less the unused part
             * of the leases (ks_policy_value_uses) */
            rv = ks_store_value_uses_get(tok->store, uses, obj->is_token ? obj->handle : 0,
                                         &value);
            if (rv == CKR_OK) {
                value = ks_policy_value_uses(tok, uses, value);
            }
        } else if (obj->is_token) {
            rv = ks_store_counter_get(tok->store, obj->handle, counters[i].name, &value);
        } else {
            continue;
        }
        if (rv == CKR_OK) {
            rv = ks_attrs_set_ulong(view, counters[i].type, (CK_ULONG)value);
        }
    }
    return rv;
}

static CK_RV get_attribute_value(CK_SESSION_HANDLE hSession, CK_OBJECT_HANDLE hObject,
                                 CK_ATTRIBUTE_PTR pTemplate, CK_ULONG ulCount)
{
    CK_RV rv = template_shape(pTemplate, ulCount);
    if (rv != CKR_OK) {
        return rv;
    }
    ks_session *s = NULL;
    ks_object *obj = NULL;
    rv = object_of(hSession, hObject, &s, &obj);
    if (rv != CKR_OK) {
        return rv;
    }
    if (asks_for(pTemplate, ulCount, CKA_KS_USAGE_COUNT) ||
        asks_for(pTemplate, ulCount, CKA_KS_GCM_INVOCATIONS)) {
        ks_attrs view;
        ks_attrs_init(&view);
        rv = counters_view(s->token, obj, &view);
        if (rv == CKR_OK) {
            rv = obj->sealed_missing ? ks_rules_get_sealed_absent(&view, pTemplate, ulCount)
                                     : ks_rules_get(&view, pTemplate, ulCount);
        }
        ks_attrs_free(&view);
    } else {
        rv = obj->sealed_missing ? ks_rules_get_sealed_absent(&obj->attrs, pTemplate, ulCount)
                                 : ks_rules_get(&obj->attrs, pTemplate, ulCount);
    }
    object_done(s);
    return rv;
}

KS_EXPORT CK_RV C_GetAttributeValue(CK_SESSION_HANDLE hSession, CK_OBJECT_HANDLE hObject,
                                    CK_ATTRIBUTE_PTR pTemplate, CK_ULONG ulCount)
{
    return ks_p11_exit("C_GetAttributeValue", hSession, KS_NO_MECH,
                       get_attribute_value(hSession, hObject, pTemplate, ulCount));
}

/* One record per C_SetAttributeValue: a lifecycle transition (with its reason), an override,
 * or the list of attribute types changed. */
static CK_RV audit_set(ks_session *s, const ks_object *obj, CK_ULONG before,
                       const CK_ATTRIBUTE *tmpl, CK_ULONG count, CK_RV rv)
{
    char detail[256] = "";
    ks_audit_event event = KS_AUDIT_SET_ATTRIBUTE;
    CK_ULONG after = before;
    for (CK_ULONG i = 0; i < count; i++) {
        if (tmpl[i].type == CKA_KS_LIFECYCLE_STATE && tmpl[i].pValue != NULL &&
            tmpl[i].ulValueLen == sizeof(CK_ULONG)) {
            memcpy(&after, tmpl[i].pValue, sizeof(after));
            event = KS_AUDIT_TRANSITION;
        } else if (tmpl[i].type == CKA_KS_PROCESS_OVERRIDE && event != KS_AUDIT_TRANSITION) {
            event = KS_AUDIT_OVERRIDE;
        }
    }
    size_t n = 0;
    if (event == KS_AUDIT_TRANSITION) {
        n = (size_t)snprintf(detail, sizeof(detail), "%s -> %s", ks_lifecycle_state_name(before),
                             ks_lifecycle_state_name(after));
        for (CK_ULONG i = 0; i < count && n < sizeof(detail); i++) {
            if (tmpl[i].type == CKA_KS_TRANSITION_REASON && tmpl[i].pValue != NULL) {
                int len = tmpl[i].ulValueLen > 200 ? 200 : (int)tmpl[i].ulValueLen;
                n += (size_t)snprintf(detail + n, sizeof(detail) - n, ": %.*s", len,
                                      (const char *)tmpl[i].pValue);
            }
        }
    } else {
        for (CK_ULONG i = 0; i < count && n + 20 < sizeof(detail); i++) {
            n += (size_t)snprintf(detail + n, sizeof(detail) - n, "%s0x%lx", i ? " " : "",
                                  (unsigned long)tmpl[i].type);
        }
    }
    return ks_token_audit(s->token, event, s->handle, &obj->attrs, KS_NO_MECH, rv, detail);
}

static CK_RV set_attribute_value(CK_SESSION_HANDLE hSession, CK_OBJECT_HANDLE hObject,
                                 CK_ATTRIBUTE_PTR pTemplate, CK_ULONG ulCount)
{
    CK_RV rv = template_shape(pTemplate, ulCount);
    if (rv != CKR_OK) {
        return rv;
    }
    ks_session *s = NULL;
    ks_object *obj = NULL;
    rv = object_of(hSession, hObject, &s, &obj);
    if (rv != CKR_OK) {
        return rv;
    }
    if (obj->is_token && !ks_p11_session_rw(s)) {
        object_done(s);
        return CKR_SESSION_READ_ONLY;
    }
    if (obj->sealed_missing) {
        object_done(s);
        return CKR_USER_NOT_LOGGED_IN;
    }
    ks_attrs next;
    ks_attrs_init(&next);
    /* A new usage limit is checked against the count, which lives in the store. */
    rv = asks_for(pTemplate, ulCount, CKA_KS_USAGE_LIMIT)
             ? counters_view(s->token, obj, &next)
             : ks_attrs_copy(&next, &obj->attrs);
    ks_rule_ctx ctx = ks_token_rule_ctx(s->token, KS_NO_MECH);
    ks_why why = {KS_NO_ATTR, NULL};
    if (rv == CKR_OK) {
        rv = ks_rules_set(&next, pTemplate, ulCount, &ctx, &why);
        if (rv != CKR_OK) {
            ks_p11_why(&why);
        }
    }
    CK_ULONG state = KS_STATE_ACTIVE;
    if (rv == CKR_OK && ks_attrs_get_ulong(&next, CKA_KS_LIFECYCLE_STATE, &state) &&
        state == KS_STATE_DESTROYED) {
        /* SP 800-57 7.3.4: a destroyed key keeps its metadata, never its value (a private
         * key's is its sealed PKCS#8: the class's value attribute). */
        const ks_class_desc *c = ks_class_find(ks_object_class(obj));
        ks_attrs_remove(&next, CKA_VALUE);
        if (c != NULL && c->value_attr != KS_NO_VALUE_ATTR && c->hides) {
            ks_attrs_remove(&next, c->value_attr);
        }
    }
    if (rv == CKR_OK) {
        rv = ks_wrap_policy_check_trust(s->token, &obj->attrs, &next);
    }
    CK_ULONG before = KS_STATE_ACTIVE;
    ks_attrs_get_ulong(&obj->attrs, CKA_KS_LIFECYCLE_STATE, &before);
    if (rv == CKR_OK) {
        /* the counters stay in the store: never write the view's copies as attributes */
        if (ks_attrs_has(&next, CKA_KS_USAGE_COUNT)) {
            ks_attrs_set_ulong(&next, CKA_KS_USAGE_COUNT, 0);
        }
        if (ks_attrs_has(&next, CKA_KS_GCM_INVOCATIONS)) {
            ks_attrs_set_ulong(&next, CKA_KS_GCM_INVOCATIONS, 0);
        }
        rv = ks_token_audit_ready(s->token); /* a change the trail cannot hold is not made */
    }
    ks_attrs old;
    ks_attrs_init(&old);
    if (rv == CKR_OK) {
        rv = ks_attrs_copy(&old, &obj->attrs);
    }
    if (rv == CKR_OK) {
        rv = ks_token_update(s->token, ks_p11_session_rw(s), obj, &next);
    }
    CK_RV recorded = audit_set(s, obj, before, pTemplate, ulCount, rv);
    if (rv == CKR_OK && recorded != CKR_OK) {
        (void)ks_token_update(s->token, ks_p11_session_rw(s), obj, &old); /* undone */
        rv = recorded;
    }
    CK_ULONG after = before;
    ks_attrs_get_ulong(&obj->attrs, CKA_KS_LIFECYCLE_STATE, &after);
    if (rv == CKR_OK && after != before) {
        /* the other keys of a pair follow (token/pair_policy.h) */
        rv = ks_pair_follow(s->token, hSession, ks_p11_session_rw(s), obj, before, after);
    }
    ks_attrs_free(&old);
    ks_attrs_free(&next);
    object_done(s);
    return rv;
}

KS_EXPORT CK_RV C_SetAttributeValue(CK_SESSION_HANDLE hSession, CK_OBJECT_HANDLE hObject,
                                    CK_ATTRIBUTE_PTR pTemplate, CK_ULONG ulCount)
{
    return ks_p11_exit("C_SetAttributeValue", hSession, KS_NO_MECH,
                       set_attribute_value(hSession, hObject, pTemplate, ulCount));
}

static CK_RV find_init(CK_SESSION_HANDLE hSession, CK_ATTRIBUTE_PTR pTemplate, CK_ULONG ulCount)
{
    CK_RV rv = template_shape(pTemplate, ulCount);
    if (rv != CKR_OK) {
        return rv;
    }
    ks_session *s = NULL;
    rv = ks_session_acquire(hSession, &s);
    if (rv != CKR_OK) {
        return rv;
    }
    if (s->finding) {
        ks_session_release(s);
        return CKR_OPERATION_ACTIVE;
    }
    pthread_mutex_lock(&s->token->lock);
    rv = ks_token_find(s->token, hSession, pTemplate, ulCount, &s->found, &s->found_count);
    pthread_mutex_unlock(&s->token->lock);
    if (rv == CKR_OK) {
        s->finding = 1;
        s->found_pos = 0;
    }
    ks_session_release(s);
    return rv;
}

KS_EXPORT CK_RV C_FindObjectsInit(CK_SESSION_HANDLE hSession, CK_ATTRIBUTE_PTR pTemplate,
                                  CK_ULONG ulCount)
{
    return ks_p11_exit("C_FindObjectsInit", hSession, KS_NO_MECH,
                       find_init(hSession, pTemplate, ulCount));
}

static CK_RV find_objects(CK_SESSION_HANDLE hSession, CK_OBJECT_HANDLE_PTR phObject,
                          CK_ULONG ulMaxObjectCount, CK_ULONG_PTR pulObjectCount)
{
    if ((phObject == NULL && ulMaxObjectCount != 0) || pulObjectCount == NULL) {
        return CKR_ARGUMENTS_BAD;
    }
    ks_session *s = NULL;
    CK_RV rv = ks_session_acquire(hSession, &s);
    if (rv != CKR_OK) {
        return rv;
    }
    if (!s->finding) {
        ks_session_release(s);
        return CKR_OPERATION_NOT_INITIALIZED;
    }
    CK_ULONG n = 0;
    while (n < ulMaxObjectCount && s->found_pos < s->found_count) {
        phObject[n++] = s->found[s->found_pos++];
    }
    *pulObjectCount = n;
    ks_session_release(s);
    return CKR_OK;
}

KS_EXPORT CK_RV C_FindObjects(CK_SESSION_HANDLE hSession, CK_OBJECT_HANDLE_PTR phObject,
                              CK_ULONG ulMaxObjectCount, CK_ULONG_PTR pulObjectCount)
{
    return ks_p11_exit("C_FindObjects", hSession, KS_NO_MECH,
                       find_objects(hSession, phObject, ulMaxObjectCount, pulObjectCount));
}

static CK_RV find_final(CK_SESSION_HANDLE hSession)
{
    ks_session *s = NULL;
    CK_RV rv = ks_session_acquire(hSession, &s);
    if (rv != CKR_OK) {
        return rv;
    }
    if (!s->finding) {
        rv = CKR_OPERATION_NOT_INITIALIZED;
    } else {
        ks_session_end_find(s);
    }
    ks_session_release(s);
    return rv;
}

KS_EXPORT CK_RV C_FindObjectsFinal(CK_SESSION_HANDLE hSession)
{
    return ks_p11_exit("C_FindObjectsFinal", hSession, KS_NO_MECH, find_final(hSession));
}
