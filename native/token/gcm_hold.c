/* gcm_hold.c - see gcm_hold.h. */
#include "token/gcm_hold.h"

#include <stdlib.h>
#include <string.h>

#define HOLD_MIN 4096

CK_RV ks_gcm_hold_add(ks_gcm_hold *h, const uint8_t *in, size_t in_len, uint64_t max)
{
    if (h->len > max || (uint64_t)in_len > max - h->len) {
        return CKR_ENCRYPTED_DATA_LEN_RANGE;
    }
    size_t want = h->len + in_len;
    if (want > h->cap) {
        size_t cap = h->cap < HOLD_MIN ? HOLD_MIN : h->cap;
        while (cap < want) {
            cap = cap > SIZE_MAX / 2 ? want : cap * 2;
        }
        uint8_t *grown = realloc(h->buf, cap);
        if (grown == NULL) {
            return CKR_HOST_MEMORY;
        }
        h->buf = grown;
        h->cap = cap;
    }
    if (in_len != 0) {
        memcpy(h->buf + h->len, in, in_len);
    }
    h->len = want;
    return CKR_OK;
}

void ks_gcm_hold_reset(ks_gcm_hold *h)
{
    h->len = 0;
}

void ks_gcm_hold_free(ks_gcm_hold *h)
{
    free(h->buf);
    h->buf = NULL;
    h->len = 0;
    h->cap = 0;
}
