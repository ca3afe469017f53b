/* mem.c - the one wipe, the one constant-time comparison and locked allocations of secrets.
 *
 * ks_secure_alloc takes memory from mappings of our own, so that mlock and MADV_DONTDUMP
 * apply to secrets alone (never to neighbours on the heap): small secrets from 64 KiB slab
 * chunks shared by blocks of one size class, larger ones from whole pages. A header before
 * every block records its size and how it was obtained, so ks_secure_free undoes exactly
 * that. Where mlock is refused (RLIMIT_MEMLOCK), the block comes from the heap instead: best
 * effort, still wiped on free. */
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

enum { SECURE_MAGIC = 0x6b736563u, KIND_MAPPED = 1, KIND_HEAP = 2, KIND_SLAB = 3 };

struct slab_chunk;

/* The header keeps the user area 64-byte aligned (ks_gcm_key asks for _Alignas(64)). */
typedef struct secure_hdr {
    size_t total;   /* bytes mapped (page-rounded), allocated or of the slab block, header
                     * included */
    size_t len;     /* bytes asked for */
    uint32_t magic;
    uint32_t kind;
    struct secure_hdr *prev, *next; /* every live block, for the wipe at process exit; a free
                                     * slab block's next is its chunk's free list */
    struct slab_chunk *chunk;       /* KIND_SLAB: the chunk that holds the block */
    uint8_t pad[16];
} secure_hdr;

/* Live blocks, so that process exit wipes what an application never freed (no C_Finalize).
 * live_lock also guards the page pool and the slab. */
static pthread_mutex_t live_lock = PTHREAD_MUTEX_INITIALIZER;
static secure_hdr *live_head;

static void live_add_locked(secure_hdr *h)
{
    h->prev = NULL;
    h->next = live_head;
    if (live_head != NULL) {
        live_head->prev = h;
    }
    live_head = h;
}

static void live_add(secure_hdr *h)
{
    pthread_mutex_lock(&live_lock);
    live_add_locked(h);
    pthread_mutex_unlock(&live_lock);
}

static void live_remove_locked(secure_hdr *h)
{
    if (h->prev != NULL) {
        h->prev->next = h->next;
    } else {
        live_head = h->next;
    }
    if (h->next != NULL) {
        h->next->prev = h->prev;
    }
}

static void live_remove(secure_hdr *h)
{
    pthread_mutex_lock(&live_lock);
    live_remove_locked(h);
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

/* Small secrets (attribute values, operation state) share locked chunks: one mmap + mlock
 * per 64 KiB instead of one per secret, so thousands of live session keys cost neither a
 * system call each nor a locked page each (RLIMIT_MEMLOCK is often 8 MiB). A chunk starts
 * with its slab_chunk record, then blocks of one size class (a secure_hdr and 64 << cls
 * user bytes). Blocks are carved in order on first use; freed blocks, wiped whole, go on
 * their chunk's free list. A chunk with a free block is on its class's partial list. Two
 * empty chunks per class are kept (a burst that ends and starts again, such as 1000 keys
 * unwrapped then destroyed, then maps nothing), further empty chunks are unmapped: at most
 * 768 KiB stay locked unused. */
enum { SLAB_CHUNK = 64 * 1024, SLAB_CLASSES = 6, SLAB_KEEP_EMPTY = 2 };
enum { SLAB_MAX = 64 << (SLAB_CLASSES - 1), CHUNK_MAGIC = 0x6b736c62u };

typedef struct slab_chunk {
    struct slab_chunk *prev, *next; /* the class's chunks that have a free block */
    secure_hdr *free;               /* wiped blocks given back */
    uint32_t magic;
    uint32_t cls;
    uint32_t used;                  /* blocks handed out now */
    uint32_t carved;                /* blocks ever handed out: those after were never used */
    uint32_t on_partial;
    uint8_t pad[20];
} slab_chunk;

_Static_assert(sizeof(slab_chunk) == 64, "slab_chunk keeps the blocks 64-byte aligned");

typedef struct slab_class {
    slab_chunk *partial;
    size_t empty; /* chunks of the class with no block handed out */
} slab_class;

static slab_class slab[SLAB_CLASSES];

/* Under ASan, the unused tail of a block and free blocks are poisoned, so that overruns and
 * uses after free inside a chunk are reported as they would be on the heap. */
#if defined(__SANITIZE_ADDRESS__)
#define KS_SLAB_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define KS_SLAB_ASAN 1
#endif
#endif
#ifdef KS_SLAB_ASAN
#include <sanitizer/asan_interface.h>
#define SLAB_POISON(p, n) ASAN_POISON_MEMORY_REGION((p), (n))
#define SLAB_UNPOISON(p, n) ASAN_UNPOISON_MEMORY_REGION((p), (n))
#else
#define SLAB_POISON(p, n) ((void)(p), (void)(n))
#define SLAB_UNPOISON(p, n) ((void)(p), (void)(n))
#endif

static size_t slab_user(uint32_t cls)
{
    return (size_t)64 << cls;
}

static size_t slab_block(uint32_t cls)
{
    return sizeof(secure_hdr) + slab_user(cls);
}

static uint32_t slab_blocks(uint32_t cls)
{
    return (uint32_t)((SLAB_CHUNK - sizeof(slab_chunk)) / slab_block(cls));
}

static void partial_push(slab_class *sc, slab_chunk *c)
{
    c->prev = NULL;
    c->next = sc->partial;
    if (sc->partial != NULL) {
        sc->partial->prev = c;
    }
    sc->partial = c;
    c->on_partial = 1;
}

static void partial_unlink(slab_class *sc, slab_chunk *c)
{
    if (c->prev != NULL) {
        c->prev->next = c->next;
    } else {
        sc->partial = c->next;
    }
    if (c->next != NULL) {
        c->next->prev = c->prev;
    }
    c->prev = c->next = NULL;
    c->on_partial = 0;
}

/* chunk_new maps, locks and undumps one chunk (zero-filled), or returns NULL: the caller
 * then takes the heap, as the page path does. */
static slab_chunk *chunk_new(uint32_t cls)
{
    void *base = mmap(NULL, SLAB_CHUNK, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
                      -1, 0);
    if (base == MAP_FAILED) {
        return NULL;
    }
    if (mlock(base, SLAB_CHUNK) != 0) {
        munmap(base, SLAB_CHUNK);
        return NULL;
    }
    (void)madvise(base, SLAB_CHUNK, MADV_DONTDUMP);
    slab_chunk *c = base;
    c->magic = CHUNK_MAGIC;
    c->cls = cls;
    SLAB_POISON(c + 1, SLAB_CHUNK - sizeof(slab_chunk));
    return c;
}

/* slab_check_free aborts unless h, the head of c's free list, is a block of c that was ever
 * handed out and still reads as slab_free left it: wiped whole but for its link. An overrun
 * from the neighbour block that rewrote the link would otherwise hand out, and write a
 * header at, whatever address it wrote there. The address is checked before h is read. */
static void slab_check_free(const slab_chunk *c, const secure_hdr *h)
{
    uintptr_t first = (uintptr_t)(c + 1);
    uintptr_t at = (uintptr_t)h;
    size_t block = slab_block(c->cls);
    if (at < first || (at - first) % block != 0 || (at - first) / block >= c->carved) {
        abort();
    }
    SLAB_UNPOISON(h, sizeof(*h));
    if (h->total != 0 || h->len != 0 || h->magic != 0 || h->kind != 0 || h->prev != NULL ||
        h->chunk != NULL) {
        abort();
    }
}

/* slab_take hands out a zeroed block of class cls; live_lock is held. */
static secure_hdr *slab_take(uint32_t cls)
{
    slab_class *sc = &slab[cls];
    slab_chunk *c = sc->partial;
    if (c == NULL) {
        c = chunk_new(cls);
        if (c == NULL) {
            return NULL;
        }
        partial_push(sc, c);
        sc->empty++;
    }
    secure_hdr *h = c->free;
    if (h != NULL) {
        slab_check_free(c, h);
        c->free = h->next;
    } else {
        h = (secure_hdr *)((uint8_t *)(c + 1) + (size_t)c->carved * slab_block(cls));
        c->carved++;
        SLAB_UNPOISON(h, sizeof(*h));
    }
    if (c->used++ == 0) {
        sc->empty--;
    }
    if (c->used == slab_blocks(cls)) {
        partial_unlink(sc, c);
    }
    h->total = slab_block(cls);
    h->kind = KIND_SLAB;
    h->chunk = c;
    return h;
}

static void *slab_alloc(size_t len)
{
    uint32_t cls = 0;
    while (slab_user(cls) < len) {
        cls++;
    }
    pthread_mutex_lock(&live_lock);
    secure_hdr *h = slab_take(cls);
    if (h != NULL) {
        h->len = len;
        h->magic = SECURE_MAGIC;
        live_add_locked(h);
        /* Wiped when it was freed, or never used since the zero-filled mapping. */
        SLAB_UNPOISON(h + 1, len);
    }
    pthread_mutex_unlock(&live_lock);
    return h != NULL ? h + 1 : NULL;
}

/* slab_chunk_of checks, with live_lock held, that a KIND_SLAB header sits on a block
 * boundary of one of our chunks, in the part ever handed out: anything else aborts. */
static slab_chunk *slab_chunk_of(const secure_hdr *h)
{
    slab_chunk *c = h->chunk;
    if (c == NULL || c->magic != CHUNK_MAGIC || c->cls >= SLAB_CLASSES) {
        abort();
    }
    uintptr_t first = (uintptr_t)(c + 1);
    uintptr_t at = (uintptr_t)h;
    size_t block = slab_block(c->cls);
    if (at < first || (at - first) % block != 0 || (at - first) / block >= c->carved ||
        h->total != block || h->len > slab_user(c->cls)) {
        abort();
    }
    return c;
}

/* slab_free wipes a block whole (header included: a second free finds no magic) and gives
 * it back to its chunk. An empty chunk beyond those kept per class is unmapped. */
static void slab_free(secure_hdr *h)
{
    pthread_mutex_lock(&live_lock);
    slab_chunk *c = slab_chunk_of(h);
    slab_class *sc = &slab[c->cls];
    size_t block = slab_block(c->cls);
    live_remove_locked(h);
    SLAB_UNPOISON(h, block); /* the tail past len was poisoned */
    ks_wipe(h, block);
    if (!c->on_partial) {
        partial_push(sc, c);
    }
    h->next = c->free;
    c->free = h;
    SLAB_POISON(h, block);
    int unmap = 0;
    if (--c->used == 0) {
        if (sc->empty < SLAB_KEEP_EMPTY) {
            sc->empty++;
        } else {
            partial_unlink(sc, c);
            unmap = 1;
        }
    }
    pthread_mutex_unlock(&live_lock);
    if (unmap) {
        SLAB_UNPOISON(c, SLAB_CHUNK); /* whatever is mapped here next starts clean */
        munlock(c, SLAB_CHUNK);
        munmap(c, SLAB_CHUNK);
    }
}

static size_t page_size(void)
{
    long page_l = sysconf(_SC_PAGESIZE);
    return page_l > 0 ? (size_t)page_l : 4096;
}

/* Secrets over SLAB_MAX take pages of their own. Freed blocks are kept, wiped, still locked
 * and undumped, up to POOL_MAX blocks and POOL_BYTES in all: mmap + mlock + munmap each time
 * costs ~30 us for a page and grows with the size (mlock faults every page in), which is
 * more than AES-GCM takes for 64 KiB. A request takes the smallest kept block that holds it
 * and is at most twice its size, so repeated operations of one size (a GCM decryption staged
 * per call) reuse their pages. */
enum { POOL_MAX = 64, POOL_BYTES = 2 * 1024 * 1024 };
static secure_hdr *pool[POOL_MAX];
static size_t pool_count;
static size_t pool_bytes;

static secure_hdr *pool_take(size_t total)
{
    secure_hdr *h = NULL;
    pthread_mutex_lock(&live_lock);
    size_t best = POOL_MAX;
    for (size_t i = 0; i < pool_count; i++) {
        size_t have = pool[i]->total;
        if (have >= total && have / 2 <= total &&
            (best == POOL_MAX || have < pool[best]->total)) {
            best = i;
        }
    }
    if (best != POOL_MAX) {
        h = pool[best];
        pool[best] = pool[--pool_count];
        pool_bytes -= h->total;
    }
    pthread_mutex_unlock(&live_lock);
    return h; /* wiped whole when it was freed, but for its total */
}

static int pool_put(secure_hdr *h, size_t total)
{
    int kept = 0;
    pthread_mutex_lock(&live_lock);
    if (pool_count < POOL_MAX && total <= POOL_BYTES - pool_bytes) {
        h->total = total;
        pool[pool_count++] = h;
        pool_bytes += total;
        kept = 1;
    }
    pthread_mutex_unlock(&live_lock);
    return kept;
}

/* The largest request since the last reset (ks_secure_largest), atomically: no lock. */
static size_t largest_request;

size_t ks_secure_largest(int reset)
{
    return reset ? __atomic_exchange_n(&largest_request, 0, __ATOMIC_RELAXED)
                 : __atomic_load_n(&largest_request, __ATOMIC_RELAXED);
}

static void note_request(size_t len)
{
    size_t seen = __atomic_load_n(&largest_request, __ATOMIC_RELAXED);
    while (len > seen && !__atomic_compare_exchange_n(&largest_request, &seen, len, 1,
                                                      __ATOMIC_RELAXED, __ATOMIC_RELAXED)) {
    }
}

void *ks_secure_alloc(size_t len)
{
    note_request(len);
    if (len <= SLAB_MAX) {
        void *p = slab_alloc(len);
        return p != NULL ? p : secure_alloc_heap(len);
    }
    size_t page = page_size();
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
    if (h->kind == KIND_SLAB) {
        slab_free(h);
        return;
    }
    if (h->kind != KIND_MAPPED && h->kind != KIND_HEAP) {
        abort(); /* a header overwritten: neither munmap nor free a guess */
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
