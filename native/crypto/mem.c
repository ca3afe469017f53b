/* mem.c - the one wipe, the one constant-time comparison and locked allocations of secrets.
 *
 * ks_secure_alloc maps whole pages so that mlock and MADV_DONTDUMP apply to the secret alone
 * (never to neighbours on the heap). A header at the start of the mapping records the
 * page-rounded size and how the block was obtained, so ks_secure_free undoes exactly that.
 * Where mlock is refused (RLIMIT_MEMLOCK), the block comes from calloc instead: best effort,
 * still wiped on free. */
#include "crypto/mem.h"

#include <pthread.h>
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
    struct secure_hdr *prev, *next; /* every live block, for the wipe at process exit */
    uint8_t pad[24];
} secure_hdr;

/* Live blocks, so that process exit wipes what an application never freed (no C_Finalize). */
static pthread_mutex_t live_lock = PTHREAD_MUTEX_INITIALIZER;
static secure_hdr *live_head;

static void live_add(secure_hdr *h)
{
    pthread_mutex_lock(&live_lock);
    h->prev = NULL;
    h->next = live_head;
    if (live_head != NULL) {
        live_head->prev = h;
    }
    live_head = h;
    pthread_mutex_unlock(&live_lock);
}

static void live_remove(secure_hdr *h)
{
    pthread_mutex_lock(&live_lock);
    if (h->prev != NULL) {
        h->prev->next = h->next;
    } else {
        live_head = h->next;
    }
    if (h->next != NULL) {
        h->next->prev = h->prev;
    }
    pthread_mutex_unlock(&live_lock);
}

/* A fork while another thread holds live_lock would leave the child's copy locked forever. */
static void live_lock_take(void)
{
    pthread_mutex_lock(&live_lock);
}

static void live_lock_give(void)
{
    pthread_mutex_unlock(&live_lock);
}

__attribute__((constructor)) static void live_lock_fork_safe(void)
{
    (void)pthread_atfork(live_lock_take, live_lock_give, live_lock_give);
}

/* At exit (or unload) wipe every live secret. The blocks stay allocated and listed, so a
 * later ks_secure_free (another destructor, a thread) still works. A thread still inside the
 * module at exit may see zeroed keys: PKCS#11 (5.4 C_Finalize) asks applications to finalize
 * before they exit, which leaves nothing here. */
__attribute__((destructor)) static void wipe_live_at_exit(void)
{
    pthread_mutex_lock(&live_lock);
    for (secure_hdr *h = live_head; h != NULL; h = h->next) {
        ks_wipe(h + 1, h->len);
    }
    pthread_mutex_unlock(&live_lock);
}

/* ks_wipe_stack zeroes 16 KiB of the stack below the caller's frame (secret temporaries and
 * register spills of calls that have returned) and the vector registers. */
/* Vector registers keep round keys after the AES-NI/VAES kernels return; later code (the
 * dynamic linker's lazy binding, signal delivery, context switches to a core dump) saves them
 * to memory. Zero them: xmm0-15 (SSE), their upper halves (AVX), zmm16-31 (AVX-512). */
__attribute__((target("avx"))) static void zero_avx(void)
{
    __asm__ __volatile__("vzeroall" ::: "memory");
}

__attribute__((target("avx512f"))) static void zero_avx512_high(void)
{
    __asm__ __volatile__(
        "vpxord %%zmm16, %%zmm16, %%zmm16\n\tvpxord %%zmm17, %%zmm17, %%zmm17\n\t"
        "vpxord %%zmm18, %%zmm18, %%zmm18\n\tvpxord %%zmm19, %%zmm19, %%zmm19\n\t"
        "vpxord %%zmm20, %%zmm20, %%zmm20\n\tvpxord %%zmm21, %%zmm21, %%zmm21\n\t"
        "vpxord %%zmm22, %%zmm22, %%zmm22\n\tvpxord %%zmm23, %%zmm23, %%zmm23\n\t"
        "vpxord %%zmm24, %%zmm24, %%zmm24\n\tvpxord %%zmm25, %%zmm25, %%zmm25\n\t"
        "vpxord %%zmm26, %%zmm26, %%zmm26\n\tvpxord %%zmm27, %%zmm27, %%zmm27\n\t"
        "vpxord %%zmm28, %%zmm28, %%zmm28\n\tvpxord %%zmm29, %%zmm29, %%zmm29\n\t"
        "vpxord %%zmm30, %%zmm30, %%zmm30\n\tvpxord %%zmm31, %%zmm31, %%zmm31"
        ::: "xmm16", "xmm17", "xmm18", "xmm19", "xmm20", "xmm21", "xmm22", "xmm23", "xmm24",
            "xmm25", "xmm26", "xmm27", "xmm28", "xmm29", "xmm30", "xmm31", "memory");
}

static void zero_sse(void)
{
    __asm__ __volatile__(
        "pxor %%xmm0, %%xmm0\n\tpxor %%xmm1, %%xmm1\n\tpxor %%xmm2, %%xmm2\n\t"
        "pxor %%xmm3, %%xmm3\n\tpxor %%xmm4, %%xmm4\n\tpxor %%xmm5, %%xmm5\n\t"
        "pxor %%xmm6, %%xmm6\n\tpxor %%xmm7, %%xmm7\n\tpxor %%xmm8, %%xmm8\n\t"
        "pxor %%xmm9, %%xmm9\n\tpxor %%xmm10, %%xmm10\n\tpxor %%xmm11, %%xmm11\n\t"
        "pxor %%xmm12, %%xmm12\n\tpxor %%xmm13, %%xmm13\n\tpxor %%xmm14, %%xmm14\n\t"
        "pxor %%xmm15, %%xmm15"
        ::: "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8", "xmm9",
            "xmm10", "xmm11", "xmm12", "xmm13", "xmm14", "xmm15", "memory");
}

__attribute__((noinline)) void ks_wipe_stack(void)
{
    uint8_t area[16384];
    ks_wipe(area, sizeof(area));
    if (__builtin_cpu_supports("avx512f")) {
        zero_avx512_high();
    }
    if (__builtin_cpu_supports("avx")) {
        zero_avx();
    } else {
        zero_sse();
    }
}

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
    live_add(h);
    return h + 1;
}

/* Freed single-page blocks, wiped, still locked and undumped: an operation's state comes and
 * goes with every C_*Init, and mmap + mlock + munmap each time costs ~30 us. */
enum { POOL_MAX = 64 };
static secure_hdr *pool[POOL_MAX];
static size_t pool_count;
static size_t pool_page;

static secure_hdr *pool_take(size_t total)
{
    secure_hdr *h = NULL;
    pthread_mutex_lock(&live_lock);
    if (total == pool_page && pool_count > 0) {
        h = pool[--pool_count];
    }
    pthread_mutex_unlock(&live_lock);
    if (h != NULL) {
        h->total = total; /* the block was wiped whole when it was freed */
    }
    return h;
}

static int pool_put(secure_hdr *h, size_t total)
{
    int kept = 0;
    pthread_mutex_lock(&live_lock);
    if (pool_page == 0) {
        long page_l = sysconf(_SC_PAGESIZE);
        pool_page = page_l > 0 ? (size_t)page_l : 4096;
    }
    if (total == pool_page && pool_count < POOL_MAX) {
        pool[pool_count++] = h;
        kept = 1;
    }
    pthread_mutex_unlock(&live_lock);
    return kept;
}

void *ks_secure_alloc(size_t len)
{
    long page_l = sysconf(_SC_PAGESIZE);
    size_t page = page_l > 0 ? (size_t)page_l : 4096;

    if (len > SIZE_MAX - sizeof(secure_hdr) - page) {
        return NULL;
    }
    size_t total = (sizeof(secure_hdr) + len + page - 1) / page * page;
    secure_hdr *pooled = pool_take(total);
    if (pooled != NULL) {
        pooled->len = len;
        pooled->magic = SECURE_MAGIC;
        pooled->kind = KIND_MAPPED;
        live_add(pooled);
        return pooled + 1;
    }
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
    live_add(h);
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
    live_remove(h);
    size_t total = h->total;
    uint32_t kind = h->kind;
    ks_wipe(h, total);
    if (kind == KIND_MAPPED && pool_put(h, total)) {
        return;
    }
    if (kind == KIND_MAPPED) {
        munlock(h, total);
        munmap(h, total);
    } else {
        free(h);
    }
}
