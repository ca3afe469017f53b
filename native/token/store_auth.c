/* store_auth.c - every row of the store authenticated under the token key (docs/store.md).
 *
 * Keys. The token has a random 16-byte id, stored sealed under the token key (AES-256-GCM,
 * AAD "keystead token id v1"). The MAC key is HMAC-SHA-256(token_key, "keystead store auth
 * v1" || token id): it exists only while a login (or a caller holding the token key) made it.
 *
 * Rows. Each authenticated row has one entry in row_macs(kind, ref, mac): an object (ref =
 * its handle, 8 bytes big-endian; the MAC covers its uid and every attribute row, stored form,
 * in type order), a counter (ref = handle || name; the MAC covers the value) and a value role
 * (ref = fingerprint; the MAC covers the role). The MAC input starts with a domain label, the
 * kind, the token id and the ref, so a MAC is valid for one row of one token only. Every
 * field is length-prefixed (8 bytes big-endian), so no two inputs encode alike.
 *
 * Deletion. A per-row MAC cannot show that a row is missing. The census is a keyed multiset
 * hash of every row_macs entry (the sum mod 2^256 of HMAC(mac key, "census v2" || kind || ref
 * || mac), Clarke et al.'s MSet-Add-Hash with a keyed PRF), updated in the same transaction as
 * each entry (O(1) per write) and stored in meta with a tag, HMAC(mac key, "census tag v2" ||
 * token id || sum). The tag matters: the sums are in the file, so the difference of two
 * observed sums is the change made between them, and without a tag it could be added to any
 * later sum (a splice that undoes one change and keeps every later one). With it, the only
 * sums that verify are the ones this code wrote, each the sum of the whole set of entries at
 * that moment. It is recomputed in full (one HMAC per row, no attribute read) at login, before
 * a counter, role or object is trusted and before any entry is written, when another
 * connection committed since the last check (once per foreign commit, not per call): a
 * deleted, replaced or replayed entry changes the sum. While it fails, every authenticated
 * record is refused and none is written (a write would tag a sum that is not the set's). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/mem.h"
#include "crypto/rand.h"
#include "token/audit.h"
#include "token/log.h"
#include "token/rules.h"
#include "token/store_internal.h"

static const char ID_AAD[] = "keystead token id v1";
static const char KEY_LABEL[] = "keystead store auth v1";
static const char ROW_LABEL[] = "keystead row v1";
static const char CENSUS_LABEL[] = "keystead census v2";
static const char CENSUS_TAG_LABEL[] = "keystead census tag v2";
/* The untagged census of the earlier format (sum only): read once, to upgrade it at login. */
static const char CENSUS_V1_LABEL[] = "keystead census v1";

/* ---- HMAC-SHA-256 (RFC 2104) over a stream: crypto/sha256.h's ------------------------- */

void ks_st_mac_end(ks_st_mac *m, uint8_t out[KS_SHA256_LEN])
{
    ks_hmac_sha256_final(m, out); /* wipes m */
}

void ks_st_mac_u64(ks_st_mac *m, uint64_t v)
{
    uint8_t b[8];
    for (int i = 0; i < 8; i++) {
        b[i] = (uint8_t)(v >> (56 - 8 * i));
    }
    ks_hmac_sha256_update(m, b, sizeof(b));
}

void ks_st_mac_bytes(ks_st_mac *m, const void *p, size_t len)
{
    ks_st_mac_u64(m, (uint64_t)len);
    ks_hmac_sha256_update(m, (const uint8_t *)p, len);
}

void ks_st_mac_row(ks_st_mac *m, const ks_st_auth *a, ks_st_kind kind, const uint8_t *ref,
                   size_t ref_len)
{
    ks_hmac_sha256_init(m, a->mac_key, sizeof(a->mac_key));
    ks_st_mac_bytes(m, ROW_LABEL, sizeof(ROW_LABEL) - 1);
    ks_st_mac_u64(m, (uint64_t)kind);
    ks_st_mac_bytes(m, a->token_id, sizeof(a->token_id));
    ks_st_mac_bytes(m, ref, ref_len);
}

void ks_st_mac_attr(ks_st_mac *m, CK_ATTRIBUTE_TYPE type, int sealed, const uint8_t *value,
                    size_t len)
{
    ks_st_mac_u64(m, (uint64_t)type);
    ks_st_mac_u64(m, sealed ? 1 : 0);
    ks_st_mac_bytes(m, value, len);
}

void ks_st_handle_ref(uint8_t ref[8], CK_OBJECT_HANDLE handle)
{
    for (int i = 0; i < 8; i++) {
        ref[i] = (uint8_t)((uint64_t)handle >> (56 - 8 * i));
    }
}

/* ---- faults: refused records, reported to the log and the audit trail ------------------ */

void ks_st_fault(ks_store *s, const char *uid, const char *fmt, ...)
{
    if (s->fault[0] != '\0') {
        return; /* one report per call: the first failure names the cause */
    }
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(s->fault, sizeof(s->fault), fmt, ap);
    va_end(ap);
    if (n < 0) {
        snprintf(s->fault, sizeof(s->fault), "store: a record failed verification");
    }
    s->fault_uid[0] = '\0';
    if (uid != NULL) {
        memcpy(s->fault_uid, uid, KS_UID_LEN);
        s->fault_uid[KS_UID_LEN] = '\0';
    }
}

void ks_st_fault_report(ks_store *s)
{
    char msg[sizeof(s->fault)];
    char uid[sizeof(s->fault_uid)];
    pthread_mutex_lock(&s->core->lock);
    memcpy(msg, s->fault, sizeof(msg));
    memcpy(uid, s->fault_uid, sizeof(uid));
    s->fault[0] = '\0';
    s->fault_uid[0] = '\0';
    pthread_mutex_unlock(&s->core->lock);
    if (msg[0] == '\0') {
        return;
    }
    ks_log_message(KS_LOG_ERROR, msg);
    ks_audit_entry e = {
        .event = KS_AUDIT_INTEGRITY,
        .user = (CK_USER_TYPE)-1,
        .object = uid[0] != '\0' ? uid : NULL,
        .mechanism = (CK_MECHANISM_TYPE)-1,
        .rv = CKR_DEVICE_ERROR,
        .count = 1,
        .detail = msg,
    };
    (void)ks_audit_append(s, &e); /* the trail may not exist (in-memory tokens): logged */
}

/* ---- the token id and the MAC key ------------------------------------------------------ */

CK_RV ks_st_auth_seal_id(uint8_t out[KS_ST_ID_SEALED_LEN], uint8_t census[KS_ST_CENSUS_LEN],
                         const uint8_t *token_key)
{
    static const uint8_t EMPTY[KS_SHA256_LEN] = {0};
    uint8_t id[KS_ST_TOKEN_ID_LEN];
    ks_gcm_key gk;
    if (ks_random(id, sizeof(id)) != KS_OK || ks_random(out, KS_SEAL_IV_LEN) != KS_OK ||
        ks_gcm_init(&gk, token_key, KS_TOKEN_KEY_LEN) != KS_OK) {
        ks_wipe(id, sizeof(id));
        return CKR_FUNCTION_FAILED;
    }
    uint8_t *ct = out + KS_SEAL_IV_LEN;
    ks_status st = ks_gcm_seal(&gk, ct, ct + sizeof(id), KS_SEAL_TAG_LEN, out, KS_SEAL_IV_LEN,
                               (const uint8_t *)ID_AAD, sizeof(ID_AAD) - 1, id, sizeof(id));
    ks_gcm_clear(&gk);
    ks_wipe(id, sizeof(id));
    if (st != KS_OK) {
        return CKR_FUNCTION_FAILED;
    }
    /* The empty census, tagged under the MAC key this id gives. */
    ks_st_auth *a = ks_secure_alloc(sizeof(*a));
    if (a == NULL) {
        return CKR_HOST_MEMORY;
    }
    memcpy(a->token_key, token_key, KS_TOKEN_KEY_LEN);
    CK_RV rv = ks_st_auth_open(a, out);
    if (rv == CKR_OK) {
        ks_st_census_record(a, EMPTY, census);
    }
    ks_secure_free(a, sizeof(*a));
    return rv == CKR_OK ? CKR_OK : CKR_FUNCTION_FAILED;
}

CK_RV ks_st_auth_open(ks_st_auth *a, const uint8_t sealed[KS_ST_ID_SEALED_LEN])
{
    ks_gcm_key gk;
    if (ks_gcm_init(&gk, a->token_key, KS_TOKEN_KEY_LEN) != KS_OK) {
        return CKR_FUNCTION_FAILED;
    }
    const uint8_t *ct = sealed + KS_SEAL_IV_LEN;
    ks_status st = ks_gcm_open(&gk, a->token_id, sealed, KS_SEAL_IV_LEN,
                               (const uint8_t *)ID_AAD, sizeof(ID_AAD) - 1, ct,
                               KS_ST_TOKEN_ID_LEN, ct + KS_ST_TOKEN_ID_LEN, KS_SEAL_TAG_LEN);
    ks_gcm_clear(&gk);
    if (st != KS_OK) {
        return st == KS_ERR_AUTH ? CKR_DEVICE_ERROR : CKR_FUNCTION_FAILED;
    }
    ks_st_mac m;
    ks_hmac_sha256_init(&m, a->token_key, KS_TOKEN_KEY_LEN);
    ks_hmac_sha256_update(&m, (const uint8_t *)KEY_LABEL, sizeof(KEY_LABEL) - 1);
    ks_hmac_sha256_update(&m, a->token_id, sizeof(a->token_id));
    ks_st_mac_end(&m, a->mac_key);
    return CKR_OK;
}

void ks_st_auth_drop(ks_store *s)
{
    ks_secure_free(s->auth, sizeof(*s->auth));
    s->auth = NULL;
    s->census_ok = 0;
    s->census_bad = 0;
}

/* ---- row_macs and the census (the caller holds the lock and a transaction) ------------- */

static CK_RV read_mac(ks_store *s, ks_st_kind kind, const uint8_t *ref, size_t ref_len,
                      uint8_t mac[KS_SHA256_LEN], int *found)
{
    sqlite3_stmt *st = NULL;
    CK_RV rv = ks_st_prepare(s, &st, "SELECT mac FROM row_macs WHERE kind = ? AND ref = ?");
    if (rv != CKR_OK) {
        return rv;
    }
    sqlite3_bind_int(st, 1, (int)kind);
    sqlite3_bind_blob64(st, 2, ref, ref_len, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    *found = 0;
    if (rc == SQLITE_ROW) {
        /* A MAC of the wrong size is a MAC that does not verify. */
        *found = 1;
        memset(mac, 0, KS_SHA256_LEN);
        if (sqlite3_column_bytes(st, 0) == KS_SHA256_LEN) {
            memcpy(mac, sqlite3_column_blob(st, 0), KS_SHA256_LEN);
        }
    } else if (rc != SQLITE_DONE) {
        rv = CKR_DEVICE_ERROR;
    }
    ks_st_finish(s, st);
    return rv;
}

static void census_element_as(const ks_st_auth *a, const char *label, ks_st_kind kind,
                              const uint8_t *ref, size_t ref_len, const uint8_t *mac,
                              size_t mac_len, uint8_t out[KS_SHA256_LEN])
{
    ks_st_mac m;
    ks_hmac_sha256_init(&m, a->mac_key, sizeof(a->mac_key));
    ks_st_mac_bytes(&m, label, strlen(label));
    ks_st_mac_u64(&m, (uint64_t)kind);
    ks_st_mac_bytes(&m, ref, ref_len);
    ks_st_mac_bytes(&m, mac, mac_len);
    ks_st_mac_end(&m, out);
}

static void census_element(const ks_st_auth *a, ks_st_kind kind, const uint8_t *ref,
                           size_t ref_len, const uint8_t *mac, size_t mac_len,
                           uint8_t out[KS_SHA256_LEN])
{
    census_element_as(a, CENSUS_LABEL, kind, ref, ref_len, mac, mac_len, out);
}

/* sum = sum +/- e mod 2^256, little-endian. */
static void census_add(uint8_t sum[KS_SHA256_LEN], const uint8_t e[KS_SHA256_LEN], int sub)
{
    unsigned carry = sub ? 1 : 0; /* a - b = a + ~b + 1 */
    for (size_t i = 0; i < KS_SHA256_LEN; i++) {
        unsigned v = (unsigned)sum[i] + (unsigned)(sub ? (uint8_t)~e[i] : e[i]) + carry;
        sum[i] = (uint8_t)v;
        carry = v >> 8;
    }
}

/* The tag of a census sum: HMAC(mac key, label || token id || sum), fields length-prefixed. */
static void census_tag(const ks_st_auth *a, const uint8_t sum[KS_SHA256_LEN],
                       uint8_t tag[KS_SHA256_LEN])
{
    ks_st_mac m;
    ks_hmac_sha256_init(&m, a->mac_key, sizeof(a->mac_key));
    ks_st_mac_bytes(&m, CENSUS_TAG_LABEL, sizeof(CENSUS_TAG_LABEL) - 1);
    ks_st_mac_bytes(&m, a->token_id, sizeof(a->token_id));
    ks_st_mac_bytes(&m, sum, KS_SHA256_LEN);
    ks_st_mac_end(&m, tag);
}

void ks_st_census_record(const ks_st_auth *a, const uint8_t sum[KS_SHA256_LEN],
                         uint8_t out[KS_ST_CENSUS_LEN])
{
    memcpy(out, sum, KS_SHA256_LEN);
    census_tag(a, sum, out + KS_SHA256_LEN);
}

/* The stored sum, once its tag verifies: a sum nobody with the MAC key wrote is refused. */
static CK_RV census_get(ks_store *s, uint8_t sum[KS_SHA256_LEN])
{
    uint8_t rec[KS_ST_CENSUS_LEN], tag[KS_SHA256_LEN];
    int found = 0;
    CK_RV rv = ks_st_meta_get_blob(s, "auth_census", rec, sizeof(rec), &found);
    if (rv != CKR_OK) {
        return rv;
    }
    if (!found) {
        ks_st_fault(s, NULL, "store: the census record is missing, damaged or untagged");
        return CKR_DEVICE_ERROR;
    }
    census_tag(s->auth, rec, tag);
    if (!ks_memeq(tag, rec + KS_SHA256_LEN, sizeof(tag))) {
        ks_st_fault(s, NULL, "store: the census tag does not verify (the census was forged)");
        return CKR_DEVICE_ERROR;
    }
    memcpy(sum, rec, KS_SHA256_LEN);
    return CKR_OK;
}

static CK_RV census_put(ks_store *s, const uint8_t sum[KS_SHA256_LEN])
{
    uint8_t rec[KS_ST_CENSUS_LEN];
    ks_st_census_record(s->auth, sum, rec);
    return ks_st_meta_set_blob(s, "auth_census", rec, sizeof(rec));
}

CK_RV ks_st_auth_write(ks_store *s, ks_st_kind kind, const uint8_t *ref, size_t ref_len,
                       const uint8_t mac[KS_SHA256_LEN])
{
    uint8_t sum[KS_SHA256_LEN], old[KS_SHA256_LEN], e[KS_SHA256_LEN];
    int found = 0;
    /* Only a sum that is the set's may be carried forward and tagged (see the top). */
    CK_RV rv = ks_st_census_verify(s);
    if (rv == CKR_OK) {
        rv = census_get(s, sum);
    }
    if (rv == CKR_OK) {
        rv = read_mac(s, kind, ref, ref_len, old, &found);
    }
    if (rv != CKR_OK) {
        return rv;
    }
    if (found) {
        census_element(s->auth, kind, ref, ref_len, old, sizeof(old), e);
        census_add(sum, e, 1);
    }
    census_element(s->auth, kind, ref, ref_len, mac, KS_SHA256_LEN, e);
    census_add(sum, e, 0);
    sqlite3_stmt *st = NULL;
    rv = ks_st_prepare(s, &st, "INSERT OR REPLACE INTO row_macs(kind, ref, mac) VALUES(?, ?, ?)");
    if (rv != CKR_OK) {
        return rv;
    }
    sqlite3_bind_int(st, 1, (int)kind);
    sqlite3_bind_blob64(st, 2, ref, ref_len, SQLITE_STATIC);
    sqlite3_bind_blob(st, 3, mac, KS_SHA256_LEN, SQLITE_STATIC);
    rv = sqlite3_step(st) == SQLITE_DONE ? CKR_OK : CKR_DEVICE_ERROR;
    ks_st_finish(s, st);
    return rv == CKR_OK ? census_put(s, sum) : rv;
}

static CK_RV erase_mac(ks_store *s, ks_st_kind kind, const uint8_t *ref, size_t ref_len)
{
    uint8_t sum[KS_SHA256_LEN], old[KS_SHA256_LEN], e[KS_SHA256_LEN];
    int found = 0;
    CK_RV rv = read_mac(s, kind, ref, ref_len, old, &found);
    if (rv != CKR_OK || !found) {
        return rv;
    }
    rv = ks_st_census_verify(s);
    if (rv == CKR_OK) {
        rv = census_get(s, sum);
    }
    if (rv != CKR_OK) {
        return rv;
    }
    census_element(s->auth, kind, ref, ref_len, old, sizeof(old), e);
    census_add(sum, e, 1);
    sqlite3_stmt *st = NULL;
    rv = ks_st_prepare(s, &st, "DELETE FROM row_macs WHERE kind = ? AND ref = ?");
    if (rv != CKR_OK) {
        return rv;
    }
    sqlite3_bind_int(st, 1, (int)kind);
    sqlite3_bind_blob64(st, 2, ref, ref_len, SQLITE_STATIC);
    rv = sqlite3_step(st) == SQLITE_DONE ? CKR_OK : CKR_DEVICE_ERROR;
    ks_st_finish(s, st);
    return rv == CKR_OK ? census_put(s, sum) : rv;
}

CK_RV ks_st_auth_verify(ks_store *s, ks_st_kind kind, const uint8_t *ref, size_t ref_len,
                        const uint8_t mac[KS_SHA256_LEN], const char *uid, const char *what)
{
    uint8_t stored[KS_SHA256_LEN];
    int found = 0;
    if (s->census_bad) {
        /* Records were deleted or replayed: no row can be shown to be the latest. */
        ks_st_fault(s, uid, "store: %s refused: the census does not match", what);
        return CKR_DEVICE_ERROR;
    }
    CK_RV rv = read_mac(s, kind, ref, ref_len, stored, &found);
    if (rv != CKR_OK) {
        return rv;
    }
    if (!found || !ks_memeq(stored, mac, KS_SHA256_LEN)) {
        ks_st_fault(s, uid, "store: %s failed verification (%s)", what,
                    found ? "altered" : "no authentication record");
        return CKR_DEVICE_ERROR;
    }
    return CKR_OK;
}

CK_RV ks_st_auth_verify_public(ks_store *s, const uint8_t ref[8],
                               const uint8_t mac[KS_SHA256_LEN], const char *uid,
                               const char *what)
{
    uint8_t stored[KS_SHA256_LEN];
    int found = 0;
    CK_RV rv = read_mac(s, KS_ST_OBJECT, ref, 8, stored, &found);
    if (rv != CKR_OK) {
        return rv;
    }
    if (found || s->census_bad) {
        return ks_st_auth_verify(s, KS_ST_OBJECT, ref, 8, mac, uid, what);
    }
    return CKR_OK;
}

/* The sums of every row_macs entry, under the current element label and, when v1 is not
 * NULL, under the earlier format's. */
static CK_RV census_scan(ks_store *s, uint8_t sum[KS_SHA256_LEN], uint8_t *v1)
{
    uint8_t e[KS_SHA256_LEN];
    sqlite3_stmt *st = NULL;
    CK_RV rv = ks_st_prepare(s, &st, "SELECT kind, ref, mac FROM row_macs");
    if (rv != CKR_OK) {
        return rv;
    }
    memset(sum, 0, KS_SHA256_LEN);
    if (v1 != NULL) {
        memset(v1, 0, KS_SHA256_LEN);
    }
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        ks_st_kind kind = (ks_st_kind)sqlite3_column_int(st, 0);
        const uint8_t *ref = sqlite3_column_blob(st, 1);
        size_t ref_len = (size_t)sqlite3_column_bytes(st, 1);
        const uint8_t *mac = sqlite3_column_blob(st, 2);
        size_t mac_len = (size_t)sqlite3_column_bytes(st, 2);
        census_element(s->auth, kind, ref, ref_len, mac, mac_len, e);
        census_add(sum, e, 0);
        if (v1 != NULL) {
            census_element_as(s->auth, CENSUS_V1_LABEL, kind, ref, ref_len, mac, mac_len, e);
            census_add(v1, e, 0);
        }
    }
    ks_st_finish(s, st);
    return rc == SQLITE_DONE ? CKR_OK : CKR_DEVICE_ERROR;
}

static void census_failed(ks_store *s)
{
    s->census_ok = 0;
    s->census_bad = 1;
    ks_st_fault(s, NULL, "store: the census does not match the authentication records"
                         " (a record was deleted, replaced or replayed)");
}

CK_RV ks_st_census_verify(ks_store *s)
{
    int64_t dv = ks_st_data_version(s->core);
    if (s->census_ok && dv == s->census_dv) {
        return CKR_OK; /* nobody else wrote since the last full check; our writes keep it */
    }
    uint8_t want[KS_SHA256_LEN], sum[KS_SHA256_LEN];
    CK_RV rv = census_get(s, want);
    if (rv == CKR_OK) {
        rv = census_scan(s, sum, NULL);
    }
    if (rv == CKR_DEVICE_ERROR || (rv == CKR_OK && !ks_memeq(sum, want, sizeof(sum)))) {
        census_failed(s);
        return CKR_DEVICE_ERROR;
    }
    if (rv != CKR_OK) {
        return rv;
    }
    s->census_ok = 1;
    s->census_bad = 0;
    s->census_dv = dv;
    return CKR_OK;
}

CK_RV ks_st_census_upgrade(ks_store *s)
{
    uint8_t old[KS_SHA256_LEN], sum[KS_SHA256_LEN], v1[KS_SHA256_LEN];
    int found = 0;
    CK_RV rv = ks_st_meta_get_blob(s, "auth_census", old, sizeof(old), &found);
    if (rv != CKR_OK || !found) {
        return rv; /* tagged (or damaged): ks_st_census_verify decides */
    }
    rv = census_scan(s, sum, v1);
    if (rv == CKR_OK && !ks_memeq(v1, old, sizeof(v1))) {
        census_failed(s); /* stays untagged: refused by every later check too */
        return CKR_DEVICE_ERROR;
    }
    if (rv == CKR_OK) {
        rv = census_put(s, sum);
    }
    if (rv == CKR_OK) {
        s->census_ok = 0; /* checked again, tag included, after the commit */
    }
    return rv;
}

/* ---- modes and the generic row calls ---------------------------------------------------- */

CK_RV ks_st_auth_mode(ks_store *s, ks_st_mode *mode)
{
    if (s->auth != NULL) {
        *mode = KS_ST_KEYED;
        return CKR_OK;
    }
    uint8_t sealed[KS_ST_ID_SEALED_LEN];
    int found = 0;
    CK_RV rv = ks_st_meta_get_blob(s, "auth_token_id", sealed, sizeof(sealed), &found);
    *mode = found ? KS_ST_LOCKED : KS_ST_LEGACY;
    return rv;
}

CK_RV ks_st_auth_value_put(ks_store *s, ks_st_kind kind, const uint8_t *ref, size_t ref_len,
                           uint64_t value)
{
    ks_st_mode mode;
    CK_RV rv = ks_st_auth_mode(s, &mode);
    if (rv != CKR_OK || mode == KS_ST_LEGACY) {
        return rv; /* a store made before authentication: migrated at the first login */
    }
    if (mode == KS_ST_LOCKED) {
        return CKR_USER_NOT_LOGGED_IN;
    }
    uint8_t mac[KS_SHA256_LEN];
    ks_st_mac m;
    ks_st_mac_row(&m, s->auth, kind, ref, ref_len);
    ks_st_mac_u64(&m, value);
    ks_st_mac_end(&m, mac);
    return ks_st_auth_write(s, kind, ref, ref_len, mac);
}

CK_RV ks_st_auth_value_check(ks_store *s, ks_st_kind kind, const uint8_t *ref, size_t ref_len,
                             int present, uint64_t value, const char *what)
{
    if (s->auth == NULL) {
        return CKR_OK; /* no key: nothing can be verified (docs/store.md, before login) */
    }
    /* Counters and roles guard IV uniqueness and role fixing: before one is trusted, the
     * census is checked again if another connection wrote since the last check, so a row
     * replayed meanwhile is caught (a rescan per foreign commit, not per call). */
    CK_RV census = ks_st_census_verify(s);
    if (census != CKR_OK && census != CKR_DEVICE_ERROR) {
        return census;
    }
    if (present) {
        uint8_t mac[KS_SHA256_LEN];
        ks_st_mac m;
        ks_st_mac_row(&m, s->auth, kind, ref, ref_len);
        ks_st_mac_u64(&m, value);
        ks_st_mac_end(&m, mac);
        return ks_st_auth_verify(s, kind, ref, ref_len, mac, NULL, what);
    }
    /* Absent: valid only when no authentication record names it and the census shows that
     * no record was deleted. */
    uint8_t stored[KS_SHA256_LEN];
    int found = 0;
    CK_RV rv = read_mac(s, kind, ref, ref_len, stored, &found);
    if (rv == CKR_OK && found) {
        ks_st_fault(s, NULL, "store: %s was deleted", what);
        rv = CKR_DEVICE_ERROR;
    }
    if (rv == CKR_OK && census != CKR_OK) {
        ks_st_fault(s, NULL, "store: %s reads as absent but a record was deleted", what);
        rv = CKR_DEVICE_ERROR;
    }
    return rv;
}

CK_RV ks_st_auth_object(ks_store *s, sqlite3_int64 handle, const char uid[KS_UID_LEN],
                        int is_public)
{
    uint8_t mac[KS_SHA256_LEN], ref[8];
    ks_st_handle_ref(ref, (CK_OBJECT_HANDLE)handle);
    ks_st_mode mode;
    CK_RV rv = ks_st_auth_mode(s, &mode);
    if (rv != CKR_OK || mode == KS_ST_LEGACY) {
        return rv;
    }
    if (is_public) {
        /* A public object without secrets is writable without a PIN (PKCS#11 3.0 4.4, R/W
         * public session): no MAC could bind it, so it carries none. Its old MAC, if it had
         * one, goes (which needs the key, the census counting it). */
        if (mode == KS_ST_KEYED) {
            return erase_mac(s, KS_ST_OBJECT, ref, sizeof(ref));
        }
        int found = 0;
        rv = read_mac(s, KS_ST_OBJECT, ref, sizeof(ref), mac, &found);
        return rv == CKR_OK && found ? CKR_USER_NOT_LOGGED_IN : rv;
    }
    if (mode == KS_ST_LOCKED) {
        return CKR_USER_NOT_LOGGED_IN; /* no MAC without the token key */
    }
    rv = ks_st_object_mac(s, handle, uid, mac);
    return rv == CKR_OK ? ks_st_auth_write(s, KS_ST_OBJECT, ref, sizeof(ref), mac) : rv;
}

CK_RV ks_st_auth_forget_object(ks_store *s, sqlite3_int64 handle)
{
    ks_st_mode mode;
    CK_RV rv = ks_st_auth_mode(s, &mode);
    if (rv != CKR_OK || mode == KS_ST_LEGACY) {
        return rv;
    }
    uint8_t ref[8];
    ks_st_handle_ref(ref, (CK_OBJECT_HANDLE)handle);
    if (mode == KS_ST_LOCKED) {
        /* Without the key only an object with no authentication record (a public one) can
         * go: a record's removal must be counted in the census. */
        sqlite3_stmt *q = NULL;
        rv = ks_st_prepare(s, &q, "SELECT 1 FROM row_macs WHERE kind IN (?, ?)"
                                  " AND substr(ref, 1, 8) = ? LIMIT 1");
        if (rv != CKR_OK) {
            return rv;
        }
        sqlite3_bind_int(q, 1, KS_ST_OBJECT);
        sqlite3_bind_int(q, 2, KS_ST_COUNTER);
        sqlite3_bind_blob(q, 3, ref, sizeof(ref), SQLITE_STATIC);
        int rc = sqlite3_step(q);
        ks_st_finish(s, q);
        return rc == SQLITE_DONE ? CKR_OK : rc == SQLITE_ROW ? CKR_USER_NOT_LOGGED_IN
                                                             : CKR_DEVICE_ERROR;
    }
    rv = erase_mac(s, KS_ST_OBJECT, ref, sizeof(ref));
    /* The object's counters: their refs start with its handle. */
    sqlite3_stmt *st = NULL;
    if (rv == CKR_OK) {
        rv = ks_st_prepare(s, &st, "SELECT ref FROM row_macs WHERE kind = ?"
                                   " AND substr(ref, 1, 8) = ?");
    }
    if (rv != CKR_OK) {
        return rv;
    }
    sqlite3_bind_int(st, 1, KS_ST_COUNTER);
    sqlite3_bind_blob(st, 2, ref, sizeof(ref), SQLITE_STATIC);
    uint8_t cref[8 + KS_ST_NAME_MAX];
    int rc;
    while (rv == CKR_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        size_t n = (size_t)sqlite3_column_bytes(st, 0);
        if (n > sizeof(cref)) {
            continue; /* never written by us: the census check reports it */
        }
        memcpy(cref, sqlite3_column_blob(st, 0), n);
        sqlite3_reset(st); /* the erase writes row_macs: restart the scan after it */
        rv = erase_mac(s, KS_ST_COUNTER, cref, n);
    }
    ks_st_finish(s, st);
    return rv;
}
