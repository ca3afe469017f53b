/* slots.h - which tokens exist: one slot per initialised token, plus one slot that always
 * holds a fresh, uninitialised token. Slot IDs are small integers kept in the token files'
 * names (token-<id>.sqlite), so they stay the same from run to run. */
#ifndef KS_TOKEN_SLOTS_H
#define KS_TOKEN_SLOTS_H

#include <stddef.h>

#include "pkcs11.h"
#include "token/config.h"

#define KS_MAX_SLOTS 64

typedef struct ks_slot_entry {
    CK_SLOT_ID id;
    char path[PATH_MAX]; /* database path, or ":memory:<id>" */
    int initialized;
} ks_slot_entry;

/* ks_slots_scan lists the slots of cfg->token_dir (or of the in-memory registry) in id order,
 * the fresh slot last; the fresh slot's id is the largest initialised id + 1 (0 when none).
 * At most max entries: CKR_BUFFER_TOO_SMALL with *count = the number needed when more
 * exist; CKR_DEVICE_ERROR when the directory cannot be read. */
CK_RV ks_slots_scan(const ks_config *cfg, ks_slot_entry *out, size_t max, size_t *count);

#endif
