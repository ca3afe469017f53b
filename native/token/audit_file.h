/* audit_file.h - the file that holds a token's audit trail (token/audit.h says what a record
 * is and how it is sealed; this file says where the bytes go).
 *
 * One file per token, <token database>.audit, mode 0600:
 *
 *   offset 0     header page (4096 bytes), mapped MAP_SHARED by every process using the token
 *     0   magic "keystead-audit\n\0" (16 bytes)
 *     16  version, u32 little-endian (2)          20  header size, u32 (4096)
 *     24  the boot id (/proc/sys/kernel/random/boot_id, 36 characters) of the boot that made
 *         the lock: a lock held when the page last reached the disk is made anew after a reboot
 *     64  the trail's lock: a process-shared, robust pthread mutex (up to 64 bytes)
 *     128 active state slot, u64 (0 or 1)
 *     192 state slot 0, 320 state slot 1, each:
 *           +0 next_seq u64   +8 end u64 (file offset after the last record)
 *           +16 chain of the last record (32 bytes)   +48 epoch key k_{next_seq} (32 bytes)
 *   offset 4096  records, back to back: u32 big-endian length L of the canonical encoding,
 *                the encoding (L bytes), chain (32 bytes), seal (32 bytes)
 *   from `end`   zero bytes up to the file's size (version 2): space allocated ahead with
 *                posix_fallocate, so a reader takes the header's `end`, never the size.
 *                Version 1 had no such space (the file ended at `end`); a version-1 file is
 *                a version-2 file as it stands, and the first process to open it says so.
 *
 * An append costs no system call when nobody else holds the lock and the file has room:
 * under the lock the record is copied into the file's shared mapping at `end` of the active
 * slot, then the other slot gets the next state and becomes active with one aligned store,
 * then the old slot's key is wiped. When the record does not fit, the file is first grown by
 * a large step with posix_fallocate (a full disk fails the append with CKR_DEVICE_ERROR; no
 * page of the mapping is ever written that has no blocks behind it, so never a SIGBUS) and
 * mapped again. A process killed at any point leaves the active slot whole; the next process
 * to take the lock sees EOWNERDEAD, wipes the inactive slot and zeroes the uncommitted
 * record after `end`. A killed process never loses the record of a call that returned: the
 * page cache outlives it. Power loss can lose what was written since the last fdatasync,
 * which the flusher thread issues at most a second after an append (token/flusher.h); it
 * also checks once a second that the file still has a link and its size, and appends to a
 * trail found deleted or cut are refused. The file is never made shorter while open: other
 * processes have it mapped.
 *
 * In-memory tokens keep the same layout in an anonymous memfd. */
#ifndef KS_TOKEN_AUDIT_FILE_H
#define KS_TOKEN_AUDIT_FILE_H

#include <stddef.h>
#include <stdint.h>

#include "pkcs11.h"

#define KS_AUDIT_HEADER_SIZE 4096u
#define KS_AUDIT_VERSION 2u

typedef struct ks_audit_file ks_audit_file;

typedef struct ks_audit_state {
    uint64_t next_seq;
    uint64_t end;
    uint8_t chain[32];
    uint8_t key[32];
} ks_audit_state;

/* ks_audit_file_open maps the trail beside db_path (NULL: a new anonymous trail for an
 * in-memory token). create makes the file when it is missing (C_InitToken), and replaces one
 * that cannot be opened as a trail; without it a missing file is CKR_DEVICE_ERROR, as is a
 * file whose header is not a trail's or one shorter than the records its header claims
 * (cut). */
CK_RV ks_audit_file_open(ks_audit_file **out, const char *db_path, int create);
void ks_audit_file_close(ks_audit_file *f);

/* ks_audit_file_lock takes the trail's lock (recovering from a holder that died) and points
 * *cur at the current state, valid until ks_audit_file_unlock. */
CK_RV ks_audit_file_lock(ks_audit_file *f, const ks_audit_state **cur);
void ks_audit_file_unlock(ks_audit_file *f);

/* Under the lock: write rec at the current end, then make next the current state (its end
 * is computed here). Nothing changes when the write fails. */
CK_RV ks_audit_file_append(ks_audit_file *f, const uint8_t *rec, size_t len,
                           const ks_audit_state *next);

/* Under the lock: make room for len bytes of records after the current end (the file grown
 * and mapped as an append would), so that the next append of at most len bytes needs no
 * growth. CKR_DEVICE_ERROR when the file cannot grow or was found damaged. */
CK_RV ks_audit_file_reserve(ks_audit_file *f, size_t len);

/* Under the lock: drop every record and make first the current state (end = header size). */
CK_RV ks_audit_file_reset(ks_audit_file *f, const ks_audit_state *first);

/* ks_audit_file_dirty_fd checks that the file still has a link and its size (else later
 * appends are refused), then returns a dup of the file's descriptor when records were
 * appended since the last call (the caller fdatasyncs and closes it outside its locks),
 * else -1. */
int ks_audit_file_dirty_fd(ks_audit_file *f);

/* ks_audit_file_broken: the file was found deleted or cut while open. */
int ks_audit_file_broken(ks_audit_file *f);

#endif
