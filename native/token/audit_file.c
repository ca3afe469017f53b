/* audit_file.c - the audit trail's file: header page, robust lock, appends (audit_file.h). */
#include "token/audit_file.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
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

/* The file grows in steps of at least GROW_MIN (an eighth of its size beyond 8 MiB): one
 * posix_fallocate(2) and one mremap(2) per step, no system call per record in between. */
enum { GROW_MIN = 1u << 20, GROW_ALIGN = 1u << 20 };

/* A dead writer left at most one record past `end`: recovery clears this much there. */
enum { TAIL_MAX = 4096 };

struct ks_audit_file {
    int fd;
    uint8_t *head;       /* the header page, MAP_SHARED */
    uint8_t *map;        /* the whole file from offset 0, MAP_SHARED; NULL before the first
                          * append. Written only under the trail's lock and only below
                          * map_len, which never exceeds the size the file was allocated to */
    size_t map_len;
    atomic_size_t mapped; /* map_len, for the flusher's check, which holds no trail lock */
    int anonymous;       /* an in-memory token's memfd: it never had a link to lose */
    atomic_int dirty;    /* appended since the last ks_audit_file_dirty_fd */
    atomic_int broken;   /* the file was found deleted or cut short: appends are refused */
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
 * fails when another process made it first (then theirs is used); or, with replace, rename(2)
 * over a file that is not a trail (processes that still map the old one find it unlinked and
 * refuse to append to it). */
static int create_file(const char *path, int replace)
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
    if (ok && replace) {
        ok = rename(tmp, path) == 0;
    } else if (ok && link(tmp, path) != 0 && errno != EEXIST) {
        ok = 0;
    }
    unlink(tmp);
    return ok ? 0 : -1;
}

/* create: 1 makes a missing file, 2 also replaces one that is not a trail. */
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
    if (create == 2 && create_file(path, 1) != 0) {
        return -1;
    }
    int fd = open(path, O_RDWR | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0 && errno == ENOENT && create && create_file(path, 0) == 0) {
        fd = open(path, O_RDWR | O_CLOEXEC | O_NOFOLLOW);
    }
    return fd;
}

/* Clear what an append that never committed left past `end`: at most one record (TAIL_MAX
 * bytes), written before its commit. The file keeps its size: other processes have it
 * mapped up to its allocated size, and cutting it would make their next record a SIGBUS.
 * Best effort: bytes left there are overwritten by the next append, and the verifier names
 * them if they stay. pread/pwrite, not the mapping: the file may be shorter than
 * this process believes (then nothing past its end is touched). */
static void clear_tail(int fd, uint64_t end)
{
    struct stat st;
    if (end < KS_AUDIT_HEADER_SIZE || end > (uint64_t)INT64_MAX || fstat(fd, &st) != 0 ||
        (uint64_t)st.st_size <= end) {
        return;
    }
    uint8_t buf[TAIL_MAX];
    uint64_t n = (uint64_t)st.st_size - end < TAIL_MAX ? (uint64_t)st.st_size - end : TAIL_MAX;
    ssize_t got = pread(fd, buf, (size_t)n, (off_t)end);
    int dirty = 0;
    for (ssize_t i = 0; i < got; i++) {
        dirty |= buf[i];
    }
    if (dirty) {
        memset(buf, 0, sizeof(buf));
        if (pwrite(fd, buf, (size_t)got, (off_t)end) != got) {
            return; /* best effort, as above */
        }
    }
}

/* The fixed fields only: the state slots are read under the lock (ks_audit_file_lock), as
 * another process may be committing (and wiping the old slot) while this one opens. */
static int header_valid(const uint8_t *h)
{
    uint32_t v = get_u32le(h + OFF_VERSION);
    return memcmp(h, MAGIC, sizeof(MAGIC)) == 0 && (v == 1 || v == KS_AUDIT_VERSION) &&
           get_u32le(h + OFF_HEADER_SIZE) == KS_AUDIT_HEADER_SIZE;
}

/* After a holder died: the active slot is whole (it became active in one store); the other
 * may hold a half-written state or the previous epoch key. Records past `end` were never
 * committed. */
static void recover(ks_audit_file *f)
{
    ks_wipe(slot(f, active(f) ^ 1), sizeof(ks_audit_state));
    clear_tail(f->fd, slot(f, active(f))->end);
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

static CK_RV open_trail(ks_audit_file **out, const char *db_path, int create);

CK_RV ks_audit_file_open(ks_audit_file **out, const char *db_path, int create)
{
    CK_RV rv = open_trail(out, db_path, create);
    if (rv == CKR_DEVICE_ERROR && create && db_path != NULL) {
        rv = open_trail(out, db_path, 2); /* C_InitToken over a damaged file: a new one */
    }
    return rv;
}

static CK_RV open_trail(ks_audit_file **out, const char *db_path, int create)
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
    f->anonymous = db_path == NULL;
    if (db_path != NULL && !renew_lock_after_reboot(f)) {
        ks_audit_file_close(f);
        return CKR_DEVICE_ERROR;
    }
    /* Bytes past `end` are an append whose process died before committing it. A file
     * shorter than `end` lost committed records (cut): it is never written to. */
    const ks_audit_state *cur = NULL;
    CK_RV rv = ks_audit_file_lock(f, &cur);
    if (rv != CKR_OK) {
        ks_audit_file_close(f);
        return rv;
    }
    if (fstat(fd, &st) != 0 || (!create && (uint64_t)st.st_size < cur->end)) {
        ks_audit_file_unlock(f);
        ks_audit_file_close(f);
        return CKR_DEVICE_ERROR;
    }
    clear_tail(fd, cur->end);
    if (get_u32le(h + OFF_VERSION) != KS_AUDIT_VERSION) {
        /* A version-1 file (no space after `end`) is a version-2 file as it stands. */
        put_u32le(h + OFF_VERSION, KS_AUDIT_VERSION);
    }
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
    if (f->map != NULL) {
        munmap(f->map, f->map_len);
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

/* Under the lock: make [0, need) of the file allocated and mapped. The file is grown with
 * posix_fallocate, so every page the mapping is written through has its blocks: a full disk
 * (ENOSPC) or a size limit (EFBIG) is this function failing, never a SIGBUS at the store
 * into the mapping. Another process may have grown the file already; one that is shorter
 * than the records it holds, or deleted, is damaged and never written to. */
static CK_RV grow(ks_audit_file *f, uint64_t end, uint64_t need)
{
    struct stat st;
    if (fstat(f->fd, &st) != 0 || (st.st_nlink == 0 && !f->anonymous) ||
        (uint64_t)st.st_size < end || need > (uint64_t)SIZE_MAX / 2) {
        atomic_store_explicit(&f->broken, 1, memory_order_relaxed);
        return CKR_DEVICE_ERROR;
    }
    uint64_t size = (uint64_t)st.st_size;
    if (size < need) {
        uint64_t step = size / 8 > GROW_MIN ? size / 8 : GROW_MIN;
        uint64_t want = (need + step + GROW_ALIGN - 1) & ~(uint64_t)(GROW_ALIGN - 1);
        if (posix_fallocate(f->fd, (off_t)size, (off_t)(want - size)) != 0) {
            return CKR_DEVICE_ERROR; /* ENOSPC, EFBIG, EIO: nothing is written */
        }
        size = want;
    }
    void *m = f->map == NULL
                  ? mmap(NULL, (size_t)size, PROT_READ | PROT_WRITE, MAP_SHARED, f->fd, 0)
                  : mremap(f->map, f->map_len, (size_t)size, MREMAP_MAYMOVE);
    if (m == MAP_FAILED) {
        return CKR_DEVICE_ERROR; /* the old mapping, if any, is still in place */
    }
    f->map = m;
    f->map_len = (size_t)size;
    atomic_store_explicit(&f->mapped, f->map_len, memory_order_relaxed);
    return CKR_OK;
}

CK_RV ks_audit_file_reserve(ks_audit_file *f, size_t len)
{
    uint64_t end = slot(f, active(f))->end;
    if (atomic_load_explicit(&f->broken, memory_order_relaxed) ||
        len > (uint64_t)INT64_MAX - end) {
        return CKR_DEVICE_ERROR;
    }
    return end + len <= f->map_len ? CKR_OK : grow(f, end, end + len);
}

CK_RV ks_audit_file_append(ks_audit_file *f, const uint8_t *rec, size_t len,
                           const ks_audit_state *next)
{
    uint64_t end = slot(f, active(f))->end;
    if (atomic_load_explicit(&f->broken, memory_order_relaxed) ||
        len > (uint64_t)INT64_MAX - end) {
        return CKR_DEVICE_ERROR;
    }
    if (end + len > f->map_len) {
        CK_RV rv = grow(f, end, end + len);
        if (rv != CKR_OK) {
            return rv;
        }
    }
    memcpy(f->map + end, rec, len);
    ks_audit_state s = *next;
    s.end = end + len;
    commit(f, &s);
    ks_wipe(&s, sizeof(s));
    atomic_store_explicit(&f->dirty, 1, memory_order_relaxed);
    return CKR_OK;
}

/* Commit first, then clear: a process killed in between leaves a whole new state whose
 * `end` is the header, and the old records past it are cleared by the next reset. The file
 * keeps its size and its blocks (other processes have it mapped): the records are punched
 * out and the space allocated again, or zeroed where the file system cannot punch. */
CK_RV ks_audit_file_reset(ks_audit_file *f, const ks_audit_state *first)
{
    ks_audit_state s = *first;
    s.end = KS_AUDIT_HEADER_SIZE;
    commit(f, &s);
    ks_wipe(&s, sizeof(s));
    struct stat st;
    if (fstat(f->fd, &st) != 0) {
        return CKR_DEVICE_ERROR;
    }
    off_t len = st.st_size - (off_t)KS_AUDIT_HEADER_SIZE;
    if (len > 0 && (fallocate(f->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
                              KS_AUDIT_HEADER_SIZE, len) != 0 ||
                    posix_fallocate(f->fd, KS_AUDIT_HEADER_SIZE, len) != 0)) {
        static const uint8_t zero[65536];
        for (off_t off = KS_AUDIT_HEADER_SIZE; off < st.st_size;) {
            size_t n = st.st_size - off < (off_t)sizeof(zero) ? (size_t)(st.st_size - off)
                                                             : sizeof(zero);
            ssize_t w = pwrite(f->fd, zero, n, off);
            if (w <= 0) {
                return CKR_DEVICE_ERROR;
            }
            off += w;
        }
    }
    atomic_store_explicit(&f->broken, 0, memory_order_relaxed);
    return fdatasync(f->fd) == 0 ? CKR_OK : CKR_DEVICE_ERROR;
}

/* The flusher's look at the file once a second: a trail deleted (its last link gone) or cut
 * below what this process has mapped is damaged; appends are refused from then on. */
static void check(ks_audit_file *f)
{
    struct stat st;
    size_t mapped = atomic_load_explicit(&f->mapped, memory_order_relaxed);
    if (fstat(f->fd, &st) != 0 || (st.st_nlink == 0 && !f->anonymous) ||
        (uint64_t)st.st_size < (mapped > KS_AUDIT_HEADER_SIZE ? mapped : KS_AUDIT_HEADER_SIZE)) {
        atomic_store_explicit(&f->broken, 1, memory_order_relaxed);
    }
}

int ks_audit_file_broken(ks_audit_file *f)
{
    return atomic_load_explicit(&f->broken, memory_order_relaxed);
}

int ks_audit_file_dirty_fd(ks_audit_file *f)
{
    if (f == NULL) {
        return -1;
    }
    check(f);
    if (!atomic_exchange_explicit(&f->dirty, 0, memory_order_relaxed)) {
        return -1;
    }
    int fd = fcntl(f->fd, F_DUPFD_CLOEXEC, 0);
    if (fd < 0) {
        atomic_store_explicit(&f->dirty, 1, memory_order_relaxed); /* EMFILE: next tick */
    }
    return fd;
}
