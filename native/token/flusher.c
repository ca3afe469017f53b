/* flusher.c - the audit-count flusher thread (see flusher.h). Lock order as everywhere: the
 * module lock, then a token's lock; the thread holds no session lock. */
#include "token/flusher.h"

#include <errno.h>
#include <pthread.h>
#include <time.h>
#include <unistd.h>

#include "token/module.h"

static pthread_mutex_t fl_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t fl_cond = PTHREAD_COND_INITIALIZER;
static pthread_t fl_thread;
static int fl_running; /* guarded by fl_lock */
static int fl_stop;    /* guarded by fl_lock */

/* Write pending counts, then make the audit records of the last second durable: the
 * fdatasync runs on a duplicate descriptor after every lock is released (it may take
 * milliseconds, and no call should wait for it). */
static void tick_all(void)
{
    int fds[KS_MAX_SLOTS];
    size_t nfds = 0;
    pthread_mutex_lock(&ks_mod.lock);
    if (ks_mod.initialized) {
        for (size_t i = 0; i < ks_mod.token_count; i++) {
            ks_token *tok = ks_mod.tokens[i];
            pthread_mutex_lock(&tok->lock);
            ks_token_audit_tick(tok);
            int fd = nfds < KS_MAX_SLOTS ? ks_audit_dirty_fd(tok->store) : -1;
            pthread_mutex_unlock(&tok->lock);
            if (fd >= 0) {
                fds[nfds++] = fd;
            }
        }
    }
    pthread_mutex_unlock(&ks_mod.lock);
    for (size_t i = 0; i < nfds; i++) {
        (void)fdatasync(fds[i]);
        close(fds[i]);
    }
}

static void *flusher_main(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&fl_lock);
    while (!fl_stop) {
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += 1;
        int rc = 0;
        while (!fl_stop && rc != ETIMEDOUT) {
            rc = pthread_cond_timedwait(&fl_cond, &fl_lock, &until);
        }
        if (fl_stop) {
            break;
        }
        pthread_mutex_unlock(&fl_lock);
        tick_all();
        pthread_mutex_lock(&fl_lock);
    }
    pthread_mutex_unlock(&fl_lock);
    return NULL;
}

CK_RV ks_flusher_start(void)
{
    pthread_mutex_lock(&fl_lock);
    CK_RV rv = CKR_OK;
    if (!fl_running) {
        fl_stop = 0;
        if (pthread_create(&fl_thread, NULL, flusher_main, NULL) == 0) {
            fl_running = 1;
        } else {
            rv = CKR_FUNCTION_FAILED;
        }
    }
    pthread_mutex_unlock(&fl_lock);
    return rv;
}

void ks_flusher_stop(void)
{
    pthread_mutex_lock(&fl_lock);
    int running = fl_running;
    fl_stop = 1;
    fl_running = 0;
    pthread_cond_broadcast(&fl_cond);
    pthread_mutex_unlock(&fl_lock);
    if (running) {
        pthread_join(fl_thread, NULL);
    }
}

/* An application that exits (or unloads the module with dlclose) without C_Finalize would
 * otherwise leave the thread running in code that is about to be unmapped: a process that
 * returns from main() while the thread is in an fdatasync, or wakes from its one-second wait
 * after the library was closed, dies of SIGSEGV (tests/robustness/test_unload.py). Stop and
 * join it first, as C_Finalize does. */
__attribute__((destructor)) static void stop_at_unload(void)
{
    ks_flusher_stop();
}

void ks_flusher_forget(void)
{
    /* Called in a forked child (the module's atfork handler): the thread, and any waiter of
     * the condition or holder of the lock, were the parent's; start both afresh. */
    pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
    pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
    fl_lock = lock;
    fl_cond = cond;
    fl_running = 0;
    fl_stop = 0;
}
