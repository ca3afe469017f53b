/* audit_file.c - the audit trail's file: header page, robust lock, appends (audit_file.h). */
#include "token/audit_file.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "crypto/mem.h"

static const char MAGIC[16] = "keystead-audit\n";

enum {
    OFF_VERSION = 16,
    OFF_HEADER_SIZE = 20,
    OFF_BOOT = 24, /* the boot in which the lock was last made, 36 characters (below) */
    BOOT_LEN = 36,
    OFF_LOCK = 64,
    OFF_ACTIVE = 128,
    OFF_SLOT0 = 192,
    SLOT_STRIDE = 128,
};

_Static_assert(sizeof(pthread_mutex_t) <= OFF_ACTIVE - OFF_LOCK, "the lock fits its field");
_Static_assert(OFF_BOOT + BOOT_LEN <= OFF_LOCK, "the boot id fits before the lock");
_Static_assert(sizeof(ks_audit_state) == 80, "a state slot is 80 bytes, no padding");
_Static_assert(OFF_SLOT0 + 2 * SLOT_STRIDE <= KS_AUDIT_HEADER_SIZE, "slots fit the header");

struct ks_audit_file {
    int fd;
    uint8_t *head;       /* the header page, MAP_SHARED */
    atomic_int dirty;    /* appended since the last ks_audit_file_dirty_fd */
};

static pthread_mutex_t *lock_of(ks_audit_file *f)
{
    return (pthread_mutex_t *)(void *)(f->head + OFF_LOCK);
}

static _Atomic uint64_t *active_of(ks_audit_file *f)
{
    return (_Atomic uint64_t *)(void *)(f->head + OFF_ACTIVE);
}

static ks_audit_state *slot(ks_audit_file *f, uint64_t i)
{
    return (ks_audit_state *)(void *)(f->head + OFF_SLOT0 + SLOT_STRIDE * (i & 1));
}

static uint64_t active(ks_audit_file *f)
{
    return atomic_load_explicit(active_of(f), memory_order_acquire) & 1;
}

static void put_u32le(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++) {
        p[i] = (uint8_t)(v >> (8 * i));
    }
}

static uint32_t get_u32le(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* A process-shared, robust mutex at h + OFF_LOCK, unlocked. */
static int make_lock(uint8_t *h)
{
    pthread_mutexattr_t attr;
    int ok = pthread_mutexattr_init(&attr) == 0;
    if (ok) {
        ok = pthread_mutexattr_setpshared(&attr, PTHREAD_PROCESS_SHARED) == 0 &&
             pthread_mutexattr_setrobust(&attr, PTHREAD_MUTEX_ROBUST) == 0 &&
             pthread_mutex_init((pthread_mutex_t *)(void *)(h + OFF_LOCK), &attr) == 0;
        pthread_mutexattr_destroy(&attr);
    }
    return ok;
}

/* A fresh header in a file of exactly one page: magic, version, lock, an empty state. */
static int init_header(int fd)
{
    if (ftruncate(fd, KS_AUDIT_HEADER_SIZE) != 0) {
        return 0;
    }
    uint8_t *h = mmap(NULL, KS_AUDIT_HEADER_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (h == MAP_FAILED) {
        return 0;
    }
    memset(h, 0, KS_AUDIT_HEADER_SIZE);
    memcpy(h, MAGIC, sizeof(MAGIC));
    put_u32le(h + OFF_VERSION, KS_AUDIT_VERSION);
    put_u32le(h + OFF_HEADER_SIZE, KS_AUDIT_HEADER_SIZE);
    int ok = make_lock(h);
    ks_audit_state *s0 = (ks_audit_state *)(void *)(h + OFF_SLOT0);
    s0->end = KS_AUDIT_HEADER_SIZE; /* next_seq 0: no trail started yet */
    ok = msync(h, KS_AUDIT_HEADER_SIZE, MS_SYNC) == 0 && ok;
    munmap(h, KS_AUDIT_HEADER_SIZE);
    return ok;
}

/* Make <path> atomically: a complete header under a temporary name, then link(2), which
 * fails when another process made it first (then theirs is used). */
static int create_file(const char *path)
{
    char tmp[PATH_MAX + 16];
    if (snprintf(tmp, sizeof(tmp), "%s.XXXXXX", path) >= (int)sizeof(tmp)) {
        return -1;
    }
    int fd = mkostemp(tmp, O_CLOEXEC); /* mode 0600 */
    if (fd < 0) {
        return -1;
    }
    int ok = init_header(fd) && fsync(fd) == 0;
    close(fd);
    if (ok && link(tmp, path) != 0 && errno != EEXIST) {
        ok = 0;
    }
    unlink(tmp);
    return ok ? 0 : -1;
}

static int open_fd(const char *db_path, int create)
{
    if (db_path == NULL) {
        int fd = memfd_create("keystead-audit", MFD_CLOEXEC);
        if (fd >= 0 && !init_header(fd)) {
            close(fd);
            fd = -1;
        }
        return fd;
    }
    char path[PATH_MAX + 8];
    if (snprintf(path, sizeof(path), "%s.audit", db_path) >= (int)sizeof(path)) {
        return -1;
    }
    int fd = open(path, O_RDWR | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0 && errno == ENOENT && create && create_file(path) == 0) {
        fd = open(path, O_RDWR | O_CLOEXEC | O_NOFOLLOW);
    }
    return fd;
}

/* Cut the file back to end. Best effort where it is called: bytes left past `end` are
 * overwritten by the next append, and the verifier names them if they stay. Only ever
 * shrinks, and never into the header: cutting the mapped page away would make every process
 * using the token die of SIGBUS, and growing the file would fill it with zero "records". */
static void cut(int fd, uint64_t end)
{
    struct stat st;
    if (end < KS_AUDIT_HEADER_SIZE || end > (uint64_t)INT64_MAX || fstat(fd, &st) != 0 ||
        (uint64_t)st.st_size <= end) {
        return;
    }
    if (ftruncate(fd, (off_t)end) != 0) {
        return;
    }
}

/* The fixed fields only: the state slots are read under the lock (ks_audit_file_lock), as
 * another process may be committing (and wiping the old slot) while this one opens. */
static int header_valid(const uint8_t *h)
{
    return memcmp(h, MAGIC, sizeof(MAGIC)) == 0 && get_u32le(h + OFF_VERSION) == KS_AUDIT_VERSION &&
           get_u32le(h + OFF_HEADER_SIZE) == KS_AUDIT_HEADER_SIZE;
}

/* After a holder died: the active slot is whole (it became active in one store); the other
 * may hold a half-written state or the previous epoch key. Records past `end` were never
 * committed. */
static void recover(ks_audit_file *f)
{
    ks_wipe(slot(f, active(f) ^ 1), sizeof(ks_audit_state));
    cut(f->fd, slot(f, active(f))->end);
}

CK_RV ks_audit_file_lock(ks_audit_file *f, const ks_audit_state **cur)
{
    int rc = pthread_mutex_lock(lock_of(f));
    if (rc == EOWNERDEAD) {
        recover(f);
        rc = pthread_mutex_consistent(lock_of(f));
    }
    if (rc != 0) {
        return CKR_DEVICE_ERROR; /* ENOTRECOVERABLE: a holder died and recovery failed */
    }
    *cur = slot(f, active(f));
    if ((*cur)->end < KS_AUDIT_HEADER_SIZE || (*cur)->end > (uint64_t)INT64_MAX) {
        pthread_mutex_unlock(lock_of(f));
        return CKR_DEVICE_ERROR; /* a damaged header: never write into it */
    }
    return CKR_OK;
}

void ks_audit_file_unlock(ks_audit_file *f)
{
    pthread_mutex_unlock(lock_of(f));
}

/* The lock's bytes reach the disk like any others (writeback, the flusher's fdatasync),
 * possibly while it is held. After a reboot (power loss, a kernel crash) the file can thus
 * hold a lock owned by a thread that no longer exists, which no kernel will ever mark as
 * dead: every process would wait for it forever. So the header names the boot that made the
 * lock, and the first process of a new boot makes it anew (under flock(2), which the kernel
 * drops with its holder and never writes to disk), after the recovery a dead holder needs. */
static int renew_lock_after_reboot(ks_audit_file *f)
{
    char boot[BOOT_LEN + 1];
    int bfd = open("/proc/sys/kernel/random/boot_id", O_RDONLY | O_CLOEXEC);
    ssize_t n = bfd >= 0 ? read(bfd, boot, sizeof(boot)) : -1;
    if (bfd >= 0) {
        close(bfd);
    }
    if (n < BOOT_LEN) {
        return 1; /* no /proc: keep the lock as it is */
    }
    int ok = 1;
    if (flock(f->fd, LOCK_EX) != 0) {
        return 0;
    }
    if (memcmp(f->head + OFF_BOOT, boot, BOOT_LEN) != 0) {
        recover(f);
        ok = make_lock(f->head);
        if (ok) {
            memcpy(f->head + OFF_BOOT, boot, BOOT_LEN);
        }
    }
    flock(f->fd, LOCK_UN);
    return ok;
}

CK_RV ks_audit_file_open(ks_audit_file **out, const char *db_path, int create)
{
    *out = NULL;
    int fd = open_fd(db_path, create);
    if (fd < 0) {
        return CKR_DEVICE_ERROR;
    }
    struct stat st;
    uint8_t *h = MAP_FAILED;
    if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size >= KS_AUDIT_HEADER_SIZE) {
        h = mmap(NULL, KS_AUDIT_HEADER_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    }
    ks_audit_file *f = h != MAP_FAILED ? calloc(1, sizeof(*f)) : NULL;
    if (f == NULL || !header_valid(h)) {
        if (h != MAP_FAILED) {
            munmap(h, KS_AUDIT_HEADER_SIZE);
        }
        free(f);
        close(fd);
        return f == NULL && h != MAP_FAILED ? CKR_HOST_MEMORY : CKR_DEVICE_ERROR;
    }
    f->fd = fd;
    f->head = h;
    if (db_path != NULL && !renew_lock_after_reboot(f)) {
        ks_audit_file_close(f);
        return CKR_DEVICE_ERROR;
    }
    /* Bytes past `end` are an append whose process died before committing it. */
    const ks_audit_state *cur = NULL;
    CK_RV rv = ks_audit_file_lock(f, &cur);
    if (rv != CKR_OK) {
        ks_audit_file_close(f);
        return rv;
    }
    cut(fd, cur->end);
    ks_audit_file_unlock(f);
    *out = f;
    return CKR_OK;
}

void ks_audit_file_close(ks_audit_file *f)
{
    if (f == NULL) {
        return;
    }
    /* The flusher has stopped by now (C_Finalize): the last second's records, the counts
     * written at finalisation among them, are made durable here. */
    if (atomic_load_explicit(&f->dirty, memory_order_relaxed)) {
        (void)fdatasync(f->fd);
    }
    munmap(f->head, KS_AUDIT_HEADER_SIZE);
    close(f->fd);
    free(f);
}

/* Make next the current state: fill the inactive slot, publish it, wipe the old epoch key
 * (forward security: the key that sealed the last record is gone once this returns). */
static void commit(ks_audit_file *f, const ks_audit_state *next)
{
    uint64_t a = active(f);
    memcpy(slot(f, a ^ 1), next, sizeof(*next));
    atomic_store_explicit(active_of(f), a ^ 1, memory_order_release);
    ks_wipe(slot(f, a), sizeof(ks_audit_state));
}

CK_RV ks_audit_file_append(ks_audit_file *f, const uint8_t *rec, size_t len,
                           const ks_audit_state *next)
{
    uint64_t end = slot(f, active(f))->end;
    if (len > (uint64_t)INT64_MAX - end) {
        return CKR_DEVICE_ERROR;
    }
    ssize_t n = pwrite(f->fd, rec, len, (off_t)end);
    if (n != (ssize_t)len) {
        if (n > 0) {
            cut(f->fd, end); /* a short write: disk full */
        }
        return CKR_DEVICE_ERROR;
    }
    ks_audit_state s = *next;
    s.end = end + len;
    commit(f, &s);
    ks_wipe(&s, sizeof(s));
    atomic_store_explicit(&f->dirty, 1, memory_order_relaxed);
    return CKR_OK;
}

/* Commit first, then cut: a process killed in between leaves a whole new state whose `end`
 * is the header, and the old records past it are cut by the next process to take the lock.
 * Cutting first would leave the old state's `end` far past the file's end. */
CK_RV ks_audit_file_reset(ks_audit_file *f, const ks_audit_state *first)
{
    ks_audit_state s = *first;
    s.end = KS_AUDIT_HEADER_SIZE;
    commit(f, &s);
    ks_wipe(&s, sizeof(s));
    if (ftruncate(f->fd, KS_AUDIT_HEADER_SIZE) != 0) {
        return CKR_DEVICE_ERROR;
    }
    return fdatasync(f->fd) == 0 ? CKR_OK : CKR_DEVICE_ERROR;
}

int ks_audit_file_dirty_fd(ks_audit_file *f)
{
    if (f == NULL || !atomic_exchange_explicit(&f->dirty, 0, memory_order_relaxed)) {
        return -1;
    }
    int fd = fcntl(f->fd, F_DUPFD_CLOEXEC, 0);
    if (fd < 0) {
        atomic_store_explicit(&f->dirty, 1, memory_order_relaxed); /* EMFILE: next tick */
    }
    return fd;
}
