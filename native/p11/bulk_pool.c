/* bulk_pool.c - the worker threads of the bulk vendor calls (see bulk_pool.h).
 *
 * One job at a time: the caller that sets `busy` owns the pool until its job is done. The job
 * lives on that caller's stack; a helper reaches it only through `pool.job` under the lock,
 * and the caller clears `pool.job` and waits until no helper is inside before it returns.
 * Both waits (a helper for a job, the caller for its helpers) spin a while before sleeping. */
#include "p11/bulk_pool.h"

#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <time.h>

#include "crypto/mem.h"

/* How long a helper that has finished keeps looking for the next job, and a caller for its
 * helpers to finish, before sleeping: waking a sleeping thread on an idle CPU took about
 * 25 us here, at each end of a call; back-to-back calls come within this. */
#define SPIN_NS 100000

typedef struct pool_job {
    ks_pool_task task;
    void *ctx;
    size_t n;
    atomic_size_t next; /* the next index nobody has taken */
} pool_job;

static struct {
    pthread_mutex_t lock;
    pthread_cond_t work; /* a job was posted, or stop */
    pthread_cond_t done; /* a helper left the job */
    pthread_t tids[KS_POOL_MAX_HELPERS];
    size_t threads;       /* helpers alive */
    pool_job *job;        /* the posted job, NULL when none */
    size_t wanted;        /* helpers the posted job may still take */
    atomic_uint posted;   /* jobs posted so far (changed under the lock; read by spinners) */
    atomic_size_t inside; /* helpers running the posted job (joined under the lock) */
    int busy;             /* a caller owns the pool */
    int stop;             /* unloading: helpers exit, callers use their own threads */
} pool = {
    .lock = PTHREAD_MUTEX_INITIALIZER,
    .work = PTHREAD_COND_INITIALIZER,
    .done = PTHREAD_COND_INITIALIZER,
};

static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;

/* Take indices until none is left. The counter only hands out indices (relaxed); the results
 * reach the caller through the pool lock (or pthread_join), which orders memory. */
static void drain(pool_job *j)
{
    for (;;) {
        size_t i = atomic_fetch_add_explicit(&j->next, 1, memory_order_relaxed);
        if (i >= j->n) {
            return;
        }
        j->task(j->ctx, i);
    }
}

static uint64_t now_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

/* Spin until `done` says so or SPIN_NS have passed; returns done's last answer. */
static int spin_until(int (*done)(unsigned), unsigned arg)
{
    uint64_t start = now_ns();
    for (unsigned i = 1;; i++) {
        if (done(arg)) {
            return 1;
        }
        cpu_relax();
        if (i % 16 == 0) {
            if (now_ns() - start > SPIN_NS) {
                return done(arg);
            }
            sched_yield(); /* whoever shares this CPU (the caller, a helper) goes first */
        }
    }
}

static int posted_since(unsigned seen)
{
    return atomic_load_explicit(&pool.posted, memory_order_relaxed) != seen;
}

static int helpers_out(unsigned unused)
{
    (void)unused;
    return atomic_load_explicit(&pool.inside, memory_order_acquire) == 0;
}

static int ready_locked(void)
{
    return pool.stop || (pool.job != NULL && pool.wanted != 0);
}

static void *helper_main(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&pool.lock);
    for (;;) {
        if (!ready_locked()) {
            /* Any job posted from now on changes `posted`: look for it a while unlocked. */
            unsigned seen = atomic_load_explicit(&pool.posted, memory_order_relaxed);
            pthread_mutex_unlock(&pool.lock);
            spin_until(posted_since, seen);
            pthread_mutex_lock(&pool.lock);
            while (!ready_locked()) {
                pthread_cond_wait(&pool.work, &pool.lock);
            }
        }
        if (pool.stop) {
            break;
        }
        pool_job *j = pool.job;
        pool.wanted--;
        atomic_fetch_add_explicit(&pool.inside, 1, memory_order_relaxed);
        pthread_mutex_unlock(&pool.lock);
        drain(j);
        /* Release: the caller that reads 0 sees every output this helper wrote. After this
         * the job (on the caller's stack) is not touched again. */
        int last = atomic_fetch_sub_explicit(&pool.inside, 1, memory_order_release) == 1;
        /* This thread outlives the call: the tasks' AES round keys in its vector registers
         * and spills on its stack must not wait here for the next job (or a core dump), as
         * ks_p11_exit wipes them on the calling thread. */
        ks_wipe_stack();
        pthread_mutex_lock(&pool.lock);
        if (last) {
            pthread_cond_signal(&pool.done);
        }
    }
    pthread_mutex_unlock(&pool.lock);
    return NULL;
}

/* fork() copies the lock as it is and none of the helpers: hold the lock across fork, and let
 * the child start with an empty pool (its first call makes new helpers). */
static void fork_prepare(void)
{
    pthread_mutex_lock(&pool.lock);
}

static void fork_parent(void)
{
    pthread_mutex_unlock(&pool.lock);
}

static void fork_child(void)
{
    pool.threads = 0;
    pool.job = NULL;
    pool.wanted = 0;
    atomic_store(&pool.inside, 0);
    pool.busy = 0;
    /* Waiters of the parent do not exist here; start the conditions afresh. */
    pthread_cond_init(&pool.work, NULL);
    pthread_cond_init(&pool.done, NULL);
    pthread_mutex_unlock(&pool.lock);
}

static void register_atfork(void)
{
    pthread_atfork(fork_prepare, fork_parent, fork_child);
}

/* Joined when the library is unloaded (dlclose) or the process exits: a helper left asleep
 * in an unmapped library would crash the process when woken. */
__attribute__((destructor)) static void pool_shutdown(void)
{
    pthread_mutex_lock(&pool.lock);
    size_t n = pool.threads;
    pool.stop = 1;
    pool.threads = 0;
    pthread_cond_broadcast(&pool.work);
    pthread_mutex_unlock(&pool.lock);
    for (size_t i = 0; i < n; i++) {
        pthread_join(pool.tids[i], NULL);
    }
}

static void *own_main(void *arg)
{
    drain(arg);
    ks_wipe_stack(); /* glibc keeps the stacks of exited threads for the next ones */
    return NULL;
}

/* The pool is taken: threads for this call alone (as many as can be had), with every signal
 * blocked like the pool's helpers: the application's signals go to its own threads. */
static void run_own_threads(pool_job *j, size_t helpers)
{
    pthread_t tids[KS_POOL_MAX_HELPERS];
    size_t started = 0;
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    while (started < helpers && pthread_create(&tids[started], NULL, own_main, j) == 0) {
        started++;
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    drain(j);
    for (size_t i = 0; i < started; i++) {
        pthread_join(tids[i], NULL);
    }
}

/* With the pool lock held: have at least `helpers` helpers if threads can be had; returns
 * how many there are. Helpers outlive the call that made them, so they start with every
 * signal blocked: the application's signals go to its own threads, never to the library's. */
static size_t grow_locked(size_t helpers)
{
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    while (pool.threads < helpers &&
           pthread_create(&pool.tids[pool.threads], NULL, helper_main, NULL) == 0) {
        pool.threads++;
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return pool.threads < helpers ? pool.threads : helpers;
}

void ks_pool_run(ks_pool_task task, void *ctx, size_t n, size_t helpers)
{
    pool_job j = {.task = task, .ctx = ctx, .n = n};
    atomic_init(&j.next, 0);
    if (helpers > KS_POOL_MAX_HELPERS) {
        helpers = KS_POOL_MAX_HELPERS;
    }
    if (n < 2 || helpers == 0) {
        drain(&j);
        return;
    }
    if (helpers > n - 1) {
        helpers = n - 1;
    }
    pthread_once(&atfork_once, register_atfork);
    pthread_mutex_lock(&pool.lock);
    if (pool.busy || pool.stop) {
        pthread_mutex_unlock(&pool.lock);
        run_own_threads(&j, helpers);
        return;
    }
    pool.busy = 1;
    pool.wanted = grow_locked(helpers);
    pool.job = &j;
    atomic_fetch_add_explicit(&pool.posted, 1, memory_order_relaxed);
    /* One wake-up per helper wanted: a broadcast would wake every kept helper. */
    for (size_t i = 0; i < pool.wanted; i++) {
        pthread_cond_signal(&pool.work);
    }
    pthread_mutex_unlock(&pool.lock);
    drain(&j);
    pthread_mutex_lock(&pool.lock);
    pool.job = NULL; /* a helper that wakes only now has nothing left to take */
    pool.wanted = 0;
    pthread_mutex_unlock(&pool.lock);
    if (!spin_until(helpers_out, 0)) {
        pthread_mutex_lock(&pool.lock);
        while (!helpers_out(0)) {
            pthread_cond_wait(&pool.done, &pool.lock);
        }
        pthread_mutex_unlock(&pool.lock);
    }
    pthread_mutex_lock(&pool.lock);
    pool.busy = 0;
    pthread_mutex_unlock(&pool.lock);
}
