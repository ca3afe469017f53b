/* mem.c - the one wipe, the one constant-time comparison and locked allocations of secrets.
 *
 * ks_secure_alloc maps whole pages so that mlock and MADV_DONTDUMP apply to the secret alone
 * (never to neighbours on the heap). A header at the start of the mapping records the
 * page-rounded size and how the block was obtained, so ks_secure_free undoes exactly that.
 * Where mlock is refused (RLIMIT_MEMLOCK), the block comes from calloc instead: best effort,
 * still wiped on free. */
#include "crypto/mem.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "crypto/ct.h"

void ks_wipe(void *p, size_t len)
{
    if (p == NULL || len == 0) {
        return;
    }
    /* explicit_bzero is never elided; the barrier keeps a later inlining compiler honest. */
    explicit_bzero(p, len);
    __asm__ __volatile__("" : : "r"(p) : "memory");
}

int ks_memeq(const void *a, const void *b, size_t len)
{
    const volatile uint8_t *x = a;
    const volatile uint8_t *y = b;
    uint8_t acc = 0;

    for (size_t i = 0; i < len; i++) {
        acc |= (uint8_t)(x[i] ^ y[i]);
    }
    return (int)(ks_ct_is_zero(ks_value_barrier(acc)) & 1);
}

enum { SECURE_MAGIC = 0x6b736563u, KIND_MAPPED = 1, KIND_HEAP = 2 };

/* The header keeps the user area 64-byte aligned (ks_gcm_key asks for _Alignas(64)). */
typedef struct secure_hdr {
    size_t total;   /* bytes mapped (page-rounded) or allocated, header included */
    size_t len;     /* bytes asked for */
    uint32_t magic;
    uint32_t kind;
    uint8_t pad[40];
} secure_hdr;

_Static_assert(sizeof(secure_hdr) == 64, "secure_hdr keeps 64-byte alignment");

static void *secure_alloc_heap(size_t len)
{
    size_t total = sizeof(secure_hdr) + len;
    secure_hdr *h = NULL;

    if (posix_memalign((void **)&h, 64, total) != 0) {
        return NULL;
    }
    memset(h, 0, total);
    h->total = total;
    h->len = len;
    h->magic = SECURE_MAGIC;
    h->kind = KIND_HEAP;
    return h + 1;
}

void *ks_secure_alloc(size_t len)
{
    long page_l = sysconf(_SC_PAGESIZE);
    size_t page = page_l > 0 ? (size_t)page_l : 4096;

    if (len > SIZE_MAX - sizeof(secure_hdr) - page) {
        return NULL;
    }
    size_t total = (sizeof(secure_hdr) + len + page - 1) / page * page;
    void *base = mmap(NULL, total, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (base == MAP_FAILED) {
        return secure_alloc_heap(len);
    }
    if (mlock(base, total) != 0) {
        munmap(base, total);
        return secure_alloc_heap(len);
    }
    /* Best effort: a kernel without MADV_DONTDUMP still gives locked, wiped memory. */
    (void)madvise(base, total, MADV_DONTDUMP);

    secure_hdr *h = base; /* anonymous mappings are zero-filled */
    h->total = total;
    h->len = len;
    h->magic = SECURE_MAGIC;
    h->kind = KIND_MAPPED;
    return h + 1;
}

void ks_secure_free(void *p, size_t len)
{
    if (p == NULL) {
        return;
    }
    secure_hdr *h = (secure_hdr *)p - 1;
    if (h->magic != SECURE_MAGIC || len > h->len) {
        abort(); /* not ours, or a caller that lost track of the size: never free blindly */
    }
    size_t total = h->total;
    uint32_t kind = h->kind;
    ks_wipe(h, total);
    if (kind == KIND_MAPPED) {
        munlock(h, total);
        munmap(h, total);
    } else {
        free(h);
    }
}
