/* slots.c - which tokens exist (see slots.h).
 *
 * On disk a token is token_dir/token-<id>.sqlite, id a decimal number without leading zeros;
 * other files are ignored. A file counts as a token once its meta table says C_InitToken ran:
 * a file left uninitialised (a process died between creating it and C_InitToken) is not
 * listed, except that it may be the fresh slot's file. The fresh slot's id is one more than
 * the largest initialised id (0 in an empty directory), so ids only grow and a slot keeps
 * its id from run to run. In memory (`token_dir = :memory:`) the same rule applies to the
 * process-wide registry of store_memory.c. */
#include "token/slots.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "token/store.h"

#define MAX_TOKEN_ID 999999UL

/* "token-<id>.sqlite" -> id; 0 when the name is not of that form. */
static int parse_name(const char *name, CK_SLOT_ID *id)
{
    static const char PREFIX[] = "token-", SUFFIX[] = ".sqlite";
    size_t n = strlen(name), pre = sizeof(PREFIX) - 1, suf = sizeof(SUFFIX) - 1;
    if (n <= pre + suf || strncmp(name, PREFIX, pre) != 0 ||
        strcmp(name + n - suf, SUFFIX) != 0) {
        return 0;
    }
    size_t digits = n - pre - suf;
    const char *d = name + pre;
    if (digits > 6 || (digits > 1 && d[0] == '0')) {
        return 0;
    }
    CK_SLOT_ID v = 0;
    for (size_t i = 0; i < digits; i++) {
        if (d[i] < '0' || d[i] > '9') {
            return 0;
        }
        v = v * 10 + (CK_SLOT_ID)(d[i] - '0');
    }
    *id = v;
    return 1;
}

static int cmp_id(const void *a, const void *b)
{
    CK_SLOT_ID x = *(const CK_SLOT_ID *)a, y = *(const CK_SLOT_ID *)b;
    return (x > y) - (x < y);
}

static int token_path(char *out, const ks_config *cfg, CK_SLOT_ID id)
{
    int n = cfg->in_memory ? snprintf(out, PATH_MAX, ":memory:%lu", (unsigned long)id)
                           : snprintf(out, PATH_MAX, "%s/token-%lu.sqlite", cfg->token_dir,
                                      (unsigned long)id);
    return n > 0 && n < PATH_MAX;
}

/* Reads the directory: ids of token files, sorted, at most max. */
static CK_RV list_files(const char *dir, CK_SLOT_ID *ids, size_t max, size_t *count)
{
    DIR *d = opendir(dir);
    if (d == NULL) {
        return CKR_DEVICE_ERROR;
    }
    size_t n = 0;
    struct dirent *e;
    errno = 0;
    while ((e = readdir(d)) != NULL) {
        CK_SLOT_ID id;
        if (parse_name(e->d_name, &id) && n < max) {
            ids[n++] = id;
        }
    }
    int failed = errno != 0;
    closedir(d);
    if (failed) {
        return CKR_DEVICE_ERROR;
    }
    qsort(ids, n, sizeof(ids[0]), cmp_id);
    *count = n;
    return CKR_OK;
}

static int file_initialized(const ks_config *cfg, CK_SLOT_ID id)
{
    char path[PATH_MAX];
    ks_store *s = NULL;
    ks_token_meta meta;
    if (!token_path(path, cfg, id) || ks_store_open(&s, path, 0, cfg) != CKR_OK) {
        return 0;
    }
    int init = ks_store_meta(s, &meta) == CKR_OK && meta.initialized;
    ks_store_close(s);
    return init;
}

/* ids/initialized of every known token, sorted by id. */
static CK_RV known_tokens(const ks_config *cfg, CK_SLOT_ID *ids, int *init, size_t max,
                          size_t *count)
{
    if (cfg->in_memory) {
        size_t n = ks_store_memory_tokens(ids, init, max);
        /* The registry keeps creation order; sort both arrays together (n is small). */
        for (size_t i = 1; i < n; i++) {
            for (size_t j = i; j > 0 && ids[j - 1] > ids[j]; j--) {
                CK_SLOT_ID t = ids[j];
                ids[j] = ids[j - 1];
                ids[j - 1] = t;
                int b = init[j];
                init[j] = init[j - 1];
                init[j - 1] = b;
            }
        }
        *count = n;
        return CKR_OK;
    }
    CK_RV rv = list_files(cfg->token_dir, ids, max, count);
    for (size_t i = 0; rv == CKR_OK && i < *count; i++) {
        init[i] = file_initialized(cfg, ids[i]);
    }
    return rv;
}

CK_RV ks_slots_scan(const ks_config *cfg, ks_slot_entry *out, size_t max, size_t *count)
{
    CK_SLOT_ID ids[4 * KS_MAX_SLOTS];
    int init[4 * KS_MAX_SLOTS];
    size_t n = 0, listed = 0;
    if (cfg == NULL || count == NULL || (out == NULL && max > 0)) {
        return CKR_ARGUMENTS_BAD;
    }
    *count = 0;
    CK_RV rv = known_tokens(cfg, ids, init, sizeof(ids) / sizeof(ids[0]), &n);
    if (rv != CKR_OK) {
        return rv;
    }
    CK_SLOT_ID fresh = 0;
    for (size_t i = 0; i < n; i++) {
        if (!init[i]) {
            continue;
        }
        if (listed < max) {
            out[listed].id = ids[i];
            out[listed].initialized = 1;
            if (!token_path(out[listed].path, cfg, ids[i])) {
                return CKR_DEVICE_ERROR;
            }
        }
        listed++;
        fresh = ids[i] + 1;
    }
    if (fresh > MAX_TOKEN_ID) {
        return CKR_DEVICE_MEMORY;
    }
    if (listed + 1 > max) {
        *count = listed + 1;
        return CKR_BUFFER_TOO_SMALL;
    }
    out[listed].id = fresh;
    out[listed].initialized = 0;
    if (!token_path(out[listed].path, cfg, fresh)) {
        return CKR_DEVICE_ERROR;
    }
    *count = listed + 1;
    return CKR_OK;
}
