/* policy.c - lifecycle state, usage periods, allowed mechanisms and usage limits. */
#include "token/policy.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "keystead.h"
#include "token/wrap_policy.h"

CK_RV ks_policy_allowed_mechanism(const ks_attrs *key, CK_MECHANISM_TYPE mech)
{
    const ks_attr *allowed = ks_attrs_find(key, CKA_ALLOWED_MECHANISMS);
    if (allowed == NULL || allowed->len == 0) {
        return CKR_OK;
    }
    size_t n = allowed->len / sizeof(CK_MECHANISM_TYPE);
    for (size_t i = 0; i < n; i++) {
        CK_MECHANISM_TYPE m;
        memcpy(&m, allowed->value + i * sizeof(m), sizeof(m));
        if (m == mech) {
            return CKR_OK;
        }
    }
    return CKR_MECHANISM_INVALID;
}

void ks_policy_today(CK_DATE *out)
{
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    char buf[16];
    snprintf(buf, sizeof(buf), "%04u%02u%02u", (unsigned)(tm.tm_year + 1900) % 10000u,
             (unsigned)(tm.tm_mon + 1) % 100u, (unsigned)tm.tm_mday % 100u);
    memcpy(out->year, buf, 4);
    memcpy(out->month, buf + 4, 2);
    memcpy(out->day, buf + 6, 2);
}

/* A CK_DATE attribute bounds the period when it holds 8 digits; empty means unbounded. */
static int date_bound(const ks_attrs *key, CK_ATTRIBUTE_TYPE type, char out[8])
{
    const ks_attr *a = ks_attrs_find(key, type);
    if (a == NULL || a->len != sizeof(CK_DATE)) {
        return 0;
    }
    memcpy(out, a->value, 8);
    return 1;
}

static int within(const ks_attrs *key, CK_ATTRIBUTE_TYPE start, CK_ATTRIBUTE_TYPE end)
{
    char from[8];
    char until[8];
    int has_from = date_bound(key, start, from);
    int has_until = date_bound(key, end, until);
    if (!has_from && !has_until) {
        return 1; /* no window: the clock is not read on the hot path */
    }
    CK_DATE today;
    ks_policy_today(&today);
    char now[8];
    memcpy(now, &today, 8);
    return !(has_from && memcmp(now, from, 8) < 0) && !(has_until && memcmp(now, until, 8) > 0);
}

CK_RV ks_policy_check_use(const ks_attrs *key, ks_use use)
{
    CK_ULONG state = KS_STATE_ACTIVE;
    ks_attrs_get_ulong(key, CKA_KS_LIFECYCLE_STATE, &state);
    CK_BBOOL override = ks_attrs_bool(key, CKA_KS_PROCESS_OVERRIDE, CK_FALSE);
    if (!ks_lifecycle_permits(state, use, override)) {
        return CKR_KEY_FUNCTION_NOT_PERMITTED;
    }
    /* An exported value must still be able to process where it goes: the process period. */
    int ok = use == KS_USE_PROTECT
                 ? within(key, CKA_START_DATE, CKA_END_DATE)
                 : within(key, CKA_KS_PROCESS_START_DATE, CKA_KS_PROCESS_END_DATE);
    return ok ? CKR_OK : CKR_KEY_FUNCTION_NOT_PERMITTED;
}

/* Usage counting without a limit reserves counts in blocks: one durable write per
 * KS_USAGE_LEASE uses. The store then holds an upper bound of the uses (a crash or exit loses
 * at most the unused part of a block, as extra counts), so no restart, crash or second process
 * ever under-counts. With a limit every use is one durable increment, exact, refused at the
 * limit: a lease could refuse uses another process reserved but never made. */
#define KS_USAGE_LEASE 4096

typedef struct ks_lease {
    CK_OBJECT_HANDLE handle;
    uint64_t left;
    char uses[KS_VALUE_USES_NAME_LEN]; /* the value's count ("use:<fingerprint>") it came from */
} ks_lease;

static ks_lease *lease_of(ks_token *tok, CK_OBJECT_HANDLE handle)
{
    for (size_t i = 0; i < tok->lease_count; i++) {
        if (tok->leases[i].handle == handle) {
            return &tok->leases[i];
        }
    }
    if (tok->lease_count == tok->lease_cap) {
        size_t cap = tok->lease_cap ? tok->lease_cap * 2 : 8;
        ks_lease *grown = realloc(tok->leases, cap * sizeof(*grown));
        if (grown == NULL) {
            return NULL;
        }
        tok->leases = grown;
        tok->lease_cap = cap;
    }
    ks_lease *l = &tok->leases[tok->lease_count++];
    l->handle = handle;
    l->left = 0;
    l->uses[0] = '\0';
    return l;
}

/* The counter of the uses given back to a value's count: "ret:" and the count's
 * fingerprint ("use:<fingerprint>" only grows, so a crash between the two never under-counts). */
static void returned_name(const char *uses, char out[KS_VALUE_USES_NAME_LEN])
{
    memcpy(out, "ret:", 4);
    memcpy(out + 4, uses + 4, KS_VALUE_USES_NAME_LEN - 4);
}

CK_RV ks_policy_limit_reached(ks_token *tok, const ks_object *key)
{
    CK_ULONG limit = 0;
    ks_attrs_get_ulong(&key->attrs, CKA_KS_USAGE_LIMIT, &limit);
    if (limit == 0 || tok->store == NULL) {
        return CKR_OK;
    }
    /* The count of the key's value, as ks_policy_count_use keeps it (session objects too). */
    char name[KS_VALUE_USES_NAME_LEN];
    uint64_t used = 0;
    CK_RV rv = ks_value_uses_name(tok, &key->attrs, name);
    if (rv == CKR_OK) {
        rv = ks_store_value_uses_get(tok->store, name, key->is_token ? key->handle : 0, &used);
    }
    if (rv != CKR_OK) {
        return rv;
    }
    return used >= limit ? CKR_KEY_FUNCTION_NOT_PERMITTED : CKR_OK;
}

uint64_t ks_policy_unused_uses(const ks_token *tok, const char *uses)
{
    uint64_t left = 0;
    for (size_t i = 0; i < tok->lease_count; i++) {
        if (strcmp(tok->leases[i].uses, uses) == 0) {
            left += tok->leases[i].left;
        }
    }
    return left;
}

uint64_t ks_policy_value_uses(ks_token *tok, const char *uses, uint64_t counted)
{
    char back_name[KS_VALUE_USES_NAME_LEN];
    uint64_t back = 0;
    returned_name(uses, back_name);
    if (ks_store_counter_get(tok->store, 0, back_name, &back) != CKR_OK) {
        back = 0; /* nothing given back (or unreadable): the upper bound stands */
    }
    uint64_t unused = back + ks_policy_unused_uses(tok, uses);
    return counted >= unused ? counted - unused : 0;
}

/* Counts are per key value (wrap_policy.h, docs/authority.md): every copy, session object
 * and unwrapped copy of a value adds to and is bounded by the same count. A session object
 * without a limit is not counted (nothing it does is bounded by it); one with a limit is,
 * and needs the login that names its value's counter. */
static CK_RV add_uses(ks_token *tok, const ks_object *key, uint64_t delta, uint64_t limit)
{
    char name[KS_VALUE_USES_NAME_LEN];
    uint64_t before = 0;
    CK_RV rv = ks_value_uses_name(tok, &key->attrs, name);
    if (rv == CKR_OK) {
        rv = ks_store_value_uses_add(tok->store, name, key->is_token ? key->handle : 0, delta,
                                     limit, &before);
    }
    return rv;
}

void ks_policy_return_leases(ks_token *tok)
{
    for (size_t i = 0; tok->store != NULL && i < tok->lease_count; i++) {
        ks_lease *l = &tok->leases[i];
        char back_name[KS_VALUE_USES_NAME_LEN];
        if (l->left == 0 || l->uses[0] == '\0') {
            continue;
        }
        returned_name(l->uses, back_name);
        /* A store that refuses the write keeps the upper bound: never an under-count. */
        if (ks_store_counter_add(tok->store, 0, back_name, l->left, 0, NULL) == CKR_OK) {
            l->left = 0;
        }
    }
}

CK_RV ks_policy_count_use(ks_token *tok, ks_object *key)
{
    CK_ULONG limit = 0;
    ks_attrs_get_ulong(&key->attrs, CKA_KS_USAGE_LIMIT, &limit);
    if (tok->store == NULL || (!key->is_token && limit == 0)) {
        return CKR_OK;
    }
    if (limit != 0) {
        return add_uses(tok, key, 1, limit);
    }
    ks_lease *l = lease_of(tok, key->handle);
    if (l == NULL) {
        return add_uses(tok, key, 1, 0);
    }
    if (l->left == 0) {
        CK_RV rv = ks_value_uses_name(tok, &key->attrs, l->uses);
        if (rv == CKR_OK) {
            rv = add_uses(tok, key, KS_USAGE_LEASE, 0);
        }
        if (rv != CKR_OK) {
            return rv;
        }
        l->left = KS_USAGE_LEASE;
    }
    l->left--;
    return CKR_OK;
}
