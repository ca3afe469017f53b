/* role_cache.c - the roles of key values seen in the store (see role_cache.h). */
#include "token/role_cache.h"

#include <string.h>

#include "crypto/mem.h"

/* The slot of a fingerprint: its first bytes (uniform: an HMAC output). */
static size_t slot_of(const uint8_t fp[KS_ROLE_FP_LEN])
{
    return ((size_t)fp[0] | (size_t)fp[1] << 8) % KS_ROLE_CACHE_SLOTS;
}

void ks_role_cache_clear(ks_role_cache *c)
{
    ks_wipe(c, sizeof(*c));
}

int ks_role_cache_get(const ks_role_cache *c, const uint8_t fp[KS_ROLE_FP_LEN])
{
    size_t i = slot_of(fp);
    if (c->slot[i].role == 0 || memcmp(c->slot[i].fp, fp, KS_ROLE_FP_LEN) != 0) {
        return 0;
    }
    return c->slot[i].role;
}

void ks_role_cache_put(ks_role_cache *c, const uint8_t fp[KS_ROLE_FP_LEN], int role)
{
    if (role == 0) {
        return;
    }
    size_t i = slot_of(fp);
    memcpy(c->slot[i].fp, fp, KS_ROLE_FP_LEN);
    c->slot[i].role = role;
}
