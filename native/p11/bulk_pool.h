/* bulk_pool.h - the worker threads of the bulk vendor calls (p11/bulk.c).
 *
 * Why a pool: a thread created per call often starts late. Linux places a new thread by load,
 * and right after the previous call's thread exited, the other CPU still looks loaded, so the
 * new thread lands on the caller's CPU and runs only after the caller's share is done: back to
 * back 16 x 1 MiB calls on 2 threads measured 0.98x to 1.6x of one thread that way. A kept
 * thread that sleeps on a condition variable is woken on the CPU it last ran on (idle), in
 * about 25 us here; a helper that has just finished looks for the next job for 100 us before
 * it sleeps (yielding the CPU while it looks, so that it never holds up a thread sharing its
 * CPU), so back-to-back calls skip the wake-up. Work is handed out one task at a time from a
 * shared counter, so a helper that starts late costs only its own share, never a serial
 * second half. */
#ifndef KS_P11_BULK_POOL_H
#define KS_P11_BULK_POOL_H

#include <stddef.h>

/* The most helper threads one call can have (KS_GCM_BULK_MAX_THREADS - 1). */
#define KS_POOL_MAX_HELPERS 63

/* A task: do item `index` of the work described by ctx. */
typedef void (*ks_pool_task)(void *ctx, size_t index);

/* ks_pool_run calls task(ctx, i) exactly once for every i in 0 .. n - 1 and returns when all
 * have returned; everything the tasks wrote is then visible to the caller. The calling thread
 * takes part, with up to `helpers` (at most KS_POOL_MAX_HELPERS) other threads: the
 * process-wide pool's, kept between calls; when another call holds the pool, threads made for
 * this call alone; when no thread can be had, the calling thread does everything. Cannot fail.
 * The pool's threads are joined when the library is unloaded or the process exits, and a
 * forked child starts without any. */
void ks_pool_run(ks_pool_task task, void *ctx, size_t n, size_t helpers);

#endif
